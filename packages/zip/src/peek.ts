import { IntegrityError, InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import type { RandomAccessSource } from "./source";
import { describeEntry, locateCentralDirectory, walkCentralDirectory, type CentralDirectoryLocation } from "./directory";
import { checkLocalHeader, checkMethod, decodeEntryName, inflateVerified, LOCAL_HEADER_SIZE, parseLocalHeader, type CentralHeader } from "./records";

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
  const cd = await locateCentralDirectory(source, signal);
  const maxCd = options.maxCentralDirectorySize ?? DEFAULT_MAX_CD;
  if (cd.size > maxCd) {
    throw new IntegrityError(`${source.name}: the central directory is ${cd.size} bytes, more than the limit of ${maxCd}.`, { code: "ERR_ARCHIVE_TOO_LARGE", hint: "raise maxCentralDirectorySize if the archive is trusted." });
  }
  const out: PeekedEntry[] = [];
  await walkCentralDirectory(
    source,
    cd,
    (buf, h) => {
      const name = decodeEntryName(buf, h);
      if (select(name)) out.push(describe(source, buf, h, name, cd));
    },
    { signal, maxEntries: options.maxEntries ?? DEFAULT_MAX_ENTRIES },
  );
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
    throw new InvalidInputError(`${source.name}: entry ${entry.name} is ${entry.uncompressedSize} bytes, more than the ${maxBytes}-byte limit.`, { code: "ERR_ENTRY_TOO_LARGE", hint: "raise maxBytes." });
  }
  checkMethod(source.name, entry);
  throwIfAborted(signal);
  const offset = entry.localHeaderOffset;
  // One read usually covers the header (its extra field is rarely longer than the central one + 64) and the data.
  const guess = LOCAL_HEADER_SIZE + info.nameRaw.length + info.extraLength + 64 + entry.compressedSize;
  let buf = await source.read(offset, Math.min(guess, info.limit - offset), signal);
  let h = parseLocalHeader(buf);
  if (!h) throw new IntegrityError(`${source.name}: entry ${entry.name}: no local header at offset ${offset}; the archive is corrupt.`, { code: "ERR_HEADER_MISMATCH" });
  const headerSize = h.size;
  if (offset + headerSize + entry.compressedSize > info.limit) {
    throw new IntegrityError(`${source.name}: entry ${entry.name}: its data runs into the central directory; the archive is corrupt or crafted.`, { code: "ERR_OVERLAPPING_ENTRIES" });
  }
  if (buf.length < headerSize + entry.compressedSize) {
    buf = await source.read(offset, headerSize + entry.compressedSize, signal);
    h = parseLocalHeader(buf)!;
  }
  checkLocalHeader(source.name, entry, info.nameRaw, h, buf);
  return inflateVerified(source.name, entry, buf.subarray(headerSize, headerSize + entry.compressedSize));
}

// ---------------------------------------------------------------------------------------

const DEFAULT_MAX_ENTRIES = 1_000_000;
const DEFAULT_MAX_CD = 64 * 1024 * 1024;
const DEFAULT_MAX_READ = 16 * 1024 * 1024;

/** What reading an entry needs beyond the public fields; kept out of the public object. */
const INTERNAL = new WeakMap<PeekedEntry, { nameRaw: Buffer; extraLength: number; limit: number }>();

function describe(source: RandomAccessSource, buf: Buffer, h: CentralHeader, name: string, cd: CentralDirectoryLocation): PeekedEntry {
  const d = describeEntry(source.name, buf, h, name);
  const absolute = d.localHeaderOffset + cd.shift;
  // Entry data precedes the central directory; this also bounds every read of the entry.
  if (absolute + LOCAL_HEADER_SIZE + h.nameLength + d.compressedSize > cd.start) {
    throw new IntegrityError(`${source.name}: entry ${name} (at ${absolute}, ${d.compressedSize} bytes) overlaps the central directory; the archive is corrupt or crafted.`, { code: "ERR_OVERLAPPING_ENTRIES" });
  }
  const entry: PeekedEntry = { name, method: d.method, crc32: d.crc32, compressedSize: d.compressedSize, uncompressedSize: d.uncompressedSize, localHeaderOffset: absolute };
  INTERNAL.set(entry, { nameRaw: Buffer.from(buf.subarray(h.nameStart, h.nameStart + h.nameLength)), extraLength: h.extraLength, limit: cd.start });
  return entry;
}
