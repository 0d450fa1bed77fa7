import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { bufferSource, fileSource, verifyZip, ZipReader, ZipWriter } from "./index";
import { addHiddenEntry, centralRecords, insertUnlistedBytes, python, realWheel, replaceBytes, runPython, tempDir, zipBytes } from "./test-kit";

// checkLayout and verifyZip: every byte of an archive is listed by its central directory,
// or it is refused. Crafted as an attacker would, and checked against Python's readers.

jest.setTimeout(60_000);

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => (tmp = tempDir()));
afterEach(() => tmp.cleanup());

const PY = python();
const itPython = PY ? it : it.skip;
if (!PY) console.warn("layout tests against Python's zipfile are skipped: no python3 interpreter found");

async function build(options: ConstructorParameters<typeof ZipWriter>[0] = {}): Promise<Buffer> {
  const w = new ZipWriter(options);
  w.addBuffer("pkg/__init__.py", "print('hello')\n");
  w.addBuffer("pkg/data.txt", "data ".repeat(500));
  w.addBuffer("pkg/empty", "");
  return zipBytes(w);
}

async function layout(zip: Buffer): Promise<void> {
  const r = await ZipReader.open(bufferSource(zip, "crafted.zip"));
  try {
    await r.checkLayout();
  } finally {
    await r.close();
  }
}

describe("ZipReader.checkLayout", () => {
  it("accepts what our writer makes (prefixed, ZIP64, empty) and real wheels", async () => {
    for (const options of [{}, { prefix: "#!/usr/bin/env python3\n" }, { forceZip64: true }, { compress: false, comment: "c" }]) await layout(await build(options));
    await layout(await zipBytes(new ZipWriter()));
    const wheel = realWheel("six");
    if (wheel.path) {
      const r = await ZipReader.open(wheel.path);
      await r.checkLayout();
      await r.close();
    } else console.warn(`real wheel part skipped: ${wheel.reason}`);
  });

  itPython("accepts Python's archives, data descriptors (streamed writes) included, and checks the descriptors", async () => {
    const out = path.join(tmp.dir, "streamed.zip");
    // Written to a pipe: zipfile cannot seek back, so every entry gets a data descriptor.
    const bytes = Buffer.from(runPythonBinary("import sys, zipfile\nz = zipfile.ZipFile(sys.stdout.buffer, 'w', zipfile.ZIP_DEFLATED)\nfor i in range(5):\n    with z.open(f'f{i}.txt', 'w') as f: f.write(b'x' * (i * 300))\nz.close()"));
    fs.writeFileSync(out, bytes);
    expect(bytes.readUInt16LE(6) & 8).toBe(8);
    await layout(bytes);
    // A descriptor that lies about the CRC is not a descriptor of this entry.
    const rec = centralRecords(bytes).find((r) => r.name === "f2.txt")!;
    const descriptorAt = rec.localHeaderOffset + 30 + "f2.txt".length + rec.compressedSize;
    const bad = Buffer.from(bytes);
    const signed = bad.readUInt32LE(descriptorAt) === 0x08074b50 ? 4 : 0;
    bad.writeUInt32LE((bad.readUInt32LE(descriptorAt + signed) ^ 1) >>> 0, descriptorAt + signed);
    await expect(layout(bad)).rejects.toMatchObject({ code: "ERR_HEADER_MISMATCH", message: expect.stringContaining("f2.txt: no data descriptor") });
  });

  itPython("refuses bytes between entries that no entry lists, which Python's zipfile does not notice", async () => {
    const junk = Buffer.from("PK\u0003\u0004 a hidden local header, say");
    const zip = insertUnlistedBytes(await build(), "pkg/data.txt", junk);
    const file = path.join(tmp.dir, "gap.zip");
    fs.writeFileSync(file, zip);
    expect(runPython("import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).testzip())", [file]).trim()).toBe("None");
    const r = await ZipReader.open(file);
    expect((await r.readEntry("pkg/data.txt")).toString()).toBe("data ".repeat(500)); // readable...
    await expect(r.checkLayout()).rejects.toMatchObject({ code: "ERR_UNLISTED_DATA", message: expect.stringMatching(new RegExp(`: ${junk.length} bytes at offset \\d+ \\(after entry pkg/__init__\\.py, before pkg/data\\.txt\\) belong to no entry`)) });
    await r.close();
  });

  it("refuses unlisted bytes before the central directory and overlapping local headers", async () => {
    const zip = await build();
    const recs = centralRecords(zip);
    // Move the central directory's recorded offset back over the last entry's data: the
    // last entry now seems to end past it.
    const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    const tail = Buffer.concat([zip.subarray(0, zip.readUInt32LE(end + 16)), Buffer.alloc(7), zip.subarray(zip.readUInt32LE(end + 16))]);
    tail.writeUInt32LE(zip.readUInt32LE(end + 16) + 7, end + 7 + 16);
    await expect(layout(tail)).rejects.toMatchObject({ code: "ERR_UNLISTED_DATA", message: expect.stringContaining("before the central directory") });
    // A local extra field longer than the central one makes the header run into the next entry.
    const longExtra = Buffer.from(zip);
    const first = recs.find((r) => r.name === "pkg/__init__.py")!;
    longExtra.writeUInt16LE(200, first.localHeaderOffset + 28);
    await expect(layout(longExtra)).rejects.toMatchObject({ code: "ERR_OVERLAPPING_ENTRIES" });
  });
});

describe("verifyZip", () => {
  /** A split-PEX-like file: a bulk zip after a shebang, then a small zip whose offsets count from its own start. */
  async function split(): Promise<{ bulk: Buffer; boot: Buffer; file: Buffer }> {
    const bulk = await build({ prefix: "#!/usr/bin/env python3\n" });
    const w = new ZipWriter({ compress: false });
    w.addBuffer("__main__.py", "print('boot')\n");
    w.addBuffer("PEX-INFO", "{}");
    const boot = await zipBytes(w);
    return { bulk, boot, file: Buffer.concat([bulk, boot]) };
  }

  const verify = (file: Buffer) => verifyZip(bufferSource(file, "split.pex"));

  it("checks both zips of a split file and every entry", async () => {
    const { bulk, boot, file } = await split();
    expect(await verify(file)).toMatchObject({
      zips: [
        { start: 23, end: bulk.length, entries: 4 },
        { start: bulk.length, end: file.length, entries: 2 },
      ],
      prefixLength: 23,
      entries: 6,
    });
    expect((await verify(boot)).zips).toHaveLength(1);
    const f = path.join(tmp.dir, "plain.zip");
    fs.writeFileSync(f, await build());
    const source = await fileSource(f);
    expect(await verifyZip(source)).toMatchObject({ prefixLength: 0, zips: [{ start: 0 }] });
    await source.close!();
  });

  it("refuses a byte flipped or a '../' name in the first zip, which a check of the last zip alone would miss", async () => {
    const { bulk, file } = await split();
    const rec = centralRecords(bulk).find((r) => r.name === "pkg/data.txt")!;
    const flipped = Buffer.from(file);
    flipped[rec.localHeaderOffset + 30 + "pkg/data.txt".length + 5]! ^= 0x40;
    await expect(verify(flipped)).rejects.toMatchObject({ code: expect.stringMatching(/ERR_CRC_MISMATCH|ERR_CORRUPT_ENTRY/) });
    await expect(verify(replaceBytes(file, "pkg/data.txt", "../data.txt".padEnd(12, "x")))).rejects.toMatchObject({ code: "ERR_UNSAFE_ENTRY_NAME" });
  });

  it("refuses a prefix that is neither a #! line nor a zip, and hidden entries in either zip", async () => {
    const { bulk, boot } = await split();
    await expect(verify(Buffer.concat([Buffer.from("MZ not a shebang\n"), boot]))).rejects.toMatchObject({ code: "ERR_UNLISTED_DATA", message: expect.stringContaining("neither a \"#!\" line nor another zip") });
    await expect(verify(Buffer.concat([Buffer.from("#!/bin/sh\necho two lines\n"), boot]))).rejects.toMatchObject({ code: "ERR_UNLISTED_DATA" });
    await expect(verify(Buffer.concat([bulk, addHiddenEntry(boot, "__main__.py", Buffer.from("print('hidden')\n"))]))).rejects.toMatchObject({ code: "ERR_CORRUPT_ZIP" });
    await expect(verify(Buffer.concat([addHiddenEntry(bulk, "evil.py", Buffer.from("x")), boot]))).rejects.toMatchObject({ code: "ERR_CORRUPT_ZIP", message: expect.stringContaining("hidden entries") });
  });
});

function runPythonBinary(code: string): Buffer {
  const r = spawnSync(PY!, ["-c", code], { maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return r.stdout;
}
