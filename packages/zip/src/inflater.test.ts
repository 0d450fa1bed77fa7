import crypto from "node:crypto";
import zlib from "node:zlib";
import { crc32 } from "./names";
import { checkStoredVerified, inflateVerifiedPieces, ReusingInflater } from "./records";

// ReusingInflater (zlib into one reused output) against zlib's public API, and the checks
// built on it. The verification workers' memory bound rests on one structural fact tested
// here: every piece of output is a view of the same buffer of ReusingInflater.OUTPUT bytes.

const OUT = ReusingInflater.OUTPUT;
const inflater = ReusingInflater.create();
const describeIf = inflater ? describe : describe.skip;
if (!inflater) console.warn("ReusingInflater: this Node's zlib has no synchronous handle; the public-API path is used and these tests skip");

/** Half random (incompressible), half repetitive: output pieces of every size. */
function content(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  const rnd = crypto.createHash("sha256").update(String(seed)).digest();
  for (let i = 0; i < size; i++) b[i] = i % 7 === 0 ? rnd[i % 32]! ^ (i >> 8) : i & 0x3f;
  crypto.randomFillSync(b, 0, Math.floor(size / 2));
  return b;
}

describeIf("ReusingInflater", () => {
  const inf = inflater!;
  afterAll(() => inf.close());

  it.each([0, 1, 1000, OUT - 1, OUT, OUT + 1, 3 * OUT + 17, 5 << 20])("inflates %d bytes as zlib does, in views of one reused buffer, whole or piece by piece", (size) => {
    const data = content(size, size);
    const stored = zlib.deflateRawSync(data, { level: 6 });
    for (const pieceSize of [stored.length || 1, 1, 4093, 65536]) {
      if (pieceSize === 1 && stored.length > 20000) continue;
      inf.reset();
      const out: Buffer[] = [];
      const backing = new Set<ArrayBufferLike>();
      for (let at = 0; at < stored.length || at === 0; ) {
        const p = stored.subarray(at, at + pieceSize);
        at += Math.max(1, p.length);
        inf.write(p, at >= stored.length, (piece) => {
          expect(piece.length).toBeGreaterThan(0);
          expect(piece.length).toBeLessThanOrEqual(OUT);
          backing.add(piece.buffer);
          out.push(Buffer.from(piece)); // the view is valid only during the call
        });
      }
      expect(Buffer.concat(out).equals(data)).toBe(true);
      expect(backing.size).toBeLessThanOrEqual(1);
    }
  });

  it("throws on corrupt data and on a stream that does not end, then works again after reset", () => {
    inf.reset();
    expect(() => inf.write(Buffer.from("this is not deflate data"), true, () => undefined)).toThrow(/invalid/);
    const stored = zlib.deflateRawSync(content(100000, 1));
    inf.reset();
    expect(() => inf.write(stored.subarray(0, stored.length - 10), true, () => undefined)).toThrow(/unexpected end/);
    inf.reset();
    let n = 0;
    inf.write(stored, true, (p) => (n += p.length));
    expect(n).toBe(100000);
  });
});

describeIf("checks through ReusingInflater", () => {
  const inf = inflater!;
  const data = content(3 * OUT + 5, 9);
  const stored = zlib.deflateRawSync(data);
  const entry = { name: "pkg/lib.so", method: 8, crc32: crc32(data), compressedSize: stored.length, uncompressedSize: data.length };
  const read = (src: Buffer) => (position: number, into: Buffer) => src.copy(into, 0, position, position + into.length);

  it("pass on good content and hand `each` every byte", async () => {
    const whole = crypto.createHash("sha256");
    checkStoredVerified("w.whl", entry, stored, inf, { each: (s) => whole.update(s) });
    expect(whole.digest("hex")).toBe(crypto.createHash("sha256").update(data).digest("hex"));
    const pieces = crypto.createHash("sha256");
    await inflateVerifiedPieces("w.whl", entry, read(stored), { inflater: inf, input: Buffer.alloc(4096), each: (s) => pieces.update(s) });
    expect(pieces.digest("hex")).toBe(crypto.createHash("sha256").update(data).digest("hex"));
  });

  it.each([
    ["a wrong CRC", { crc32: (entry.crc32 + 1) >>> 0 }, "ERR_CRC_MISMATCH"],
    ["a size that lies (smaller)", { uncompressedSize: data.length - 1 }, "ERR_SIZE_MISMATCH"],
    ["a size that lies (larger)", { uncompressedSize: data.length + 1 }, "ERR_SIZE_MISMATCH"],
  ])("refuse %s, whole and in pieces", async (_, lie, code) => {
    const e = { ...entry, ...lie };
    expect(() => checkStoredVerified("w.whl", e, stored, inf)).toThrow(expect.objectContaining({ code }));
    await expect(inflateVerifiedPieces("w.whl", e, read(stored), { inflater: inf })).rejects.toMatchObject({ code });
  });

  it("refuse data that does not inflate or ends early (ERR_CORRUPT_ENTRY)", async () => {
    const bad = Buffer.from(stored);
    bad[0] = 0xff; // block type 3: reserved, never valid
    expect(() => checkStoredVerified("w.whl", entry, bad, inf)).toThrow(expect.objectContaining({ code: "ERR_CORRUPT_ENTRY" }));
    await expect(inflateVerifiedPieces("w.whl", entry, read(bad), { inflater: inf })).rejects.toMatchObject({ code: "ERR_CORRUPT_ENTRY" });
    const short = stored.subarray(0, stored.length - 100);
    const e = { ...entry, compressedSize: short.length };
    expect(() => checkStoredVerified("w.whl", e, short, inf)).toThrow(expect.objectContaining({ code: "ERR_CORRUPT_ENTRY" }));
    await expect(inflateVerifiedPieces("w.whl", e, read(short), { inflater: inf })).rejects.toMatchObject({ code: "ERR_CORRUPT_ENTRY" });
    // and the inflater is sound afterwards
    checkStoredVerified("w.whl", entry, stored, inf);
  });
});
