import zlib from "node:zlib";
import { PassThrough, Readable, Transform, type TransformCallback } from "node:stream";
import { AbortError, ClusterPackError, IntegrityError, InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { entryKey } from "./names";
import { fileSource, withSignal, type RandomAccessSource } from "./source";
import { sliceSource } from "./source";
import { describeEntry, locateCentralDirectory, walkCentralDirectory } from "./directory";
import { checkLocalHeader, checkMethod, dataDescriptorLength, EntryDataCheck, FLAG_DATA_DESCRIPTOR, inflateVerified, LOCAL_HEADER_SIZE, parseLocalHeader, ZIP64_END_BODY_SIZE, type LocalHeader } from "./records";
import { extract, type ExtractOptions } from "./extract";

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

/** Where an entry's stored bytes are in a source: a local header and the data after it. */
export interface RawSpan {
  headerOffset: number;
  dataOffset: number;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
}

const DEFAULT_MAX_ENTRIES = 1_000_000;
const DEFAULT_MAX_ENTRY_SIZE = 16 * 1024 ** 3;
const DEFAULT_MAX_TOTAL_SIZE = 64 * 1024 ** 3;
const DEFAULT_MAX_READ_BYTES = 256 * 1024 * 1024;

/**
 * Reads a zip archive through any RandomAccessSource. Untrusted input is checked up front
 * (end records that agree, a central directory holding exactly the entries they declare,
 * names, duplicates, counts, declared sizes, overlapping entries) and while reading (local
 * header against central directory, real sizes, CRC); `checkLayout` accounts for every
 * byte. Memory stays bounded: the central directory is decoded in chunks, entry data is
 * streamed, and local headers are read through a small window cache.
 */
export class ZipReader {
  /** Entries in central directory order. */
  readonly entries: readonly ZipEntry[];
  /** Bytes before the zip's first local header (e.g. a PEX's shebang line). */
  readonly prefixLength: number;
  /** The archive comment (decoded as UTF-8). */
  readonly comment: string;
  readonly source: RandomAccessSource;

  private readonly byName: Map<string, ZipEntry>;
  private readonly closeSource: boolean;

  private constructor(init: { source: RandomAccessSource; access: ArchiveAccess; entries: ZipEntry[]; byName: Map<string, ZipEntry>; prefixLength: number; comment: string; closeSource: boolean }) {
    this.source = init.source;
    this.entries = init.entries;
    this.byName = init.byName;
    this.prefixLength = init.prefixLength;
    this.comment = init.comment;
    this.closeSource = init.closeSource;
    ACCESS.set(this, init.access);
  }

  /** Opens an archive (a path opens a local file) and validates its central directory. */
  static async open(source: RandomAccessSource | string, options: ZipReadOptions = {}): Promise<ZipReader> {
    const src = typeof source === "string" ? await fileSource(source) : source;
    const closeSource = typeof source === "string" || !options.keepSourceOpen;
    try {
      const opened = await openArchive(src, options);
      return new (ZipReader as unknown as new (init: unknown) => ZipReader)({ ...opened, source: src, closeSource });
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
    const access = accessOf(this);
    const e = access.resolve(entry);
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_READ_BYTES;
    if (e.uncompressedSize > maxBytes) {
      throw new InvalidInputError(`${this.source.name}: entry ${e.name} is ${e.uncompressedSize} bytes, more than the ${maxBytes}-byte limit for readEntry.`, { code: "ERR_ENTRY_TOO_LARGE", hint: "use openEntryStream or raise maxBytes." });
    }
    checkMethod(this.source.name, e);
    const located = await access.locate(e, options.signal);
    // Small entries arrive with their header in one read: inflated in one call, no streams.
    if (located.data) return inflateVerified(this.source.name, e, located.data);
    const stream = await this.openEntryStream(e, options);
    const chunks: Buffer[] = [];
    for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks, e.uncompressedSize);
  }

  /** The inflated content as a stream; it errors (IntegrityError) if the size or CRC do not match at the end. */
  async openEntryStream(entry: ZipEntry | string, options: { signal?: AbortSignal } = {}): Promise<Readable> {
    const access = accessOf(this);
    const e = access.resolve(entry);
    checkMethod(this.source.name, e);
    const data = await access.openData(e, e.method === 8, options.signal);
    const check = new VerifyStream(e, this.source.name);
    // pipeline-style forwarding: an error on either side reaches the consumer once.
    data.on("error", (err) => check.destroy(access.wrapError(err, e)));
    check.on("close", () => data.destroy());
    data.pipe(check);
    return withSignal(check, options.signal);
  }

  /** The entry's bytes exactly as stored (compressed for method 8). Length is checked, content is not. */
  async openRawStream(entry: ZipEntry | string, options: { signal?: AbortSignal } = {}): Promise<Readable> {
    const access = accessOf(this);
    const e = access.resolve(entry);
    const data = await access.openData(e, false, options.signal);
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    data.on("error", (err) => out.destroy(access.wrapError(err, e)));
    out.on("close", () => data.destroy());
    data.pipe(out);
    return withSignal(out, options.signal);
  }

  /**
   * Where the entry's stored bytes are in `source` (absolute offsets), after reading and
   * checking its local header: what `ZipWriter.addRawSpan` copies later without opening
   * the archive again (a cached wheel install plan).
   */
  async rawSpan(entry: ZipEntry | string, options: { signal?: AbortSignal } = {}): Promise<RawSpan> {
    const access = accessOf(this);
    const e = access.resolve(entry);
    // Known once the header was checked (a copy of the entry read it); else the header
    // alone is read: reading the data too cost the plans of a torch build 20 MB.
    const dataStart = access.checkedDataStart(e) ?? (await access.locate(e, options.signal, true)).dataStart;
    return { headerOffset: e.localHeaderOffset, dataOffset: dataStart + access.shift, method: e.method, crc32: e.crc32 >>> 0, compressedSize: e.compressedSize, uncompressedSize: e.uncompressedSize };
  }

  /**
   * Accounts for every byte from the first entry to the end of the source: each local
   * header is read and checked against the central directory, entries follow each other
   * with nothing between them (ERR_UNLISTED_DATA) or overlapping (ERR_OVERLAPPING_ENTRIES),
   * any data descriptor matches its entry, and the last entry ends where the central
   * directory starts. Together with what `open` checks (the directory holds exactly the
   * declared entries and ends at the end records), no byte after `prefixLength` is left
   * that one zip reader could see and another not. What comes before `prefixLength` (a
   * shebang, or other zips) is the caller's to judge.
   */
  async checkLayout(options: { signal?: AbortSignal } = {}): Promise<void> {
    await accessOf(this).checkLayout(this.entries, options.signal);
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
    const access = accessOf(this);
    if (access.closed) return;
    access.close();
    if (this.closeSource) await this.source.close?.();
  }
}

// ---------------------------------------------------------------------------------------
// The raw-copy interface: what the writer needs of an open archive to copy its entries
// without inflating them. Package-internal (not exported by index.ts), so that none of it
// is public API.

/** An open archive's stored bytes, for raw copies; get it with `rawAccess(reader)`. */
export interface RawAccess {
  readonly name: string;
  /** The entry, when it belongs to this open archive (else ERR_NO_SUCH_ENTRY; ERR_CLOSED once closed). */
  resolve(entry: ZipEntry | string): ZipEntry;
  /** Reads and checks the local header (one read that, for a small entry, brings its data, returned then, unless `headerOnly`). */
  locate(e: ZipEntry, signal?: AbortSignal, headerOnly?: boolean): Promise<{ dataStart: number; data?: Buffer }>;
  /** The entry's stored bytes as plain buffers (no streams: cheaper than a stream for small entries). */
  chunks(e: ZipEntry, signal?: AbortSignal): AsyncGenerator<Buffer>;
  /** The range (in `read` coordinates) holding the local header and data, assuming a local extra field of the usual size. */
  span(e: ZipEntry): { start: number; end: number };
  /** One read of a range of the archive (for raw copies of many small entries at once). */
  read(start: number, length: number, signal?: AbortSignal): Promise<Buffer>;
  /** `read`, synchronously, when the source can (local files). */
  readonly readSync: ((start: number, length: number, into?: Buffer) => Buffer) | undefined;
  /**
   * `locate` for an entry inside a buffer read with `read` from `bufStart`: the same
   * checks, synchronously. The stored bytes, or undefined when the buffer does not hold them all.
   */
  dataIn(e: ZipEntry, buf: Buffer, bufStart: number): Buffer | undefined;
  /** Where the stored bytes start (in `read` coordinates), after the same checks, when `buf` holds the local header; else undefined. */
  dataStartIn(e: ZipEntry, buf: Buffer, bufStart: number): number | undefined;
}

/** The raw-copy interface of an open reader (package-internal). */
export function rawAccess(reader: ZipReader): RawAccess {
  return accessOf(reader);
}

const ACCESS = new WeakMap<ZipReader, ArchiveAccess>();

function accessOf(reader: ZipReader): ArchiveAccess {
  return ACCESS.get(reader)!;
}

/** Entries this small are fetched together with their local header (one read, one HTTP request). */
const SMALL_ENTRY = 256 * 1024;
const RAW_CHUNK = 1 << 20;
const SYNC_CHUNK = 4 << 20;
const RAW_READS_IN_FLIGHT = 4;
/** checkLayout reads only the header of an entry whose successor starts further away than this. */
const LAYOUT_READ_AHEAD = 256 * 1024;

/** What the central directory says of an entry beyond its ZipEntry. */
interface EntryRecord {
  nameRaw: Buffer;
  /** Length of the central record's extra field (the local one is usually as long). */
  extraLength: number;
  /** Local header offset in `view` coordinates (the zip's own). */
  offset: number;
  /** The byte after which this entry's data must end (next local header or central directory). */
  limit: number;
  /** Where its data starts, once its local header was read and checked (by a copy, a read, or rawSpan). */
  dataStart?: number;
}

/**
 * Everything ZipReader does with entry bytes, over `view`: the archive seen from the zip's
 * own offset 0 (the source itself, or past a prefix glued on without fixing offsets).
 */
class ArchiveAccess implements RawAccess {
  closed = false;
  readonly readSync: ((start: number, length: number, into?: Buffer) => Buffer) | undefined;
  private readonly reader: SourceReader;

  constructor(
    readonly name: string,
    private readonly view: RandomAccessSource,
    /** Bytes before the zip's offset 0 in the source. */
    readonly shift: number,
    private readonly records: WeakMap<ZipEntry, EntryRecord>,
    private readonly byName: Map<string, ZipEntry>,
    /** The central directory's offset and size in `view` coordinates, and where the end records start. */
    private readonly directory: { start: number; size: number; zip64RecordSize?: number },
  ) {
    this.reader = new SourceReader(view);
    const sync = view.readSync;
    this.readSync = sync ? (start, length, into) => sync.call(view, start, length, into) : undefined;
  }

  resolve(entry: ZipEntry | string): ZipEntry {
    if (this.closed) throw new ClusterPackError("ERR_CLOSED", `${this.name}: the ZipReader is closed.`);
    const e = typeof entry === "string" ? this.byName.get(entry) : entry;
    if (!e || !this.records.has(e)) {
      const what = typeof entry === "string" ? entry : entry.name;
      throw new InvalidInputError(`${this.name}: no entry named ${JSON.stringify(what)} in this archive.`, { code: "ERR_NO_SUCH_ENTRY" });
    }
    return e;
  }

  async locate(e: ZipEntry, signal?: AbortSignal, headerOnly = false): Promise<{ dataStart: number; data?: Buffer }> {
    throwIfAborted(signal);
    const r = this.records.get(e)!;
    const offset = r.offset;
    const want = this.headerGuess(r) + (!headerOnly && e.compressedSize <= SMALL_ENTRY ? e.compressedSize : 0);
    let buf = await this.reader.prefetch(offset, Math.min(want, r.limit - offset), this.view.size, signal);
    let h = parseLocalHeader(buf) ?? this.noLocalHeader(e, offset);
    if (offset + h.size > r.limit) this.overlapping(e, "its local header runs into the next entry");
    if (!h.complete) {
      buf = await this.reader.prefetch(offset, h.size, this.view.size, signal);
      h = parseLocalHeader(buf)!;
    }
    checkLocalHeader(this.name, e, r.nameRaw, h, buf);
    const dataStart = offset + h.size;
    if (dataStart + e.compressedSize > r.limit) this.overlapping(e, "its data runs past the next entry or the central directory");
    r.dataStart = dataStart;
    if (h.size + e.compressedSize <= buf.length) return { dataStart, data: buf.subarray(h.size, h.size + e.compressedSize) };
    return { dataStart };
  }

  async *chunks(e: ZipEntry, signal?: AbortSignal): AsyncGenerator<Buffer> {
    const located = await this.locate(e, signal);
    if (located.data) {
      yield located.data;
      return;
    }
    const end = located.dataStart + e.compressedSize;
    const view = this.view;
    if (view.readSync) {
      // Local file: synchronous reads from the page cache (see RandomAccessSource.readSync).
      for (let at = located.dataStart; at < end; at += SYNC_CHUNK) {
        throwIfAborted(signal);
        yield view.readSync(at, Math.min(SYNC_CHUNK, end - at));
      }
      return;
    }
    // Keep a few reads in flight so the copy is not one read latency per MiB.
    const pending: Array<Promise<Buffer>> = [];
    let at = located.dataStart;
    const refill = () => {
      while (pending.length < RAW_READS_IN_FLIGHT && at < end) {
        const n = Math.min(RAW_CHUNK, end - at);
        const p = this.view.read(at, n, signal);
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

  span(e: ZipEntry): { start: number; end: number } {
    const r = this.records.get(e)!;
    return { start: r.offset, end: Math.min(r.offset + this.headerGuess(r) + e.compressedSize, r.limit) };
  }

  read(start: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    throwIfAborted(signal);
    return this.view.read(start, length, signal);
  }

  dataIn(e: ZipEntry, buf: Buffer, bufStart: number): Buffer | undefined {
    const start = this.dataStartIn(e, buf, bufStart);
    if (start === undefined || start - bufStart + e.compressedSize > buf.length) return undefined;
    return buf.subarray(start - bufStart, start - bufStart + e.compressedSize);
  }

  dataStartIn(e: ZipEntry, buf: Buffer, bufStart: number): number | undefined {
    const r = this.records.get(e)!;
    const at = r.offset - bufStart;
    if (at < 0 || at + LOCAL_HEADER_SIZE > buf.length) return undefined;
    const h = parseLocalHeader(buf, at) ?? this.noLocalHeader(e, r.offset);
    if (r.offset + h.size > r.limit) this.overlapping(e, "its local header runs into the next entry");
    if (r.offset + h.size + e.compressedSize > r.limit) this.overlapping(e, "its data runs past the next entry or the central directory");
    if (at + h.size > buf.length) return undefined;
    checkLocalHeader(this.name, e, r.nameRaw, h, buf.subarray(at, at + h.size));
    return (r.dataStart = r.offset + h.size);
  }

  /** Where the entry's data starts, when its local header was already checked. */
  checkedDataStart(e: ZipEntry): number | undefined {
    return this.records.get(e)!.dataStart;
  }

  async openData(e: ZipEntry, inflate: boolean, signal?: AbortSignal): Promise<Readable> {
    const { dataStart } = await this.locate(e, signal);
    throwIfAborted(signal);
    const raw = this.reader.stream(dataStart, e.compressedSize);
    if (!inflate) return raw;
    const inflater = zlib.createInflateRaw();
    raw.on("error", (err) => inflater.destroy(err));
    inflater.on("close", () => raw.destroy());
    raw.pipe(inflater);
    return inflater;
  }

  async checkLayout(entries: readonly ZipEntry[], signal?: AbortSignal): Promise<void> {
    const order = [...entries].sort((a, b) => this.records.get(a)!.offset - this.records.get(b)!.offset);
    const cd = this.directory;
    let expected = order.length ? this.records.get(order[0]!)!.offset : cd.start;
    let previous: ZipEntry | undefined;
    for (let k = 0; k < order.length; k++) {
      if ((k & 1023) === 1023) throwIfAborted(signal);
      const e = order[k]!;
      const r = this.records.get(e)!;
      if (r.offset !== expected) this.misplaced(previous, e.name, expected, r.offset);
      // Read ahead only when the next header is near (many small entries share a read).
      const next = order[k + 1] ? this.records.get(order[k + 1]!)!.offset : cd.start;
      const guess = Math.min(this.headerGuess(r), r.limit - r.offset);
      const limit = next - r.offset <= LAYOUT_READ_AHEAD ? this.view.size : r.offset + guess;
      let buf = await this.reader.prefetch(r.offset, guess, limit, signal);
      let h: LocalHeader = parseLocalHeader(buf) ?? this.noLocalHeader(e, r.offset);
      if (r.offset + h.size > r.limit) this.overlapping(e, "its local header runs into the next entry");
      if (!h.complete) {
        buf = await this.reader.prefetch(r.offset, h.size, r.offset + h.size, signal);
        h = parseLocalHeader(buf)!;
      }
      checkLocalHeader(this.name, e, r.nameRaw, h, buf);
      let end = r.offset + h.size + e.compressedSize;
      if (end > r.limit) this.overlapping(e, "its data runs past the next entry or the central directory");
      if (h.flags & FLAG_DATA_DESCRIPTOR) {
        const room = Math.min(24, r.limit - end);
        const descriptor = await this.reader.prefetch(end, room, end + room, signal);
        const length = dataDescriptorLength(descriptor, 0, e, h.zip64Extra);
        if (length === undefined) {
          throw new IntegrityError(`${this.name}: entry ${e.name}: no data descriptor matching its central directory record after its data; the archive is corrupt or crafted.`, { code: "ERR_HEADER_MISMATCH" });
        }
        end += length;
      }
      expected = end;
      previous = e;
    }
    if (expected !== cd.start) this.misplaced(previous, "the central directory", expected, cd.start);
    if (cd.zip64RecordSize !== undefined && cd.zip64RecordSize !== ZIP64_END_BODY_SIZE) {
      throw new IntegrityError(`${this.name}: the ZIP64 end record declares ${cd.zip64RecordSize - ZIP64_END_BODY_SIZE} bytes of extensible data that are not there; the archive is corrupt or crafted.`, { code: "ERR_CORRUPT_ZIP" });
    }
  }

  wrapError(err: unknown, e: ZipEntry): Error {
    if (err instanceof ClusterPackError) return err;
    if ((err as Error)?.name === "AbortError") return new AbortError(undefined, { cause: err });
    return new IntegrityError(`${this.name}: entry ${e.name} is corrupt: ${(err as Error).message}.`, { cause: err, code: "ERR_CORRUPT_ENTRY" });
  }

  close(): void {
    this.closed = true;
    this.reader.forget();
  }

  /** Bytes that usually hold a local header: its central record's name and extra field, and some slack. */
  private headerGuess(r: EntryRecord): number {
    return LOCAL_HEADER_SIZE + r.nameRaw.length + r.extraLength + 64;
  }

  private noLocalHeader(e: ZipEntry, offset: number): never {
    throw new IntegrityError(`${this.name}: entry ${e.name}: no local header at offset ${offset + this.shift}; the archive is corrupt.`, { code: "ERR_HEADER_MISMATCH" });
  }

  private overlapping(e: ZipEntry, what: string): never {
    throw new IntegrityError(`${this.name}: entry ${e.name}: ${what}; overlapping entries are rejected.`, { code: "ERR_OVERLAPPING_ENTRIES" });
  }

  /** `found` (the next entry's local header, or the central directory) is not where the previous entry ends. */
  private misplaced(previous: ZipEntry | undefined, what: string, expected: number, found: number): never {
    const after = previous ? `entry ${previous.name}` : "the start of the archive";
    if (found < expected) this.overlapping(previous!, `it overlaps ${what}`);
    throw new IntegrityError(
      `${this.name}: ${found - expected} bytes at offset ${expected + this.shift} (after ${after}, before ${what}) belong to no entry of the central directory: unlisted data, which some zip readers see and others do not. The archive is corrupt or crafted.`,
      { code: "ERR_UNLISTED_DATA" },
    );
  }
}

// ---------------------------------------------------------------------------------------
// Opening

async function openArchive(src: RandomAccessSource, options: ZipReadOptions): Promise<{ access: ArchiveAccess; entries: ZipEntry[]; byName: Map<string, ZipEntry>; prefixLength: number; comment: string }> {
  const signal = options.signal;
  const maxEntrySize = options.maxEntrySize ?? DEFAULT_MAX_ENTRY_SIZE;
  const maxTotalSize = options.maxTotalSize ?? DEFAULT_MAX_TOTAL_SIZE;
  const cd = await locateCentralDirectory(src, signal);
  // Archives glued after a prefix without fixing their offsets (`cat stub app.zip`) are
  // read like Python's zipfile and zipimport do: through a view shifted by the prefix.
  const shift = cd.shift;
  const view = shift > 0 ? sliceSource(src, shift, src.size - shift) : src;
  const entries: ZipEntry[] = [];
  const raws: EntryRecord[] = [];
  const byName = new Map<string, ZipEntry>();
  const byKey = new Map<string, string>();
  let total = 0;
  await walkCentralDirectory(
    src,
    cd,
    (buf, h) => {
      const d = describeEntry(src.name, buf, h);
      if (d.uncompressedSize > maxEntrySize) {
        throw new IntegrityError(`${src.name}: entry ${d.name} declares ${d.uncompressedSize} bytes, more than the limit of ${maxEntrySize}.`, { code: "ERR_ENTRY_TOO_LARGE", hint: "raise maxEntrySize if it is trusted." });
      }
      total += d.uncompressedSize;
      if (total > maxTotalSize) {
        throw new IntegrityError(`${src.name}: entries declare more than ${maxTotalSize} bytes in total.`, { code: "ERR_ARCHIVE_TOO_LARGE", hint: "raise maxTotalSize if the archive is trusted." });
      }
      const key = entryKey(d.name);
      const previous = byKey.get(key);
      if (previous !== undefined) {
        throw new IntegrityError(`${src.name}: entries ${JSON.stringify(previous)} and ${JSON.stringify(d.name)} name the same path; the archive is ambiguous and was rejected.`, { code: "ERR_DUPLICATE_ENTRY" });
      }
      const e: ZipEntry = { ...d, localHeaderOffset: d.localHeaderOffset + shift };
      byKey.set(key, d.name);
      byName.set(d.name, e);
      entries.push(e);
      raws.push({ nameRaw: Buffer.from(buf.subarray(h.nameStart, h.nameStart + h.nameLength)), extraLength: h.extraLength, offset: d.localHeaderOffset, limit: 0 });
    },
    { signal, maxEntries: options.maxEntries ?? DEFAULT_MAX_ENTRIES },
  );
  const centralStart = cd.start - shift;
  const records = layout(src, entries, raws, centralStart);
  let prefixLength = cd.start;
  for (const e of entries) prefixLength = Math.min(prefixLength, e.localHeaderOffset);
  const directory = { start: centralStart, size: cd.size, ...(cd.zip64RecordSize !== undefined ? { zip64RecordSize: cd.zip64RecordSize } : {}) };
  const access = new ArchiveAccess(src.name, view, shift, records, byName, directory);
  return { access, entries, byName, prefixLength, comment: cd.comment.toString("utf8") };
}

/** Checks that entries do not overlap each other or the central directory; sets each entry's data limit. */
function layout(src: RandomAccessSource, entries: ZipEntry[], raws: EntryRecord[], centralStart: number): WeakMap<ZipEntry, EntryRecord> {
  // Offsets here are the zip's own (like centralStart).
  const order = entries.map((_, i) => i).sort((a, b) => raws[a]!.offset - raws[b]!.offset);
  const records = new WeakMap<ZipEntry, EntryRecord>();
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    const e = entries[i]!;
    const raw = raws[i]!;
    const next = k + 1 < order.length ? raws[order[k + 1]!]!.offset : centralStart;
    // Lower bound of the entry's extent: its local header cannot be shorter than this.
    const minEnd = raw.offset + LOCAL_HEADER_SIZE + raw.nameRaw.length + e.compressedSize;
    if (minEnd > next) {
      throw new IntegrityError(`${src.name}: entry ${e.name} (at ${e.localHeaderOffset}, ${e.compressedSize} bytes) overlaps the next entry or the central directory; overlapping entries are a zip-bomb technique and the archive was rejected.`, { code: "ERR_OVERLAPPING_ENTRIES" });
    }
    raw.limit = next;
    records.set(e, raw);
  }
  return records;
}

/** Passes the inflated data through, failing (IntegrityError) when its size or CRC are not the entry's. */
class VerifyStream extends Transform {
  private readonly check: EntryDataCheck;
  constructor(entry: ZipEntry, sourceName: string) {
    super({ highWaterMark: 1 << 20 });
    this.check = new EntryDataCheck(sourceName, entry);
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.check.update(chunk);
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    try {
      this.check.finish();
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb();
  }
}

// ---------------------------------------------------------------------------------------
// A window cache over the source, so that reading many small entries (or their headers)
// costs a few large reads (and a few HTTP requests for a remote archive), not one per entry.

const MAX_WINDOW = 4 * 1024 * 1024;
const MAX_WINDOWS = 8;

interface Window {
  start: number;
  end: number;
  data: Promise<Buffer>;
  /** Set once the read completes (lets streams be served synchronously). */
  resolved?: Buffer;
}

class SourceReader {
  /**
   * Most recently used last; at most MAX_WINDOWS windows of at most MAX_WINDOW bytes
   * (bounded memory). Reads in flight are windows too, so concurrent requests for nearby
   * ranges share one read instead of issuing many.
   */
  private windows: Window[] = [];
  /** Bytes read around a local header for local sources (consecutive small entries share a read). */
  private readonly readAhead: number;

  constructor(private readonly source: RandomAccessSource) {
    this.readAhead = Math.min(source.preferredReadSize ?? 0, MAX_WINDOW);
  }

  /** A range as a stream: from a window when one holds it, else one stream of the source. */
  stream(start: number, length: number): Readable {
    const w = this.find(start, length);
    if (w?.resolved) return Readable.from([w.resolved.subarray(start - w.start, start - w.start + length)]);
    if (length === 0) return Readable.from([]);
    if (this.source.createReadStream) return this.source.createReadStream(start, length);
    return chunkedStream(this.source, start, length);
  }

  /** Drops every cached window (reads in flight keep their own reference). */
  forget(): void {
    this.windows = [];
  }

  /** This range, read together with up to `readAhead` following bytes (bounded by `limit`). */
  async prefetch(position: number, length: number, limit: number, signal?: AbortSignal): Promise<Buffer> {
    const size = Math.max(length, Math.min(this.readAhead, limit - position));
    return this.range(position, length, size, signal);
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
