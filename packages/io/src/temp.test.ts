import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  isStaleTemp,
  liveTemps,
  makeTempDir,
  parseTempName,
  publishDirectory,
  publishFile,
  removeTemp,
  sweepStaleTemps,
  tempPath,
  writeFileAtomic,
  writeFileAtomicSync,
} from "./temp";
import { ensureBuilt } from "./test-kit/servers";

jest.setTimeout(120_000);

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "cp-io-temp-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const list = () => fs.readdirSync(dir).sort();

/** The pid of a process that has exited (so no longer alive on this host). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  return Number(r.stdout);
}

describe("publishFile", () => {
  it("publishes through a named temporary beside the target", async () => {
    const target = path.join(dir, "out.bin");
    let seen = "";
    const value = await publishFile(target, async (temp) => {
      seen = temp;
      expect(path.dirname(temp)).toBe(dir);
      expect(parseTempName(path.basename(temp))).toEqual({ host: expect.stringMatching(/^[0-9a-f]{8}$/), pid: process.pid });
      expect(liveTemps()).toContain(temp);
      await fs.promises.writeFile(temp, "done");
      return 42;
    });
    expect(value).toBe(42);
    expect(list()).toEqual(["out.bin"]);
    expect(fs.readFileSync(target, "utf8")).toBe("done");
    expect(liveTemps()).not.toContain(seen);
  });

  it("removes the temporary on error and leaves an existing target untouched", async () => {
    const target = path.join(dir, "keep.txt");
    fs.writeFileSync(target, "old");
    await expect(
      publishFile(target, async (temp) => {
        await fs.promises.writeFile(temp, "half");
        throw new Error("compressor died");
      }),
    ).rejects.toThrow("compressor died");
    expect(list()).toEqual(["keep.txt"]);
    expect(fs.readFileSync(target, "utf8")).toBe("old");
    expect(liveTemps()).toEqual([]);
  });

  it("on abort, removes the temporary only after its stream has closed", async () => {
    const ac = new AbortController();
    const target = path.join(dir, "aborted.bin");
    const source = new PassThrough();
    const pending = publishFile(target, async (temp, ctx) => {
      const out = ctx.track(fs.createWriteStream(temp, { flags: "wx" }));
      source.write(Buffer.alloc(1024));
      // Aborted before the write stream has even opened its file.
      ac.abort();
      await pipeline(source, out, { signal: ac.signal });
    }, { signal: ac.signal });
    await expect(pending).rejects.toMatchObject({ code: "ABORT_ERR" });
    await new Promise((r) => setTimeout(r, 50));
    expect(list()).toEqual([]);
  });

  it("a stream that fill left open is closed before the temporary is removed", async () => {
    const target = path.join(dir, "left-open.bin");
    await expect(
      publishFile(target, async (temp, ctx) => {
        const out = ctx.track(fs.createWriteStream(temp, { flags: "wx" }));
        out.write("some bytes");
        throw new Error("gave up halfway");
      }),
    ).rejects.toThrow("gave up halfway");
    await new Promise((r) => setTimeout(r, 50));
    expect(list()).toEqual([]);
  });

  it("with overwrite: false refuses an existing target and keeps it", async () => {
    const target = path.join(dir, "once.txt");
    await writeFileAtomic(target, "first", { overwrite: false });
    await expect(writeFileAtomic(target, "second", { overwrite: false })).rejects.toMatchObject({ code: "ERR_OUTPUT_EXISTS" });
    expect(() => writeFileAtomicSync(target, "third", { overwrite: false })).toThrow(/already exists/);
    expect(fs.readFileSync(target, "utf8")).toBe("first");
    expect(list()).toEqual(["once.txt"]);
  });
});

describe("publishDirectory", () => {
  it("swaps a complete tree in place of the old one", async () => {
    const target = path.join(dir, "tree");
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, "old"), "1");
    await publishDirectory(target, async (temp) => fs.promises.writeFile(path.join(temp, "new"), "2"));
    expect(list()).toEqual(["tree"]);
    expect(fs.readdirSync(target)).toEqual(["new"]);
    await expect(publishDirectory(target, async () => undefined, { overwrite: false })).rejects.toMatchObject({ code: "ERR_OUTPUT_EXISTS" });
    await expect(publishDirectory(target, async () => { throw new Error("boom"); })).rejects.toThrow("boom");
    expect(list()).toEqual(["tree"]);
    expect(fs.readdirSync(target)).toEqual(["new"]);
  });
});

describe("stale temporaries", () => {
  it("are removed by the next write into the directory when their process is dead", async () => {
    const dead = deadPid();
    const mine = path.basename(tempPath(path.join(dir, "x")));
    const staleName = mine.replace(`-${process.pid}-`, `-${dead}-`);
    const nested = `.${staleName}.tmp-0123456789ab`; // another tool's temporary of our temporary
    const otherHost = staleName.replace(/cp-tmp-[0-9a-f]{8}/, "cp-tmp-00000000");
    const aliveName = mine.replace(`-${process.pid}-`, `-${process.ppid}-`);
    for (const n of [staleName, nested, otherHost, aliveName]) fs.writeFileSync(path.join(dir, n), "left behind");
    fs.mkdirSync(path.join(dir, `work${staleName.slice(1)}`));
    expect(isStaleTemp(staleName)).toBe(true);
    expect(isStaleTemp(otherHost)).toBe(false);
    expect(isStaleTemp(aliveName)).toBe(false);
    await writeFileAtomic(path.join(dir, "result.txt"), "ok");
    expect(list()).toEqual([aliveName, otherHost, "result.txt"].sort());
    expect(await sweepStaleTemps(dir)).toEqual([]);
  });
});

describe("temporaries of a process that ends mid-write (real child processes)", () => {
  beforeAll(() => ensureBuilt("@cluster-pack/io"));
  const child = path.join(__dirname, "test-kit", "temp-child.js");

  function start(mode: string, target: string) {
    const p = spawn(process.execPath, [child, mode, target], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    p.stderr.on("data", (d: Buffer) => (err += d));
    const ready = new Promise<{ temp: string; work: string }>((resolve, reject) => {
      let out = "";
      p.stdout.on("data", (d: Buffer) => {
        out += d;
        const m = /READY (\S+) (\S+)\n/.exec(out);
        if (m) resolve({ temp: m[1]!, work: m[2]! });
      });
      p.on("exit", (code, signal) => reject(new Error(`child ended before READY (${code ?? signal}): ${err}`)));
    });
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => p.on("exit", (code, signal) => resolve({ code, signal })));
    return { p, ready, ended };
  }

  it("process.exit mid-write: the exit handler removes the temporary file and work directory", async () => {
    const before = list();
    const c = start("exit", path.join(dir, "out.pex"));
    const { temp, work } = await c.ready;
    expect(await c.ended).toEqual({ code: 3, signal: null });
    expect(fs.existsSync(temp)).toBe(false);
    expect(fs.existsSync(work)).toBe(false);
    expect(list()).toEqual(before);
  });

  it("SIGTERM with no handler of the application: removed, and the process still dies of SIGTERM", async () => {
    const c = start("hang", path.join(dir, "out.pex"));
    const { temp } = await c.ready;
    expect(fs.existsSync(temp)).toBe(true);
    c.p.kill("SIGTERM");
    expect(await c.ended).toEqual({ code: null, signal: "SIGTERM" });
    expect(list()).toEqual([]);
  });

  it("kill -9: left behind, then removed by the next run writing there", async () => {
    const c = start("hang", path.join(dir, "out.pex"));
    const { temp, work } = await c.ready;
    c.p.kill("SIGKILL");
    await c.ended;
    expect(list()).toEqual([path.basename(temp), path.basename(work)].sort());
    await writeFileAtomic(path.join(dir, "out.pex"), "complete");
    expect(list()).toEqual(["out.pex"]);
  });
});

describe("makeTempDir", () => {
  it("is registered until removed", async () => {
    const d = await makeTempDir("unit", { parent: dir });
    expect(path.basename(d)).toMatch(/^unit\.cp-tmp-[0-9a-f]{8}-\d+-[0-9a-f]{12}$/);
    expect(liveTemps()).toContain(d);
    await removeTemp(d);
    expect(liveTemps()).not.toContain(d);
    expect(list()).toEqual([]);
  });
});
