import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { IntegrityError, InvalidInputError } from "@cluster-pack/errors";
import { fileSource, ZipReader, ZipWriter, type RandomAccessSource } from "./index";
import { python, runPython, tempDir, zipBytes } from "./test-kit";

jest.setTimeout(60_000);

const tmp = tempDir("cp-zip-span-");
afterAll(() => tmp.cleanup());

/** A source zip with small deflated, stored, and one large (streamed, > 1 MiB compressed) entry. */
async function sourceZip(file: string): Promise<void> {
  const w = new ZipWriter();
  for (let i = 0; i < 300; i++) w.addBuffer(`pkg/mod${String(i).padStart(3, "0")}.py`, `VALUE = ${i}\n${"# line\n".repeat(i % 40)}`, { compress: i % 3 !== 0 });
  w.addBuffer("pkg/zbig.bin", crypto.randomBytes(3 << 20), { compress: false });
  w.addBuffer("pkg/tool.sh", "#!/bin/sh\necho hi\n", { mode: 0o755 });
  await w.writeTo(file);
}

/** The spans of every file entry of `file`, found through its central directory and local headers. */
async function spansOf(file: string): Promise<{ name: string; mode: number; span: Parameters<ZipWriter["addRawSpan"]>[2] }[]> {
  const r = await ZipReader.open(file);
  try {
    const out = [];
    for (const e of r.entries) {
      if (e.isDirectory) continue;
      out.push({ name: e.name, mode: e.mode, span: await r.rawSpan(e) });
    }
    return out;
  } finally {
    await r.close();
  }
}

describe("ZipWriter.addRawSpan", () => {
  it("copies planned spans byte-identically to addRawEntry copies, readable by Python's zipfile", async () => {
    const src = path.join(tmp.dir, "src.zip");
    await sourceZip(src);
    const spans = await spansOf(src);

    const viaReader = new ZipWriter();
    const reader = await ZipReader.open(src);
    for (const e of reader.entries) if (!e.isDirectory) viaReader.addRawEntry(`copy/${e.name}`, reader, e);
    const a = await viaReader.writeTo(path.join(tmp.dir, "a.zip"));
    // After the copy checked every local header, rawSpan answers from what the copy found
    // (no read): the same spans as a reader that reads each header.
    const afterCopy = [];
    for (const e of reader.entries) if (!e.isDirectory) afterCopy.push({ name: e.name, mode: e.mode, span: await reader.rawSpan(e) });
    expect(afterCopy).toEqual(spans);
    await reader.close();

    const source = await fileSource(src);
    const viaSpans = new ZipWriter();
    for (const s of spans) viaSpans.addRawSpan(`copy/${s.name}`, source, s.span, { mode: s.mode });
    const b = await viaSpans.writeTo(path.join(tmp.dir, "b.zip"));
    await source.close!();
    expect(b.sha256).toBe(a.sha256);

    const check = await ZipReader.open(b.path);
    expect((await check.readEntry("copy/pkg/mod007.py")).toString()).toBe(`VALUE = 7\n${"# line\n".repeat(7)}`);
    expect((await check.readEntry("copy/pkg/zbig.bin")).length).toBe(3 << 20);
    await check.close();
    if (python()) expect(runPython("import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).testzip())", [b.path]).trim()).toBe("None");
  });

  it("fails the write, naming the entry, when the file no longer matches the planned span; leaves no output", async () => {
    const src = path.join(tmp.dir, "changing.zip");
    await sourceZip(src);
    const spans = await spansOf(src);
    // Rewritten with other content of the same size: local headers are no longer where the plan says.
    const w = new ZipWriter();
    for (let i = 0; i < 300; i++) w.addBuffer(`pkg/mod${String(i).padStart(3, "0")}.py`, `VALUE = ${i}\n${"# LINE\n".repeat(i % 40)}`, { compress: i % 2 === 0 });
    await w.writeTo(path.join(tmp.dir, "other.zip"));
    const source: RandomAccessSource = await fileSource(path.join(tmp.dir, "other.zip"));
    const out = new ZipWriter();
    const fitting = spans.filter((s) => s.span.dataOffset + s.span.compressedSize <= source.size);
    expect(fitting.length).toBeGreaterThan(250);
    for (const s of fitting) out.addRawSpan(`copy/${s.name}`, source, s.span, { mode: s.mode });
    const target = path.join(tmp.dir, "stale.zip");
    const err = await out.writeTo(target).catch((e: unknown) => e);
    await source.close!();
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).code).toBe("ERR_SOURCE_CHANGED");
    expect((err as Error).message).toMatch(/^Entry copy\/pkg\/mod\d{3}\.py: .*other\.zip has no matching local header at offset \d+; the file changed since the copy was planned/);
    expect(fs.readdirSync(tmp.dir).filter((f) => f.includes("stale"))).toEqual([]);
  });

  it("copies 40 MiB of small entries through reused read slabs without mixing bytes up (CRC-checked by Python's zipfile)", async () => {
    // Far more than the writer's read slabs and blocks in flight: slabs must be reused, and only once written.
    const src = path.join(tmp.dir, "many.zip");
    const w = new ZipWriter({ compress: false });
    for (let i = 0; i < 4000; i++) w.addBuffer(`d${i % 7}/f${String(i).padStart(4, "0")}.bin`, crypto.randomBytes(10_000 + (i % 13) * 97));
    await w.writeTo(src);
    const spans = await spansOf(src);
    const source = await fileSource(src);
    const out = new ZipWriter();
    // Another order than the source's, so windows break and slabs are carved unevenly.
    for (const s of spans) out.addRawSpan(`x/${s.name.split("/").reverse().join("/")}`, source, s.span, { mode: s.mode });
    const res = await out.writeTo(path.join(tmp.dir, "many-copy.zip"));
    await source.close!();
    expect(res.entries).toBe(1 + 4000 * 2); // x/, each f*.bin/ directory and its d*/ file
    const a = await ZipReader.open(src);
    const b = await ZipReader.open(res.path);
    for (const e of a.entries.filter((x) => !x.isDirectory && Number(x.name.slice(-8, -4)) % 97 === 0)) {
      expect((await b.readEntry(`x/${e.name.split("/").reverse().join("/")}`)).equals(await a.readEntry(e))).toBe(true);
    }
    await a.close();
    await b.close();
    if (python()) expect(runPython("import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).testzip())", [res.path]).trim()).toBe("None");
  });

  it("copies large entries at their turn through the same slabs (spans and raw entries), byte-identical to a stream's copy", async () => {
    // Entries over 1 MiB are read piece by piece into the slabs as they are written; 120 MiB
    // of them, between small ones, cycle the slabs many times over while writes are in flight.
    const src = path.join(tmp.dir, "large.zip");
    const w = new ZipWriter();
    for (let i = 0; i < 60; i++) {
      w.addBuffer(`big/f${String(i).padStart(2, "0")}.bin`, crypto.randomBytes((1 << 20) + ((i * 331_777) % (3 << 20))), { compress: i % 2 === 0 });
      w.addBuffer(`big/f${String(i).padStart(2, "0")}.py`, `VALUE = ${i}\n`.repeat(1 + i));
    }
    await w.writeTo(src);
    const spans = await spansOf(src);
    const source = await fileSource(src);
    const reader = await ZipReader.open(src);
    const copy = () => {
      const out = new ZipWriter();
      for (const s of spans) out.addRawSpan(`span/${s.name}`, source, s.span, { mode: s.mode });
      for (const e of reader.entries) if (!e.isDirectory) out.addRawEntry(`raw/${e.name}`, reader, e);
      return out;
    };
    try {
      const res = await copy().writeTo(path.join(tmp.dir, "large-copy.zip"));
      // A stream sink never reuses a slab: any early reuse in the file sink shows as a difference.
      expect(fs.readFileSync(res.path).equals(await zipBytes(copy()))).toBe(true);
      const b = await ZipReader.open(res.path);
      for (const e of reader.entries.filter((x) => !x.isDirectory)) {
        const want = await reader.readEntry(e);
        expect((await b.readEntry(`span/${e.name}`)).equals(want)).toBe(true);
        expect((await b.readEntry(`raw/${e.name}`)).equals(want)).toBe(true);
      }
      await b.close();
      if (python()) expect(runPython("import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).testzip())", [res.path]).trim()).toBe("None");
    } finally {
      await reader.close();
      await source.close!();
    }
  });

  it("rejects spans that cannot describe the source", async () => {
    const src = path.join(tmp.dir, "small.zip");
    await sourceZip(src);
    const source = await fileSource(src);
    const w = new ZipWriter();
    const good = (await spansOf(src))[0]!.span;
    expect(() => w.addRawSpan("x", source, { ...good, dataOffset: source.size })).toThrow(InvalidInputError);
    expect(() => w.addRawSpan("x", source, { ...good, dataOffset: good.headerOffset + 10 })).toThrow(/does not fit .*small\.zip/);
    expect(() => w.addRawSpan("x", source, { ...good, method: 12 })).toThrow(InvalidInputError);
    expect(() => w.addRawSpan("x", source, { ...good, method: 0, compressedSize: 5, uncompressedSize: 6 })).toThrow(InvalidInputError);
    expect(() => w.addRawSpan("../x", source, good)).toThrow(/is invalid/);
    await source.close!();
  });
});
