import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { AbortError } from "@cluster-pack/errors";
import { bufferSource, ZipReader, ZipWriter, type ZipReadOptions } from "./index";
import { centralRecords, python, realWheel, runPython, tempDir, zipBytes } from "./test-kit";

jest.setTimeout(60_000);

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => (tmp = tempDir()));
afterEach(() => tmp.cleanup());

const PY = python();
const itPython = PY ? it : it.skip;
if (!PY) console.warn("reader tests against Python-made archives are skipped: no python3 interpreter found");

/** Builds a small archive with our writer, then lets a test corrupt its bytes. */
async function build(entries: Record<string, string | Buffer>, options: { compress?: boolean } = {}): Promise<Buffer> {
  const w = new ZipWriter({ compress: options.compress ?? true });
  for (const [name, data] of Object.entries(entries)) w.addBuffer(name, data);
  return zipBytes(w);
}

/** Replaces every occurrence of one name by another of the same byte length (local and central headers). */
function rename(zip: Buffer, from: string, to: string): Buffer {
  const a = Buffer.from(from);
  const b = Buffer.from(to);
  expect(b.length).toBe(a.length);
  const out = Buffer.from(zip);
  let at = out.indexOf(a);
  expect(at).toBeGreaterThanOrEqual(0);
  while (at >= 0) {
    b.copy(out, at);
    at = out.indexOf(a, at + 1);
  }
  return out;
}

async function open(zip: Buffer, options?: ZipReadOptions): Promise<ZipReader> {
  return ZipReader.open(bufferSource(zip, "crafted.zip"), options);
}

describe("reading", () => {
  it("lists entries with their metadata and reads them back", async () => {
    const text = "hello ".repeat(1000);
    const zip = await build({ "pkg/a.txt": text, "pkg/empty": "", "b.bin": Buffer.from([1, 2, 3]) });
    const r = await open(zip);
    expect(r.entries.map((e) => e.name)).toEqual(["b.bin", "pkg/", "pkg/a.txt", "pkg/empty"]);
    const a = r.getEntry("pkg/a.txt")!;
    expect(a).toMatchObject({ isDirectory: false, isSymlink: false, method: 8, uncompressedSize: text.length, mode: 0o100644 });
    expect(a.compressedSize).toBeLessThan(200);
    expect(r.getEntry("pkg/")).toMatchObject({ isDirectory: true, mode: 0o040755 });
    expect((await r.readEntry(a)).toString()).toBe(text);
    expect((await r.readEntry("pkg/empty")).length).toBe(0);
    expect([...(await r.readEntry("b.bin"))]).toEqual([1, 2, 3]);
    const chunks: Buffer[] = [];
    for await (const c of (await r.openEntryStream("pkg/a.txt")) as AsyncIterable<Buffer>) chunks.push(c);
    expect(Buffer.concat(chunks).toString()).toBe(text);
    expect(r.prefixLength).toBe(0);
    await expect(r.readEntry("nope")).rejects.toMatchObject({ code: "ERR_NO_SUCH_ENTRY" });
    await expect(r.readEntry(a, { maxBytes: 100 })).rejects.toMatchObject({ code: "ERR_ENTRY_TOO_LARGE" });
    await r.close();
    await expect(r.readEntry(a)).rejects.toMatchObject({ code: "ERR_CLOSED" });
  });

  it("reads big entries as streams (not from the header's read window)", async () => {
    const big = Buffer.alloc(3 * 1024 * 1024, "abc");
    const r = await open(await build({ big: big }));
    expect((await r.readEntry("big")).equals(big)).toBe(true);
    await r.close();
  });

  const wheel = realWheel("six==1.17.0");
  (wheel.path && PY ? it : it.skip)("reads a real wheel exactly like Python's zipfile", async () => {
    const r = await ZipReader.open(wheel.path!);
    const expected = JSON.parse(runPython("import zipfile,sys,json,base64; z=zipfile.ZipFile(sys.argv[1]); print(json.dumps({i.filename: base64.b64encode(z.read(i)).decode() for i in z.infolist()}))", [wheel.path!]));
    expect(r.entries.map((e) => e.name).sort()).toEqual(Object.keys(expected).sort());
    for (const e of r.entries) expect((await r.readEntry(e)).toString("base64")).toBe(expected[e.name]);
    expect((await r.readEntry("six-1.17.0.dist-info/METADATA")).toString()).toContain("Name: six");
    await r.close();
  });
  if (!wheel.path) console.warn(`real wheel test skipped: ${wheel.reason}`);

  itPython("reads archives written by Python's zipfile, including data descriptors and ZIP64 records", async () => {
    const file = path.join(tmp.dir, "py.zip");
    runPython(
      `
import sys, zipfile, io
buf = io.BytesIO()
class Unseekable(io.RawIOBase):
    def writable(self): return True
    def write(self, b): buf.write(b); return len(b)
# Writing to an unseekable stream makes zipfile use data descriptors (flag bit 3).
with zipfile.ZipFile(Unseekable(), "w", zipfile.ZIP_DEFLATED) as z:
    with z.open("streamed.txt", "w", force_zip64=True) as f:
        f.write(b"streamed " * 1000)
    z.writestr("plain.txt", "plain")
    z.writestr("dir/", "")
open(sys.argv[1], "wb").write(buf.getvalue())
`,
      [file],
    );
    const r = await ZipReader.open(file);
    expect((await r.readEntry("streamed.txt")).toString()).toBe("streamed ".repeat(1000));
    expect((await r.readEntry("plain.txt")).toString()).toBe("plain");
    expect(r.getEntry("dir/")!.isDirectory).toBe(true);
    await r.close();
  });

  it("reads archives written by yazl (a different writer: data descriptors, forced ZIP64)", async () => {
    const yazl = await import("yazl");
    const z = new yazl.ZipFile();
    z.addBuffer(Buffer.from("from yazl ".repeat(100)), "y/a.txt", { forceZip64Format: true });
    z.addReadStream(require("node:stream").Readable.from([Buffer.from("a stream")]), "y/s.txt");
    z.end({ forceZip64Format: true, comment: "" });
    const chunks: Buffer[] = [];
    for await (const c of z.outputStream as AsyncIterable<Buffer>) chunks.push(c);
    const r = await open(Buffer.concat(chunks));
    expect((await r.readEntry("y/a.txt")).toString()).toBe("from yazl ".repeat(100));
    expect((await r.readEntry("y/s.txt")).toString()).toBe("a stream");
    await r.close();
  });

  it("reads archives glued after a prefix without offset fixes (`cat stub app.zip`), ZIP64 too", async () => {
    const stub = Buffer.from("#!/usr/bin/env python3\n# a stub that was prepended with cat\n");
    for (const forceZip64 of [false, true]) {
      const w = new ZipWriter({ forceZip64 });
      w.addBuffer("__main__.py", "print('glued')\n");
      w.addBuffer("pkg/data.txt", "d".repeat(5000));
      const glued = Buffer.concat([stub, await zipBytes(w)]);
      const r = await open(glued);
      expect(r.prefixLength).toBe(stub.length);
      expect(r.getEntry("__main__.py")!.localHeaderOffset).toBe(stub.length);
      expect((await r.readEntry("pkg/data.txt")).toString()).toBe("d".repeat(5000));
      // Raw copies out of it land at proper offsets in the new archive.
      const copy = new ZipWriter();
      for (const e of r.entries) copy.addRawEntry(e.name, r, e);
      const again = await open(await zipBytes(copy));
      expect((await again.readEntry("__main__.py")).toString()).toBe("print('glued')\n");
      if (PY && !forceZip64) {
        const file = path.join(tmp.dir, "glued.pyz");
        fs.writeFileSync(file, glued);
        expect(spawnSync(PY, [file], { encoding: "utf8" }).stdout).toBe("glued\n");
      }
    }
  });

  it("honours an abort signal", async () => {
    const r = await open(await build({ a: "x".repeat(100000) }));
    await expect(r.readEntry("a", { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    await expect(ZipReader.open(bufferSource(Buffer.alloc(100)), { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    const controller = new AbortController();
    const stream = await r.openEntryStream("a", { signal: controller.signal });
    controller.abort();
    await expect((async () => { for await (const _ of stream as AsyncIterable<Buffer>); })()).rejects.toBeInstanceOf(AbortError);
    await r.close();
  });
});

describe("untrusted archives", () => {
  it.each([
    ["aa/evil", "../evil", "'..'"],
    ["_etc/passwd", "/etc/passwd", "absolute"],
    ["Cx/win", "C:/win", "drive letter"],
    ["a_b", "a\\b", "backslash"],
    ["a_b", "a\u0000b", "NUL"],
  ])("rejects entry name %j patched to %j at open", async (safe, evil, why) => {
    const zip = rename(await build({ [safe]: "payload", other: "x" }), safe, evil);
    await expect(open(zip)).rejects.toMatchObject({ code: "ERR_UNSAFE_ENTRY_NAME", message: expect.stringContaining(why) });
  });

  it("rejects duplicate names, also after normalisation", async () => {
    await expect(open(rename(await build({ a1: "x", a2: "y" }), "a2", "a1"))).rejects.toMatchObject({ code: "ERR_DUPLICATE_ENTRY" });
    await expect(open(rename(await build({ "x/y": "1", "x/a/y": "2" }), "x/a/y", "x/./y"))).rejects.toMatchObject({ code: "ERR_DUPLICATE_ENTRY" });
  });

  it("rejects too many entries, an entry too large, too much in total", async () => {
    const zip = await build(Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`f${i}`, "x".repeat(1000)])));
    await expect(open(zip, { maxEntries: 9 })).rejects.toMatchObject({ code: "ERR_TOO_MANY_ENTRIES" });
    await expect(open(zip, { maxEntrySize: 999 })).rejects.toMatchObject({ code: "ERR_ENTRY_TOO_LARGE" });
    await expect(open(zip, { maxTotalSize: 9999 })).rejects.toMatchObject({ code: "ERR_ARCHIVE_TOO_LARGE" });
    await (await open(zip, { maxEntries: 10, maxEntrySize: 1000, maxTotalSize: 10000 })).close();
  });

  it("rejects declared sizes beyond what deflate can produce (bomb headers)", async () => {
    const zip = await build({ a: "x".repeat(5000) });
    const [rec] = centralRecords(zip);
    zip.writeUInt32LE(0x7fffffff, rec!.at + 24);
    await expect(open(zip)).rejects.toMatchObject({ code: "ERR_SIZE_MISMATCH" });
  });

  it("detects sizes that lie when the data is inflated", async () => {
    for (const delta of [+7, -7]) {
      const zip = await build({ a: "x".repeat(5000), b: "y" });
      const rec = centralRecords(zip).find((r) => r.name === "a")!;
      zip.writeUInt32LE(rec.uncompressedSize + delta, rec.at + 24);
      zip.writeUInt32LE(rec.uncompressedSize + delta, rec.localHeaderOffset + 22);
      const r = await open(zip);
      await expect(r.readEntry("a")).rejects.toMatchObject({ message: expect.stringMatching(/size|bytes/i) });
      await expect(drain(await r.openEntryStream("a"))).rejects.toMatchObject({ message: expect.stringMatching(/bytes/i) });
      await r.close();
    }
  });

  it("detects stored sizes that disagree", async () => {
    const zip = await build({ a: "stored data" }, { compress: false });
    const rec = centralRecords(zip).find((r) => r.name === "a")!;
    zip.writeUInt32LE(rec.uncompressedSize + 1, rec.at + 24);
    await expect(open(zip)).rejects.toMatchObject({ code: "ERR_CORRUPT_ZIP" });
  });

  it("detects corrupt data through the CRC (small, streamed and big entries)", async () => {
    const big = Buffer.alloc(600 * 1024, "q");
    const zip = await build({ a: "stored data here", big }, { compress: false });
    for (const name of ["a", "big"]) {
      const rec = centralRecords(zip).find((r) => r.name === name)!;
      const bad = Buffer.from(zip);
      bad[rec.localHeaderOffset + 30 + name.length + 3]! ^= 0xff;
      const r = await open(bad);
      await expect(r.readEntry(name)).rejects.toMatchObject({ code: "ERR_CRC_MISMATCH" });
      await expect(drain(await r.openEntryStream(name))).rejects.toMatchObject({ code: "ERR_CRC_MISMATCH" });
      await r.close();
    }
  });

  it("detects a local header that disagrees with the central directory", async () => {
    const zip = await build({ aaa: "one", bbb: "two" });
    const rec = centralRecords(zip).find((r) => r.name === "bbb")!;
    const badName = Buffer.from(zip);
    badName.write("ccc", rec.localHeaderOffset + 30);
    let r = await open(badName);
    expect((await r.readEntry("aaa")).toString()).toBe("one");
    await expect(r.readEntry("bbb")).rejects.toMatchObject({ code: "ERR_HEADER_MISMATCH" });
    const badCrc = Buffer.from(zip);
    badCrc.writeUInt32LE(12345, rec.localHeaderOffset + 14);
    r = await open(badCrc);
    await expect(r.readEntry("bbb")).rejects.toMatchObject({ code: "ERR_HEADER_MISMATCH" });
    const badSignature = Buffer.from(zip);
    badSignature.writeUInt32LE(0, rec.localHeaderOffset);
    r = await open(badSignature);
    await expect(r.readEntry("bbb")).rejects.toMatchObject({ code: "ERR_HEADER_MISMATCH" });
  });

  it("rejects overlapping entries (two names sharing one local header and data)", async () => {
    const zip = await build({ aaa: "x".repeat(1000), bbb: "y".repeat(1000) });
    const [a, b] = centralRecords(zip);
    zip.writeUInt32LE(a!.localHeaderOffset, b!.at + 42);
    await expect(open(zip)).rejects.toMatchObject({ code: "ERR_OVERLAPPING_ENTRIES" });
  });

  it("rejects an entry whose data would run into the central directory", async () => {
    const zip = await build({ aaa: "x".repeat(1000) }, { compress: false });
    const [a] = centralRecords(zip);
    for (const at of [a!.at + 20, a!.at + 24]) zip.writeUInt32LE(2000, at);
    await expect(open(zip)).rejects.toMatchObject({ code: "ERR_OVERLAPPING_ENTRIES" });
  });

  it("rejects what is not a zip, or is truncated, with the source name", async () => {
    await expect(open(Buffer.from("definitely not a zip file, just text"))).rejects.toMatchObject({ code: "ERR_NOT_A_ZIP", message: expect.stringContaining("crafted.zip") });
    const zip = await build({ a: "x".repeat(100), b: "y" });
    await expect(open(zip.subarray(0, zip.length - 10))).rejects.toThrow(/crafted.zip/);
    await expect(open(zip.subarray(40))).rejects.toThrow(/crafted.zip/);
    await expect(ZipReader.open(path.join(tmp.dir, "missing.zip"))).rejects.toMatchObject({ code: "ERR_FILE_NOT_READABLE" });
  });
});

async function drain(s: NodeJS.ReadableStream): Promise<void> {
  for await (const _ of s as AsyncIterable<Buffer>);
}

