import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import type * as JestGlobals from "@jest/globals";
import type { FileSystem, TransferProgress } from "../filesystem";
import { MemoryFileSystem } from "../adapters/memory";

export interface ConformanceTarget {
  fs: FileSystem;
  /** A fresh, empty directory (path in the adapter's space) for this run. */
  root: string;
  cleanup?: () => Promise<void>;
}

export interface ConformanceOptions {
  /** Real directories: a file cannot be a parent, empty dirs exist (false on S3). */
  hierarchical?: boolean;
  /** Concurrent publishers in the atomicity test (default 50). */
  publishers?: number;
}

/**
 * The one suite every adapter passes: same cases, parameterised by adapter (unstorage's
 * approach). Call it at the top level of a test file.
 */
export function runConformanceSuite(name: string, setup: () => Promise<ConformanceTarget>, options: ConformanceOptions = {}): void {
  const { afterAll, beforeAll, describe, expect, it, jest } = jestGlobals();
  const hierarchical = options.hierarchical ?? true;
  // The preset's testTimeout is not applied when jest runs the root multi-project config; the machine is shared.
  jest.setTimeout(120_000);
  describe(`FileSystem conformance: ${name}`, () => {
    let t: ConformanceTarget;
    let fsys: FileSystem;
    let tmp: string;
    const p = (...parts: string[]) => [t.root, ...parts].join("/");

    beforeAll(async () => {
      t = await setup();
      fsys = t.fs;
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-fs-conf-"));
    });
    afterAll(async () => {
      await t?.cleanup?.();
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("writes, stats and reads a file back", async () => {
      await fsys.write(p("a.txt"), "hello world");
      const st = await fsys.stat(p("a.txt"));
      expect(st).toMatchObject({ name: "a.txt", size: 11, isFile: true, isDirectory: false });
      expect((await fsys.read(p("a.txt"))).toString()).toBe("hello world");
      expect(await fsys.exists(p("a.txt"))).toBe(true);
      expect(await fsys.exists(p("nope.txt"))).toBe(false);
    });

    it("reads byte ranges", async () => {
      const data = randomBytes(100_000);
      await fsys.write(p("range.bin"), data);
      expect(await fsys.read(p("range.bin"), { offset: 10, length: 20 })).toEqual(data.subarray(10, 30));
      expect(await fsys.read(p("range.bin"), { offset: 99_990 })).toEqual(data.subarray(99_990));
      expect(await fsys.read(p("range.bin"), { offset: 0, length: 1 })).toEqual(data.subarray(0, 1));
      const ra = await fsys.openRandomAccess(p("range.bin"));
      expect(ra.size).toBe(100_000);
      expect(await ra.read(50_000, 1000)).toEqual(data.subarray(50_000, 51_000));
      await expect(ra.read(99_999, 2)).rejects.toThrow(/outside/);
    });

    it("maps missing paths to ENOENT with the driver's name", async () => {
      await expect(fsys.stat(p("missing"))).rejects.toMatchObject({ code: "ENOENT", driver: fsys.driver });
      await expect(fsys.read(p("missing"))).rejects.toMatchObject({ code: "ENOENT" });
      await expect(fsys.list(p("missing-dir"))).rejects.toMatchObject({ code: "ENOENT" });
      await expect(fsys.stat(p("missing"))).rejects.toThrow(new RegExp(`^\\[${fsys.driver}\\] ENOENT`));
      expect(await fsys.head(p("missing"))).toBeNull();
    });

    it("overwrites by default and refuses with overwrite: false", async () => {
      await fsys.write(p("ow.txt"), "one");
      await fsys.write(p("ow.txt"), "two");
      expect((await fsys.read(p("ow.txt"))).toString()).toBe("two");
      await expect(fsys.write(p("ow.txt"), "three", { overwrite: false })).rejects.toMatchObject({ code: "EEXIST" });
      expect((await fsys.read(p("ow.txt"))).toString()).toBe("two");
    });

    it("lists directories sorted, with nested parents created on write", async () => {
      await fsys.write(p("tree", "b.txt"), "b");
      await fsys.write(p("tree", "a.txt"), "aa");
      await fsys.write(p("tree", "sub", "deep", "c.txt"), "c");
      const entries = await fsys.list(p("tree"));
      expect(entries.map((e) => [e.name, e.isDirectory])).toEqual([
        ["a.txt", false],
        ["b.txt", false],
        ["sub", true],
      ]);
      expect(entries[0]?.size).toBe(2);
      expect((await fsys.stat(p("tree", "sub"))).isDirectory).toBe(true);
      await expect(fsys.list(p("tree", "a.txt"))).rejects.toMatchObject({ code: "ENOTDIR" });
    });

    it("creates directories with mkdirp", async () => {
      await fsys.mkdirp(p("made", "x", "y"));
      expect((await fsys.stat(p("made", "x", "y"))).isDirectory).toBe(true);
      await fsys.mkdirp(p("made", "x", "y"));
      expect(await fsys.list(p("made", "x", "y"))).toEqual([]);
    });

    if (hierarchical) {
      it("refuses a file as a parent (ENOTDIR)", async () => {
        await fsys.write(p("file-parent"), "x");
        await expect(fsys.write(p("file-parent", "child"), "y")).rejects.toMatchObject({ code: "ENOTDIR" });
      });
    }

    it("removes files and trees, ENOENT unless forced", async () => {
      await fsys.write(p("rm", "one.txt"), "1");
      await fsys.write(p("rm", "sub", "two.txt"), "2");
      await fsys.rm(p("rm", "one.txt"));
      expect(await fsys.exists(p("rm", "one.txt"))).toBe(false);
      await expect(fsys.rm(p("rm", "one.txt"))).rejects.toMatchObject({ code: "ENOENT" });
      await fsys.rm(p("rm", "one.txt"), { force: true });
      if (hierarchical) await expect(fsys.rm(p("rm"))).rejects.toMatchObject({ code: "ENOTEMPTY" });
      await fsys.rm(p("rm"), { recursive: true });
      expect(await fsys.exists(p("rm", "sub", "two.txt"))).toBe(false);
      expect(await fsys.exists(p("rm"))).toBe(false);
    });

    it("puts and gets local files with progress", async () => {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      const local = path.join(tmp, "up.bin");
      fs.writeFileSync(local, data);
      const events: TransferProgress[] = [];
      await fsys.put(local, p("up.bin"), { onProgress: (e) => events.push(e) });
      expect(events.length).toBeGreaterThan(0);
      expect(events[events.length - 1]).toEqual({ bytesDone: data.length, bytesTotal: data.length });
      const back = path.join(tmp, "down", "up.bin");
      const down: TransferProgress[] = [];
      await fsys.get(p("up.bin"), back, { onProgress: (e) => down.push(e) });
      expect(sha(fs.readFileSync(back))).toBe(sha(data));
      expect(down[down.length - 1]?.bytesDone).toBe(data.length);
      expect(fs.readdirSync(path.dirname(back))).toEqual(["up.bin"]);
    });

    it("writes through writeStream", async () => {
      const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(50_000, i));
      await pipeline(Readable.from(chunks), fsys.writeStream(p("ws.bin")));
      expect(sha(await fsys.read(p("ws.bin")))).toBe(sha(Buffer.concat(chunks)));
    });

    it("copies within the store and to another store", async () => {
      const data = randomBytes(200_000);
      await fsys.write(p("cp-src.bin"), data);
      await fsys.copy(p("cp-src.bin"), p("cp", "dst.bin"));
      expect(await fsys.read(p("cp", "dst.bin"))).toEqual(data);
      const mem = new MemoryFileSystem();
      await fsys.copy(p("cp-src.bin"), "/x/y.bin", { destination: mem });
      expect(await mem.read("/x/y.bin")).toEqual(data);
      await mem.copy("/x/y.bin", p("cp", "from-mem.bin"), { destination: fsys });
      expect(await fsys.read(p("cp", "from-mem.bin"))).toEqual(data);
    });

    it("renames where supported, or says it cannot", async () => {
      await fsys.write(p("mv-a"), "A");
      await fsys.write(p("mv-b"), "B");
      if (!fsys.capabilities.rename) {
        await expect(fsys.rename(p("mv-a"), p("mv-c"))).rejects.toMatchObject({ code: "ENOTSUP" });
        return;
      }
      await expect(fsys.rename(p("mv-a"), p("mv-b"), { overwrite: false })).rejects.toMatchObject({ code: "EEXIST" });
      await fsys.rename(p("mv-a"), p("mv-b"));
      expect((await fsys.read(p("mv-b"))).toString()).toBe("A");
      expect(await fsys.exists(p("mv-a"))).toBe(false);
      await fsys.rename(p("mv-b"), p("mv-dir", "c"));
      expect((await fsys.read(p("mv-dir", "c"))).toString()).toBe("A");
      await expect(fsys.rename(p("mv-missing"), p("mv-x"))).rejects.toMatchObject({ code: "ENOENT" });
    });

    it("publishes atomically with metadata and a sidecar; the up-to-date check reads it back", async () => {
      const local = path.join(tmp, "env.pex");
      fs.writeFileSync(local, randomBytes(500_000));
      const res = await fsys.publish(local, p("pub", "env.pex"), {
        metadata: { "lock-sha256": "abc123" },
        sidecar: { content: JSON.stringify({ package_installed: ["six==1.16.0"] }) },
      });
      expect(res).toMatchObject({ size: 500_000, sidecarPath: p("pub", "env.json") });
      expect(JSON.parse((await fsys.read(p("pub", "env.json"))).toString())).toEqual({ package_installed: ["six==1.16.0"] });
      expect(sha(await fsys.read(p("pub", "env.pex")))).toBe(sha(fs.readFileSync(local)));
      expect((await fsys.list(p("pub"))).map((e) => e.name)).toEqual(["env.json", "env.pex"]);
      expect(await fsys.isUpToDate(p("pub", "env.pex"), { metadata: { "lock-sha256": "abc123" }, size: 500_000 })).toMatchObject({ upToDate: true });
      expect((await fsys.isUpToDate(p("pub", "env.pex"), { metadata: { "lock-sha256": "other" } })).upToDate).toBe(false);
      expect((await fsys.isUpToDate(p("pub", "env.pex"), { size: 1 })).upToDate).toBe(false);
      expect((await fsys.isUpToDate(p("pub", "absent.pex"), { metadata: {} })).upToDate).toBe(false);
      // Replacing the file without metadata must not keep the old metadata.
      await fsys.write(p("pub", "env.pex"), "replaced");
      expect((await fsys.isUpToDate(p("pub", "env.pex"), { metadata: { "lock-sha256": "abc123" } })).upToDate).toBe(false);
    });

    it("rejects metadata keys the stores cannot keep", async () => {
      await expect(fsys.write(p("bad-meta"), "x", { metadata: { "Upper Case": "v" } })).rejects.toThrow(
        expect.objectContaining({ message: 'Metadata key "Upper Case" is not allowed.', hint: expect.stringMatching(/lowercase/) }),
      );
      expect(await fsys.exists(p("bad-meta"))).toBe(false);
    });

    it("aborts a write without leaving a partial file", async () => {
      const ac = new AbortController();
      let sent = 0;
      const body = new Readable({
        read() {
          sent += 1;
          if (sent === 3) ac.abort(new Error("user cancelled"));
          this.push(sent > 1000 ? null : Buffer.alloc(64 * 1024, 1));
        },
      });
      await expect(fsys.write(p("aborted.bin"), body, { signal: ac.signal })).rejects.toMatchObject({ code: "ABORT_ERR" });
      expect(await fsys.exists(p("aborted.bin"))).toBe(false);
      // A download cancelled half-way leaves neither the file nor its temporary sibling.
      await fsys.write(p("to-get.bin"), randomBytes(4 * 1024 * 1024));
      const ac3 = new AbortController();
      const dest = path.join(tmp, "cancelled", "got.bin");
      await expect(
        fsys.get(p("to-get.bin"), dest, {
          signal: ac3.signal,
          onProgress: (e) => {
            if (e.bytesDone > 0) ac3.abort(new Error("stop"));
          },
        }),
      ).rejects.toMatchObject({ code: "ABORT_ERR" });
      expect(fs.readdirSync(path.dirname(dest))).toEqual([]);
      const ac2 = new AbortController();
      ac2.abort();
      await expect(fsys.stat(p("a.txt"), { signal: ac2.signal })).rejects.toMatchObject({ code: "ABORT_ERR" });
    });

    it("concurrent publishers of one path: every reader sees one complete version", async () => {
      const n = options.publishers ?? 50;
      const size = 64 * 1024;
      const files = Array.from({ length: n }, (_, i) => {
        const f = path.join(tmp, `v${i}.bin`);
        fs.writeFileSync(f, versionBytes(i, size));
        return f;
      });
      const target = p("race", "env.pex");
      let stop = false;
      const seen = new Set<number>();
      const reader = async () => {
        while (!stop) {
          // Yield to I/O: an in-memory store answers in microtasks and would starve the writers.
          await new Promise((r) => setImmediate(r));
          let buf: Buffer;
          try {
            buf = await fsys.read(target);
          } catch (err) {
            if ((err as { code?: string }).code === "ENOENT") continue;
            throw err;
          }
          seen.add(checkVersion(buf, size));
        }
      };
      const readers = [reader(), reader()];
      const published = await Promise.allSettled(files.map((f, i) => fsys.publish(f, target, { metadata: { version: String(i) } })));
      stop = true;
      await Promise.all(readers);
      for (const r of published) if (r.status === "rejected") throw r.reason;
      const final = checkVersion(await fsys.read(target), size);
      expect(final).toBeGreaterThanOrEqual(0);
      expect(seen.size).toBeGreaterThan(0);
      const names = (await fsys.list(p("race"))).map((e) => e.name);
      expect(names).toEqual(["env.pex"]);
    });
  });
}

/** Bytes that identify their version in every 8-byte word, so a mix of two is detectable. */
export function versionBytes(version: number, size: number): Buffer {
  const buf = Buffer.alloc(size);
  for (let off = 0; off + 8 <= size; off += 8) {
    buf.writeUInt32BE(version, off);
    buf.writeUInt32BE(off, off + 4);
  }
  return buf;
}

/** Returns the version a buffer from `versionBytes` holds; throws on a torn or short one. */
export function checkVersion(buf: Buffer, size: number): number {
  if (buf.length !== size) throw new Error(`torn read: ${buf.length} bytes instead of ${size}`);
  const v = buf.readUInt32BE(0);
  if (!buf.equals(versionBytes(v, size))) throw new Error(`torn read: bytes of several versions (first is ${v})`);
  return v;
}

function sha(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}

/**
 * Jest's functions, required when a suite is declared (not when the kit loads), so the S3
 * and WebHDFS servers of this kit work outside jest too. `@jest/globals` is an optional
 * peer dependency of @cluster-pack/fs, present wherever jest is installed.
 */
function jestGlobals(): typeof JestGlobals {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer, loaded on first use
    return require("@jest/globals");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND") {
      throw new Error("runConformanceSuite runs under jest: install jest (it brings @jest/globals, an optional peer dependency of @cluster-pack/fs)", { cause: err });
    }
    throw err;
  }
}
