import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import {
  AbortError,
  IntegrityError,
  InvalidInputError,
} from "@cluster-pack/errors";
import { bufferSource, ZipReader, ZipWriter } from "./index";
import { rawAccess, type RawAccess } from "./reader";
import {
  pyenvPythons,
  python,
  realWheel,
  runPython,
  tempDir,
  which,
  zipBytes,
} from "./test-kit";

jest.setTimeout(60_000);

const PY = python();
const INFO = `
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    print(json.dumps([dict(name=i.filename, date=list(i.date_time), mode=i.external_attr >> 16, dos=i.external_attr & 0xffff,
        method=i.compress_type, system=i.create_system, extra=i.extra.hex(), flags=i.flag_bits, size=i.file_size,
        csize=i.compress_size, crc=i.CRC, offset=i.header_offset) for i in z.infolist()]))
    assert z.testzip() is None
`;
type PyInfo = {
  name: string;
  date: number[];
  mode: number;
  dos: number;
  method: number;
  system: number;
  extra: string;
  flags: number;
  size: number;
  csize: number;
  crc: number;
  offset: number;
};
const pyInfo = (file: string): PyInfo[] => JSON.parse(runPython(INFO, [file]));
const describeIfPython = PY ? describe : describe.skip;
if (!PY)
  console.warn(
    "writer tests that check output with Python are skipped: no python3 interpreter found"
  );

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => (tmp = tempDir()));
afterEach(() => tmp.cleanup());

function sample(order: "forward" | "reverse", dir: string): ZipWriter {
  fs.writeFileSync(path.join(dir, "tool.sh"), "#!/bin/sh\necho hi\n", {
    mode: 0o700,
  });
  fs.writeFileSync(
    path.join(dir, "data.bin"),
    crypto.createHash("sha512").update("seed").digest()
  );
  const adds: Array<(w: ZipWriter) => void> = [
    (w) => w.addBuffer("pkg/__init__.py", "VERSION = '1.0'\n".repeat(50)),
    (w) => w.addFile("bin/tool.sh", path.join(dir, "tool.sh"), { mode: 0o700 }),
    (w) => w.addFile("pkg/data.bin", path.join(dir, "data.bin")),
    (w) => w.addDirectory("empty/dir"),
    (w) => w.addSymlink("pkg/link", "__init__.py"),
    (w) =>
      w.addStreamFactory(
        "pkg/stream.txt",
        () => Readable.from([Buffer.from("streamed "), Buffer.from("content")]),
        16
      ),
    (w) => w.addBuffer("__main__.py", "print('hi')\n", { compress: false }),
  ];
  const w = new ZipWriter({ comment: "made by tests" });
  for (const add of order === "forward" ? adds : [...adds].reverse()) add(w);
  return w;
}

describe("determinism", () => {
  it("gives byte-identical archives for the same inputs in any order, to a file or a stream", async () => {
    const a = await sample("forward", tmp.dir).writeTo(
      path.join(tmp.dir, "a.zip")
    );
    const b = await sample("reverse", tmp.dir).writeTo(
      path.join(tmp.dir, "b.zip")
    );
    const bytesA = fs.readFileSync(a.path);
    expect(fs.readFileSync(b.path).equals(bytesA)).toBe(true);
    expect(a.sha256).toBe(
      crypto.createHash("sha256").update(bytesA).digest("hex")
    );
    expect(a.size).toBe(bytesA.length);
    expect(a.entries).toBe(10); // 7 added (one is empty/dir/) + implicit bin/, empty/, pkg/
    expect((await zipBytes(sample("forward", tmp.dir))).equals(bytesA)).toBe(
      true
    );
  });

  it("does not depend on file timestamps or permission bits beyond the x bit", async () => {
    const w1 = sample("forward", tmp.dir);
    const first = await zipBytes(w1);
    fs.utimesSync(
      path.join(tmp.dir, "data.bin"),
      new Date(2001, 1, 1),
      new Date(2001, 1, 1)
    );
    fs.chmodSync(path.join(tmp.dir, "data.bin"), 0o600);
    const w2 = sample("forward", tmp.dir);
    fs.utimesSync(
      path.join(tmp.dir, "data.bin"),
      new Date(2020, 1, 1),
      new Date(2020, 1, 1)
    );
    expect((await zipBytes(w2)).equals(first)).toBe(true);
  });
});

describeIfPython("format, checked with Python's zipfile", () => {
  it("sorts entries parents first, dates them 1980-01-01, normalises modes, adds no extra fields", async () => {
    const { path: file } = await sample("forward", tmp.dir).writeTo(
      path.join(tmp.dir, "a.zip")
    );
    const info = pyInfo(file);
    expect(info.map((i) => i.name)).toEqual(
      [
        "__main__.py",
        "bin/",
        "bin/tool.sh",
        "empty/",
        "empty/dir/",
        "pkg/",
        "pkg/__init__.py",
        "pkg/data.bin",
        "pkg/link",
        "pkg/stream.txt",
      ].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
    );
    for (const i of info) {
      expect(i.date).toEqual([1980, 1, 1, 0, 0, 0]);
      expect(i.extra).toBe("");
      expect(i.system).toBe(3);
      expect(i.flags & 0x8).toBe(0); // no data descriptors
    }
    const mode = Object.fromEntries(info.map((i) => [i.name, i.mode]));
    expect(mode["bin/tool.sh"]).toBe(0o100755);
    expect(mode["pkg/__init__.py"]).toBe(0o100644);
    expect(mode["pkg/"]).toBe(0o040755);
    expect(mode["pkg/link"]).toBe(0o120777);
    const method = Object.fromEntries(info.map((i) => [i.name, i.method]));
    expect(method["pkg/__init__.py"]).toBe(8);
    expect(method["__main__.py"]).toBe(0); // compress: false
    expect(method["pkg/data.bin"]).toBe(0); // incompressible: stored, deterministic decision
    expect(method["pkg/link"]).toBe(0);
    expect(
      runPython(
        "import zipfile,sys; print(zipfile.ZipFile(sys.argv[1]).comment.decode())",
        [file]
      ).trim()
    ).toBe("made by tests");
    expect(
      runPython(
        "import zipfile,sys; print(zipfile.ZipFile(sys.argv[1]).read('pkg/link').decode())",
        [file]
      ).trim()
    ).toBe("__init__.py");
  });

  it("writes a shebang prefix whose archive every Python runs directly (zipimport finds __main__.py)", async () => {
    const w = new ZipWriter({ prefix: "#!/usr/bin/env python3\n" });
    w.addBuffer(
      "__main__.py",
      "import sys, helper\nprint(helper.greet(sys.argv[1:]))\nsys.exit(3)\n"
    );
    w.addBuffer(
      "helper.py",
      "def greet(args):\n    return 'hello ' + ','.join(args)\n"
    );
    const { path: file } = await w.writeTo(path.join(tmp.dir, "app.pyz"), {
      mode: 0o755,
    });
    expect(fs.statSync(file).mode & 0o777).toBe(0o755);
    expect(fs.readFileSync(file).subarray(0, 23).toString()).toBe(
      "#!/usr/bin/env python3\n"
    );
    const interpreters = [...new Set([PY!, ...pyenvPythons()])];
    for (const interpreter of interpreters) {
      const r = spawnSync(interpreter, [file, "a", "b"], { encoding: "utf8" });
      expect({ interpreter, out: r.stdout, status: r.status }).toEqual({
        interpreter,
        out: "hello a,b\n",
        status: 3,
      });
    }
    // And the shebang itself.
    const direct = spawnSync(file, ["x"], { encoding: "utf8" });
    expect(direct.stdout).toBe("hello x\n");
    const reader = await ZipReader.open(file);
    expect(reader.prefixLength).toBe(23);
    expect(reader.entries[0]!.localHeaderOffset).toBe(23);
    await reader.close();
  });

  it("passes `unzip -t`", async () => {
    if (!which("unzip"))
      return console.warn(
        "skipped: `unzip` is not installed (apt-get install unzip)"
      );
    const { path: file } = await sample("forward", tmp.dir).writeTo(
      path.join(tmp.dir, "a.zip")
    );
    const r = spawnSync("unzip", ["-t", file], { encoding: "utf8" });
    expect(r.stdout).toContain("No errors detected");
    expect(r.status).toBe(0);
  });

  it("streams large files: deflated through a spool file, stored in two passes", async () => {
    const big = path.join(tmp.dir, "big.txt");
    const line = "0123456789abcdef".repeat(8) + "\n";
    fs.writeFileSync(
      big,
      line.repeat(Math.ceil((6 * 1024 * 1024) / line.length))
    );
    const random = path.join(tmp.dir, "random.bin");
    fs.writeFileSync(random, crypto.randomBytes(5 * 1024 * 1024));
    const out = path.join(tmp.dir, "out");
    fs.mkdirSync(out);
    const w = new ZipWriter();
    w.addFile("big.txt", big);
    w.addFile("random.bin", random, { compress: false });
    w.addFile("random-deflated.bin", random);
    const { path: file } = await w.writeTo(path.join(out, "big.zip"));
    expect(fs.readdirSync(out)).toEqual(["big.zip"]); // no spool or temp file left
    const info = Object.fromEntries(pyInfo(file).map((i) => [i.name, i]));
    expect(info["big.txt"]!.method).toBe(8);
    expect(info["big.txt"]!.csize).toBeLessThan(info["big.txt"]!.size / 10);
    expect(info["random.bin"]!.method).toBe(0);
    expect(info["random-deflated.bin"]!.method).toBe(8); // large entries never switch method (same bytes to a stream)
    const reader = await ZipReader.open(file);
    expect(
      (await reader.readEntry("big.txt")).equals(fs.readFileSync(big))
    ).toBe(true);
    expect(
      (await reader.readEntry("random.bin")).equals(fs.readFileSync(random))
    ).toBe(true);
    expect(
      (await reader.readEntry("random-deflated.bin")).equals(
        fs.readFileSync(random)
      )
    ).toBe(true);
    await reader.close();
    expect((await zipBytes(w)).equals(fs.readFileSync(file))).toBe(true);
  });
});

describe("raw copies", () => {
  const wheel = realWheel("six==1.17.0");
  const itWheel = wheel.path ? it : it.skip;
  if (!wheel.path) console.warn(`raw copy tests skipped: ${wheel.reason}`);

  itWheel(
    "copies a real wheel's entries byte for byte, without recompressing",
    async () => {
      const src = await ZipReader.open(wheel.path!);
      const w = new ZipWriter({ compressionLevel: 1 }); // a recompression would change the bytes
      const seen = new Map<string, Buffer>();
      for (const e of src.entries) {
        w.addRawEntry(`.deps/six/${e.name}`, src, e, {
          verify: async (inflated) => {
            const chunks: Buffer[] = [];
            for await (const c of inflated as AsyncIterable<Buffer>)
              chunks.push(c);
            seen.set(e.name, Buffer.concat(chunks));
          },
        });
      }
      const { path: file } = await w.writeTo(path.join(tmp.dir, "copy.zip"));
      const copy = await ZipReader.open(file);
      for (const e of src.entries) {
        const c = copy.getEntry(`.deps/six/${e.name}`)!;
        expect({
          method: c.method,
          crc: c.crc32,
          csize: c.compressedSize,
          size: c.uncompressedSize,
        }).toEqual({
          method: e.method,
          crc: e.crc32,
          csize: e.compressedSize,
          size: e.uncompressedSize,
        });
        const [a, b] = await Promise.all([
          streamBytes(await src.openRawStream(e)),
          streamBytes(await copy.openRawStream(c)),
        ]);
        expect(b.equals(a)).toBe(true);
        expect((await copy.readEntry(c)).equals(seen.get(e.name)!)).toBe(true);
      }
      expect(copy.getEntry(".deps/")!.isDirectory).toBe(true);
      await copy.close();
      await src.close();
      if (PY)
        expect(
          runPython(
            "import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); print(z.testzip())",
            [file]
          ).trim()
        ).toBe("None");
    }
  );

  it("copies small raw entries in windows with the same bytes as one at a time, from interleaved sources", async () => {
    // Two sources of many small entries (and a few big incompressible ones, copied alone),
    // whose names interleave in output order, so windows start, stop and switch readers.
    const sources: string[] = [];
    for (const tag of ["a", "b"]) {
      const w = new ZipWriter();
      const dir = (i: number) =>
        `d/${String(Math.floor(i / 25) * 2 + (tag === "a" ? 0 : 1)).padStart(
          3,
          "0"
        )}`;
      for (let i = 0; i < 400; i++)
        w.addBuffer(
          `${dir(i)}/${String(i).padStart(4, "0")}-${tag}.py`,
          `# ${tag} ${i}\n${"x = 1\n".repeat(i % 37)}`
        );
      for (let i = 0; i < 3; i++)
        w.addBuffer(
          `${dir(i * 100 + 50)}/${i}-${tag}-big.bin`,
          crypto.randomBytes((1 << 20) + 1000 * i),
          { compress: false }
        );
      sources.push(
        (await w.writeTo(path.join(tmp.dir, `src-${tag}.zip`))).path
      );
    }
    for (const sync of [true, false]) {
      // Files are read synchronously (readSync); other sources (here: buffers) asynchronously.
      const readers = await Promise.all(
        sources.map((f) =>
          sync
            ? ZipReader.open(f)
            : ZipReader.open(bufferSource(fs.readFileSync(f), f))
        )
      );
      const copy = async (out: string, verify: boolean) => {
        const w = new ZipWriter({ prefix: "#!/usr/bin/env python3\n" });
        for (const r of readers)
          for (const e of r.entries)
            if (!e.isDirectory)
              w.addRawEntry(
                e.name,
                r,
                e,
                verify
                  ? { verify: async (s) => void (await streamBytes(s)) }
                  : {}
              );
        return (await w.writeTo(path.join(tmp.dir, out))).sha256;
      };
      // The window reads of the raw-copy interface (its other reads go to the source directly).
      const spans = readers.map((r) => jest.spyOn(rawAccess(r) as { read: RawAccess["read"]; readSync: NonNullable<RawAccess["readSync"]> }, sync ? "readSync" : "read"));
      const calls = () => spans.reduce((n, s) => n + s.mock.calls.length, 0);
      const windowed = await copy("windowed.zip", false);
      expect(calls()).toBeGreaterThanOrEqual(32); // runs of 25 entries per reader: one read each
      expect(calls()).toBeLessThan(100);
      for (const s of spans) s.mockClear();
      expect(windowed).toBe(await copy("single.zip", true));
      expect(calls()).toBe(0); // entries with a verify hook are copied one at a time
      for (const s of spans) s.mockRestore();
      const out = await ZipReader.open(path.join(tmp.dir, "windowed.zip"));
      expect(out.entries.filter((e) => !e.isDirectory)).toHaveLength(806);
      for (const e of out.entries.filter((x) => !x.isDirectory)) {
        const r =
          readers[e.name.includes("-a.") || e.name.includes("-a-") ? 0 : 1]!;
        expect((await out.readEntry(e)).equals(await r.readEntry(e.name))).toBe(
          true
        );
      }
      await out.close();
      for (const r of readers) await r.close();
      if (PY)
        expect(
          runPython(
            "import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); print(z.testzip())",
            [path.join(tmp.dir, "windowed.zip")]
          ).trim()
        ).toBe("None");
    }
  });

  it("rejects, in windowed copies too, a source whose local header disagrees with its central directory", async () => {
    const w = new ZipWriter();
    for (let i = 0; i < 50; i++)
      w.addBuffer(`m/${i}.txt`, `content ${i}\n`.repeat(10));
    const file = (await w.writeTo(path.join(tmp.dir, "liar.zip"))).path;
    const bytes = fs.readFileSync(file);
    const at = bytes.indexOf(Buffer.from("m/25.txt")) - 30; // the local header of m/25.txt
    expect(bytes.readUInt32LE(at)).toBe(0x04034b50);
    bytes.writeUInt32LE((bytes.readUInt32LE(at + 14) ^ 1) >>> 0, at + 14); // local CRC differs from the central one
    fs.writeFileSync(file, bytes);
    const src = await ZipReader.open(file);
    const out = new ZipWriter();
    for (const e of src.entries)
      if (!e.isDirectory) out.addRawEntry(e.name, src, e);
    await expect(
      out.writeTo(path.join(tmp.dir, "out", "copy.zip"))
    ).rejects.toThrow(
      /m\/25.txt: the local header disagrees with the central directory \(CRC/
    );
    expect(fs.readdirSync(path.join(tmp.dir, "out"))).toEqual([]);
    await src.close();
  });

  itWheel(
    "fails the whole write when verify rejects, leaving nothing behind",
    async () => {
      const src = await ZipReader.open(wheel.path!);
      const w = new ZipWriter();
      for (const e of src.entries) {
        w.addRawEntry(e.name, src, e, {
          verify: async (inflated) => {
            for await (const _ of inflated as AsyncIterable<Buffer>);
            if (e.name.endsWith("RECORD"))
              throw new IntegrityError("RECORD hash mismatch (test)");
          },
        });
      }
      await expect(w.writeTo(path.join(tmp.dir, "bad.zip"))).rejects.toThrow(
        "RECORD hash mismatch (test)"
      );
      expect(fs.readdirSync(tmp.dir)).toEqual([]);
      await src.close();
    }
  );
});

describe("bad input", () => {
  it("rejects unsafe and duplicate names when they are added", () => {
    const w = new ZipWriter();
    for (const bad of ["../x", "/abs", "C:/x", "a\\b", "", "a/../b"]) {
      expect(() => w.addBuffer(bad, "x")).toThrow(InvalidInputError);
    }
    w.addBuffer("a/b.txt", "x");
    expect(() => w.addBuffer("a/b.txt", "y")).toThrow(/added twice/);
    expect(() => w.addBuffer("a/./b.txt", "y")).toThrow(/added twice/);
    expect(() => w.addBuffer("a", "file over an implicit directory")).toThrow(
      /added twice/
    );
    expect(() => w.addBuffer("a/b.txt/c", "under a file")).toThrow(
      /needs "a\/b.txt" to be a directory/
    );
    w.addDirectory("a"); // an explicit directory over the implicit one is fine
    expect(w.has("a")).toBe(true);
    expect(w.has("a/")).toBe(true);
    expect(w.has("a/b.txt")).toBe(true);
    expect(w.has("b")).toBe(false);
    expect(() => new ZipWriter({ compressionLevel: 11 })).toThrow(
      /compressionLevel/
    );
    expect(() => new ZipWriter({ comment: "x".repeat(70000) })).toThrow(
      /65,535/
    );
    expect(() => w.addStreamFactory("s", () => Readable.from([]), -1)).toThrow(
      /size/
    );
    expect(() => w.addBuffer("n".repeat(70000), "x")).toThrow(/65,535/);
  });

  it("reports a missing file at write time and leaves no temp file", async () => {
    const w = new ZipWriter();
    w.addFile("x", path.join(tmp.dir, "does-not-exist"));
    await expect(w.writeTo(path.join(tmp.dir, "out.zip"))).rejects.toThrow(
      /cannot read .*does-not-exist/
    );
    expect(fs.readdirSync(tmp.dir)).toEqual([]);
  });

  it.each([
    ["shorter", 10, 100],
    ["longer", 10 * 1024 * 1024 + 5, 10 * 1024 * 1024],
    ["longer (small)", 200, 100],
  ])(
    "rejects a stream %s than declared and keeps the previous archive intact",
    async (_what, actual, declared) => {
      const target = path.join(tmp.dir, "out.zip");
      fs.writeFileSync(target, "previous");
      const w = new ZipWriter();
      w.addStreamFactory(
        "s.bin",
        () => Readable.from([Buffer.alloc(actual, 1)]),
        declared
      );
      await expect(w.writeTo(target)).rejects.toMatchObject({
        code: "ERR_SOURCE_CHANGED",
      });
      expect(fs.readdirSync(tmp.dir)).toEqual(["out.zip"]);
      expect(fs.readFileSync(target, "utf8")).toBe("previous");
    }
  );

  it("aborts a write in progress: AbortError, no temp or spool file, no target", async () => {
    const controller = new AbortController();
    const w = new ZipWriter();
    w.addBuffer("a.txt", "first");
    // A large entry whose stream stalls after its first chunk, until the abort.
    w.addStreamFactory(
      "z.bin",
      () =>
        new Readable({
          read() {
            if (!this.readableLength) {
              this.push(Buffer.alloc(1 << 20, 7));
              setTimeout(() => controller.abort(), 20);
            }
          },
        }),
      64 * 1024 * 1024
    );
    await expect(
      w.writeTo(path.join(tmp.dir, "out.zip"), { signal: controller.signal })
    ).rejects.toBeInstanceOf(AbortError);
    expect(fs.readdirSync(tmp.dir)).toEqual([]);
  });

  it("aborts writeToStream too, removing its spool file from the temp dir", async () => {
    const spools = () =>
      fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(".zip-spool-"));
    const before = spools();
    const controller = new AbortController();
    const w = new ZipWriter();
    w.addStreamFactory(
      "big.txt",
      () =>
        new Readable({
          read() {
            if (!this.readableLength) {
              this.push(Buffer.alloc(1 << 20, "a"));
              setTimeout(() => controller.abort(), 20);
            }
          },
        }),
      32 * 1024 * 1024
    );
    const sink = fs.createWriteStream(path.join(tmp.dir, "out.zip"));
    await expect(
      w.writeToStream(sink, { signal: controller.signal })
    ).rejects.toBeInstanceOf(AbortError);
    sink.destroy();
    expect(spools()).toEqual(before);
  });

  it("refuses to start when the signal is already aborted", async () => {
    const w = new ZipWriter();
    w.addBuffer("a", "b");
    await expect(
      w.writeTo(path.join(tmp.dir, "x.zip"), { signal: AbortSignal.abort() })
    ).rejects.toBeInstanceOf(AbortError);
    expect(fs.readdirSync(tmp.dir)).toEqual([]);
  });
});

describe("progress", () => {
  it("reports each entry written", async () => {
    const w = new ZipWriter();
    w.addBuffer("a/b", "1");
    w.addBuffer("c", "2");
    const calls: Array<[number, number]> = [];
    await w.writeTo(path.join(tmp.dir, "p.zip"), {
      onProgress: (d, t) => calls.push([d, t]),
    });
    expect(calls).toEqual([
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
  });
});

async function streamBytes(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

describe("replaceBuffer", () => {
  it("replaces a buffer entry's data in place, and refuses any other entry", async () => {
    const w = new ZipWriter();
    w.addBuffer("a/RECORD", "old\n");
    w.addBuffer("b.txt", "b");
    w.replaceBuffer("a/RECORD", "new and longer\n");
    expect(() => w.replaceBuffer("a/missing", "x")).toThrow(/was not added with addBuffer/);
    expect(() => w.replaceBuffer("a", "x")).toThrow(/was not added with addBuffer/); // the implicit directory
    const out = path.join(tmp.dir, "r.zip");
    await w.writeTo(out);
    const r = await ZipReader.open(out);
    expect(r.entries.map((e) => e.name)).toEqual(["a/", "a/RECORD", "b.txt"]);
    expect((await r.readEntry("a/RECORD")).toString()).toBe("new and longer\n");
    await r.close();
  });
});
