import yauzl from "yauzl";
import { IntegrityError } from "@cluster-pack/errors";

// The local-header checks shared by the full reader and the one-entry peek: a local header
// must say what the central directory says, or the archive is corrupt or crafted.

export const LOCAL_HEADER_SIZE = 30;

/** What the central directory says of an entry. */
export interface CentralEntry {
  name: string;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
}

/** Throws when the local header `h` (with its name and extra field) disagrees with `e`. */
export function checkLocalHeader(name: string, e: CentralEntry, nameRaw: Buffer, h: Buffer): void {
  const fail = (what: string): never => {
    throw new IntegrityError(`${name}: entry ${e.name}: the local header disagrees with the central directory (${what}); the archive is corrupt or crafted.`, { code: "ERR_HEADER_MISMATCH" });
  };
  const flags = h.readUInt16LE(6);
  const method = h.readUInt16LE(8);
  const nameLength = h.readUInt16LE(26);
  if (!h.subarray(LOCAL_HEADER_SIZE, LOCAL_HEADER_SIZE + nameLength).equals(nameRaw)) fail("a different name");
  if (method !== e.method) fail(`method ${method} vs ${e.method}`);
  if (flags & 0x1) fail("local header says encrypted");
  if (flags & 0x8) return; // sizes and CRC follow the data; the read checks them against the central directory
  const crc = h.readUInt32LE(14);
  if (crc >>> 0 !== e.crc32 >>> 0) fail(`CRC ${hex(crc)} vs ${hex(e.crc32)}`);
  let compressed = h.readUInt32LE(18);
  let uncompressed = h.readUInt32LE(22);
  if (compressed === 0xffffffff || uncompressed === 0xffffffff) {
    const zip64 = yauzl.parseExtraFields(h.subarray(LOCAL_HEADER_SIZE + nameLength)).find((f) => f.id === 0x0001) ?? fail("ZIP64 sizes without a ZIP64 extra field");
    let at = 0;
    const read64 = () => {
      if (at + 8 > zip64.data.length) fail("short ZIP64 extra field");
      const v = u64(zip64.data, at);
      at += 8;
      return v;
    };
    if (uncompressed === 0xffffffff) uncompressed = read64();
    if (compressed === 0xffffffff) compressed = read64();
  }
  if (compressed !== e.compressedSize || uncompressed !== e.uncompressedSize) fail(`sizes ${compressed}/${uncompressed} vs ${e.compressedSize}/${e.uncompressedSize}`);
}

/** A little-endian 64-bit field, refused when it cannot be a safe JS number. */
export function u64(buf: Buffer, at: number): number {
  const v = buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * 0x100000000;
  if (!Number.isSafeInteger(v)) throw new IntegrityError(`a ZIP64 field (${v}) is beyond what can be addressed; the archive is corrupt.`, { code: "ERR_CORRUPT_ZIP" });
  return v;
}

/** 0x-prefixed, 8 hex digits: how CRCs are shown in messages. */
export function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, "0")}`;
}
