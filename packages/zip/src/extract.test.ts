import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { AbortError } from "@cluster-pack/errors";
import { bufferSource, ZipReader, ZipWriter } from "./index";
import { centralRecords, tempDir, zipBytes } from "./test-kit";

jest.setTimeout(60_000);

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => (tmp = tempDir()));
afterEach(() => tmp.cleanup());

async function readerOf(build: (w: ZipWriter) => void): Promise<ZipReader> {
  const w = new ZipWriter();
  build(w);
  return ZipReader.open(bufferSource(await zipBytes(w), "test.zip"));
}

/** Everything left in the temp dir's top level: extraction must leave only the target. */
const leftovers = () => fs.readdirSync(tmp.dir).sort();

describe("extractTo", () => {
  it("extracts files, modes, directories and inside symlinks, atomically into a new directory", async () => {
    const r = await readerOf((w) => {
      w.addBuffer("bin/run", "#!/bin/sh\n", { mode: 0o700 });
      w.addBuffer("lib/a.py", "A = 1\n".repeat(100));
      w.addDirectory("empty");
      w.addSymlink("lib/alias.py", "a.py");
      w.addSymlink("top", "lib");
      w.addSymlink("dangling-inside", "lib/not-there");
    });
    const target = path.join(tmp.dir, "out");
    await r.extractTo(target);
    expect(leftovers()).toEqual(["out"]);
    expect(fs.readFileSync(path.join(target, "lib/a.py"), "utf8")).toBe("A = 1\n".repeat(100));
    expect(fs.statSync(path.join(target, "bin/run")).mode & 0o777).toBe(0o755);
    expect(fs.statSync(path.join(target, "lib/a.py")).mode & 0o777).toBe(0o644);
    expect(fs.statSync(path.join(target, "empty")).isDirectory()).toBe(true);
    expect(fs.readlinkSync(path.join(target, "lib/alias.py"))).toBe("a.py");
    expect(fs.readFileSync(path.join(target, "top/alias.py"), "utf8")).toBe("A = 1\n".repeat(100));
    expect(fs.readlinkSync(path.join(target, "dangling-inside"))).toBe("lib/not-there");
    await r.close();
  });

  it("accepts an existing empty directory and refuses a non-empty one", async () => {
    const r = await readerOf((w) => w.addBuffer("a", "1"));
    const empty = path.join(tmp.dir, "empty");
    fs.mkdirSync(empty);
    await r.extractTo(empty);
    expect(fs.readFileSync(path.join(empty, "a"), "utf8")).toBe("1");
    await expect(r.extractTo(empty)).rejects.toMatchObject({ code: "ERR_TARGET_NOT_EMPTY" });
    expect(leftovers()).toEqual(["empty"]);
  });

  it("applies filter and stripPrefix", async () => {
    const r = await readerOf((w) => {
      w.addBuffer("root/keep/a.txt", "a");
      w.addBuffer("root/keep/b.log", "b");
      w.addBuffer("root/other.txt", "o");
      w.addBuffer("outside.txt", "x");
    });
    const target = path.join(tmp.dir, "t");
    await r.extractTo(target, { stripPrefix: "root/", filter: (e) => !e.name.endsWith(".log") });
    const files = fs.readdirSync(target, { recursive: true }).map(String).sort();
    expect(files).toEqual(["keep", "keep/a.txt", "other.txt"]);
  });

  it.each([
    ["an absolute path", "/etc"],
    ["a parent climb", "../../outside"],
    ["a climb hidden behind a link to '.'", "dot/.."],
    ["a climb behind a link created later", "zz-dot/.."],
    ["a backslash path", "..\\x"],
  ])("refuses a symlink to %s and leaves nothing behind", async (_what, target) => {
    const r = await readerOf((w) => {
      w.addBuffer("a.txt", "a");
      w.addSymlink("dot", ".");
      w.addSymlink("zz-dot", ".");
      w.addSymlink("evil", target);
    });
    await expect(r.extractTo(path.join(tmp.dir, "out"))).rejects.toMatchObject({ code: "ERR_UNSAFE_SYMLINK" });
    expect(leftovers()).toEqual([]);
    // With unsafeSymlinks: "skip", the rest is extracted.
    await r.extractTo(path.join(tmp.dir, "out"), { unsafeSymlinks: "skip" });
    expect(fs.existsSync(path.join(tmp.dir, "out/evil"))).toBe(false);
    expect(fs.readlinkSync(path.join(tmp.dir, "out/dot"))).toBe(".");
    expect(fs.readFileSync(path.join(tmp.dir, "out/a.txt"), "utf8")).toBe("a");
  });

  it("never writes through a symlink: a link and a directory of the same name are rejected", async () => {
    const w = new ZipWriter();
    w.addSymlink("lnk", "/tmp");
    w.addBuffer("lonk/pwned", "x");
    const zip = await zipBytes(w);
    let at = zip.indexOf("lonk");
    while (at >= 0) {
      zip.write("lnk\u0000".slice(0, 3) + "/", at); // "lonk/" -> "lnk//" keeps lengths; same path as "lnk"
      at = zip.indexOf("lonk", at + 1);
    }
    await expect(ZipReader.open(bufferSource(zip))).rejects.toMatchObject({ code: "ERR_DUPLICATE_ENTRY" });
  });

  it("removes everything when an entry is corrupt", async () => {
    const w = new ZipWriter({ compress: false });
    for (let i = 0; i < 20; i++) w.addBuffer(`f${String(i).padStart(2, "0")}`, `content ${i}`);
    const zip = await zipBytes(w);
    const rec = centralRecords(zip).find((x) => x.name === "f13")!;
    zip[rec.localHeaderOffset + 30 + 3 + 2]! ^= 1;
    const r = await ZipReader.open(bufferSource(zip));
    await expect(r.extractTo(path.join(tmp.dir, "out"))).rejects.toMatchObject({ code: "ERR_CRC_MISMATCH" });
    expect(leftovers()).toEqual([]);
  });

  it("stops on abort and removes the partial extraction", async () => {
    const w = new ZipWriter();
    for (let i = 0; i < 200; i++) w.addStreamFactory(`f${i}`, () => Readable.from([Buffer.alloc(50_000, i)]), 50_000);
    const r = await ZipReader.open(bufferSource(await zipBytes(w)));
    const controller = new AbortController();
    let n = 0;
    const done = r.extractTo(path.join(tmp.dir, "out"), {
      signal: controller.signal,
      filter: () => {
        if (++n === 1) setImmediate(() => controller.abort());
        return true;
      },
    });
    await expect(done).rejects.toBeInstanceOf(AbortError);
    expect(leftovers()).toEqual([]);
  });
});
