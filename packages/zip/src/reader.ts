import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import zlib from "node:zlib";
import { PassThrough, Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import yauzl from "yauzl";
import { AbortError, ClusterPackError, IntegrityError, InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { S_IFDIR, S_IFLNK, S_IFMT, crc32, entryKey, normalizeMode, unsafeReason } from "./names";
import { fileSource, withSignal, type RandomAccessSource } from "./source";
import { LOCAL_HEADER_SIZE, checkLocalHeader, hex } from "./local-header";

/** One entry of an archive, as its central directory describes it. */
export interface ZipEntry {
  name: string;
  isDirectory: boolean;
  isSymlink: boolean;
  /** 0 stored, 8 deflate. Others are listed but cannot be read. */
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  /** Unix mode including type bits, 0 when the archive was not made on Unix. */
  mode: number;
  /** Absolute offset of the local header in the source (prefix included). */
  localHeaderOffset: number;
}

/** Limits for untrusted archives. */
export interface ZipReadOptions {
  /** Most entries accepted (default 1,000,000). Checked before any entry is read. */
  maxEntries?: number;
  /** Largest declared uncompressed size of one entry (default 16 GiB). */
  maxEntrySize?: number;
  /** Largest sum of declared uncompressed sizes (default 64 GiB). */
  maxTotalSize?: number;
  signal?: AbortSignal;
  /** Keep the source open on close() (default: close it). */
  keepSourceOpen?: boolean;
}

/** Options of `ZipReader.extractTo`. */
export interface ExtractOptions {
  signal?: AbortSignal;
  /** Only entries for which this returns true are extracted. */
  filter?: (entry: ZipEntry) => boolean;
  /** Only entries under this directory prefix are extracted, with the prefix removed. */
  stripPrefix?: string;
  /** A symlink that would point outside the target: "error" (default) or "skip" it. */
  unsafeSymlinks?: "error" | "skip";
  /** Files written at once (default 4). */
  concurrency?: number;
}

const DEFAULT_MAX_ENTRIES = 1_000_000;
const DEFAULT_MAX_ENTRY_SIZE = 16 * 1024 ** 3;
const DEFAULT_MAX_TOTAL_SIZE = 64 * 1024 ** 3;
const DEFAULT_MAX_READ_BYTES = 256 * 1024 * 1024;
/** Deflate cannot expand data by more than ~1032:1; a declared ratio above this is a lie. */
const MAX_DEFLATE_RATIO = 1040;
const CD_HEADER_SIZE = 46;
/** Entries this small are fetched together with their local header (one read, one HTTP request). */
const SMALL_ENTRY = 256 * 1024;
const RAW_CHUNK = 1 << 20;
const SYNC_CHUNK = 4 << 20;
const RAW_READS_IN_FLIGHT = 4;
const inflateRaw = promisify(zlib.inflateRaw);

interface EntryRecord {
  raw: yauzl.Entry;
  /** The byte after which this entry's data must end (next local header or central directory). */
  limit: number;
}

/**
 * Reads a zip archive through any RandomAccessSource, built on yauzl's
 * `fromRandomAccessReader`. Untrusted input is checked up front (names, duplicates,
 * counts, declared sizes, overlapping entries) and while reading (local header against
 * central directory, real sizes, CRC). Memory stays bounded: the central directory is
 * read through a small window cache and entry data is streamed.
 */
export class ZipReader {
  /** Entries in central directory order. */
  readonly entries: readonly ZipEntry[];
  /** Bytes before the zip's first local header (e.g. a PEX's shebang line). */
  readonly prefixLength: number;
  /** The archive comment (decoded as UTF-8). */
  readonly comment: string;
  readonly source: RandomAccessSource;

  private readonly zipfile: yauzl.ZipFile;
  private readonly reader: SourceReader;
  private readonly records: WeakMap<ZipEntry, EntryRecord>;
  private readonly byName: Map<string, ZipEntry>;
  private readonly closeSource: boolean;
  private closed = false;

  private constructor(init: { source: RandomAccessSource; reader: SourceReader; zipfile: yauzl.ZipFile; entries: ZipEntry[]; records: WeakMap<ZipEntry, EntryRecord>; byName: Map<string, ZipEntry>; prefixLength: number; comment: string; closeSource: boolean }) {
    this.source = init.source;
    this.zipfile = init.zipfile;
    this.reader = init.reader;
    this.entries = init.entries;
    this.records = init.records;
    this.byName = init.byName;
    this.prefixLength = init.prefixLength;
    this.comment = init.comment;
    this.closeSource = init.closeSource;
  }

  /** Opens an archive (a path opens a local file) and validates its central directory. */
  static async open(source: RandomAccessSource | string, options: ZipReadOptions = {}): Promise<ZipReader> {
    const src = typeof source === "string" ? await fileSource(source) : source;
    const closeSource = typeof source === "string" || !options.keepSourceOpen;
    try {
      return await openReader(src, options, closeSource);
    } catch (err) {
      if (closeSource) await src.close?.().catch(() => undefined);
      throw err;
    }
  }

  /** The entry with exactly this name (directories end with "/"), or undefined. */
  getEntry(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /** The whole inflated content of an entry, verified (size and CRC). Capped at `maxBytes` (default 256 MiB). */
  async readEntry(entry: ZipEntry | string, options: { maxBytes?: number; signal?: AbortSignal } = {}): Promise<Buffer> {
    const e = this.resolve(entry);
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_READ_BYTES;
    if (e.uncompressedSize > maxBytes) {
      throw new InvalidInputError(`${this.source.name}: entry ${e.name} is ${e.uncompressedSize} bytes, more than the ${maxBytes}-byte limit for readEntry; use openEntryStream or raise maxBytes.`, { code: "ERR_ENTRY_TOO_LARGE" });
    }
    checkMethod(this.source.name, e);
    const located = await this.locate(e, options.signal);
    if (located.data) {
      // Small entries arrive with their header in one read: inflate in one call, no streams.
      let out = located.data;
      if (e.method === 8) {
        try {
          out = await inflateRaw(located.data, { maxOutputLength: Math.max(1, e.uncompressedSize + 1) });
        } catch (err) {
          throw new IntegrityError(`${this.source.name}: entry ${e.name} does not inflate (${(err as Error).message}); the data is corrupt or its size lies.`, { cause: err, code: "ERR_CORRUPT_ENTRY" });
        }
      }
      verifyWhole(this.source.name, e, out);
      return Buffer.from(out);
    }
    const stream = await this.openEntryStream(e, options);
    const chunks: Buffer[] = [];
    for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks, e.uncompressedSize);
  }

  /** The inflated content as a stream; it errors (IntegrityError) if the size or CRC do not match at the end. */
  async openEntryStream(entry: ZipEntry | string, options: { signal?: AbortSignal } = {}): Promise<Readable> {
    const e = this.resolve(entry);
    checkMethod(this.source.name, e);
    const data = await this.openData(e, e.method === 8, options.signal);
    const check = new VerifyStream(e, this.source.name);
    // pipeline-style forwarding: an error on either side reaches the consumer once.
    data.on("error", (err) => check.destroy(this.wrapError(err, e)));
    check.on("close", () => data.destroy());
    data.pipe(check);
    return withSignal(check, options.signal);
  }

  /** The entry's bytes exactly as stored (compressed for method 8). Length is checked, content is not. */
  async openRawStream(entry: ZipEntry | string, options: { signal?: AbortSignal } = {}): Promise<Readable> {
    const e = this.resolve(entry);
    const data = await this.openData(e, false, options.signal);
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    data.on("error", (err) => out.destroy(this.wrapError(err, e)));
    out.on("close", () => data.destroy());
    data.pipe(out);
    return withSignal(out, options.signal);
  }

  /**
   * Extracts into `dir`, which must not exist or be empty. Everything is written into a
   * temporary directory beside `dir` and renamed into place at the end, so `dir` either
   * does not appear or is complete; the temporary directory is removed on failure or
   * abort. Files get 0644 or 0755 (any x bit), directories 0755. Symlinks are created
   * last and only when they resolve inside `dir`, so nothing is ever written through one.
   */
  async extractTo(dir: string, options: ExtractOptions = {}): Promise<void> {
    await extract(this, dir, options);
  }

  /** Releases the central directory and closes the source (unless `keepSourceOpen`). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.zipfile.close();
    if (this.closeSource) await this.source.close?.();
  }

  // ---- internals shared with the writer (raw copies) and extraction ----

  /** @internal */
  resolve(entry: ZipEntry | string): ZipEntry {
    if (this.closed) throw new ClusterPackError("ERR_CLOSED", `${this.source.name}: the ZipReader is closed.`);
    const e = typeof entry === "string" ? this.byName.get(entry) : entry;
    if (!e || !this.records.has(e)) {
      const what = typeof entry === "string" ? entry : entry.name;
      throw new InvalidInputError(`${this.source.name}: no entry named ${JSON.stringify(what)} in this archive.`, { code: "ERR_NO_SUCH_ENTRY" });
    }
    return e;
  }

  /**
   * @internal The entry's stored bytes as plain buffers (no streams): used by raw copies,
   * where per-entry stream set-up would cost more than the copy of a small entry.
   */
  async *rawChunks(entry: ZipEntry, signal?: AbortSignal): AsyncGenerator<Buffer> {
    const located = await this.locate(entry, signal);
    if (located.data) {
      yield located.data;
      return;
    }
    const end = located.dataStart + entry.compressedSize;
    if (this.reader.source.readSync) {
      // Local file: synchronous reads from the page cache (see RandomAccessSource.readSync).
      for (let at = located.dataStart; at < end; at += SYNC_CHUNK) {
        throwIfAborted(signal);
        yield this.reader.source.readSync(at, Math.min(SYNC_CHUNK, end - at));
      }
      return;
    }
    // Keep a few reads in flight so the copy is not one read latency per MiB.
    const pending: Array<Promise<Buffer>> = [];
    let at = located.dataStart;
    const refill = () => {
      while (pending.length < RAW_READS_IN_FLIGHT && at < end) {
        const n = Math.min(RAW_CHUNK, end - at);
        const p = this.reader.source.read(at, n, signal);
        p.catch(() => undefined); // observed when its turn comes
        pending.push(p);
        at += n;
      }
    };
    try {
      refill();
      while (pending.length) {
        throwIfAborted(signal);
        const chunk = await pending.shift()!;
        refill();
        yield chunk;
      }
    } finally {
      await Promise.allSettled(pending);
    }
  }

  /**
   * @internal Reads and checks the local header (one read that, for a small entry, also
   * brings its data). The data is returned when it came with the header.
   */
  async locate(e: ZipEntry, signal?: AbortSignal): Promise<{ dataStart: number; data?: Buffer }> {
    throwIfAborted(signal);
    const record = this.records.get(e)!;
    const offset = record.raw.relativeOffsetOfLocalHeader;
    const headerGuess = LOCAL_HEADER_SIZE + record.raw.fileNameLength + record.raw.extraFieldLength + 64;
    const want = headerGuess + (e.compressedSize <= SMALL_ENTRY ? e.compressedSize : 0);
    let buf = await this.reader.prefetch(offset, Math.min(want, record.limit - offset), this.source.size, signal);
    if (buf.length < LOCAL_HEADER_SIZE || buf.readUInt32LE(0) !== 0x04034b50) {
      throw new IntegrityError(`${this.source.name}: entry ${e.name}: no local header at offset ${offset}; the archive is corrupt.`, { code: "ERR_HEADER_MISMATCH" });
    }
    const nameLength = buf.readUInt16LE(26);
    const extraLength = buf.readUInt16LE(28);
    const headerSize = LOCAL_HEADER_SIZE + nameLength + extraLength;
    if (offset + headerSize > record.limit) {
      throw new IntegrityError(`${this.source.name}: entry ${e.name}: its local header runs into the next entry; overlapping entries are rejected.`, { code: "ERR_OVERLAPPING_ENTRIES" });
    }
    if (buf.length < headerSize) buf = await this.reader.prefetch(offset, headerSize, this.source.size, signal);
    checkLocalHeader(this.source.name, e, record.raw.fileNameRaw as unknown as Buffer, buf.subarray(0, headerSize));
    const dataStart = offset + headerSize;
    if (dataStart + e.compressedSize > record.limit) {
      throw new IntegrityError(`${this.source.name}: entry ${e.name}: its data runs past the next entry or the central directory; overlapping entries are rejected.`, { code: "ERR_OVERLAPPING_ENTRIES" });
    }
    if (headerSize + e.compressedSize <= buf.length) return { dataStart, data: buf.subarray(headerSize, headerSize + e.compressedSize) };
    return { dataStart };
  }

  /**
   * @internal The source range (in the coordinates of readSpan) that holds the entry's
   * local header and data, assuming a local extra field of the usual size.
   */
  rawSpan(e: ZipEntry): { start: number; end: number } {
    const record = this.records.get(e)!;
    const start = record.raw.relativeOffsetOfLocalHeader;
    const guess = LOCAL_HEADER_SIZE + record.raw.fileNameLength + record.raw.extraFieldLength + 64 + e.compressedSize;
    return { start, end: Math.min(start + guess, record.limit) };
  }

  /** @internal One read of a range of the archive (for raw copies of many small entries at once). */
  readSpan(start: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    throwIfAborted(signal);
    return this.reader.source.read(start, length, signal);
  }

  /** @internal readSpan done synchronously when the source can (local files), else undefined. */
  readSpanSync(start: number, length: number, into?: Buffer): Buffer | undefined {
    const src = this.reader.source;
    return src.readSync ? src.readSync(start, length, into) : undefined;
  }

  /** @internal True when readSpanSync works. */
  get syncReads(): boolean {
    return !!this.reader.source.readSync;
  }

  /**
   * @internal locate() for an entry inside a buffer read with readSpan (starting at
   * `bufStart`): the same local-header checks, synchronously. Returns the entry's stored
   * bytes, or undefined when the buffer does not hold all of them.
   */
  locateIn(e: ZipEntry, buf: Buffer, bufStart: number): Buffer | undefined {
    const record = this.records.get(e)!;
    const offset = record.raw.relativeOffsetOfLocalHeader;
    const at = offset - bufStart;
    if (at < 0 || at + LOCAL_HEADER_SIZE > buf.length) return undefined;
    if (buf.readUInt32LE(at) !== 0x04034b50) {
      throw new IntegrityError(`${this.source.name}: entry ${e.name}: no local header at offset ${offset}; the archive is corrupt.`, { code: "ERR_HEADER_MISMATCH" });
    }
    const headerSize = LOCAL_HEADER_SIZE + buf.readUInt16LE(at + 26) + buf.readUInt16LE(at + 28);
    if (offset + headerSize > record.limit) {
      throw new IntegrityError(`${this.source.name}: entry ${e.name}: its local header runs into the next entry; overlapping entries are rejected.`, { code: "ERR_OVERLAPPING_ENTRIES" });
    }
    if (offset + headerSize + e.compressedSize > record.limit) {
      throw new IntegrityError(`${this.source.name}: entry ${e.name}: its data runs past the next entry or the central directory; overlapping entries are rejected.`, { code: "ERR_OVERLAPPING_ENTRIES" });
    }
    if (at + headerSize + e.compressedSize > buf.length) return undefined;
    checkLocalHeader(this.source.name, e, record.raw.fileNameRaw as unknown as Buffer, buf.subarray(at, at + headerSize));
    return buf.subarray(at + headerSize, at + headerSize + e.compressedSize);
  }

  private async openData(e: ZipEntry, inflate: boolean, signal?: AbortSignal): Promise<Readable> {
    const { dataStart } = await this.locate(e, signal);
    throwIfAborted(signal);
    return await new Promise<Readable>((resolve, reject) =>
      this.zipfile.openReadStreamLowLevel(dataStart, e.compressedSize, 0, e.compressedSize, inflate, e.uncompressedSize, (err, stream) =>
        err ? reject(this.wrapError(err, e)) : resolve(stream),
      ),
    );
  }

  private wrapError(err: unknown, e: ZipEntry): Error {
    if (err instanceof ClusterPackError) return err;
    if ((err as Error)?.name === "AbortError") return new AbortError(undefined, { cause: err });
    return new IntegrityError(`${this.source.name}: entry ${e.name} is corrupt: ${(err as Error).message}.`, { cause: err, code: "ERR_CORRUPT_ENTRY" });
  }
}

// ---------------------------------------------------------------------------------------
// Opening

async function openReader(src: RandomAccessSource, options: ZipReadOptions, closeSource: boolean): Promise<ZipReader> {
  const signal = options.signal;
  throwIfAborted(signal);
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const maxEntrySize = options.maxEntrySize ?? DEFAULT_MAX_ENTRY_SIZE;
  const maxTotalSize = options.maxTotalSize ?? DEFAULT_MAX_TOTAL_SIZE;
  // Archives glued after a prefix without fixing their offsets (`cat stub app.zip`) are
  // read like Python's zipfile and zipimport do: through a view shifted by the prefix.
  const probe = new SourceReader(src, signal);
  const shift = await archiveShift(probe, src);
  const reader = shift > 0 ? new SourceReader(shiftedSource(src, shift), signal) : probe;
  const zipfile = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.fromRandomAccessReader(reader, reader.source.size, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true }, (err, zf) =>
      err ? reject(notAZip(src, err)) : resolve(zf),
    ),
  );
  try {
    const centralDirectoryOffset = zipfile.readEntryCursor as unknown as number;
    if (zipfile.entryCount > maxEntries) {
      throw new IntegrityError(`${src.name}: the archive declares ${zipfile.entryCount} entries, more than the limit of ${maxEntries}; raise maxEntries if it is trusted.`, { code: "ERR_TOO_MANY_ENTRIES" });
    }
    if (centralDirectoryOffset + zipfile.entryCount * CD_HEADER_SIZE > src.size) {
      throw new IntegrityError(`${src.name}: the archive declares ${zipfile.entryCount} entries but its central directory cannot hold them (truncated or corrupt).`, { code: "ERR_CORRUPT_ZIP" });
    }
    const entries: ZipEntry[] = [];
    const raws: yauzl.Entry[] = [];
    const byName = new Map<string, ZipEntry>();
    const byKey = new Map<string, string>();
    let total = 0;
    await walkEntries(zipfile, src, signal, (raw) => {
      const e = describe(src, raw, shift);
      if (e.uncompressedSize > maxEntrySize) {
        throw new IntegrityError(`${src.name}: entry ${e.name} declares ${e.uncompressedSize} bytes, more than the limit of ${maxEntrySize}; raise maxEntrySize if it is trusted.`, { code: "ERR_ENTRY_TOO_LARGE" });
      }
      total += e.uncompressedSize;
      if (total > maxTotalSize) {
        throw new IntegrityError(`${src.name}: entries declare more than ${maxTotalSize} bytes in total; raise maxTotalSize if the archive is trusted.`, { code: "ERR_ARCHIVE_TOO_LARGE" });
      }
      const key = entryKey(e.name);
      const previous = byKey.get(key);
      if (previous !== undefined) {
        throw new IntegrityError(`${src.name}: entries ${JSON.stringify(previous)} and ${JSON.stringify(e.name)} name the same path; the archive is ambiguous and was rejected.`, { code: "ERR_DUPLICATE_ENTRY" });
      }
      byKey.set(key, e.name);
      byName.set(e.name, e);
      entries.push(e);
      raws.push(raw);
    });
    const records = layout(src, entries, raws, centralDirectoryOffset);
    reader.forget(); // the central directory's windows (up to 32 MiB) are not needed any more
    let prefixLength = centralDirectoryOffset + shift;
    for (const e of entries) prefixLength = Math.min(prefixLength, e.localHeaderOffset);
    const comment = Buffer.isBuffer(zipfile.comment) ? (zipfile.comment as Buffer).toString("utf8") : String(zipfile.comment ?? "");
    return new (ZipReader as unknown as new (init: unknown) => ZipReader)({ source: src, reader, zipfile, entries, records, byName, prefixLength, comment, closeSource });
  } catch (err) {
    zipfile.close();
    throw err;
  }
}

/** Feeds every central directory record to `onEntry` (which may throw to stop), one listener set for the whole walk. */
function walkEntries(zipfile: yauzl.ZipFile, src: RandomAccessSource, signal: AbortSignal | undefined, onEntry: (raw: yauzl.Entry) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const cleanup = () => {
      zipfile.removeListener("entry", entry);
      zipfile.removeListener("end", end);
      zipfile.removeListener("error", error);
    };
    const fail = (err: unknown) => {
      cleanup();
      reject(err);
    };
    const entry = (raw: yauzl.Entry) => {
      try {
        if (++seen % 1024 === 0) throwIfAborted(signal);
        onEntry(raw);
      } catch (err) {
        return fail(err);
      }
      zipfile.readEntry();
    };
    const end = () => {
      cleanup();
      resolve();
    };
    const error = (err: Error) => fail(err instanceof ClusterPackError ? err : new IntegrityError(`${src.name}: corrupt central directory: ${err.message}.`, { cause: err, code: "ERR_CORRUPT_ZIP" }));
    zipfile.on("entry", entry);
    zipfile.on("end", end);
    zipfile.on("error", error);
    throwIfAborted(signal);
    zipfile.readEntry();
  });
}

function describe(src: RandomAccessSource, raw: yauzl.Entry, shift: number): ZipEntry {
  const nameRaw = raw.fileNameRaw as unknown as Buffer;
  // strict: keep backslashes so they are rejected rather than silently reinterpreted.
  const name = yauzl.getFileNameLowLevel(raw.generalPurposeBitFlag, nameRaw, raw.extraFields, true);
  const reason = unsafeReason(name);
  if (reason) {
    throw new IntegrityError(`${src.name}: entry ${JSON.stringify(name)} is unsafe: ${reason}. The archive was rejected; do not extract it.`, { code: "ERR_UNSAFE_ENTRY_NAME" });
  }
  if (raw.generalPurposeBitFlag & 0x1) {
    throw new IntegrityError(`${src.name}: entry ${name} is encrypted; encrypted archives are not supported.`, { code: "ERR_UNSUPPORTED_ZIP" });
  }
  const madeOnUnix = raw.versionMadeBy >> 8 === 3;
  const mode = madeOnUnix ? (raw.externalFileAttributes >>> 16) & 0xffff : 0;
  const type = mode & S_IFMT;
  const isDirectory = name.endsWith("/") || type === S_IFDIR || (!madeOnUnix && (raw.externalFileAttributes & 0x10) !== 0);
  const isSymlink = !isDirectory && type === S_IFLNK;
  if (raw.compressionMethod === 8 && raw.uncompressedSize > raw.compressedSize * MAX_DEFLATE_RATIO + 1024) {
    throw new IntegrityError(`${src.name}: entry ${name} declares ${raw.uncompressedSize} bytes from ${raw.compressedSize} compressed, beyond what deflate can produce; the sizes lie.`, { code: "ERR_SIZE_MISMATCH" });
  }
  return {
    name,
    isDirectory,
    isSymlink,
    method: raw.compressionMethod,
    crc32: raw.crc32,
    compressedSize: raw.compressedSize,
    uncompressedSize: raw.uncompressedSize,
    mode,
    localHeaderOffset: raw.relativeOffsetOfLocalHeader + shift,
  };
}

/** Checks that entries do not overlap each other or the central directory; returns each entry's data limit. */
function layout(src: RandomAccessSource, entries: ZipEntry[], raws: yauzl.Entry[], centralDirectoryOffset: number): WeakMap<ZipEntry, EntryRecord> {
  // Offsets here are the central directory's (relative to the zip's start, like centralDirectoryOffset).
  const offsets = raws.map((r) => r.relativeOffsetOfLocalHeader);
  const order = entries.map((_, i) => i).sort((a, b) => offsets[a]! - offsets[b]!);
  const records = new WeakMap<ZipEntry, EntryRecord>();
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    const e = entries[i]!;
    const raw = raws[i]!;
    const next = k + 1 < order.length ? offsets[order[k + 1]!]! : centralDirectoryOffset;
    // Lower bound of the entry's extent: its local header cannot be shorter than this.
    const minEnd = offsets[i]! + LOCAL_HEADER_SIZE + raw.fileNameLength + e.compressedSize;
    if (minEnd > next) {
      throw new IntegrityError(`${src.name}: entry ${e.name} (at ${e.localHeaderOffset}, ${e.compressedSize} bytes) overlaps the next entry or the central directory; overlapping entries are a zip-bomb technique and the archive was rejected.`, { code: "ERR_OVERLAPPING_ENTRIES" });
    }
    records.set(e, { raw, limit: next });
  }
  return records;
}

function checkMethod(name: string, e: ZipEntry): void {
  if (e.method !== 0 && e.method !== 8) {
    throw new IntegrityError(`${name}: entry ${e.name} uses compression method ${e.method}; only stored (0) and deflate (8) are supported.`, { code: "ERR_UNSUPPORTED_ZIP" });
  }
}

function verifyWhole(name: string, e: ZipEntry, data: Buffer): void {
  if (data.length !== e.uncompressedSize) {
    throw new IntegrityError(`${name}: entry ${e.name} has ${data.length}${data.length > e.uncompressedSize ? "+" : ""} bytes, its header declares ${e.uncompressedSize}; the sizes lie.`, { code: "ERR_SIZE_MISMATCH" });
  }
  const crc = crc32(data) >>> 0;
  if (crc !== e.crc32 >>> 0) {
    throw new IntegrityError(`${name}: entry ${e.name} has CRC ${hex(crc)}, its header declares ${hex(e.crc32)}; the data is corrupt.`, { code: "ERR_CRC_MISMATCH" });
  }
}

/**
 * How far the zip's own offsets are shifted in the source: 0 for a normal archive or one
 * whose writer accounted for its prefix; the prefix length for `cat prefix app.zip`. Found
 * as Python's zipfile does: where the central directory really ends (the end record, or
 * the ZIP64 end record) minus where the records say it ends. Anything unparseable is left
 * to yauzl, which reports it.
 */
async function archiveShift(reader: SourceReader, src: RandomAccessSource): Promise<number> {
  const tailLength = Math.min(src.size, 22 + 20 + 0xffff);
  if (tailLength < 22) return 0;
  const tail = await reader.prefetch(src.size - tailLength, tailLength, src.size);
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) !== 0x06054b50 || tail.readUInt16LE(i + 20) !== tail.length - i - 22) continue;
    const eocd = src.size - tailLength + i;
    let cdSize = tail.readUInt32LE(i + 12);
    let cdOffset = tail.readUInt32LE(i + 16);
    let cdEnd = eocd;
    if (i >= 20 && tail.readUInt32LE(i - 20) === 0x07064b50) {
      // ZIP64: the ZIP64 end record (56 bytes) sits right before the locator in a plain archive.
      const recordAt = eocd - 20 - 56;
      if (recordAt < 0) return 0;
      const record = await reader.prefetch(recordAt, 56, src.size);
      if (record.readUInt32LE(0) !== 0x06064b50) return 0;
      cdSize = record.readUInt32LE(40) + record.readUInt32LE(44) * 0x100000000;
      cdOffset = record.readUInt32LE(48) + record.readUInt32LE(52) * 0x100000000;
      const recorded = tail.readUInt32LE(i - 12) + tail.readUInt32LE(i - 8) * 0x100000000;
      if (recorded === recordAt) return 0; // the locator's own offset is right: not shifted
      cdEnd = recordAt;
    }
    const shift = cdEnd - cdSize - cdOffset;
    return shift > 0 ? shift : 0;
  }
  return 0;
}

/** `src` seen from byte `shift` on. */
function shiftedSource(src: RandomAccessSource, shift: number): RandomAccessSource {
  return {
    name: src.name,
    size: src.size - shift,
    preferredReadSize: src.preferredReadSize,
    read: (offset, length, signal) => src.read(offset + shift, length, signal),
    createReadStream: src.createReadStream ? (offset, length, signal) => src.createReadStream!(offset + shift, length, signal) : undefined,
    readSync: src.readSync ? (offset, length, into) => src.readSync!(offset + shift, length, into) : undefined,
  };
}

function notAZip(src: RandomAccessSource, err: unknown): Error {
  if (err instanceof ClusterPackError) return err;
  return new IntegrityError(`${src.name}: not a readable zip archive (${(err as Error).message}). Check that the file is a complete zip/wheel/PEX.`, { cause: err, code: "ERR_NOT_A_ZIP" });
}


/** Counts bytes and CRC of the inflated data and fails at the end when they differ from the entry's. */
class VerifyStream extends Transform {
  private crc = 0;
  private size = 0;
  constructor(
    private readonly entry: ZipEntry,
    private readonly sourceName: string,
  ) {
    super({ highWaterMark: 1 << 20 });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.entry.uncompressedSize) {
      cb(new IntegrityError(`${this.sourceName}: entry ${this.entry.name} inflates to more than its declared ${this.entry.uncompressedSize} bytes; the sizes lie.`, { code: "ERR_SIZE_MISMATCH" }));
      return;
    }
    this.crc = crc32(chunk, this.crc);
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    if (this.size !== this.entry.uncompressedSize) {
      cb(new IntegrityError(`${this.sourceName}: entry ${this.entry.name} has ${this.size} bytes, its header declares ${this.entry.uncompressedSize}; the sizes lie.`, { code: "ERR_SIZE_MISMATCH" }));
    } else if (this.crc >>> 0 !== this.entry.crc32 >>> 0) {
      cb(new IntegrityError(`${this.sourceName}: entry ${this.entry.name} has CRC ${hex(this.crc >>> 0)}, its header declares ${hex(this.entry.crc32)}; the data is corrupt.`, { code: "ERR_CRC_MISMATCH" }));
    } else cb();
  }
}

// ---------------------------------------------------------------------------------------
// yauzl adapter: serves yauzl's reads from the source through one window cache, so that
// walking a central directory entry by entry costs a few large reads (and a few HTTP
// requests for a remote wheel), not two tiny reads per entry.

const MIN_WINDOW = 64 * 1024;
const MAX_WINDOW = 4 * 1024 * 1024;
const MAX_WINDOWS = 8;

interface Window {
  start: number;
  end: number;
  data: Promise<Buffer>;
  /** Set once the read completes (lets streams be served synchronously). */
  resolved?: Buffer;
}

class SourceReader extends yauzl.RandomAccessReader {
  /**
   * Most recently used last; at most MAX_WINDOWS windows of at most MAX_WINDOW bytes
   * (bounded memory). Reads in flight are windows too, so concurrent requests for nearby
   * ranges share one read instead of issuing many.
   */
  private windows: Window[] = [];
  private nextSize = MIN_WINDOW;
  private lastMissStart = -1;
  private lastMissEnd = -1;
  /** Bytes read around a local header for local sources (consecutive small entries share a read). */
  readonly readAhead: number;

  constructor(
    readonly source: RandomAccessSource,
    private readonly signal?: AbortSignal,
  ) {
    super();
    this.readAhead = Math.min(source.preferredReadSize ?? 0, MAX_WINDOW);
  }

  override read(buffer: Buffer, offset: number, length: number, position: number, callback: (err: Error | null, bytesRead?: number) => void): void {
    // Fast path for the central directory walk: two tiny reads per entry from a window
    // already in memory, answered in a microtask rather than through promise chains.
    const w = this.find(position, length);
    if (w?.resolved) {
      w.resolved.copy(buffer, offset, position - w.start, position - w.start + length);
      queueMicrotask(() => callback(null, length));
      return;
    }
    this.readAsync(position, length).then(
      (data) => {
        data.copy(buffer, offset);
        callback(null, data.length);
      },
      (err: Error) => callback(err),
    );
  }

  override _readStreamForRange(start: number, end: number): Readable {
    const w = this.find(start, end - start);
    if (w?.resolved) return Readable.from([w.resolved.subarray(start - w.start, end - w.start)]);
    if (this.source.createReadStream) return this.source.createReadStream(start, end - start);
    return chunkedStream(this.source, start, end - start);
  }

  /** Drops every cached window (reads in flight keep their own reference). */
  forget(): void {
    this.windows = [];
  }

  override close(callback: (err: Error | null) => void): void {
    this.windows = [];
    setImmediate(() => callback(null));
  }

  /** This range, read together with up to `readAhead` following bytes (bounded by `limit`). */
  async prefetch(position: number, length: number, limit: number, signal?: AbortSignal): Promise<Buffer> {
    const size = Math.max(length, Math.min(this.readAhead, limit - position));
    return this.range(position, length, size, signal);
  }

  private async readAsync(position: number, length: number): Promise<Buffer> {
    if (!this.find(position, length)) {
      // A miss at the end of the previous miss's window is a sequential walk (the central
      // directory): grow the window fourfold each time, up to MAX_WINDOW.
      const sequential = position > this.lastMissStart && position <= this.lastMissEnd;
      this.nextSize = sequential ? Math.min(this.nextSize * 4, MAX_WINDOW) : MIN_WINDOW;
    }
    const size = Math.min(Math.max(length, this.nextSize), this.source.size - position);
    if (size < length) throw new IntegrityError(`${this.source.name}: unexpected end of archive at byte ${position + size} (truncated).`, { code: "ERR_OUT_OF_BOUNDS" });
    return this.range(position, length, size, this.signal);
  }

  private async range(position: number, length: number, readSize: number, signal?: AbortSignal): Promise<Buffer> {
    let w = this.find(position, length);
    if (!w) {
      throwIfAborted(signal);
      const size = Math.min(readSize, this.source.size - position);
      const created: Window = { start: position, end: position + size, data: this.source.read(position, size, signal) };
      created.data.then(
        (data) => void (created.resolved = data),
        () => void (this.windows = this.windows.filter((x) => x !== created)),
      );
      this.windows.push(created);
      if (this.windows.length > MAX_WINDOWS) this.windows.shift();
      this.lastMissStart = position;
      this.lastMissEnd = position + size;
      w = created;
    }
    const data = await w.data;
    return data.subarray(position - w.start, position - w.start + length);
  }

  private find(position: number, length: number): Window | undefined {
    for (let i = this.windows.length - 1; i >= 0; i--) {
      const w = this.windows[i]!;
      if (position >= w.start && position + length <= w.end) {
        if (i !== this.windows.length - 1) this.windows.push(...this.windows.splice(i, 1));
        return w;
      }
    }
    return undefined;
  }
}

/** A range of a source as a stream of successive reads, for sources without createReadStream. */
function chunkedStream(source: RandomAccessSource, offset: number, length: number, chunk = 1 << 20): Readable {
  let at = offset;
  const end = offset + length;
  return new Readable({
    highWaterMark: chunk,
    read() {
      if (at >= end) {
        this.push(null);
        return;
      }
      const n = Math.min(chunk, end - at);
      const start = at;
      at += n;
      source.read(start, n).then(
        (buf) => this.push(buf),
        (err: Error) => this.destroy(err),
      );
    },
  });
}

// ---------------------------------------------------------------------------------------
// Extraction

async function extract(reader: ZipReader, dir: string, options: ExtractOptions): Promise<void> {
  const signal = options.signal;
  throwIfAborted(signal);
  const target = path.resolve(dir);
  const existing = await fs.promises.readdir(target).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw new InvalidInputError(`Cannot extract into ${target}: ${err.message}.`, { cause: err, code: "ERR_TARGET" });
  });
  if (existing && existing.length > 0) {
    throw new InvalidInputError(`Cannot extract ${reader.source.name} into ${target}: the directory is not empty. Choose a new or empty directory.`, { code: "ERR_TARGET_NOT_EMPTY" });
  }
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  const temp = await fs.promises.mkdtemp(path.join(path.dirname(target), `.${path.basename(target)}.tmp-`));
  try {
    const prefix = options.stripPrefix ? options.stripPrefix.replace(/\/*$/, "/") : "";
    const jobs: Array<{ entry: ZipEntry; rel: string }> = [];
    for (const entry of reader.entries) {
      if (options.filter && !options.filter(entry)) continue;
      if (prefix && !entry.name.startsWith(prefix)) continue;
      const rel = entryKey(entry.name.slice(prefix.length));
      if (rel === "") continue;
      jobs.push({ entry, rel });
    }
    // Directories first (sorted, so parents before children), then files, then symlinks.
    const dirs = jobs.filter((j) => j.entry.isDirectory).sort((a, b) => (a.rel < b.rel ? -1 : 1));
    for (const { rel } of dirs) {
      throwIfAborted(signal);
      await fs.promises.mkdir(path.join(temp, rel), { recursive: true, mode: 0o755 });
    }
    const files = jobs.filter((j) => !j.entry.isDirectory && !j.entry.isSymlink);
    await forEachLimit(files, options.concurrency ?? 4, async ({ entry, rel }) => {
      throwIfAborted(signal);
      const dest = path.join(temp, rel);
      await fs.promises.mkdir(path.dirname(dest), { recursive: true, mode: 0o755 });
      const input = await reader.openEntryStream(entry, { signal });
      const mode = normalizeMode(entry.mode, "file") & 0o777;
      // "wx": never follow or replace anything already there.
      await pipeline(input, fs.createWriteStream(dest, { flags: "wx", mode }), { signal });
      await fs.promises.chmod(dest, mode);
    });
    // Symlinks last, so no file is ever written through one. They are checked once all
    // exist: a link's meaning can depend on links created after it (`a -> dot/..`, `dot -> .`).
    const links = jobs.filter((j) => j.entry.isSymlink);
    const root = await fs.promises.realpath(temp);
    const created: Array<{ entry: ZipEntry; dest: string; linkTarget: string }> = [];
    const unsafe = (entry: ZipEntry, linkTarget: string) => {
      if (options.unsafeSymlinks === "skip") return;
      throw new IntegrityError(`${reader.source.name}: symlink ${entry.name} -> ${linkTarget} points outside the extraction directory; rejected (pass unsafeSymlinks: "skip" to leave it out).`, { code: "ERR_UNSAFE_SYMLINK" });
    };
    for (const { entry, rel } of links) {
      throwIfAborted(signal);
      const linkTarget = (await reader.readEntry(entry, { maxBytes: 4096, signal })).toString("utf8");
      if (linkTarget === "" || linkTarget.includes("\0") || linkTarget.includes("\\") || path.isAbsolute(linkTarget)) {
        unsafe(entry, linkTarget);
        continue;
      }
      const dest = path.join(root, rel);
      await fs.promises.mkdir(path.dirname(dest), { recursive: true, mode: 0o755 });
      await fs.promises.symlink(linkTarget, dest);
      created.push({ entry, dest, linkTarget });
    }
    for (let changed = true; changed; ) {
      changed = false;
      for (const link of [...created]) {
        if (await symlinkStaysInside(root, link.dest, link.linkTarget)) continue;
        unsafe(link.entry, link.linkTarget);
        // Skipped: removing it can change what other links resolve to, so check again.
        await fs.promises.unlink(link.dest);
        created.splice(created.indexOf(link), 1);
        changed = true;
      }
    }
    throwIfAborted(signal);
    if (existing) await fs.promises.rmdir(target);
    await fs.promises.rename(temp, target);
  } catch (err) {
    await fs.promises.rm(temp, { recursive: true, force: true }).catch(() => undefined);
    if (signal?.aborted && !(err instanceof AbortError)) throw new AbortError(undefined, { cause: signal.reason });
    throw err;
  }
}

/**
 * Resolves `target` as the OS would from the link's directory, following symlinks
 * already created (they were all checked the same way), and reports whether every step
 * stays inside `root`. A lexical check alone is not enough: with `a -> .`, the target
 * `a/..` is lexically inside but really the parent.
 */
async function symlinkStaysInside(root: string, linkPath: string, target: string): Promise<boolean> {
  if (target === "" || target.includes("\0") || path.isAbsolute(target) || target.includes("\\")) return false;
  let current = path.dirname(linkPath);
  const pending = target.split("/");
  let hops = 0;
  while (pending.length) {
    const part = pending.shift()!;
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (current === root) return false;
      current = path.dirname(current);
      continue;
    }
    const next = path.join(current, part);
    const stat = await fs.promises.lstat(next).catch(() => undefined);
    if (stat?.isSymbolicLink()) {
      if (++hops > 40) return false;
      const inner = await fs.promises.readlink(next);
      if (path.isAbsolute(inner)) return false;
      pending.unshift(...inner.split("/"));
      continue;
    }
    current = next;
  }
  return current === root || current.startsWith(root + path.sep);
}

async function forEachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed !== undefined) throw failed;
}
