import { IntegrityError, throwIfAborted } from "@cluster-pack/errors";
import { S_IFDIR, S_IFLNK, S_IFMT, unsafeReason } from "./names";
import {
  CENTRAL_HEADER_SIZE,
  END_SIZE,
  FLAG_ENCRYPTED,
  MAX16,
  METHOD_DEFLATE,
  ZIP64_END_SIZE,
  ZIP64_LOCATOR_SIZE,
  centralHeaderLength,
  decodeEntryName,
  findEndRecord,
  parseCentralHeader,
  parseEndRecord,
  parseZip64End,
  parseZip64Locator,
  type CentralHeader,
} from "./records";
import type { ZipEntry } from "./reader";
import type { RandomAccessSource } from "./source";

// Finding and walking a central directory through a source: the one end-of-directory
// locator and the one directory walk, shared by ZipReader and peekEntries (and, through
// ZipReader, by pex). The record layouts themselves are in records.ts.

/** Where an archive's central directory is, from its end records. */
export interface CentralDirectoryLocation {
  /** Absolute offset of the first central directory record in the source. */
  start: number;
  size: number;
  /** Entries the end records declare (the walk checks the directory holds exactly these). */
  entries: number;
  /**
   * How far the archive's own offsets are shifted in the source: 0 for a normal archive
   * or one whose writer accounted for its prefix, the prefix length for `cat stub app.zip`.
   */
  shift: number;
  /** Absolute offset of the end record. */
  endOffset: number;
  /** Absolute offset of the ZIP64 end record, when there is one (the directory ends there). */
  zip64EndOffset?: number;
  /** The ZIP64 end record's "size of the remaining record" (44 without extensible data). */
  zip64RecordSize?: number;
  comment: Buffer;
  /** The source's last bytes, read to find the end record; they often hold the whole directory. */
  tail: { start: number; data: Buffer };
}

/**
 * Finds the central directory from the end of `source` as Python's zipfile and zipimport
 * do: the last end record whose comment runs exactly to the end of the file, the ZIP64 end
 * record right before its locator when there is one, and the shift of an archive glued
 * after a prefix (where the directory really ends minus where the records say it ends).
 * Refuses (ERR_NOT_A_ZIP) what has no end record, and (ERR_CORRUPT_ZIP) end records that
 * contradict each other or a directory that would run past them.
 */
export async function locateCentralDirectory(source: RandomAccessSource, signal?: AbortSignal): Promise<CentralDirectoryLocation> {
  throwIfAborted(signal);
  const where = source.name;
  // The end record with the longest comment, the locator and ZIP64 record before it.
  const tailLength = Math.min(source.size, END_SIZE + MAX16 + ZIP64_LOCATOR_SIZE + ZIP64_END_SIZE);
  if (tailLength < END_SIZE) notAZip(where, "it is too short to be a zip archive");
  const tailStart = source.size - tailLength;
  const tail = await source.read(tailStart, tailLength, signal);
  const i = findEndRecord(tail);
  if (i < 0) notAZip(where, "no end of central directory record");
  const endOffset = tailStart + i;
  let records = parseEndRecord(tail, i, where);
  let centralEnd = endOffset;
  let zip64EndOffset: number | undefined;
  let zip64RecordSize: number | undefined;
  let recordedZip64Offset = 0;
  if (records.hasZip64Locator) {
    const locatorAt = i - ZIP64_LOCATOR_SIZE;
    recordedZip64Offset = parseZip64Locator(tail.subarray(locatorAt, locatorAt + ZIP64_LOCATOR_SIZE), where);
    // Where Python looks for it: right before the locator (no extensible data).
    zip64EndOffset = endOffset - ZIP64_LOCATOR_SIZE - ZIP64_END_SIZE;
    if (zip64EndOffset < 0) corrupt(where, "a ZIP64 locator without room for the ZIP64 end record");
    const record = zip64EndOffset >= tailStart ? tail.subarray(zip64EndOffset - tailStart, zip64EndOffset - tailStart + ZIP64_END_SIZE) : await source.read(zip64EndOffset, ZIP64_END_SIZE, signal);
    const zip64 = parseZip64End(record, records, where);
    records = { ...records, ...zip64 };
    zip64RecordSize = zip64.recordSize;
    centralEnd = zip64EndOffset;
  }
  const shift = centralEnd - records.centralSize - records.centralOffset;
  if (shift < 0) corrupt(where, `the central directory (${records.centralSize} bytes at ${records.centralOffset}) runs past its end record`);
  if (zip64EndOffset !== undefined && recordedZip64Offset + shift !== zip64EndOffset) corrupt(where, "the ZIP64 locator points elsewhere than the ZIP64 end record before it");
  if (records.entries * CENTRAL_HEADER_SIZE > records.centralSize) {
    corrupt(where, `the archive declares ${records.entries} entries but its central directory (${records.centralSize} bytes) cannot hold them (truncated or corrupt)`);
  }
  return {
    start: records.centralOffset + shift,
    size: records.centralSize,
    entries: records.entries,
    shift,
    endOffset,
    ...(zip64EndOffset !== undefined ? { zip64EndOffset, zip64RecordSize: zip64RecordSize! } : {}),
    comment: records.comment,
    tail: { start: tailStart, data: tail },
  };
}

/** Options of walkCentralDirectory. */
export interface WalkOptions {
  signal?: AbortSignal;
  /** Refuse more declared entries than this, before reading any (ERR_TOO_MANY_ENTRIES). */
  maxEntries?: number;
}

/** Central directory bytes decoded per read (bounded memory for huge archives). */
const WALK_CHUNK = 4 * 1024 * 1024;

/**
 * Decodes every central directory record in order. The records must fill the directory's
 * size exactly and be as many as the end records declare: a reader that trusts the count
 * (yauzl, our old reader) and one that reads by size (Python's zipfile) or until the
 * signatures stop (zipimport) must never see different entries. `onRecord` receives the
 * buffer that holds the record, which it must not keep.
 */
export async function walkCentralDirectory(
  source: RandomAccessSource,
  cd: CentralDirectoryLocation,
  onRecord: (buf: Buffer, header: CentralHeader, index: number) => void,
  options: WalkOptions = {},
): Promise<void> {
  const { signal } = options;
  const where = source.name;
  if (options.maxEntries !== undefined && cd.entries > options.maxEntries) {
    throw new IntegrityError(`${where}: the archive declares ${cd.entries} entries, more than the limit of ${options.maxEntries}.`, { code: "ERR_TOO_MANY_ENTRIES", hint: "raise maxEntries if it is trusted." });
  }
  const tail = cd.tail;
  // `buf` holds directory bytes from `bufStart` (relative to the directory's start).
  let buf: Buffer = Buffer.alloc(0);
  let bufStart = 0;
  if (cd.start >= tail.start && cd.start + cd.size <= tail.start + tail.data.length) buf = tail.data.subarray(cd.start - tail.start, cd.start - tail.start + cd.size);
  let at = 0;
  let index = 0;
  while (at < cd.size) {
    if (index >= cd.entries) corrupt(where, `the central directory holds more records than the ${cd.entries} its end record declares (hidden entries)`);
    if ((index & 1023) === 1023) throwIfAborted(signal);
    let k = at - bufStart;
    const inBuffer = k + CENTRAL_HEADER_SIZE <= buf.length && k + centralHeaderLength(buf, k) <= buf.length;
    if (!inBuffer && bufStart + buf.length < cd.size) {
      throwIfAborted(signal);
      bufStart = at;
      buf = await source.read(cd.start + at, Math.min(WALK_CHUNK, cd.size - at), signal);
      k = 0;
    }
    const header = parseCentralHeader(buf, k, buf.length, where, index);
    onRecord(buf, header, index);
    at += header.size;
    index++;
  }
  if (index !== cd.entries) corrupt(where, `the end record declares ${cd.entries} entries but the central directory holds ${index}`);
}

/** Deflate cannot expand data by more than ~1032:1; a declared ratio above this is a lie. */
const MAX_DEFLATE_RATIO = 1040;

/**
 * The checks every reader applies to an entry it will use: a safe name (ERR_UNSAFE_ENTRY_NAME),
 * not encrypted, sizes deflate can produce (ERR_SIZE_MISMATCH). `name` is the decoded name
 * when the caller already has it. The entry's offset is the zip's own (prefix not included).
 */
export function describeEntry(where: string, buf: Buffer, h: CentralHeader, name = decodeEntryName(buf, h)): ZipEntry {
  const reason = unsafeReason(name);
  if (reason) throw new IntegrityError(`${where}: entry ${JSON.stringify(name)} is unsafe: ${reason}. The archive was rejected; do not extract it.`, { code: "ERR_UNSAFE_ENTRY_NAME" });
  if (h.flags & FLAG_ENCRYPTED) throw new IntegrityError(`${where}: entry ${name} is encrypted; encrypted archives are not supported.`, { code: "ERR_UNSUPPORTED_ZIP" });
  if (h.method === METHOD_DEFLATE && h.uncompressedSize > h.compressedSize * MAX_DEFLATE_RATIO + 1024) {
    throw new IntegrityError(`${where}: entry ${name} declares ${h.uncompressedSize} bytes from ${h.compressedSize} compressed, beyond what deflate can produce; the sizes lie.`, { code: "ERR_SIZE_MISMATCH" });
  }
  const madeOnUnix = h.versionMadeBy >> 8 === 3;
  const mode = madeOnUnix ? (h.externalAttributes >>> 16) & 0xffff : 0;
  const type = mode & S_IFMT;
  const isDirectory = name.endsWith("/") || type === S_IFDIR || (!madeOnUnix && (h.externalAttributes & 0x10) !== 0);
  return {
    name,
    isDirectory,
    isSymlink: !isDirectory && type === S_IFLNK,
    method: h.method,
    crc32: h.crc32,
    compressedSize: h.compressedSize,
    uncompressedSize: h.uncompressedSize,
    mode,
    localHeaderOffset: h.localHeaderOffset,
  };
}

function corrupt(where: string, what: string): never {
  throw new IntegrityError(`${where}: corrupt central directory: ${what}.`, { code: "ERR_CORRUPT_ZIP" });
}

function notAZip(where: string, what: string): never {
  throw new IntegrityError(`${where}: not a readable zip archive (${what}).`, { code: "ERR_NOT_A_ZIP", hint: "check that the file is a complete zip/wheel/PEX." });
}
