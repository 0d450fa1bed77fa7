import { bufferSource, locateCentralDirectory, peekEntries, ZipReader, ZipWriter } from "./index";
import {
  centralHeaderRoom,
  checkLocalHeader,
  dataDescriptorLength,
  encodeEndRecords,
  encodeLocalHeader,
  FLAG_UTF8,
  MAX32,
  parseCentralHeader,
  parseLocalHeader,
  writeCentralHeader,
} from "./records";
import { addHiddenEntry, lastZip, zipBytes } from "./test-kit";

// The record codec on its own: what it encodes decodes to the same values, and the
// archives other tools would read differently are refused where they are found.

const name = Buffer.from("pkg/ünï.py");
const big = { method: 8, crc32: 0xdeadbeef, compressedSize: 5 * 2 ** 32 + 7, uncompressedSize: 6 * 2 ** 32 + 9 };
const small = { method: 0, crc32: 0x12345678, compressedSize: 1000, uncompressedSize: 1000 };

describe("local headers", () => {
  it.each([
    ["classic", small, false],
    ["ZIP64", big, true],
  ] as const)("decode what they encode (%s)", (_, data, zip64) => {
    const h = encodeLocalHeader(name, FLAG_UTF8, data, zip64);
    const parsed = parseLocalHeader(h)!;
    expect(parsed).toMatchObject({ ...data, flags: FLAG_UTF8, nameLength: name.length, size: h.length, complete: true, zip64, zip64Extra: zip64 });
    expect(h.subarray(30, 30 + name.length).equals(name)).toBe(true);
    checkLocalHeader("x.zip", { name: "pkg/ünï.py", ...data }, name, parsed, h);
  });

  it("report their size from the fixed part alone, and nothing without a signature", () => {
    const h = encodeLocalHeader(name, 0, big, true);
    expect(parseLocalHeader(h.subarray(0, 30))).toMatchObject({ size: h.length, complete: false });
    expect(parseLocalHeader(h.subarray(0, 29))).toBeUndefined();
    expect(parseLocalHeader(Buffer.concat([Buffer.alloc(3), h]), 3)).toMatchObject({ size: h.length, complete: true });
    expect(parseLocalHeader(Buffer.alloc(64))).toBeUndefined();
  });

  it("must agree with the central directory", () => {
    const e = { name: "n", ...small };
    const check = (patch: (h: Buffer) => void) => {
      const h = encodeLocalHeader(name, 0, small, false);
      patch(h);
      return () => checkLocalHeader("x.zip", e, name, parseLocalHeader(h)!, h);
    };
    expect(check(() => undefined)).not.toThrow();
    expect(check((h) => h.writeUInt32LE(1, 14))).toThrow(/x\.zip: entry n: .*CRC 0x00000001 vs 0x12345678/);
    expect(check((h) => h.writeUInt16LE(8, 8))).toThrow(/method 8 vs 0/);
    expect(check((h) => h.writeUInt32LE(999, 18))).toThrow(/sizes 999\/1000 vs 1000\/1000/);
    expect(check((h) => (h[30] = 0x41))).toThrow(/a different name/);
    expect(check((h) => h.writeUInt32LE(MAX32, 22))).toThrow(/ZIP64 sizes without a ZIP64 extra field/);
    expect(check((h) => h.writeUInt16LE(1, 6))).toThrow(/encrypted/);
    // Flag 3: CRC and sizes follow the data (checked there).
    expect(check((h) => (h.writeUInt16LE(8, 6), h.writeUInt32LE(0, 14)))).not.toThrow();
  });
});

describe("central headers", () => {
  it.each([
    ["classic", small, 1234, false],
    ["big sizes", big, 1234, false],
    ["big offset", small, 7 * 2 ** 32, false],
    ["forced ZIP64", small, 1234, true],
  ] as const)("decode what they encode (%s)", (_, data, localHeaderOffset, force) => {
    const out = Buffer.alloc(centralHeaderRoom(name.length) + 10);
    const length = writeCentralHeader(out, 10, { name, flags: FLAG_UTF8, ...data, externalAttributes: (0o100644 << 16) >>> 0, localHeaderOffset }, force);
    const h = parseCentralHeader(out, 10, 10 + length, "x.zip", 0);
    expect(h).toMatchObject({ ...data, localHeaderOffset, flags: FLAG_UTF8, size: length, nameStart: 56, externalAttributes: (0o100644 << 16) >>> 0 });
  });

  it("refuse missing ZIP64 values, records past the directory, stored entries with two sizes", () => {
    const out = Buffer.alloc(200);
    const length = writeCentralHeader(out, 0, { name, flags: 0, ...big, externalAttributes: 0, localHeaderOffset: 0 }, false);
    expect(() => parseCentralHeader(out, 0, length - 1, "x.zip", 4)).toThrow(/x\.zip: corrupt central directory: central directory record #5 runs past/);
    const noExtra = Buffer.from(out);
    noExtra.writeUInt16LE(0, 30);
    expect(() => parseCentralHeader(noExtra, 0, 200, "x.zip", 0)).toThrow(/ZIP64 sizes without a ZIP64 extra field/);
    const short = Buffer.from(out);
    short.writeUInt16LE(8, 46 + name.length + 2); // the ZIP64 field's length: one value of the two it needs
    expect(() => parseCentralHeader(short, 0, 200, "x.zip", 0)).toThrow(/extra field|short ZIP64/);
    const stored = Buffer.alloc(200);
    const n = writeCentralHeader(stored, 0, { name, flags: 0, method: 0, crc32: 1, compressedSize: 10, uncompressedSize: 11, externalAttributes: 0, localHeaderOffset: 0 }, false);
    expect(() => parseCentralHeader(stored, 0, n, "x.zip", 0)).toThrow(/stored but declares 10 stored bytes for 11/);
    expect(() => parseCentralHeader(Buffer.alloc(100), 0, 100, "x.zip", 2)).toThrow(/no central directory record #3/);
  });
});

describe("data descriptors", () => {
  const d = { method: 8, crc32: 0xabcdef01, compressedSize: 10, uncompressedSize: 20 };
  /** A data descriptor for `d`: signed or not, 4- or 8-byte sizes. */
  const descriptor = (wide: boolean) => {
    const width = wide ? 8 : 4;
    const b = Buffer.alloc(8 + 2 * width);
    b.writeUInt32LE(0x08074b50, 0);
    b.writeUInt32LE(d.crc32, 4);
    b.writeUInt32LE(d.compressedSize, 8);
    b.writeUInt32LE(d.uncompressedSize, 8 + width);
    return b;
  };
  it("are found with or without signature, 4- or 8-byte sizes", () => {
    expect(dataDescriptorLength(descriptor(false), 0, d, false)).toBe(16);
    expect(dataDescriptorLength(descriptor(false).subarray(4), 0, d, false)).toBe(12);
    expect(dataDescriptorLength(descriptor(true), 0, d, true)).toBe(24);
    expect(dataDescriptorLength(descriptor(true), 0, { ...d, crc32: 1 }, true)).toBeUndefined();
    expect(dataDescriptorLength(descriptor(false), 0, { ...d, uncompressedSize: 21 }, false)).toBeUndefined();
  });
});

describe("end records and the locator", () => {
  it("find the directory of classic, ZIP64, commented and prefixed archives", async () => {
    for (const forceZip64 of [false, true]) {
      const w = new ZipWriter({ forceZip64, comment: "a comment with PK\u0005\u0006 inside", prefix: "#!/usr/bin/env python3\n" });
      w.addBuffer("a.txt", "hello");
      const zip = await zipBytes(w);
      const cd = await locateCentralDirectory(bufferSource(zip));
      expect(cd).toMatchObject({ entries: 1, shift: 0, comment: Buffer.from("a comment with PK\u0005\u0006 inside") });
      expect(zip.readUInt32LE(cd.start)).toBe(0x02014b50);
      expect(cd.zip64EndOffset !== undefined).toBe(forceZip64);
      // Glued after a stub without fixing offsets: the shift is the stub's length.
      const glued = Buffer.concat([Buffer.alloc(100, 0x20), zip]);
      expect(await locateCentralDirectory(bufferSource(glued))).toMatchObject({ shift: 100, start: cd.start + 100 });
    }
  });

  it("refuse end records that contradict each other or run past the directory", async () => {
    const zip = Buffer.concat([encodeEndRecords(1, 0, 46, 46, true)]);
    const locate = (b: Buffer) => locateCentralDirectory(bufferSource(b, "crafted.zip"));
    await expect(locate(zip)).rejects.toMatchObject({ code: "ERR_CORRUPT_ZIP" }); // 46 bytes of directory at 0: inside the end records
    const w = new ZipWriter({ forceZip64: true });
    w.addBuffer("a", "x");
    w.addBuffer("b", "y");
    const good = await zipBytes(w);
    const end = good.length - 22;
    const disagree = Buffer.from(good);
    disagree.writeUInt16LE(1, end + 10); // classic count 1, ZIP64 count 2
    disagree.writeUInt16LE(1, end + 8);
    await expect(locate(disagree)).rejects.toMatchObject({ code: "ERR_CORRUPT_ZIP", message: expect.stringContaining("disagree") });
    const twoCounts = Buffer.from(good);
    twoCounts.writeUInt16LE(1, end + 8);
    await expect(locate(twoCounts)).rejects.toMatchObject({ code: "ERR_CORRUPT_ZIP", message: expect.stringContaining("two different entry counts") });
    const locator = Buffer.from(good);
    locator.writeUInt32LE(locator.readUInt32LE(end - 12) + 1, end - 12);
    await expect(locate(locator)).rejects.toMatchObject({ code: "ERR_CORRUPT_ZIP", message: expect.stringContaining("locator") });
    const multiDisk = Buffer.from(good);
    multiDisk.writeUInt16LE(1, end + 4);
    await expect(locate(multiDisk)).rejects.toMatchObject({ code: "ERR_UNSUPPORTED_ZIP" });
    await expect(locate(Buffer.from("PK\u0005\u0006 but not a zip"))).rejects.toMatchObject({ code: "ERR_NOT_A_ZIP" });
  });
});

describe("the central directory walk", () => {
  it("refuses a record the end record does not count (a hidden entry), in ZipReader as in peekEntries", async () => {
    const w = new ZipWriter();
    w.addBuffer("a.txt", "visible");
    const zip = addHiddenEntry(await zipBytes(w), "b.txt", Buffer.from("hidden"));
    expect(lastZip(zip).count).toBe(1);
    await expect(ZipReader.open(bufferSource(zip, "crafted.zip"))).rejects.toMatchObject({ code: "ERR_CORRUPT_ZIP", message: expect.stringMatching(/crafted\.zip: .*more records than the 1 its end record declares \(hidden entries\)/) });
    await expect(peekEntries(bufferSource(zip), () => true)).rejects.toMatchObject({ code: "ERR_CORRUPT_ZIP" });
  });

  it("decodes a directory larger than one read (chunked walk)", async () => {
    const w = new ZipWriter();
    const n = 40_000; // ~5 MiB of directory: more than one of the walk's 4 MiB reads
    for (let i = 0; i < n; i++) w.addBuffer(`d/${"x".repeat(80)}${i}`, "");
    const zip = await zipBytes(w);
    const r = await ZipReader.open(bufferSource(zip));
    expect(r.entries).toHaveLength(n + 1);
    expect(r.getEntry(`d/${"x".repeat(80)}${n - 1}`)).toBeDefined();
    await r.close();
  });
});
