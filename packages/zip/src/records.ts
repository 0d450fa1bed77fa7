import { promisify, types } from "node:util";
import zlib from "node:zlib";
import yauzl from "yauzl";
import { IntegrityError } from "@cluster-pack/errors";
import { crc32 } from "./names";

// The zip record codec (APPNOTE.TXT 6.3.10, sections 4.3.7-4.3.16 and 4.5.3): every byte
// layout of the format, named once, decoded and encoded here and nowhere else. The reader,
// the one-entry peek, the writer, the raw-copy path and wheel verification (on worker
// threads: this module loads nothing but zlib, yauzl's name decoder and the error classes) all
// use it, so they accept and produce exactly the same records. In the style of yazl's
// Entry.getLocalFileHeader and yauzl's readLocalFileHeader: one function per record, field
// by field. No I/O here; the end-of-directory search over a source is in directory.ts.

// ---------------------------------------------------------------------------------------
// Signatures, sizes, flags

export const LOCAL_HEADER_SIGNATURE = 0x04034b50;
export const CENTRAL_HEADER_SIGNATURE = 0x02014b50;
export const END_SIGNATURE = 0x06054b50;
export const ZIP64_END_SIGNATURE = 0x06064b50;
export const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
export const DATA_DESCRIPTOR_SIGNATURE = 0x08074b50;

/** Fixed parts of each record, before any name, extra field or comment. */
export const LOCAL_HEADER_SIZE = 30;
export const CENTRAL_HEADER_SIZE = 46;
export const END_SIZE = 22;
export const ZIP64_END_SIZE = 56;
export const ZIP64_LOCATOR_SIZE = 20;
/** The ZIP64 end record's "size of the rest of this record" without extensible data. */
export const ZIP64_END_BODY_SIZE = ZIP64_END_SIZE - 12;
/** The ZIP64 extra field in a local header: id, length, both sizes (APPNOTE 4.5.3). */
export const LOCAL_ZIP64_EXTRA_SIZE = 20;

/** The end record's comment and any name or extra field are at most this long. */
export const MAX16 = 0xffff;
/** A 32-bit field holding this means "see the ZIP64 record or extra field". */
export const MAX32 = 0xffffffff;

export const FLAG_ENCRYPTED = 0x0001;
export const FLAG_DATA_DESCRIPTOR = 0x0008;
export const FLAG_STRONG_ENCRYPTION = 0x0040;
export const FLAG_UTF8 = 0x0800;

export const ZIP64_EXTRA_ID = 0x0001;
const UNICODE_PATH_EXTRA_ID = 0x7075;

export const METHOD_STORED = 0;
export const METHOD_DEFLATE = 8;

// What this package writes: every timestamp at MS-DOS 1980-01-01 00:00:00 (day 1, month 1,
// year 0; time 0), made on Unix by a spec 4.5 writer, 2.0 needed (4.5 for ZIP64).
const DOS_DATE = (1 << 5) | 1;
const DOS_TIME = 0;
const VERSION_MADE_BY = (3 << 8) | 45;
const VERSION_NEEDED = 20;
const VERSION_NEEDED_ZIP64 = 45;

// Field offsets, record by record.
const LOCAL = { signature: 0, versionNeeded: 4, flags: 6, method: 8, time: 10, date: 12, crc32: 14, compressedSize: 18, uncompressedSize: 22, nameLength: 26, extraLength: 28 } as const;
const CENTRAL = {
  signature: 0,
  versionMadeBy: 4,
  versionNeeded: 6,
  flags: 8,
  method: 10,
  time: 12,
  date: 14,
  crc32: 16,
  compressedSize: 20,
  uncompressedSize: 24,
  nameLength: 28,
  extraLength: 30,
  commentLength: 32,
  diskStart: 34, // ignored, as by yauzl and Python: multi-disk archives are refused by their end record
  internalAttributes: 36,
  externalAttributes: 38,
  localHeaderOffset: 42,
} as const;
const END = { signature: 0, disk: 4, centralDisk: 6, diskEntries: 8, entries: 10, centralSize: 12, centralOffset: 16, commentLength: 20 } as const;
const ZIP64_END = { signature: 0, recordSize: 4, versionMadeBy: 12, versionNeeded: 14, disk: 16, centralDisk: 20, diskEntries: 24, entries: 32, centralSize: 40, centralOffset: 48 } as const;
const ZIP64_LOCATOR = { signature: 0, disk: 4, endOffset: 8, disks: 16 } as const;

// ---------------------------------------------------------------------------------------
// Local file header (4.3.7)

/** A decoded local file header. */
export interface LocalHeader {
  flags: number;
  method: number;
  crc32: number;
  /** The ZIP64 values when the 32-bit fields are saturated and the extra field holds them. */
  compressedSize: number;
  uncompressedSize: number;
  nameLength: number;
  extraLength: number;
  /** 30 + name + extra field: the entry's data starts this many bytes after the signature. */
  size: number;
  /** True when the buffer held all `size` bytes, so the name, extra field and ZIP64 sizes were decoded. */
  complete: boolean;
  /** True when the sizes came from a ZIP64 extra field. */
  zip64: boolean;
  /** True when the header has a ZIP64 extra field (a data descriptor then has 8-byte sizes). */
  zip64Extra: boolean;
}

/**
 * The local header at `at` of `buf`, or undefined when there is no local header signature
 * there or fewer than its fixed 30 bytes. `size` is known from the fixed part alone; when
 * `buf` ends before `at + size` the header is returned with `complete: false` and the
 * caller reads the rest.
 */
export function parseLocalHeader(buf: Buffer, at = 0): LocalHeader | undefined {
  if (at < 0 || at + LOCAL_HEADER_SIZE > buf.length || buf.readUInt32LE(at + LOCAL.signature) !== LOCAL_HEADER_SIGNATURE) return undefined;
  const nameLength = buf.readUInt16LE(at + LOCAL.nameLength);
  const extraLength = buf.readUInt16LE(at + LOCAL.extraLength);
  const size = LOCAL_HEADER_SIZE + nameLength + extraLength;
  const complete = at + size <= buf.length;
  let compressedSize = buf.readUInt32LE(at + LOCAL.compressedSize);
  let uncompressedSize = buf.readUInt32LE(at + LOCAL.uncompressedSize);
  let zip64 = false;
  let zip64Extra = false;
  if (complete && extraLength > 0) {
    const want = [uncompressedSize === MAX32, compressedSize === MAX32];
    const found = zip64Values(buf, at + LOCAL_HEADER_SIZE + nameLength, at + size, want);
    if (found) {
      zip64Extra = true;
      // Sizes from it only when every saturated one is there (else the check reports the lack).
      if (want.some(Boolean) && want.every((w, k) => !w || found[k] !== undefined)) {
        zip64 = true;
        uncompressedSize = found[0] ?? uncompressedSize;
        compressedSize = found[1] ?? compressedSize;
      }
    }
  }
  return {
    flags: buf.readUInt16LE(at + LOCAL.flags),
    method: buf.readUInt16LE(at + LOCAL.method),
    crc32: buf.readUInt32LE(at + LOCAL.crc32),
    compressedSize,
    uncompressedSize,
    nameLength,
    extraLength,
    size,
    complete,
    zip64,
    zip64Extra,
  };
}

/** The data fields both headers of an entry carry. */
export interface EntryData {
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
}

/** What the central directory says of an entry, as the local header must repeat it. */
export interface CentralFacts extends EntryData {
  name: string;
}

/**
 * Throws when a complete local header (`header`, decoded from `raw`, which starts at its
 * signature) disagrees with what the central directory says of the entry (`e`, whose raw
 * name is `nameRaw`): a corrupt or crafted archive. `where` names the archive in the message.
 */
export function checkLocalHeader(where: string, e: CentralFacts, nameRaw: Buffer, header: LocalHeader, raw: Buffer): void {
  const fail = (what: string): never => {
    throw new IntegrityError(`${where}: entry ${e.name}: the local header disagrees with the central directory (${what}); the archive is corrupt or crafted.`, { code: "ERR_HEADER_MISMATCH" });
  };
  if (!raw.subarray(LOCAL_HEADER_SIZE, LOCAL_HEADER_SIZE + header.nameLength).equals(nameRaw)) fail("a different name");
  if (header.method !== e.method) fail(`method ${header.method} vs ${e.method}`);
  if (header.flags & FLAG_ENCRYPTED) fail("local header says encrypted");
  if (header.flags & FLAG_DATA_DESCRIPTOR) return; // sizes and CRC follow the data; reads check them against the central directory
  if (header.crc32 >>> 0 !== e.crc32 >>> 0) fail(`CRC ${hex(header.crc32)} vs ${hex(e.crc32)}`);
  if ((header.compressedSize === MAX32 || header.uncompressedSize === MAX32) && !header.zip64) fail("ZIP64 sizes without a ZIP64 extra field holding them");
  if (header.compressedSize !== e.compressedSize || header.uncompressedSize !== e.uncompressedSize) {
    fail(`sizes ${header.compressedSize}/${header.uncompressedSize} vs ${e.compressedSize}/${e.uncompressedSize}`);
  }
}

/**
 * The local header this package writes: real CRC and sizes (never a data descriptor), the
 * fixed timestamp, and for ZIP64 both sizes in the extra field as 4.5.3 requires.
 */
export function encodeLocalHeader(name: Buffer, flags: number, d: EntryData, zip64: boolean): Buffer {
  const h = Buffer.allocUnsafe(LOCAL_HEADER_SIZE + name.length + (zip64 ? LOCAL_ZIP64_EXTRA_SIZE : 0));
  h.writeUInt32LE(LOCAL_HEADER_SIGNATURE, LOCAL.signature);
  h.writeUInt16LE(zip64 ? VERSION_NEEDED_ZIP64 : VERSION_NEEDED, LOCAL.versionNeeded);
  h.writeUInt16LE(flags, LOCAL.flags);
  h.writeUInt16LE(d.method, LOCAL.method);
  h.writeUInt16LE(DOS_TIME, LOCAL.time);
  h.writeUInt16LE(DOS_DATE, LOCAL.date);
  h.writeUInt32LE(d.crc32 >>> 0, LOCAL.crc32);
  h.writeUInt32LE(zip64 ? MAX32 : d.compressedSize, LOCAL.compressedSize);
  h.writeUInt32LE(zip64 ? MAX32 : d.uncompressedSize, LOCAL.uncompressedSize);
  h.writeUInt16LE(name.length, LOCAL.nameLength);
  h.writeUInt16LE(zip64 ? LOCAL_ZIP64_EXTRA_SIZE : 0, LOCAL.extraLength);
  name.copy(h, LOCAL_HEADER_SIZE);
  if (zip64) {
    const at = LOCAL_HEADER_SIZE + name.length;
    h.writeUInt16LE(ZIP64_EXTRA_ID, at);
    h.writeUInt16LE(16, at + 2);
    writeU64(h, d.uncompressedSize, at + 4);
    writeU64(h, d.compressedSize, at + 12);
  }
  return h;
}

// ---------------------------------------------------------------------------------------
// Data descriptor (4.3.9)

/**
 * The data descriptor at `at` (after an entry's data when flag 3 is set): optional
 * signature, CRC, then both sizes in 4 bytes, or in 8 bytes for a ZIP64 entry. Returns its
 * length, or undefined when the bytes there do not describe `e`.
 */
export function dataDescriptorLength(buf: Buffer, at: number, e: EntryData, zip64: boolean): number | undefined {
  const width = zip64 ? 8 : 4;
  for (const signed of [true, false]) {
    const start = at + (signed ? 4 : 0);
    const length = (signed ? 4 : 0) + 4 + 2 * width;
    if (at + length > buf.length) continue;
    if (signed && buf.readUInt32LE(at) !== DATA_DESCRIPTOR_SIGNATURE) continue;
    const read = (k: number) => (width === 8 ? buf.readUInt32LE(k) + buf.readUInt32LE(k + 4) * 0x100000000 : buf.readUInt32LE(k));
    if (buf.readUInt32LE(start) >>> 0 === e.crc32 >>> 0 && read(start + 4) === e.compressedSize && read(start + 4 + width) === e.uncompressedSize) return length;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Central directory header (4.3.12)

/** A decoded central directory header; the name is `buf[nameStart, nameStart + nameLength)`. */
export interface CentralHeader extends EntryData {
  versionMadeBy: number;
  flags: number;
  nameLength: number;
  extraLength: number;
  commentLength: number;
  externalAttributes: number;
  /** Offset of the local header, relative to the start of the zip (the ZIP64 value when saturated). */
  localHeaderOffset: number;
  nameStart: number;
  /** 46 + name + extra field + comment. */
  size: number;
}

/** The length of the central directory header at `at` from its fixed part (46 bytes must be there). */
export function centralHeaderLength(buf: Buffer, at: number): number {
  return CENTRAL_HEADER_SIZE + buf.readUInt16LE(at + CENTRAL.nameLength) + buf.readUInt16LE(at + CENTRAL.extraLength) + buf.readUInt16LE(at + CENTRAL.commentLength);
}

/**
 * The central directory header at `at` of `buf`, which must hold all of it (`end` bounds
 * it: the end of the central directory in `buf`). Throws IntegrityError (ERR_CORRUPT_ZIP,
 * naming `where` and the record's `index`) when it is not there, runs past `end`, starts
 * on another disk, is strongly encrypted, misses a ZIP64 value it refers to, or stores
 * data with two different sizes.
 */
export function parseCentralHeader(buf: Buffer, at: number, end: number, where: string, index: number): CentralHeader {
  if (at + CENTRAL_HEADER_SIZE > end || buf.readUInt32LE(at + CENTRAL.signature) !== CENTRAL_HEADER_SIGNATURE) {
    corruptDirectory(where, `no central directory record #${index + 1} where the directory says`);
  }
  const nameLength = buf.readUInt16LE(at + CENTRAL.nameLength);
  const extraLength = buf.readUInt16LE(at + CENTRAL.extraLength);
  const commentLength = buf.readUInt16LE(at + CENTRAL.commentLength);
  const size = centralHeaderLength(buf, at);
  if (at + size > end) corruptDirectory(where, `central directory record #${index + 1} runs past the central directory`);
  const flags = buf.readUInt16LE(at + CENTRAL.flags);
  if (flags & FLAG_STRONG_ENCRYPTION) {
    throw new IntegrityError(`${where}: entry #${index + 1} uses strong encryption, which is not supported.`, { code: "ERR_UNSUPPORTED_ZIP" });
  }
  const method = buf.readUInt16LE(at + CENTRAL.method);
  let compressedSize = buf.readUInt32LE(at + CENTRAL.compressedSize);
  let uncompressedSize = buf.readUInt32LE(at + CENTRAL.uncompressedSize);
  let localHeaderOffset = buf.readUInt32LE(at + CENTRAL.localHeaderOffset);
  const nameStart = at + CENTRAL_HEADER_SIZE;
  const extraStart = nameStart + nameLength;
  checkExtraFields(buf, extraStart, extraStart + extraLength, where, index);
  if (uncompressedSize === MAX32 || compressedSize === MAX32 || localHeaderOffset === MAX32) {
    const want = [uncompressedSize === MAX32, compressedSize === MAX32, localHeaderOffset === MAX32];
    const found = zip64Values(buf, extraStart, extraStart + extraLength, want);
    if (!found) corruptDirectory(where, `entry #${index + 1} has ZIP64 sizes without a ZIP64 extra field`);
    if (want.some((w, k) => w && found[k] === undefined)) corruptDirectory(where, `entry #${index + 1} has a short ZIP64 extra field`);
    uncompressedSize = found[0] ?? uncompressedSize;
    compressedSize = found[1] ?? compressedSize;
    localHeaderOffset = found[2] ?? localHeaderOffset;
  }
  if (method === METHOD_STORED && !(flags & FLAG_ENCRYPTED) && compressedSize !== uncompressedSize) {
    corruptDirectory(where, `entry #${index + 1} is stored but declares ${compressedSize} stored bytes for ${uncompressedSize}`);
  }
  return {
    versionMadeBy: buf.readUInt16LE(at + CENTRAL.versionMadeBy),
    flags,
    method,
    crc32: buf.readUInt32LE(at + CENTRAL.crc32),
    compressedSize,
    uncompressedSize,
    nameLength,
    extraLength,
    commentLength,
    externalAttributes: buf.readUInt32LE(at + CENTRAL.externalAttributes),
    localHeaderOffset,
    nameStart,
    size,
  };
}

/**
 * The entry name of a central header: UTF-8 when flag 11 says so or an Info-ZIP Unicode
 * Path field (with the right CRC) gives it, else CP437; backslashes are kept (so that they
 * are refused rather than reinterpreted). Plain ASCII names without extra fields, nearly
 * all of them, decode without yauzl's decoder.
 */
export function decodeEntryName(buf: Buffer, h: CentralHeader): string {
  const start = h.nameStart;
  const end = start + h.nameLength;
  let ascii = true;
  for (let k = start; k < end; k++) {
    if (buf[k]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  const extra = buf.subarray(end, end + h.extraLength);
  if (ascii && !hasExtraField(extra, UNICODE_PATH_EXTRA_ID)) return buf.toString("latin1", start, end);
  return yauzl.getFileNameLowLevel(h.flags, buf.subarray(start, end), yauzl.parseExtraFields(extra), true);
}

/** The fields this package writes for an entry's central header, beyond its data. */
export interface CentralEntry extends EntryData {
  name: Buffer;
  flags: number;
  /** Unix mode and type bits in the high 16 bits, the MS-DOS directory bit (0x10) in the low. */
  externalAttributes: number;
  localHeaderOffset: number;
}

/** Bytes `writeCentralHeader` may need for an entry with a name this long. */
export function centralHeaderRoom(nameLength: number): number {
  return CENTRAL_HEADER_SIZE + nameLength + 4 + 3 * 8;
}

/**
 * Writes the central header of `e` at `at` of `out` (room: centralHeaderRoom) and returns
 * its length. The ZIP64 extra field holds exactly the values whose 32-bit field is
 * saturated, in the order 4.5.3 gives; `forceZip64` saturates all three.
 */
export function writeCentralHeader(out: Buffer, at: number, e: CentralEntry, forceZip64: boolean): number {
  const bigSize = forceZip64 || e.uncompressedSize >= MAX32;
  const bigCompressed = forceZip64 || e.compressedSize >= MAX32;
  const bigOffset = forceZip64 || e.localHeaderOffset >= MAX32;
  const count = (bigSize ? 1 : 0) + (bigCompressed ? 1 : 0) + (bigOffset ? 1 : 0);
  const extraLength = count ? 4 + 8 * count : 0;
  const nameLength = e.name.length;
  out.writeUInt32LE(CENTRAL_HEADER_SIGNATURE, at + CENTRAL.signature);
  out.writeUInt16LE(VERSION_MADE_BY, at + CENTRAL.versionMadeBy);
  out.writeUInt16LE(count > 0 ? VERSION_NEEDED_ZIP64 : VERSION_NEEDED, at + CENTRAL.versionNeeded);
  out.writeUInt16LE(e.flags, at + CENTRAL.flags);
  out.writeUInt16LE(e.method, at + CENTRAL.method);
  out.writeUInt16LE(DOS_TIME, at + CENTRAL.time);
  out.writeUInt16LE(DOS_DATE, at + CENTRAL.date);
  out.writeUInt32LE(e.crc32 >>> 0, at + CENTRAL.crc32);
  out.writeUInt32LE(bigCompressed ? MAX32 : e.compressedSize, at + CENTRAL.compressedSize);
  out.writeUInt32LE(bigSize ? MAX32 : e.uncompressedSize, at + CENTRAL.uncompressedSize);
  out.writeUInt16LE(nameLength, at + CENTRAL.nameLength);
  out.writeUInt16LE(extraLength, at + CENTRAL.extraLength);
  out.fill(0, at + CENTRAL.commentLength, at + CENTRAL.externalAttributes); // comment length, disk, internal attributes
  out.writeUInt32LE(e.externalAttributes >>> 0, at + CENTRAL.externalAttributes);
  out.writeUInt32LE(bigOffset ? MAX32 : e.localHeaderOffset, at + CENTRAL.localHeaderOffset);
  e.name.copy(out, at + CENTRAL_HEADER_SIZE);
  if (count) {
    let k = at + CENTRAL_HEADER_SIZE + nameLength;
    out.writeUInt16LE(ZIP64_EXTRA_ID, k);
    out.writeUInt16LE(8 * count, k + 2);
    k += 4;
    for (const [big, value] of [
      [bigSize, e.uncompressedSize],
      [bigCompressed, e.compressedSize],
      [bigOffset, e.localHeaderOffset],
    ] as const) {
      if (!big) continue;
      writeU64(out, value, k);
      k += 8;
    }
  }
  return CENTRAL_HEADER_SIZE + nameLength + extraLength;
}

// ---------------------------------------------------------------------------------------
// End records (4.3.14-4.3.16)

/** What the end records of an archive say, offsets as recorded (relative to the zip's start). */
export interface EndRecords {
  entries: number;
  centralSize: number;
  centralOffset: number;
  comment: Buffer;
}

/**
 * The end of central directory record whose comment runs exactly to the end of `tail`,
 * searched backwards as every reader does (the comment may contain anything, so the last
 * record that fits wins). Returns its index in `tail`, or -1.
 */
export function findEndRecord(tail: Buffer): number {
  for (let i = tail.length - END_SIZE; i >= 0; i--) {
    if (tail.readUInt32LE(i + END.signature) === END_SIGNATURE && tail.readUInt16LE(i + END.commentLength) === tail.length - i - END_SIZE) return i;
  }
  return -1;
}

/** The end record at `i` of `tail` (found by findEndRecord); throws on multi-disk archives. */
export function parseEndRecord(tail: Buffer, i: number, where: string): EndRecords & { hasZip64Locator: boolean } {
  if (tail.readUInt16LE(i + END.disk) !== 0 || tail.readUInt16LE(i + END.centralDisk) !== 0) multiDisk(where);
  const entries = tail.readUInt16LE(i + END.entries);
  if (tail.readUInt16LE(i + END.diskEntries) !== entries) corruptDirectory(where, "the end record gives two different entry counts");
  return {
    entries,
    centralSize: tail.readUInt32LE(i + END.centralSize),
    centralOffset: tail.readUInt32LE(i + END.centralOffset),
    comment: tail.subarray(i + END_SIZE, i + END_SIZE + tail.readUInt16LE(i + END.commentLength)),
    hasZip64Locator: i >= ZIP64_LOCATOR_SIZE && tail.readUInt32LE(i - ZIP64_LOCATOR_SIZE + ZIP64_LOCATOR.signature) === ZIP64_LOCATOR_SIGNATURE,
  };
}

/** The ZIP64 locator's offset of the ZIP64 end record (relative to the zip's start); throws on multi-disk archives. */
export function parseZip64Locator(locator: Buffer, where: string): number {
  if (locator.readUInt32LE(ZIP64_LOCATOR.disk) !== 0 || locator.readUInt32LE(ZIP64_LOCATOR.disks) > 1) multiDisk(where);
  return u64(locator, ZIP64_LOCATOR.endOffset);
}

/**
 * The ZIP64 end record in `record` (56 bytes). Its values replace the end record's, whose
 * own fields must then be saturated or agree: two different counts would make readers that
 * use one or the other see different archives.
 */
export function parseZip64End(record: Buffer, end: EndRecords, where: string): EndRecords & { recordSize: number } {
  if (record.readUInt32LE(ZIP64_END.signature) !== ZIP64_END_SIGNATURE) corruptDirectory(where, "no ZIP64 end of central directory record before its locator");
  if (record.readUInt32LE(ZIP64_END.disk) !== 0 || record.readUInt32LE(ZIP64_END.centralDisk) !== 0) multiDisk(where);
  const entries = u64(record, ZIP64_END.entries);
  if (u64(record, ZIP64_END.diskEntries) !== entries) corruptDirectory(where, "the ZIP64 end record gives two different entry counts");
  const centralSize = u64(record, ZIP64_END.centralSize);
  const centralOffset = u64(record, ZIP64_END.centralOffset);
  const agrees = (small: number, saturated: number, big: number) => small === saturated || small === big;
  if (!agrees(end.entries, MAX16, entries) || !agrees(end.centralSize, MAX32, centralSize) || !agrees(end.centralOffset, MAX32, centralOffset)) {
    corruptDirectory(where, "the end record and the ZIP64 end record disagree");
  }
  return { entries, centralSize, centralOffset, comment: end.comment, recordSize: u64(record, ZIP64_END.recordSize) };
}

/**
 * The end records this package writes after a central directory of `count` entries and
 * `centralSize` bytes at `centralOffset`, ending at `position`: a ZIP64 end record and
 * locator when a value needs them (or `force`), then the end record with the comment.
 */
export function encodeEndRecords(count: number, centralOffset: number, centralSize: number, position: number, force: boolean, comment?: string): Buffer {
  const commentBytes = Buffer.from(comment ?? "", "utf8");
  const zip64 = force || count > MAX16 || centralOffset >= MAX32 || centralSize >= MAX32;
  const parts: Buffer[] = [];
  if (zip64) {
    const rec = Buffer.alloc(ZIP64_END_SIZE);
    rec.writeUInt32LE(ZIP64_END_SIGNATURE, ZIP64_END.signature);
    writeU64(rec, ZIP64_END_BODY_SIZE, ZIP64_END.recordSize);
    rec.writeUInt16LE(VERSION_MADE_BY, ZIP64_END.versionMadeBy);
    rec.writeUInt16LE(VERSION_NEEDED_ZIP64, ZIP64_END.versionNeeded);
    writeU64(rec, count, ZIP64_END.diskEntries);
    writeU64(rec, count, ZIP64_END.entries);
    writeU64(rec, centralSize, ZIP64_END.centralSize);
    writeU64(rec, centralOffset, ZIP64_END.centralOffset);
    const locator = Buffer.alloc(ZIP64_LOCATOR_SIZE);
    locator.writeUInt32LE(ZIP64_LOCATOR_SIGNATURE, ZIP64_LOCATOR.signature);
    writeU64(locator, position, ZIP64_LOCATOR.endOffset); // the ZIP64 end record starts right after the central directory
    locator.writeUInt32LE(1, ZIP64_LOCATOR.disks);
    parts.push(rec, locator);
  }
  const end = Buffer.alloc(END_SIZE);
  end.writeUInt32LE(END_SIGNATURE, END.signature);
  end.writeUInt16LE(Math.min(count, MAX16), END.diskEntries);
  end.writeUInt16LE(Math.min(count, MAX16), END.entries);
  end.writeUInt32LE(Math.min(centralSize, MAX32), END.centralSize);
  end.writeUInt32LE(Math.min(centralOffset, MAX32), END.centralOffset);
  end.writeUInt16LE(commentBytes.length, END.commentLength);
  parts.push(end, commentBytes);
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------
// Entry data (4.3.8) against its headers: method, inflated size, CRC-32

/** Refuses methods other than stored and deflate (listed entries may use others; they cannot be read). */
export function checkMethod(where: string, e: EntryData & { name: string }): void {
  if (e.method !== 0 && e.method !== 8) {
    throw new IntegrityError(`${where}: entry ${e.name} uses compression method ${e.method}; only stored (0) and deflate (8) are supported.`, { code: "ERR_UNSUPPORTED_ZIP" });
  }
}

/** Below this, inflate on the main thread: a thread-pool round trip costs more than the work. */
const SYNC_INFLATE_MAX = 1024 * 1024;
const inflateRaw = promisify(zlib.inflateRaw);
const CACHE_SLICE = 128 * 1024;
const INFLATE_CHUNK_MAX = 16 * 1024 * 1024;

/**
 * An entry's whole content from its stored bytes (read in one piece), checked: it must
 * inflate to exactly the declared size and have the declared CRC. Returns a copy (the
 * stored bytes are often a view of a shared read buffer) unless `copy: false`. Entries up
 * to `syncUpTo` compressed bytes (default 1 MiB) inflate on this thread: a worker thread
 * passes Infinity (the thread pool's chunked round trips cost far more CPU than they save).
 * `each` receives the content in slices, each right after the CRC pass over it.
 */
export async function inflateVerified(where: string, e: EntryData & { name: string }, stored: Buffer, options: { syncUpTo?: number; copy?: boolean; each?: (slice: Buffer) => void } = {}): Promise<Buffer> {
  let data = stored;
  if (e.method === 8) {
    try {
      // Output in one chunk of the declared size (capped: the size is a claim) rather than
      // zlib's 16 KiB chunks concatenated at the end: a fifth less CPU.
      const limit = { maxOutputLength: Math.max(1, e.uncompressedSize + 1), chunkSize: Math.max(64, Math.min(e.uncompressedSize + 1, INFLATE_CHUNK_MAX)) };
      data = stored.length <= (options.syncUpTo ?? SYNC_INFLATE_MAX) ? zlib.inflateRawSync(stored, limit) : await inflateRaw(stored, limit);
    } catch (err) {
      throw new IntegrityError(`${where}: entry ${e.name} does not inflate (${(err as Error).message}); the data is corrupt or its size lies.`, { cause: err, code: "ERR_CORRUPT_ENTRY" });
    }
  }
  const check = new EntryDataCheck(where, e);
  // With `each`, the CRC and the caller's pass (a hash) go over the same cache-sized slices:
  // the data is read from memory once, not twice.
  const step = options.each ? CACHE_SLICE : Math.max(1, data.length);
  let at = 0;
  do {
    const slice = step >= data.length ? data : data.subarray(at, at + step);
    check.update(slice);
    options.each?.(slice);
    at += step;
  } while (at < data.length);
  check.finish();
  return data === stored && options.copy !== false ? Buffer.from(data) : data;
}

/**
 * Raw inflate into one output buffer reused by every call, synchronously: for a thread that
 * only checks content (a verification worker) and drops every byte once hashed. zlib's
 * public API hands out a fresh buffer per call (inflateRawSync) or per chunk (streams);
 * for a verifier that is all garbage, which V8 collects only once an isolate's external
 * memory grew by about 64 MiB (tens of MB per worker, whatever the window configured),
 * and fresh memory costs a page fault per 4 KiB. The public API has no "inflate into this
 * buffer", so this drives the stream's own native handle the way zlib.js's synchronous
 * path does (`writeSync` into a given output; counts in its write state); `create()`
 * returns undefined on a Node whose zlib lacks that handle, and callers keep the public API.
 */
export class ReusingInflater {
  /** Output bytes produced by this inflater and not yet consumed: never more than the output buffer (the bound the verification workers' memory relies on). */
  static readonly OUTPUT = 256 * 1024;
  private stream: zlib.InflateRaw | undefined;
  private handle: InflateHandle | undefined;
  private state: Uint32Array | undefined;
  private failure: Error | undefined;
  private readonly out = Buffer.allocUnsafeSlow(ReusingInflater.OUTPUT);

  private constructor() {}

  /** An inflater, or undefined where this Node's zlib stream has no synchronous native handle. */
  static create(): ReusingInflater | undefined {
    const inflater = new ReusingInflater();
    return inflater.open() ? inflater : undefined;
  }

  /** Starts a new raw deflate stream (after an error too: the native state is then replaced). */
  reset(): void {
    if (this.failure !== undefined || !this.handle) {
      this.close();
      if (!this.open()) throw new Error("zlib's native inflate handle went away");
    } else this.handle.reset();
  }

  /**
   * Feeds `input` (the next bytes of the stream; `last` for its final piece) and calls
   * `each` with every piece of output, in order, each valid only during the call. Throws
   * zlib's error (corrupt data; with `last`, a stream that does not end).
   */
  write(input: Buffer, last: boolean, each: (out: Buffer) => void): void {
    const handle = this.handle!;
    const state = this.state!;
    const flush = last ? zlib.constants.Z_FINISH : zlib.constants.Z_NO_FLUSH;
    let inOff = 0;
    let inLen = input.length;
    for (;;) {
      handle.writeSync(flush, input, inOff, inLen, this.out, 0, this.out.length);
      if (this.failure !== undefined) throw this.failure;
      const availOut = state[0]!;
      const availIn = state[1]!;
      if (availOut < this.out.length) each(this.out.subarray(0, this.out.length - availOut));
      inOff += inLen - availIn;
      inLen = availIn;
      // A full output buffer may hide more output; otherwise zlib took all it could.
      if (availOut !== 0) return;
    }
  }

  close(): void {
    this.stream?.close();
    this.stream = this.handle = this.state = undefined;
  }

  private open(): boolean {
    const stream = zlib.createInflateRaw() as zlib.InflateRaw & { _handle?: InflateHandle; _writeState?: unknown };
    const handle = stream._handle;
    const state = stream._writeState;
    if (!handle || typeof handle.writeSync !== "function" || typeof handle.reset !== "function" || !types.isUint32Array(state) || state.length < 2) {
      stream.close();
      return false;
    }
    this.failure = undefined;
    // zlib.js's handler destroys the stream; here the error is thrown by write().
    handle.onerror = (message: string, errno: number) => {
      this.failure = Object.assign(new Error(message), { errno });
    };
    this.stream = stream;
    this.handle = handle;
    this.state = state;
    return true;
  }
}

/** The part of zlib.js's native handle ReusingInflater drives. */
interface InflateHandle {
  writeSync(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void;
  reset(): void;
  onerror: (message: string, errno: number) => void;
}

/**
 * inflateVerified's checks through `inflater` (nothing allocated per entry), for callers
 * that only check: `stored` is the whole stored data; `each` receives the content in
 * pieces, each right after the CRC pass over it.
 */
export function checkStoredVerified(where: string, e: EntryData & { name: string }, stored: Buffer, inflater: ReusingInflater, options: { each?: (slice: Buffer) => void } = {}): void {
  const check = new EntryDataCheck(where, e);
  const consume = consumer(check, options.each);
  if (e.method !== 8) consume(stored);
  else {
    inflater.reset();
    try {
      inflater.write(stored, true, consume);
    } catch (err) {
      throw notInflating(where, e, err);
    }
  }
  check.finish();
}

/** Stored bytes read per step by inflateVerifiedPieces, and the size of the pieces zlib inflates into. */
export const VERIFY_PIECE = 1024 * 1024;

/**
 * inflateVerified's checks for an entry of any size in bounded memory (a few pieces of
 * VERIFY_PIECE bytes, whatever the entry's size): `read(position, into)` fills `into` with
 * the stored bytes from `position` (relative to the start of the data) and returns how many
 * it read (0 at the end of the source). `into` is reused (`input` when given, else one
 * piece allocated here): each piece is consumed by zlib before the next is read. `each`
 * receives the content in cache-sized slices, each right after the CRC pass over it. With
 * `inflater`, zlib works on this thread into the inflater's reused output (nothing
 * allocated per piece); without, on the thread pool, one piece at a time. Stored entries
 * never leave this thread.
 */
export async function inflateVerifiedPieces(
  where: string,
  e: EntryData & { name: string },
  read: (position: number, into: Buffer) => number,
  options: { each?: (slice: Buffer) => void; inflater?: ReusingInflater; input?: Buffer } = {},
): Promise<void> {
  const check = new EntryDataCheck(where, e);
  const consume = consumer(check, options.each);
  const input = options.input && options.input.length >= 1 ? options.input.subarray(0, Math.min(options.input.length, VERIFY_PIECE)) : Buffer.allocUnsafe(Math.max(1, Math.min(VERIFY_PIECE, e.compressedSize)));
  const piece = (at: number): Buffer => {
    const n = read(at, input.subarray(0, Math.min(input.length, e.compressedSize - at)));
    if (n <= 0) throw new IntegrityError(`${where}: entry ${e.name}: the source ends inside its data (truncated or changed).`, { code: "ERR_SOURCE_CHANGED" });
    return input.subarray(0, n);
  };
  if (e.method !== 8) {
    for (let at = 0; at < e.compressedSize; ) {
      const p = piece(at);
      consume(p);
      at += p.length;
    }
    check.finish();
    return;
  }
  const inflater = options.inflater;
  if (inflater) {
    inflater.reset();
    try {
      if (e.compressedSize === 0) inflater.write(input.subarray(0, 0), true, consume); // zlib's "unexpected end"
      for (let at = 0; at < e.compressedSize; ) {
        const p = piece(at);
        at += p.length;
        inflater.write(p, at >= e.compressedSize, consume);
      }
    } catch (err) {
      throw notInflating(where, e, err);
    }
    check.finish();
    return;
  }
  const stream = zlib.createInflateRaw({ chunkSize: VERIFY_PIECE });
  let failure: unknown;
  stream.on("data", (chunk: Buffer) => {
    if (failure !== undefined) return;
    try {
      consume(chunk);
    } catch (err) {
      failure = err;
      stream.destroy();
    }
  });
  // Settles on the end of the output, on an inflate error (after which no write callback
  // runs) and on our own destroy() after a failed check.
  const ended = new Promise<void>((resolve, reject) => stream.once("end", resolve).once("error", reject).once("close", resolve));
  ended.catch(() => undefined);
  try {
    for (let at = 0; at < e.compressedSize && failure === undefined; ) {
      const p = piece(at);
      // The callback runs once zlib has consumed the whole piece: `input` may be refilled.
      await Promise.race([new Promise<void>((resolve, reject) => stream.write(p, (err) => (err ? reject(err) : resolve()))), ended]);
      at += p.length;
    }
    if (failure === undefined) {
      stream.end();
      await ended;
    }
  } catch (err) {
    failure ??= err;
  } finally {
    stream.destroy();
  }
  if (failure !== undefined) throw notInflating(where, e, failure);
  check.finish();
}

/** Feeds content to the CRC/size check and then to `each`, in cache-sized slices (the data is read from memory once per pass while it is in cache). */
function consumer(check: EntryDataCheck, each: ((slice: Buffer) => void) | undefined): (chunk: Buffer) => void {
  return (chunk) => {
    for (let at = 0; at < chunk.length; at += CACHE_SLICE) {
      const slice = chunk.length <= CACHE_SLICE ? chunk : chunk.subarray(at, at + CACHE_SLICE);
      check.update(slice);
      each?.(slice);
    }
  };
}

/** A failed check passes through; anything else from zlib means the data does not inflate. */
function notInflating(where: string, e: { name: string }, err: unknown): IntegrityError {
  if (err instanceof IntegrityError) return err;
  return new IntegrityError(`${where}: entry ${e.name} does not inflate (${(err as Error).message}); the data is corrupt.`, { cause: err, code: "ERR_CORRUPT_ENTRY" });
}

/**
 * The same checks on content that arrives in chunks: `update` fails as soon as there is
 * more than the declared size, `finish` when the size or the CRC differ.
 */
export class EntryDataCheck {
  private crc = 0;
  private size = 0;

  constructor(
    private readonly where: string,
    private readonly entry: EntryData & { name: string },
  ) {}

  update(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size > this.entry.uncompressedSize) {
      throw new IntegrityError(`${this.where}: entry ${this.entry.name} inflates to more than its declared ${this.entry.uncompressedSize} bytes; the sizes lie.`, { code: "ERR_SIZE_MISMATCH" });
    }
    this.crc = crc32(chunk, this.crc);
  }

  finish(): void {
    if (this.size !== this.entry.uncompressedSize) {
      throw new IntegrityError(`${this.where}: entry ${this.entry.name} has ${this.size} bytes, its header declares ${this.entry.uncompressedSize}; the sizes lie.`, { code: "ERR_SIZE_MISMATCH" });
    }
    if (this.crc >>> 0 !== this.entry.crc32 >>> 0) {
      throw new IntegrityError(`${this.where}: entry ${this.entry.name} has CRC ${hex(this.crc)}, its header declares ${hex(this.entry.crc32)}; the data is corrupt.`, { code: "ERR_CRC_MISMATCH" });
    }
  }
}

// ---------------------------------------------------------------------------------------
// Helpers

/** A little-endian 64-bit field, refused when it cannot be a safe JS number. */
export function u64(buf: Buffer, at: number): number {
  const v = buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * 0x100000000;
  if (!Number.isSafeInteger(v)) throw new IntegrityError(`a ZIP64 field (${v}) is beyond what can be addressed; the archive is corrupt.`, { code: "ERR_CORRUPT_ZIP" });
  return v;
}

export function writeU64(buf: Buffer, value: number, at: number): void {
  buf.writeUInt32LE(value % 0x100000000, at);
  buf.writeUInt32LE(Math.floor(value / 0x100000000), at + 4);
}

/** 0x-prefixed, 8 hex digits: how CRCs are shown in messages. */
export function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, "0")}`;
}

/**
 * The ZIP64 extra field's values in `buf[start, end)`: one 8-byte value, in order, for
 * each `want` flag that is set (uncompressed size, compressed size, local header offset),
 * undefined where the field is too short; undefined when there is no ZIP64 field.
 */
function zip64Values(buf: Buffer, start: number, end: number, want: boolean[]): (number | undefined)[] | undefined {
  const field = findExtraField(buf, start, end, ZIP64_EXTRA_ID);
  if (!field) return undefined;
  let at = field[0];
  return want.map((w) => {
    if (!w || at + 8 > field[1]) return undefined;
    const v = u64(buf, at);
    at += 8;
    return v;
  });
}

/** `[dataStart, dataEnd)` of the extra field `id` in `buf[start, end)`, or undefined. */
function findExtraField(buf: Buffer, start: number, end: number, id: number): [number, number] | undefined {
  for (let at = start; at + 4 <= end; ) {
    const length = buf.readUInt16LE(at + 2);
    if (buf.readUInt16LE(at) === id) return at + 4 + length <= end ? [at + 4, at + 4 + length] : undefined;
    at += 4 + length;
  }
  return undefined;
}

function hasExtraField(extra: Buffer, id: number): boolean {
  return extra.length > 0 && findExtraField(extra, 0, extra.length, id) !== undefined;
}

/** Extra fields must tile their area exactly (id, length, data), as yauzl required. */
function checkExtraFields(buf: Buffer, start: number, end: number, where: string, index: number): void {
  let at = start;
  while (at + 4 <= end) at += 4 + buf.readUInt16LE(at + 2);
  if (at > end) corruptDirectory(where, `entry #${index + 1} has an extra field longer than its extra field area`);
}

function corruptDirectory(where: string, what: string): never {
  throw new IntegrityError(`${where}: corrupt central directory: ${what}.`, { code: "ERR_CORRUPT_ZIP" });
}

function multiDisk(where: string): never {
  throw new IntegrityError(`${where}: multi-disk archives are not supported.`, { code: "ERR_UNSUPPORTED_ZIP" });
}
