import { promisify } from "node:util";
import zlib from "node:zlib";
import yauzl from "yauzl";
import { IntegrityError, InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { crc32, unsafeReason } from "./names";
import type { RandomAccessSource } from "./source";
import { LOCAL_HEADER_SIZE, checkLocalHeader, hex, u64 } from "./local-header";

/**
 * Reading one or a few entries of an archive without opening it fully: the use is a
 * wheel's `*.dist-info/METADATA` during resolution, where `ZipReader.open` (which decodes
 * and validates every one of a big wheel's thousands of entries, checks names, duplicates
 * and overlaps for safe extraction) costs far more than the entry itself. Here the central
 * directory is scanned record by record with bounds checks only, names are decoded only for
 * ASCII matching (others through yauzl's decoder), and just the selected entries are
 * described. Reading an entry still checks everything that concerns it: a safe name, its
 * local header against the central directory, the data inside the archive before the
 * central directory, the inflated size (bounded) and the CRC. Extraction needs ZipReader.
 */

/** A central directory record selected by `peekEntries`. */
export interface PeekedEntry {
  name: string;
  /** 0 stored, 8 deflate. */
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  /** Absolute offset of the local header in the source (any prefix included). */
  localHeaderOffset: number;
}

/** Options of `peekEntries`. */
export interface PeekOptions {
  /** Most entries accepted (default 1,000,000). */
  maxEntries?: number;
  /** Largest central directory read into memory (default 64 MiB). */
  maxCentralDirectorySize?: number;
  signal?: AbortSignal;
}

/**
 * The entries whose names `select` accepts, in central directory order. The whole central
 * directory is walked (so a truncated or inconsistent one is an error), but only selected
 * entries are described; each must have a safe name and be unencrypted.
 */
export async function peekEntries(source: RandomAccessSource, select: (name: string) => boolean, options: PeekOptions = {}): Promise<PeekedEntry[]> {
  const signal = options.signal;
  throwIfAborted(signal);
  const cd = await locateCentralDirectory(source, signal);
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  if (cd.entries > maxEntries) {
    throw new IntegrityError(`${source.name}: the archive declares ${cd.entries} entries, more than the limit of ${maxEntries}; raise maxEntries if it is trusted.`, { code: "ERR_TOO_MANY_ENTRIES" });
  }
  const maxCd = options.maxCentralDirectorySize ?? DEFAULT_MAX_CD;
  if (cd.size > maxCd) {
    throw new IntegrityError(`${source.name}: the central directory is ${cd.size} bytes, more than the limit of ${maxCd}; raise maxCentralDirectorySize if the archive is trusted.`, { code: "ERR_ARCHIVE_TOO_LARGE" });
  }
  if (cd.entries * CD_HEADER_SIZE > cd.size) {
    throw new IntegrityError(`${source.name}: the archive declares ${cd.entries} entries but its central directory cannot hold them (truncated or corrupt).`, { code: "ERR_CORRUPT_ZIP" });
  }
  const buf = cd.size ? await source.read(cd.start, cd.size, signal) : Buffer.alloc(0);
  throwIfAborted(signal);
  const out: PeekedEntry[] = [];
  let at = 0;
  for (let i = 0; i < cd.entries; i++) {
    if (at + CD_HEADER_SIZE > buf.length || buf.readUInt32LE(at) !== 0x02014b50) corrupt(source, `no central directory record #${i + 1} at offset ${cd.start + at}`);
    const nameLength = buf.readUInt16LE(at + 28);
    const extraLength = buf.readUInt16LE(at + 30);
    const commentLength = buf.readUInt16LE(at + 32);
    const end = at + CD_HEADER_SIZE + nameLength + extraLength + commentLength;
    if (end > buf.length) corrupt(source, `central directory record #${i + 1} runs past the central directory`);
    const flags = buf.readUInt16LE(at + 8);
    const nameStart = at + CD_HEADER_SIZE;
    const name = decodeName(buf, nameStart, nameLength, flags, extraLength);
    if (select(name)) out.push(describe(source, buf, at, name, cd));
    at = end;
  }
  return out;
}

/** Options of `readPeekedEntry`. */
export interface ReadPeekedOptions {
  /** Largest inflated size accepted (default 16 MiB). */
  maxBytes?: number;
  signal?: AbortSignal;
}

/** The whole inflated content of an entry found by `peekEntries`, verified (local header, size, CRC). */
export async function readPeekedEntry(source: RandomAccessSource, entry: PeekedEntry, options: ReadPeekedOptions = {}): Promise<Buffer> {
  const signal = options.signal;
  const info = INTERNAL.get(entry);
  if (!info) throw new InvalidInputError(`${source.name}: entry ${entry.name} was not returned by peekEntries for this source.`, { code: "ERR_NO_SUCH_ENTRY" });
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_READ;
  if (entry.uncompressedSize > maxBytes) {
    throw new InvalidInputError(`${source.name}: entry ${entry.name} is ${entry.uncompressedSize} bytes, more than the ${maxBytes}-byte limit; raise maxBytes.`, { code: "ERR_ENTRY_TOO_LARGE" });
  }
  if (entry.method !== 0 && entry.method !== 8) {
    throw new IntegrityError(`${source.name}: entry ${entry.name} uses compression method ${entry.method}; only stored (0) and deflate (8) are supported.`, { code: "ERR_UNSUPPORTED_ZIP" });
  }
  throwIfAborted(signal);
  const offset = entry.localHeaderOffset;
  // One read usually covers the header (its extra field is rarely longer than the central one + 64) and the data.
  const guess = LOCAL_HEADER_SIZE + info.nameRaw.length + info.extraLength + 64 + entry.compressedSize;
  let buf = await source.read(offset, Math.min(guess, info.limit - offset), signal);
  if (buf.length < LOCAL_HEADER_SIZE || buf.readUInt32LE(0) !== 0x04034b50) {
    throw new IntegrityError(`${source.name}: entry ${entry.name}: no local header at offset ${offset}; the archive is corrupt.`, { code: "ERR_HEADER_MISMATCH" });
  }
  const headerSize = LOCAL_HEADER_SIZE + buf.readUInt16LE(26) + buf.readUInt16LE(28);
  if (offset + headerSize + entry.compressedSize > info.limit) {
    throw new IntegrityError(`${source.name}: entry ${entry.name}: its data runs into the central directory; the archive is corrupt or crafted.`, { code: "ERR_OVERLAPPING_ENTRIES" });
  }
  if (buf.length < headerSize + entry.compressedSize) buf = await source.read(offset, headerSize + entry.compressedSize, signal);
  checkLocalHeader(source.name, entry, info.nameRaw, buf.subarray(0, headerSize));
  const stored = buf.subarray(headerSize, headerSize + entry.compressedSize);
  let data: Buffer = stored;
  if (entry.method === 8) {
    try {
      const limit = { maxOutputLength: Math.max(1, entry.uncompressedSize + 1) };
      // Small entries (METADATA) inflate faster in place than through the thread pool's stream machinery.
      data = entry.compressedSize <= SYNC_INFLATE_MAX ? zlib.inflateRawSync(stored, limit) : await inflateRaw(stored, limit);
    } catch (err) {
      throw new IntegrityError(`${source.name}: entry ${entry.name} does not inflate (${(err as Error).message}); the data is corrupt or its size lies.`, { cause: err, code: "ERR_CORRUPT_ENTRY" });
    }
  }
  if (data.length !== entry.uncompressedSize) {
    throw new IntegrityError(`${source.name}: entry ${entry.name} has ${data.length}${data.length > entry.uncompressedSize ? "+" : ""} bytes, its header declares ${entry.uncompressedSize}; the sizes lie.`, { code: "ERR_SIZE_MISMATCH" });
  }
  const crc = crc32(data) >>> 0;
  if (crc !== entry.crc32 >>> 0) {
    throw new IntegrityError(`${source.name}: entry ${entry.name} has CRC ${hex(crc)}, its header declares ${hex(entry.crc32)}; the data is corrupt.`, { code: "ERR_CRC_MISMATCH" });
  }
  // A copy: a stored entry's bytes are a view of a read buffer (an HTTP tail is shared).
  return Buffer.from(data);
}

// ---------------------------------------------------------------------------------------

const DEFAULT_MAX_ENTRIES = 1_000_000;
const DEFAULT_MAX_CD = 64 * 1024 * 1024;
const DEFAULT_MAX_READ = 16 * 1024 * 1024;
const CD_HEADER_SIZE = 46;
const EOCD_SIZE = 22;
/** Deflate cannot expand data by more than ~1032:1; a declared ratio above this is a lie. */
const MAX_DEFLATE_RATIO = 1040;
const inflateRaw = promisify(zlib.inflateRaw);
const SYNC_INFLATE_MAX = 1024 * 1024;

interface CentralDirectory {
  /** Absolute offset of the first record in the source. */
  start: number;
  size: number;
  entries: number;
  /** Bytes before the zip's own offset 0 (a prefix glued on without fixing offsets). */
  shift: number;
}

/** What reading an entry needs beyond the public fields; kept out of the public object. */
const INTERNAL = new WeakMap<PeekedEntry, { nameRaw: Buffer; extraLength: number; limit: number }>();

/**
 * Finds the end of central directory record (and the ZIP64 one when present) in the last
 * 64 KiB, as Python's zipfile does, including the shift of an archive glued after a prefix.
 */
async function locateCentralDirectory(source: RandomAccessSource, signal?: AbortSignal): Promise<CentralDirectory> {
  const tailLength = Math.min(source.size, EOCD_SIZE + 20 + 0xffff);
  if (tailLength < EOCD_SIZE) notAZip(source, "it is too short to be a zip archive");
  const tailStart = source.size - tailLength;
  const tail = await source.read(tailStart, tailLength, signal);
  let i = tail.length - EOCD_SIZE;
  for (; i >= 0; i--) if (tail.readUInt32LE(i) === 0x06054b50 && tail.readUInt16LE(i + 20) === tail.length - i - EOCD_SIZE) break;
  if (i < 0) notAZip(source, "no end of central directory record");
  const eocd = tailStart + i;
  if (tail.readUInt16LE(i + 4) !== 0 || tail.readUInt16LE(i + 6) !== 0) throw new IntegrityError(`${source.name}: multi-disk archives are not supported.`, { code: "ERR_UNSUPPORTED_ZIP" });
  let entries = tail.readUInt16LE(i + 10);
  let size = tail.readUInt32LE(i + 12);
  let offset = tail.readUInt32LE(i + 16);
  let cdEnd = eocd;
  if (i >= 20 && tail.readUInt32LE(i - 20) === 0x07064b50) {
    // ZIP64: the 56-byte ZIP64 end record sits right before the locator (a prefix does not move it relative to the locator).
    const recordAt = eocd - 20 - 56;
    if (recordAt < 0) corrupt(source, "a ZIP64 locator without room for the ZIP64 end record");
    const record = recordAt >= tailStart ? tail.subarray(recordAt - tailStart, recordAt - tailStart + 56) : await source.read(recordAt, 56, signal);
    if (record.readUInt32LE(0) !== 0x06064b50) corrupt(source, "no ZIP64 end of central directory record before its locator");
    entries = u64(record, 32);
    size = u64(record, 40);
    offset = u64(record, 48);
    cdEnd = recordAt;
  }
  const shift = cdEnd - (offset + size);
  if (shift < 0) corrupt(source, `the central directory (${size} bytes at ${offset}) runs past its end record`);
  return { start: offset + shift, size, entries, shift };
}

function describe(source: RandomAccessSource, buf: Buffer, at: number, name: string, cd: CentralDirectory): PeekedEntry {
  const reason = unsafeReason(name);
  if (reason) throw new IntegrityError(`${source.name}: entry ${JSON.stringify(name)} is unsafe: ${reason}. The archive was rejected.`, { code: "ERR_UNSAFE_ENTRY_NAME" });
  const flags = buf.readUInt16LE(at + 8);
  if (flags & 0x1) throw new IntegrityError(`${source.name}: entry ${name} is encrypted; encrypted archives are not supported.`, { code: "ERR_UNSUPPORTED_ZIP" });
  const nameLength = buf.readUInt16LE(at + 28);
  const extraLength = buf.readUInt16LE(at + 30);
  let uncompressedSize = buf.readUInt32LE(at + 24);
  let compressedSize = buf.readUInt32LE(at + 20);
  let localHeaderOffset = buf.readUInt32LE(at + 42);
  if (uncompressedSize === 0xffffffff || compressedSize === 0xffffffff || localHeaderOffset === 0xffffffff) {
    const extra = buf.subarray(at + CD_HEADER_SIZE + nameLength, at + CD_HEADER_SIZE + nameLength + extraLength);
    const zip64 = yauzl.parseExtraFields(extra).find((f) => f.id === 0x0001);
    if (!zip64) corrupt(source, `entry ${name} has ZIP64 sizes without a ZIP64 extra field`);
    let p = 0;
    const read64 = () => {
      if (p + 8 > zip64!.data.length) corrupt(source, `entry ${name} has a short ZIP64 extra field`);
      const v = u64(zip64!.data, p);
      p += 8;
      return v;
    };
    if (uncompressedSize === 0xffffffff) uncompressedSize = read64();
    if (compressedSize === 0xffffffff) compressedSize = read64();
    if (localHeaderOffset === 0xffffffff) localHeaderOffset = read64();
  }
  const method = buf.readUInt16LE(at + 10);
  if (method === 8 && uncompressedSize > compressedSize * MAX_DEFLATE_RATIO + 1024) {
    throw new IntegrityError(`${source.name}: entry ${name} declares ${uncompressedSize} bytes from ${compressedSize} compressed, beyond what deflate can produce; the sizes lie.`, { code: "ERR_SIZE_MISMATCH" });
  }
  const absolute = localHeaderOffset + cd.shift;
  // Entry data precedes the central directory; this also bounds every read of the entry.
  if (absolute + LOCAL_HEADER_SIZE + nameLength + compressedSize > cd.start) {
    throw new IntegrityError(`${source.name}: entry ${name} (at ${absolute}, ${compressedSize} bytes) overlaps the central directory; the archive is corrupt or crafted.`, { code: "ERR_OVERLAPPING_ENTRIES" });
  }
  const entry: PeekedEntry = { name, method, crc32: buf.readUInt32LE(at + 16), compressedSize, uncompressedSize, localHeaderOffset: absolute };
  INTERNAL.set(entry, { nameRaw: Buffer.from(buf.subarray(at + CD_HEADER_SIZE, at + CD_HEADER_SIZE + nameLength)), extraLength, limit: cd.start });
  return entry;
}

/** ASCII names (nearly all) decode directly; others as ZipReader does (UTF-8 flag, Info-ZIP Unicode path, else CP437). */
function decodeName(buf: Buffer, start: number, length: number, flags: number, extraLength: number): string {
  const end = start + length;
  let ascii = true;
  for (let k = start; k < end; k++) {
    if (buf[k]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return buf.toString("latin1", start, end);
  const extra = yauzl.parseExtraFields(buf.subarray(end, end + extraLength));
  return yauzl.getFileNameLowLevel(flags, buf.subarray(start, end), extra, true);
}

function corrupt(source: RandomAccessSource, what: string): never {
  throw new IntegrityError(`${source.name}: corrupt central directory: ${what}.`, { code: "ERR_CORRUPT_ZIP" });
}

function notAZip(source: RandomAccessSource, what: string): never {
  throw new IntegrityError(`${source.name}: not a readable zip archive (${what}). Check that the file is a complete zip/wheel/PEX.`, { code: "ERR_NOT_A_ZIP" });
}

