import fs from "node:fs";
import path from "node:path";
import { bufferSource, fileSource, peekEntries, readPeekedEntry, ZipReader, ZipWriter, type RandomAccessSource } from "./index";
import { centralRecords, python, realWheel, runPython, tempDir, zipBytes } from "./test-kit";

jest.setTimeout(60_000);

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => (tmp = tempDir()));
afterEach(() => tmp.cleanup());

const PY = python();
const itPython = PY ? it : it.skip;
if (!PY) console.warn("peek tests against Python-made archives are skipped: no python3 interpreter found");

async function build(entries: Record<string, string | Buffer>, compress = true): Promise<Buffer> {
  const w = new ZipWriter({ compress });
  for (const [name, data] of Object.entries(entries)) w.addBuffer(name, data);
  return zipBytes(w);
}

/** Every entry read through peek, by name. */
async function peekAll(source: RandomAccessSource): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const e of await peekEntries(source, (n) => !n.endsWith("/"))) out.set(e.name, await readPeekedEntry(source, e));
  return out;
}

/** Every file entry read through ZipReader (full validation), by name. */
async function readAll(source: RandomAccessSource): Promise<Map<string, Buffer>> {
  const reader = await ZipReader.open(source, { keepSourceOpen: true });
  const out = new Map<string, Buffer>();
  for (const e of reader.entries) if (!e.isDirectory) out.set(e.name, await reader.readEntry(e));
  await reader.close();
  return out;
}

async function code(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (err: { code?: string }) => err.code,
  );
}

describe("peekEntries / readPeekedEntry", () => {
  test("selects entries by name and reads them as ZipReader does (stored and deflated)", async () => {
    const big = Buffer.alloc(300_000, "abc");
    for (const compress of [true, false]) {
      const zip = await build({ "pkg/__init__.py": "x = 1\n", "pkg-1.0.dist-info/METADATA": "Name: pkg\nVersion: 1.0\n", "pkg/big.bin": big, "pkg-1.0.dist-info/RECORD": "" }, compress);
      const src = bufferSource(zip);
      const selected = await peekEntries(src, (n) => n.endsWith("/METADATA"));
      expect(selected.map((e) => e.name)).toEqual(["pkg-1.0.dist-info/METADATA"]);
      expect((await readPeekedEntry(src, selected[0]!)).toString()).toBe("Name: pkg\nVersion: 1.0\n");
      expect(await peekAll(src)).toEqual(await readAll(src));
    }
  });

  test("a real wheel's METADATA matches ZipReader's, from a local file", async () => {
    const wheel = realWheel("six");
    if (!wheel.path) return console.warn(`skipped: ${wheel.reason}`);
    const src = await fileSource(wheel.path);
    try {
      const [meta] = await peekEntries(src, (n) => /^[^/]+\.dist-info\/METADATA$/.test(n));
      const reader = await ZipReader.open(src, { keepSourceOpen: true });
      expect(await readPeekedEntry(src, meta!)).toEqual(await reader.readEntry(meta!.name));
      await reader.close();
    } finally {
      await src.close?.();
    }
  });

  itPython("Python-made archives: ZIP64, a data descriptor (streamed), a glued prefix", async () => {
    const z64 = path.join(tmp.dir, "z64.zip");
    const streamed = path.join(tmp.dir, "streamed.zip");
    runPython(
      `import sys, zipfile, io
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("a.txt", b"hello " * 1000)
    with z.open("b/c.txt", "w", force_zip64=True) as f: f.write(b"zip64 entry")
class Unseekable(io.RawIOBase):
    def __init__(self, f): self.f = f
    def writable(self): return True
    def write(self, b): return self.f.write(b)
with open(sys.argv[2], "wb") as raw:
    with zipfile.ZipFile(Unseekable(raw), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("d.txt", b"descriptor " * 100)
        z.writestr("e-1.0.dist-info/METADATA", b"Name: e\\n")`,
      [z64, streamed],
    );
    for (const file of [z64, streamed]) {
      const src = bufferSource(fs.readFileSync(file));
      expect(await peekAll(src)).toEqual(await readAll(src));
    }
    const prefixed = bufferSource(Buffer.concat([Buffer.from("#!/usr/bin/env python3\n"), fs.readFileSync(streamed)]));
    expect((await peekAll(prefixed)).get("e-1.0.dist-info/METADATA")?.toString()).toBe("Name: e\n");
  });

  test("corrupt data: CRC, sizes, local header, truncation, not a zip", async () => {
    const zip = await build({ "a.txt": "hello hello hello", "b.txt": "world" }, false);
    const [a] = centralRecords(zip);
    const dataAt = a!.localHeaderOffset + 30 + "a.txt".length;

    const flipped = Buffer.from(zip);
    flipped[dataAt] = flipped[dataAt]! ^ 0xff;
    const s1 = bufferSource(flipped);
    expect(await code(readPeekedEntry(s1, (await peekEntries(s1, (n) => n === "a.txt"))[0]!))).toBe("ERR_CRC_MISMATCH");

    const renamed = Buffer.from(zip);
    renamed.write("x", a!.localHeaderOffset + 30); // local name differs from the central one
    const s2 = bufferSource(renamed);
    expect(await code(readPeekedEntry(s2, (await peekEntries(s2, (n) => n === "a.txt"))[0]!))).toBe("ERR_HEADER_MISMATCH");

    const lying = Buffer.from(zip);
    lying.writeUInt32LE(1, a!.at + 24); // central uncompressed size differs from the stored bytes: refused by the directory walk, as by ZipReader
    expect(await code(peekEntries(bufferSource(lying), (n) => n === "a.txt"))).toBe("ERR_CORRUPT_ZIP");
    await expect(ZipReader.open(bufferSource(lying))).rejects.toMatchObject({ code: "ERR_CORRUPT_ZIP" });
    const lyingLocal = Buffer.from(zip);
    lyingLocal.writeUInt32LE(1, a!.localHeaderOffset + 22); // only the local header lies
    const s3 = bufferSource(lyingLocal);
    expect(await code(readPeekedEntry(s3, (await peekEntries(s3, (n) => n === "a.txt"))[0]!))).toBe("ERR_HEADER_MISMATCH");

    const cdEnd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    const truncated = Buffer.from(zip);
    truncated.writeUInt16LE(5, cdEnd + 10); // more entries than the central directory holds
    truncated.writeUInt16LE(5, cdEnd + 8);
    expect(await code(peekEntries(bufferSource(truncated), () => true))).toBe("ERR_CORRUPT_ZIP");

    expect(await code(peekEntries(bufferSource(Buffer.from("not a zip at all, just some text")), () => true))).toBe("ERR_NOT_A_ZIP");
    expect(await code(peekEntries(bufferSource(Buffer.alloc(10)), () => true))).toBe("ERR_NOT_A_ZIP");
  });

  test("limits and hostile names: only selected entries are described", async () => {
    // Our writer refuses unsafe names: write a safe one, then rewrite it in both headers.
    const zip = await build({ "ok.txt": "fine", "xx/evil.txt": "escape" });
    for (let at = zip.indexOf("xx/evil"); at >= 0; at = zip.indexOf("xx/evil", at + 1)) zip.write("../evil", at);
    const src = bufferSource(zip);
    // An unsafe name that is not selected is walked over; selecting it is refused.
    expect((await peekEntries(src, (n) => n === "ok.txt")).map((e) => e.name)).toEqual(["ok.txt"]);
    expect(await code(peekEntries(src, (n) => n.includes("evil")))).toBe("ERR_UNSAFE_ENTRY_NAME");
    expect(await code(peekEntries(src, () => false, { maxEntries: 1 }))).toBe("ERR_TOO_MANY_ENTRIES");
    expect(await code(peekEntries(src, () => false, { maxCentralDirectorySize: 10 }))).toBe("ERR_ARCHIVE_TOO_LARGE");
    const [ok] = await peekEntries(src, (n) => n === "ok.txt");
    expect(await code(readPeekedEntry(src, ok!, { maxBytes: 2 }))).toBe("ERR_ENTRY_TOO_LARGE");
    // An entry from another peek (or made up) is refused rather than read blindly.
    expect(await code(readPeekedEntry(src, { ...ok! }))).toBe("ERR_NO_SUCH_ENTRY");
  });

  test("an entry claiming data inside the central directory is rejected", async () => {
    const zip = await build({ "a.txt": "aaaa", "b.txt": "bbbb" }, false);
    const records = centralRecords(zip);
    const bad = Buffer.from(zip);
    bad.writeUInt32LE(records[0]!.at - 10, records[1]!.at + 42); // b's local header "at" the end of the data region
    expect(await code(peekEntries(bufferSource(bad), (n) => n === "b.txt"))).toBe("ERR_OVERLAPPING_ENTRIES");
  });

  test("an abort stops the peek", async () => {
    const zip = await build({ "a.txt": "a" });
    const ac = new AbortController();
    ac.abort();
    expect(await code(peekEntries(bufferSource(zip), () => true, { signal: ac.signal }))).toBe("ABORT_ERR");
  });
});
