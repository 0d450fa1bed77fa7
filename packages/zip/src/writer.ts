import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { finished, pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import { promisify } from "node:util";
import { setMaxListeners } from "node:events";
import { AbortError, ClusterPackError, IntegrityError, InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { crc32, entryKey, normalizeMode, unsafeReason } from "./names";
import type { ZipEntry, ZipReader } from "./reader";
import { type RandomAccessSource, withSignal } from "./source";
import { LOCAL_HEADER_SIZE } from "./local-header";

/** Per-entry options. */
export interface ZipEntryOptions {
  /** Unix mode; only "any execute bit" matters (files become 0644 or 0755). */
  mode?: number;
  /** Deflate this entry (default: the writer's `compress`). */
  compress?: boolean;
}

export interface ZipWriterOptions {
  /** Written before the zip, e.g. "#!/usr/bin/env python3\n". Offsets account for it. */
  prefix?: Buffer | string;
  /** zlib level 0-9, default 6. */
  compressionLevel?: number;
  /** Default true; per-entry `compress: false` stores. */
  compress?: boolean;
  /** Write ZIP64 records even when nothing needs them. */
  forceZip64?: boolean;
  /** The archive comment (UTF-8, at most 65,535 bytes). */
  comment?: string;
  /** Entries prepared (read, compressed) ahead of the one being written. Default 32; memory stays under 4 MiB per entry ahead (128 MiB worst case, a few MiB typically). */
  concurrency?: number;
}

export interface ZipWriteResult {
  path: string;
  size: number;
  entries: number;
  sha256: string;
}

export interface ZipWriteOptions {
  signal?: AbortSignal;
  /** Called after each entry with (entries written, total entries). */
  onProgress?: (done: number, total: number) => void;
  /** Mode of the written file (default 0644; 0755 for an executable PEX). */
  mode?: number;
  /** Compute the result's sha256 (default true); false saves hashing every output byte and leaves `sha256` empty. */
  digest?: boolean;
}

/**
 * Writes deterministic zip archives. Entries are collected first (files and streams are
 * opened only at write time) and written sorted by name, parents first, with every
 * timestamp at 1980-01-01 00:00:00, normalised modes, explicit directory entries, no
 * variable extra fields, and ZIP64 records exactly when sizes, offsets or the entry count
 * need them. Same inputs give byte-identical output.
 *
 * Why not yazl: yazl cannot take pre-compressed data, and copying wheel entries into a
 * PEX without inflating and deflating them again is the point of this package (it makes
 * the PEX build I/O-bound). Raw entries must interleave with ordinary ones in one sorted
 * archive with consistent ZIP64 decisions, so one small writer handles every entry: it
 * only lays out headers (about 150 lines below); zlib does the compression.
 */
export class ZipWriter {
  private readonly options: ZipWriterOptions;
  private readonly entries = new Map<string, PendingEntry>();
  private readonly names = new Map<string, string>();

  constructor(options: ZipWriterOptions = {}) {
    const level = options.compressionLevel ?? 6;
    if (!Number.isInteger(level) || level < 0 || level > 9) {
      throw new InvalidInputError(`compressionLevel ${options.compressionLevel} is invalid; use an integer from 0 to 9.`, { code: "ERR_INVALID_OPTION" });
    }
    if (options.comment !== undefined && Buffer.byteLength(options.comment) > 0xffff) {
      throw new InvalidInputError(`The zip comment is ${Buffer.byteLength(options.comment)} bytes; the format allows at most 65,535.`, { code: "ERR_INVALID_OPTION" });
    }
    this.options = { ...options, compressionLevel: level };
  }

  /** Number of entries, implicit parent directories included. */
  get size(): number {
    return this.entries.size;
  }

  addBuffer(name: string, data: Buffer | string, options: ZipEntryOptions = {}): void {
    const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    this.add(name, "file", { kind: "buffer", data: buf }, options);
  }

  /** The file is read at write time (its size then must not change during the write). */
  addFile(name: string, filePath: string, options: ZipEntryOptions = {}): void {
    this.add(name, "file", { kind: "file", path: filePath }, options);
  }

  /** `open` may be called more than once (large stored entries are read twice: CRC, then copy). */
  addStreamFactory(name: string, open: () => NodeJS.ReadableStream | Promise<NodeJS.ReadableStream>, size: number, options: ZipEntryOptions = {}): void {
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new InvalidInputError(`Entry ${name}: size ${size} is not a valid byte count.`, { code: "ERR_INVALID_OPTION" });
    }
    this.add(name, "file", { kind: "stream", open, size }, options);
  }

  /** A directory entry ("name/"); its parents are added too. */
  addDirectory(name: string): void {
    this.add(name, "directory", { kind: "directory" }, {});
  }

  addSymlink(name: string, target: string): void {
    if (target.length === 0 || target.includes("\0")) {
      throw new InvalidInputError(`Symlink ${name}: target ${JSON.stringify(target)} is empty or contains NUL.`, { code: "ERR_INVALID_ENTRY" });
    }
    this.add(name, "symlink", { kind: "buffer", data: Buffer.from(target, "utf8") }, { compress: false });
  }

  /**
   * Copies an entry of another zip without inflating/deflating it (wheel -> PEX). The
   * stored CRC and sizes are reused. `verify` receives the inflated bytes (CRC- and
   * size-checked by the reader) while the raw bytes are copied, e.g. to check a RECORD
   * hash; if it rejects, the write fails. The reader must stay open until the write ends.
   */
  addRawEntry(name: string, reader: ZipReader, entry: ZipEntry, options: { mode?: number; verify?: (inflated: NodeJS.ReadableStream) => Promise<void> } = {}): void {
    const e = reader.resolve(entry);
    if (e.isDirectory) {
      this.addDirectory(name);
      return;
    }
    if (e.method !== 0 && e.method !== 8) {
      throw new InvalidInputError(`${reader.source.name}: entry ${e.name} uses compression method ${e.method}; only stored and deflate entries can be copied.`, { code: "ERR_UNSUPPORTED_ZIP" });
    }
    const kind = e.isSymlink ? "symlink" : "file";
    this.add(name, kind, { kind: "raw", reader, entry: e, verify: options.verify }, { mode: options.mode ?? e.mode });
  }

  /**
   * A file entry the caller compressed itself (e.g. on worker threads). `produce` is called
   * once, at write time, in output order and a bounded number of entries ahead of the one
   * being written, so the caller can compress ahead without holding the whole archive. Its
   * CRC-32 is trusted; stored data must have the declared size. For the bytes addBuffer
   * would write, deflate with `entryDeflateOptions` and store when that does not shrink it.
   */
  addPrecompressed(name: string, produce: () => Promise<PrecompressedEntry>, options: { mode?: number } = {}): void {
    this.add(name, "file", { kind: "precompressed", produce }, options.mode === undefined ? {} : { mode: options.mode });
  }

  /**
   * Copies stored bytes from a known place of a source, without reading its central
   * directory: a raw copy planned earlier (a cached wheel install plan). The local header at
   * `span.headerOffset` is checked when the bytes are read (signature, method, CRC, and that
   * its data starts at `span.dataOffset`), so a plan that no longer matches the file fails
   * the write instead of copying wrong bytes. The source must stay open until the write ends.
   */
  addRawSpan(name: string, source: RandomAccessSource, span: RawSpan, options: { mode?: number } = {}): void {
    const { headerOffset, dataOffset, method, compressedSize, uncompressedSize } = span;
    const ints = [headerOffset, dataOffset, compressedSize, uncompressedSize].every((n) => Number.isSafeInteger(n) && n >= 0);
    if (!ints || dataOffset < headerOffset + LOCAL_HEADER_SIZE || dataOffset + compressedSize > source.size || (method !== 0 && method !== 8) || (method === 0 && compressedSize !== uncompressedSize)) {
      throw new InvalidInputError(`Entry ${name}: the span ${JSON.stringify(span)} does not fit ${source.name} (${source.size} bytes); plan the copy again from the archive.`, { code: "ERR_INVALID_ENTRY" });
    }
    this.add(name, "file", { kind: "span", source, span: { ...span, crc32: span.crc32 >>> 0 } }, options.mode === undefined ? {} : { mode: options.mode });
  }

  /** True when an entry (or implicit parent directory) of this name exists. */
  has(name: string): boolean {
    return this.names.has(entryKey(name));
  }

  /**
   * Writes atomically: a temporary file beside `path`, fsync, rename. The temporary file
   * (and any spool file) is removed on error or abort.
   */
  async writeTo(filePath: string, options: ZipWriteOptions = {}): Promise<ZipWriteResult> {
    throwIfAborted(options.signal);
    const target = path.resolve(filePath);
    const dir = path.dirname(target);
    await fs.promises.mkdir(dir, { recursive: true }).catch((err: Error) => {
      throw new InvalidInputError(`Cannot create the directory of ${target}: ${err.message}.`, { cause: err, code: "ERR_OUTPUT" });
    });
    const temp = path.join(dir, `.${path.basename(target)}.tmp-${crypto.randomBytes(6).toString("hex")}`);
    let handle: fs.promises.FileHandle | undefined;
    let sink: FileSink | undefined;
    try {
      handle = await fs.promises.open(temp, "wx", 0o600);
      sink = new FileSink(handle, options.digest ?? true);
      const { size, entries, sha256 } = await this.writeAll(sink, dir, options);
      await sink.flush();
      await handle.sync();
      await handle.chmod(options.mode ?? 0o644);
      await handle.close();
      handle = undefined;
      throwIfAborted(options.signal);
      await fs.promises.rename(temp, target);
      return { path: target, size, entries, sha256 };
    } catch (err) {
      await sink?.flush().catch(() => undefined); // let in-flight writes settle before closing
      await handle?.close().catch(() => undefined);
      await fs.promises.rm(temp, { force: true }).catch(() => undefined);
      throw asAbort(err, options.signal);
    }
  }

  /** The same bytes as writeTo, to a stream (not atomic; the stream is not ended). */
  async writeToStream(out: NodeJS.WritableStream, options: Omit<ZipWriteOptions, "mode"> = {}): Promise<Omit<ZipWriteResult, "path">> {
    try {
      return await this.writeAll(new StreamSink(out, options.digest ?? true), os.tmpdir(), options);
    } catch (err) {
      throw asAbort(err, options.signal);
    }
  }

  // ---------------------------------------------------------------------------------------

  private add(name: string, kind: EntryKind, source: EntrySource, options: ZipEntryOptions): void {
    const reason = unsafeReason(name);
    if (reason) throw new InvalidInputError(`Entry name ${JSON.stringify(name)} is invalid: ${reason}. Use a relative "/"-separated path.`, { code: "ERR_INVALID_ENTRY" });
    if (Buffer.byteLength(name) > 0xfff0) throw new InvalidInputError(`Entry name ${JSON.stringify(name.slice(0, 60))}... is ${Buffer.byteLength(name)} bytes; zip names are limited to 65,535.`, { code: "ERR_INVALID_ENTRY" });
    const key = entryKey(name);
    const existing = this.names.get(key);
    if (existing !== undefined) {
      // An explicit directory over an implicit (or explicit) one is the same entry.
      if (kind === "directory" && this.entries.get(existing)?.kind === "directory") return;
      throw new InvalidInputError(`Entry ${JSON.stringify(name)} is added twice (it clashes with ${JSON.stringify(existing)}); each path can appear once.`, { code: "ERR_DUPLICATE_ENTRY" });
    }
    // Parents from the nearest up; an existing directory means its own parents exist too.
    const missing: string[] = [];
    for (let cut = key.lastIndexOf("/"); cut > 0; cut = key.lastIndexOf("/", cut - 1)) {
      const parentKey = key.slice(0, cut);
      const parent = this.names.get(parentKey);
      if (parent === undefined) {
        missing.push(parentKey);
        continue;
      }
      if (this.entries.get(parent)?.kind !== "directory") {
        throw new InvalidInputError(`Entry ${JSON.stringify(name)} needs ${JSON.stringify(parent)} to be a directory, but it was added as a ${this.entries.get(parent)?.kind}.`, { code: "ERR_DUPLICATE_ENTRY" });
      }
      break;
    }
    for (const parentKey of missing) this.insert(parentKey, `${parentKey}/`, "directory", { kind: "directory" }, {});
    this.insert(key, kind === "directory" ? `${key}/` : key, kind, source, options);
  }

  private insert(key: string, name: string, kind: EntryKind, source: EntrySource, options: ZipEntryOptions): void {
    const compress = kind === "file" && (options.compress ?? this.options.compress ?? true) && this.options.compressionLevel !== 0;
    this.names.set(key, name);
    const nameBytes = Buffer.from(name, "utf8");
    // Bit 11 only when the name is not plain ASCII: old tools then still read ASCII names as-is.
    const flags = nameBytes.length !== name.length || /[^\x20-\x7e]/.test(name) ? FLAG_UTF8 : 0;
    this.entries.set(name, { name, nameBytes, flags, kind, mode: normalizeMode(options.mode ?? 0, kind), compress, source });
  }

  private async writeAll(sink: Sink, spoolDir: string, options: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void }): Promise<Omit<ZipWriteResult, "path">> {
    // Aborted by the caller's signal, and by any failure, so entries being prepared ahead
    // (a large deflate, a raw copy's verify) stop instead of finishing for nothing.
    const internal = new AbortController();
    const onAbort = () => internal.abort(options.signal?.reason);
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const signal = internal.signal;
    const ahead = Math.max(1, this.options.concurrency ?? 32);
    // Each entry being prepared ahead may listen on it (a stream's abort): bounded by `ahead`.
    setMaxListeners(ahead + 16, signal);
    const sorted = [...this.entries.values()].sort((a, b) => Buffer.compare(a.nameBytes, b.nameBytes));
    const forceZip64 = !!this.options.forceZip64;
    const ctx: PrepareContext = { level: this.options.compressionLevel ?? 6, spoolDir, signal, spools: new Set() };
    const items = groupItems(sorted);
    const prepared: Array<Promise<Prepared | Buffer> | undefined> = [];
    const start = (k: number) => {
      if (k < items.length && !prepared[k]) {
        const item = items[k]!;
        const w = item.window;
        if (w?.readSync) return; // read when its turn comes (cheaper, no memory ahead)
        const p = w ? w.read(w.start, w.end - w.start, signal) : prepare(sorted[item.first]!, ctx);
        p.catch(() => undefined); // observed when awaited; avoid unhandled rejections meanwhile.
        prepared[k] = p;
      }
    };
    // The central directory, built in one growing buffer (a Buffer per header cost more in
    // allocation and GC than writing them, with thousands of entries).
    const central = new CentralDirectory();
    const buffers = new WindowBuffers(sink);
    let done = 0;
    // Synchronous unless a block must go out (most entries: no promise at all).
    const emit = (entry: PendingEntry, p: Prepared): Promise<void> | undefined => {
      const offset = sink.position;
      const zip64 = forceZip64 || p.compressedSize >= MAX32 || p.uncompressedSize >= MAX32;
      const header = sink.write(localHeader(entry, p, zip64));
      const finish = () => {
        central.add(entry, p, offset, forceZip64);
        options.onProgress?.(++done, sorted.length);
      };
      if (!header && p.data && !p.verify) {
        const data = sink.write(p.data);
        if (!data) return void finish();
        return data.then(finish);
      }
      return (async () => {
        await header;
        await writePayload(sink, entry, p, signal);
        if (p.spool) {
          // Written (queued to the sink, read in full): its disk space is no longer needed.
          ctx.spools.delete(p.spool);
          await fs.promises.rm(p.spool, { force: true });
        }
        finish();
      })();
    };
    try {
      if (this.options.prefix !== undefined && this.options.prefix.length > 0) {
        await sink.write(typeof this.options.prefix === "string" ? Buffer.from(this.options.prefix, "utf8") : this.options.prefix);
      }
      for (let k = 0; k < Math.min(ahead, items.length); k++) start(k);
      for (let k = 0; k < items.length; k++) {
        throwIfAborted(signal);
        const item = items[k]!;
        const w = item.window;
        const recycled = w?.readSync ? buffers.take(w.end - w.start) : undefined;
        const got = (w?.readSync ? w.readSync(w.start, w.end - w.start, recycled) : undefined) ?? (await prepared[k]!);
        prepared[k] = undefined;
        start(k + ahead);
        if (!item.window) {
          const w = emit(sorted[item.first]!, got as Prepared);
          if (w) await w;
          continue;
        }
        // Raw entries served from one read of their wheel (see groupItems).
        for (let i = item.first; i < item.first + item.count; i++) {
          const entry = sorted[i]!;
          const src = entry.source as RawSource | SpanSource;
          let p: Prepared | undefined;
          if (src.kind === "raw") {
            const e = src.entry;
            const data = src.reader.locateIn(e, got as Buffer, item.window.start);
            if (data) p = { method: e.method, crc: e.crc32, compressedSize: e.compressedSize, uncompressedSize: e.uncompressedSize, data };
          } else {
            p = spanIn(entry.name, src, got as Buffer, item.window.start);
          }
          const w = emit(entry, p ?? (await prepare(entry, ctx)));
          if (w) await w;
        }
      }
      const cdOffset = sink.position;
      await sink.write(central.bytes());
      const cdSize = sink.position - cdOffset;
      await sink.write(endRecords(sorted.length, cdOffset, cdSize, sink.position, forceZip64, this.options.comment));
      await sink.flush();
      return { size: sink.position, entries: sorted.length, sha256: sink.digest() };
    } catch (err) {
      internal.abort(err);
      throw err;
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      // Settle everything still being prepared, then drop spool files.
      await Promise.allSettled(prepared.filter((p): p is Promise<Prepared | Buffer> => !!p));
      await Promise.all([...ctx.spools].map((f) => fs.promises.rm(f, { force: true }).catch(() => undefined)));
    }
  }
}

// ---------------------------------------------------------------------------------------
// Entries and their preparation: everything a local header needs (CRC, sizes, method)
// is known before it is written, so output never needs seeking or data descriptors
// (which some streaming unzippers, e.g. Java's, reject for stored entries).

type EntryKind = "file" | "directory" | "symlink";
type EntrySource =
  | { kind: "buffer"; data: Buffer }
  | { kind: "file"; path: string }
  | { kind: "stream"; open: () => NodeJS.ReadableStream | Promise<NodeJS.ReadableStream>; size: number }
  | { kind: "directory" }
  | { kind: "precompressed"; produce: () => Promise<PrecompressedEntry> }
  | RawSource
  | SpanSource;

/** Where addRawSpan's bytes are: a local header and the stored data after it. */
export interface RawSpan {
  headerOffset: number;
  dataOffset: number;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
}

type SpanSource = { kind: "span"; source: RandomAccessSource; span: RawSpan };

type RawSource = { kind: "raw"; reader: ZipReader; entry: ZipEntry; verify?: ((inflated: NodeJS.ReadableStream) => Promise<void>) | undefined };

/** One entry to prepare, or a run of raw entries read from their archive in one window. */
interface Item {
  first: number;
  count: number;
  window?: Window;
}

/** Windows are at most this big (with `concurrency` items ahead, memory stays bounded). */
const RAW_WINDOW = 4 * 1024 * 1024;
/** Raw entries up to this size join windows; bigger ones stream on their own. */
const RAW_GROUP_ENTRY = 1024 * 1024;
/** Bytes a window may read that no entry of it needs (holes, out-of-order entries). */
const RAW_WINDOW_SLACK = 256 * 1024;

/**
 * Groups consecutive (in output order) small raw entries without a verify hook that lie
 * close together in the same source archive: each group is served by one read instead of
 * one header read plus one data read per entry, which is what makes copying thousands of
 * small wheel files run near copy speed. Everything else is prepared one entry at a time.
 */
function groupItems(sorted: PendingEntry[]): Item[] {
  const items: Item[] = [];
  let cur: Item | undefined;
  let needed = 0;
  for (let i = 0; i < sorted.length; i++) {
    const src = sorted[i]!.source;
    const raw = src.kind === "raw" && !src.verify && src.entry.compressedSize <= RAW_GROUP_ENTRY;
    if (!raw && !(src.kind === "span" && src.span.compressedSize <= RAW_GROUP_ENTRY)) {
      cur = undefined;
      items.push({ first: i, count: 1 });
      continue;
    }
    const owner = src.kind === "raw" ? src.reader : (src as SpanSource).source;
    const span = src.kind === "raw" ? src.reader.rawSpan(src.entry) : spanRange((src as SpanSource).span);
    const w = cur?.window;
    if (cur && w && w.owner === owner) {
      const start = Math.min(w.start, span.start);
      const end = Math.max(w.end, span.end);
      if (end - start <= RAW_WINDOW && end - start <= needed + span.end - span.start + RAW_WINDOW_SLACK) {
        w.start = start;
        w.end = end;
        needed += span.end - span.start;
        cur.count++;
        continue;
      }
    }
    cur = { first: i, count: 1, window: windowOf(src as RawSource | SpanSource, span) };
    needed = span.end - span.start;
    items.push(cur);
  }
  return items;
}

/**
 * Memory for synchronous window reads, carved from a few reused slabs instead of a fresh
 * buffer per window: reading into fresh memory costs a page fault per 4 KiB and GC work,
 * about as much as the copy itself. A slab is reused once the sink has written every
 * byte queued before the slab was left (windows are consumed in order, one at a time).
 */
class WindowBuffers {
  private readonly free: Buffer[] = [];
  private slab: Buffer | undefined;
  private used = 0;

  constructor(private readonly sink: Sink) {}

  take(length: number): Buffer | undefined {
    if (length > SLAB) return undefined;
    if (!this.slab || this.used + length > SLAB) {
      const old = this.slab;
      if (old) this.sink.whenWritten(() => this.free.length < 4 && this.free.push(old));
      this.slab = this.free.pop() ?? Buffer.allocUnsafeSlow(SLAB);
      this.used = 0;
    }
    const b = this.slab.subarray(this.used, this.used + length);
    this.used += length;
    return b;
  }
}

const SLAB = 2 * RAW_WINDOW;

/** A range of one archive (or span source) read once for a run of entries. */
interface Window {
  owner: object;
  start: number;
  end: number;
  read: (start: number, length: number, signal?: AbortSignal) => Promise<Buffer>;
  /** Present when the source reads synchronously (local files). */
  readSync?: (start: number, length: number, into?: Buffer) => Buffer;
}

function windowOf(src: RawSource | SpanSource, span: { start: number; end: number }): Window {
  if (src.kind === "raw") {
    const r = src.reader;
    return { owner: r, ...span, read: (s, n, signal) => r.readSpan(s, n, signal), ...(r.syncReads ? { readSync: (s: number, n: number, into?: Buffer) => r.readSpanSync(s, n, into)! } : {}) };
  }
  const source = src.source;
  const readSync = source.readSync?.bind(source);
  return { owner: source, ...span, read: (s, n, signal) => source.read(s, n, signal), ...(readSync ? { readSync } : {}) };
}

function spanRange(span: RawSpan): { start: number; end: number } {
  return { start: span.headerOffset, end: span.dataOffset + span.compressedSize };
}

/**
 * A span entry's bytes inside a buffer read from `bufStart`, after checking the local
 * header there against the span (undefined when the buffer does not hold all of it).
 */
function spanIn(name: string, src: SpanSource, buf: Buffer, bufStart: number): Prepared | undefined {
  const s = src.span;
  const at = s.headerOffset - bufStart;
  const end = s.dataOffset - bufStart + s.compressedSize;
  if (at < 0 || end > buf.length) return undefined;
  checkSpanHeader(name, src, buf.subarray(at, s.dataOffset - bufStart));
  return { method: s.method, crc: s.crc32, compressedSize: s.compressedSize, uncompressedSize: s.uncompressedSize, data: buf.subarray(s.dataOffset - bufStart, end) };
}

function checkSpanHeader(name: string, src: SpanSource, header: Buffer): void {
  const s = src.span;
  const flags = header.length >= LOCAL_HEADER_SIZE ? header.readUInt16LE(6) : 0;
  const ok =
    header.length >= LOCAL_HEADER_SIZE &&
    header.readUInt32LE(0) === 0x04034b50 &&
    header.readUInt16LE(8) === s.method &&
    LOCAL_HEADER_SIZE + header.readUInt16LE(26) + header.readUInt16LE(28) === header.length &&
    ((flags & 8) !== 0 || header.readUInt32LE(14) === s.crc32);
  if (!ok) {
    throw new IntegrityError(`Entry ${name}: ${src.source.name} has no matching local header at offset ${s.headerOffset}; the file changed since the copy was planned. Build again.`, { code: "ERR_SOURCE_CHANGED" });
  }
}

async function prepareSpan(name: string, src: SpanSource, signal: AbortSignal | undefined): Promise<Prepared> {
  const s = src.span;
  if (s.compressedSize <= IN_MEMORY_LIMIT) {
    const buf = await src.source.read(s.headerOffset, s.dataOffset + s.compressedSize - s.headerOffset, signal);
    return spanIn(name, src, buf, s.headerOffset)!;
  }
  checkSpanHeader(name, src, await src.source.read(s.headerOffset, s.dataOffset - s.headerOffset, signal));
  const chunks = async function* (): AsyncGenerator<Buffer> {
    for (let at = 0; at < s.compressedSize; ) {
      const n = Math.min(1 << 20, s.compressedSize - at);
      yield await src.source.read(s.dataOffset + at, n, signal);
      at += n;
    }
  };
  return { method: s.method, crc: s.crc32, compressedSize: s.compressedSize, uncompressedSize: s.uncompressedSize, chunks };
}

interface PendingEntry {
  name: string;
  nameBytes: Buffer;
  /** General purpose flags (UTF-8 bit). */
  flags: number;
  kind: EntryKind;
  mode: number;
  compress: boolean;
  source: EntrySource;
}

interface Prepared {
  method: number;
  crc: number;
  compressedSize: number;
  uncompressedSize: number;
  /** In-memory data, or a stream of exactly compressedSize bytes (whose CRC is re-checked when `recheck`). */
  data?: Buffer;
  open?: () => Promise<Readable>;
  chunks?: () => AsyncIterable<Buffer>;
  recheck?: boolean;
  /** Runs alongside the copy (raw entries' verify callback). */
  verify?: () => Promise<void>;
  /** A spool file holding the data, removed once the entry is written. */
  spool?: string;
}

interface PrepareContext {
  level: number;
  spoolDir: string;
  signal: AbortSignal | undefined;
  spools: Set<string>;
}

/** Entries up to this size are read and compressed in memory; larger ones stream (and spool). */
const IN_MEMORY_LIMIT = 4 * 1024 * 1024;
const MAX32 = 0xffffffff;
const deflateRaw = promisify(zlib.deflateRaw);
/** Below this, deflate cannot save anything worth a header's complexity: always stored. */
const MIN_DEFLATE = 64;
/** Below this, deflate on the main thread: a thread-pool round trip costs more than the work. */
const SYNC_DEFLATE_LIMIT = 32 * 1024;

/**
 * Raw deflate of an in-memory entry. The window is sized to the data (a function of its
 * length only, so still deterministic): zlib allocates and clears the full 32 KiB window
 * and hash tables per call otherwise, which dominates the cost of small files.
 */
async function deflate(data: Buffer, level: number): Promise<Buffer> {
  const options = { level, windowBits: deflateWindowBits(data.length) };
  return data.length < SYNC_DEFLATE_LIMIT ? zlib.deflateRawSync(data, options) : deflateRaw(data, options);
}

async function prepare(entry: PendingEntry, ctx: PrepareContext): Promise<Prepared> {
  const src = entry.source;
  switch (src.kind) {
    case "directory":
      return { method: 0, crc: 0, compressedSize: 0, uncompressedSize: 0, data: Buffer.alloc(0) };
    case "buffer":
      return prepareBuffer(src.data, entry.compress, ctx);
    case "precompressed":
      return checkPrecompressed(entry.name, await src.produce(), ctx);
    case "span":
      return prepareSpan(entry.name, src, ctx.signal);
    case "raw": {
      const { reader, entry: e, verify } = src;
      const base = {
        method: e.method,
        crc: e.crc32,
        compressedSize: e.compressedSize,
        uncompressedSize: e.uncompressedSize,
        verify: verify ? async () => verify(await reader.openEntryStream(e, { signal: ctx.signal })) : undefined,
      };
      if (e.compressedSize <= IN_MEMORY_LIMIT) {
        // Read ahead (in parallel with earlier entries being written): header and data in one read.
        const located = await reader.locate(e, ctx.signal);
        if (located.data) return { ...base, data: located.data };
        const chunks: Buffer[] = [];
        for await (const chunk of reader.rawChunks(e, ctx.signal)) chunks.push(chunk);
        return { ...base, data: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) };
      }
      return { ...base, chunks: () => reader.rawChunks(e, ctx.signal) };
    }
    case "file": {
      const small = await readSmallFile(src.path, IN_MEMORY_LIMIT).catch((err: NodeJS.ErrnoException) => {
        throw new InvalidInputError(`Entry ${entry.name}: cannot read ${src.path}: ${err.message}.`, { cause: err, code: "ERR_FILE_NOT_READABLE" });
      });
      throwIfAborted(ctx.signal);
      if (small.data) return prepareBuffer(small.data, entry.compress, ctx);
      const open = async () => fs.createReadStream(src.path, { highWaterMark: 1 << 20 }) as Readable;
      return prepareLarge(entry, open, small.size, src.path, ctx);
    }
    case "stream": {
      const open = async () => toReadable(await src.open());
      if (src.size <= IN_MEMORY_LIMIT) {
        const data = await collect(await open(), src.size, entry.name, ctx.signal);
        return prepareBuffer(data, entry.compress, ctx);
      }
      return prepareLarge(entry, open, src.size, "its stream", ctx);
    }
  }
}

async function prepareBuffer(data: Buffer, compress: boolean, ctx: PrepareContext): Promise<Prepared> {
  const crc = crc32(data);
  if (compress && data.length >= MIN_DEFLATE) {
    const deflated = await deflate(data, ctx.level);
    // Deflate that does not shrink the data is stored instead (a decision made from the
    // bytes alone, so it is deterministic).
    if (deflated.length < data.length) return { method: 8, crc, compressedSize: deflated.length, uncompressedSize: data.length, data: deflated };
  }
  return { method: 0, crc, compressedSize: data.length, uncompressedSize: data.length, data };
}

async function prepareLarge(entry: PendingEntry, open: () => Promise<Readable>, size: number, what: string, ctx: PrepareContext): Promise<Prepared> {
  const signal = ctx.signal;
  if (!entry.compress) {
    // Stored: one pass for the CRC, a second one copies (and re-checks) the bytes.
    let crc = 0;
    let n = 0;
    for await (const chunk of withSignal(await open(), signal) as AsyncIterable<Buffer>) {
      crc = crc32(chunk, crc);
      n += chunk.length;
    }
    if (n !== size) throw changed(entry.name, what, size, n);
    return { method: 0, crc, compressedSize: size, uncompressedSize: size, open, recheck: true };
  }
  // Deflated: compress once into a spool file beside the output, then copy it in.
  const spool = path.join(ctx.spoolDir, `.zip-spool-${crypto.randomBytes(6).toString("hex")}`);
  ctx.spools.add(spool);
  let crc = 0;
  let n = 0;
  const input = withSignal(await open(), signal);
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      crc = crc32(chunk, crc);
      n += chunk.length;
      cb(null, chunk);
    },
  });
  const out = fs.createWriteStream(spool, { flags: "wx", mode: 0o600 });
  try {
    await pipeline(input, counter, zlib.createDeflateRaw({ level: ctx.level }), out, ...(signal ? [{ signal }] : []));
  } catch (err) {
    // Aborted before the spool was even opened: it must exist or be gone for good before
    // the final cleanup removes it.
    await finished(out).catch(() => undefined);
    throw err;
  }
  if (n !== size) throw changed(entry.name, what, size, n);
  const compressedSize = (await fs.promises.stat(spool)).size;
  return {
    method: 8,
    crc,
    compressedSize,
    uncompressedSize: size,
    open: async () => fs.createReadStream(spool, { highWaterMark: 1 << 20 }),
    spool,
  };
}

async function writePayload(sink: Sink, entry: PendingEntry, p: Prepared, signal: AbortSignal | undefined): Promise<void> {
  const verification = p.verify?.();
  verification?.catch(() => undefined);
  if (p.data) {
    await sink.write(p.data);
    await verification;
    return;
  }
  const stream = p.chunks ? p.chunks() : withSignal(await p.open!(), signal);
  let n = 0;
  let crc = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > p.compressedSize) break;
    if (p.recheck) crc = crc32(chunk, crc);
    await sink.write(chunk);
  }
  if (n !== p.compressedSize || (p.recheck && crc >>> 0 !== p.crc >>> 0)) {
    if (stream instanceof Readable) stream.destroy();
    throw new IntegrityError(`Entry ${entry.name}: its content changed while the archive was being written (${n} bytes, expected ${p.compressedSize}); write again.`, { code: "ERR_SOURCE_CHANGED" });
  }
  await verification;
}

// ---------------------------------------------------------------------------------------
// Records (APPNOTE 6.3.x sections 4.3.7, 4.3.12, 4.3.14-16, 4.5.3).

/** MS-DOS date of 1980-01-01 (day 1, month 1, year 0); time 00:00:00 is 0. */
const DOS_DATE = (1 << 5) | 1;
const DOS_TIME = 0;
const VERSION_MADE_BY = (3 << 8) | 45; // Unix, spec 4.5
const FLAG_UTF8 = 0x0800;

function versionNeeded(p: Prepared, zip64: boolean): number {
  return zip64 ? 45 : 20;
}

function localHeader(entry: PendingEntry, p: Prepared, zip64: boolean): Buffer {
  const nameLength = entry.nameBytes.length;
  const h = Buffer.allocUnsafe(30 + nameLength + (zip64 ? 20 : 0));
  h.writeUInt32LE(0x04034b50, 0);
  h.writeUInt16LE(versionNeeded(p, zip64), 4);
  h.writeUInt16LE(entry.flags, 6);
  h.writeUInt16LE(p.method, 8);
  h.writeUInt16LE(DOS_TIME, 10);
  h.writeUInt16LE(DOS_DATE, 12);
  h.writeUInt32LE(p.crc >>> 0, 14);
  h.writeUInt32LE(zip64 ? MAX32 : p.compressedSize, 18);
  h.writeUInt32LE(zip64 ? MAX32 : p.uncompressedSize, 22);
  h.writeUInt16LE(nameLength, 26);
  h.writeUInt16LE(zip64 ? 20 : 0, 28);
  entry.nameBytes.copy(h, 30);
  if (zip64) {
    // The local ZIP64 extra field always holds both sizes (APPNOTE 4.5.3).
    const at = 30 + nameLength;
    h.writeUInt16LE(0x0001, at);
    h.writeUInt16LE(16, at + 2);
    writeU64(h, p.uncompressedSize, at + 4);
    writeU64(h, p.compressedSize, at + 12);
  }
  return h;
}

/** Central directory headers appended to one buffer. */
class CentralDirectory {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private length = 0;

  add(entry: PendingEntry, p: Prepared, offset: number, force: boolean): void {
    const room = 46 + entry.nameBytes.length + 28;
    if (this.length + room > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + room));
      this.buf.copy(grown, 0, 0, this.length);
      this.buf = grown;
    }
    this.length += writeCentralHeader(this.buf, this.length, entry, p, offset, force);
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

/** Writes one central directory header at `at` (room: 46 + name + 28 bytes); returns its length. */
function writeCentralHeader(h: Buffer, at0: number, entry: PendingEntry, p: Prepared, offset: number, force: boolean): number {
  // The ZIP64 extra field holds exactly the values whose 32-bit field is 0xFFFFFFFF, in this order.
  const bigSize = force || p.uncompressedSize >= MAX32;
  const bigCompressed = force || p.compressedSize >= MAX32;
  const bigOffset = force || offset >= MAX32;
  const count = (bigSize ? 1 : 0) + (bigCompressed ? 1 : 0) + (bigOffset ? 1 : 0);
  const extraLength = count ? 4 + 8 * count : 0;
  const nameLength = entry.nameBytes.length;
  h.writeUInt32LE(0x02014b50, at0);
  h.writeUInt16LE(VERSION_MADE_BY, at0 + 4);
  h.writeUInt16LE(versionNeeded(p, count > 0), at0 + 6);
  h.writeUInt16LE(entry.flags, at0 + 8);
  h.writeUInt16LE(p.method, at0 + 10);
  h.writeUInt16LE(DOS_TIME, at0 + 12);
  h.writeUInt16LE(DOS_DATE, at0 + 14);
  h.writeUInt32LE(p.crc >>> 0, at0 + 16);
  h.writeUInt32LE(bigCompressed ? MAX32 : p.compressedSize, at0 + 20);
  h.writeUInt32LE(bigSize ? MAX32 : p.uncompressedSize, at0 + 24);
  h.writeUInt16LE(nameLength, at0 + 28);
  h.writeUInt16LE(extraLength, at0 + 30);
  h.fill(0, at0 + 32, at0 + 38); // comment length, disk number, internal attributes
  h.writeUInt32LE(((entry.mode << 16) | (entry.kind === "directory" ? 0x10 : 0)) >>> 0, at0 + 38);
  h.writeUInt32LE(bigOffset ? MAX32 : offset, at0 + 42);
  entry.nameBytes.copy(h, at0 + 46);
  if (count) {
    let at = at0 + 46 + nameLength;
    h.writeUInt16LE(0x0001, at);
    h.writeUInt16LE(8 * count, at + 2);
    at += 4;
    for (const [big, value] of [[bigSize, p.uncompressedSize], [bigCompressed, p.compressedSize], [bigOffset, offset]] as const) {
      if (!big) continue;
      writeU64(h, value, at);
      at += 8;
    }
  }
  return 46 + nameLength + extraLength;
}

function endRecords(count: number, cdOffset: number, cdSize: number, position: number, force: boolean, comment?: string): Buffer {
  const commentBytes = Buffer.from(comment ?? "", "utf8");
  const zip64 = force || count > 0xffff || cdOffset >= MAX32 || cdSize >= MAX32;
  const parts: Buffer[] = [];
  if (zip64) {
    const rec = Buffer.alloc(56);
    rec.writeUInt32LE(0x06064b50, 0);
    writeU64(rec, 44, 4); // size of the rest of this record
    rec.writeUInt16LE(VERSION_MADE_BY, 12);
    rec.writeUInt16LE(45, 14);
    rec.writeUInt32LE(0, 16); // this disk
    rec.writeUInt32LE(0, 20); // disk with the central directory
    writeU64(rec, count, 24);
    writeU64(rec, count, 32);
    writeU64(rec, cdSize, 40);
    writeU64(rec, cdOffset, 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeUInt32LE(0, 4);
    writeU64(locator, position, 8); // the ZIP64 end record starts right after the central directory
    locator.writeUInt32LE(1, 16);
    parts.push(rec, locator);
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(0, 4);
  end.writeUInt16LE(0, 6);
  end.writeUInt16LE(Math.min(count, 0xffff), 8);
  end.writeUInt16LE(Math.min(count, 0xffff), 10);
  end.writeUInt32LE(Math.min(cdSize, MAX32), 12);
  end.writeUInt32LE(Math.min(cdOffset, MAX32), 16);
  end.writeUInt16LE(commentBytes.length, 20);
  parts.push(end, commentBytes);
  return Buffer.concat(parts);
}

function writeU64(buf: Buffer, value: number, at: number): void {
  buf.writeUInt32LE(value % 0x100000000, at);
  buf.writeUInt32LE(Math.floor(value / 0x100000000), at + 4);
}

// ---------------------------------------------------------------------------------------
// Output sinks: track the position (offsets) and the SHA-256 of everything written.

const BLOCK = 4 << 20;
const MAX_IN_FLIGHT = 4;
const WRITEBACK_EVERY = 16 << 20;

/**
 * Gathers writes (headers, entry data: references, not copies) into blocks of about
 * BLOCK bytes, sent as one vectored write each: copying every byte into a block buffer
 * first cost more CPU than the rest of a raw copy. Callers never reuse or modify a buffer
 * they handed over (it may be written later). Hashes each piece when a digest is wanted.
 */
abstract class Sink {
  position = 0;
  private readonly hash: crypto.Hash | undefined;
  private parts: Buffer[] = [];
  private bytes = 0;

  constructor(digest: boolean) {
    this.hash = digest ? crypto.createHash("sha256") : undefined;
  }

  /**
   * Returns undefined when the data was only queued (the common case for headers and
   * small entries: no promise, no microtask), else a promise to await.
   */
  write(data: Buffer): Promise<void> | undefined {
    if (data.length === 0) return undefined;
    this.position += data.length;
    this.hash?.update(data);
    this.parts.push(data);
    this.bytes += data.length;
    return this.bytes < BLOCK ? undefined : this.emit();
  }

  /** Everything written so far has reached the output. */
  async flush(): Promise<void> {
    await this.emit();
  }

  digest(): string {
    return this.hash ? this.hash.digest("hex") : "";
  }

  /**
   * Calls `done` once every byte written so far has been handed to the output, after
   * which the caller may reuse those buffers. Sinks that cannot tell never call it.
   */
  whenWritten(done: () => void): void {
    void done;
  }

  /** Writes one block (its pieces in order); may return before it is written (FileSink) or wait for room (StreamSink). */
  protected abstract send(parts: Buffer[], bytes: number): Promise<void>;

  private async emit(): Promise<void> {
    if (this.bytes === 0) return;
    const parts = this.parts;
    const bytes = this.bytes;
    this.parts = [];
    this.bytes = 0;
    await this.send(parts, bytes);
  }
}

/** Positional vectored writes with a few in flight, so reading the next entries overlaps writing. */
class FileSink extends Sink {
  private flushedTo = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown;
  /** Blocks sent, in output order, until all before them are written too. */
  private readonly blocks: { end: number; done: boolean }[] = [];
  /** Every byte before this offset has been written. */
  private writtenTo = 0;
  private readonly waiting: { at: number; done: () => void }[] = [];
  /** Bytes handed to fdatasync so far, and whether one is running (startWriteback). */
  private syncedTo = 0;
  private syncing = false;

  override whenWritten(done: () => void): void {
    if (this.position <= this.writtenTo) done();
    else this.waiting.push({ at: this.position, done });
  }

  constructor(
    private readonly handle: fs.promises.FileHandle,
    digest: boolean,
  ) {
    super(digest);
  }

  override async flush(): Promise<void> {
    await super.flush();
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure;
  }

  protected async send(parts: Buffer[], bytes: number): Promise<void> {
    if (this.failure) throw this.failure;
    while (this.inFlight.size >= MAX_IN_FLIGHT) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
    const at = this.flushedTo;
    this.flushedTo += bytes;
    const block = { end: this.flushedTo, done: false };
    this.blocks.push(block);
    const p: Promise<void> = this.writeFully(parts, at).then(
      () => {
        this.inFlight.delete(p);
        block.done = true;
        this.advance();
        this.startWriteback();
      },
      (err) => {
        this.inFlight.delete(p);
        this.failure ??= err;
      },
    );
    this.inFlight.add(p);
  }

  /**
   * Starts writing back what is written so far (fdatasync on a pool thread) every
   * WRITEBACK_EVERY bytes, so the disk works while later entries are copied and the final
   * fsync only waits for the tail (it waited for the whole file: about a third of a warm
   * PEX build).
   */
  private startWriteback(): void {
    if (this.writtenTo - this.syncedTo < WRITEBACK_EVERY || this.syncing) return;
    this.syncedTo = this.writtenTo;
    const p: Promise<void> = this.handle.datasync().then(
      () => {
        this.inFlight.delete(p);
        this.syncing = false;
      },
      (err) => {
        this.inFlight.delete(p);
        this.syncing = false;
        this.failure ??= err;
      },
    );
    this.syncing = true;
    this.inFlight.add(p);
  }

  private advance(): void {
    while (this.blocks.length && this.blocks[0]!.done) this.writtenTo = this.blocks.shift()!.end;
    while (this.waiting.length && this.waiting[0]!.at <= this.writtenTo) this.waiting.shift()!.done();
  }

  private async writeFully(parts: Buffer[], at: number): Promise<void> {
    let rest = parts;
    while (rest.length) {
      // At most IOV_MAX (1024 on Linux) pieces per call.
      const batch = rest.length > 1024 ? rest.slice(0, 1024) : rest;
      let { bytesWritten } = await this.handle.writev(batch, at);
      at += bytesWritten;
      // A short write (rare on files): continue from where it stopped.
      let i = 0;
      while (i < batch.length && bytesWritten >= batch[i]!.length) bytesWritten -= batch[i++]!.length;
      const remaining = i < batch.length ? [batch[i]!.subarray(bytesWritten), ...batch.slice(i + 1)] : [];
      rest = [...remaining, ...rest.slice(batch.length)];
    }
  }
}

/** Writes to a stream, honouring backpressure (blocks are never reused: the stream may keep them). */
class StreamSink extends Sink {
  constructor(
    private readonly out: NodeJS.WritableStream,
    digest: boolean,
  ) {
    super(digest);
  }

  protected async send(parts: Buffer[], bytes: number): Promise<void> {
    if (this.out.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts, bytes))) return;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        this.out.removeListener("drain", onDrain);
        this.out.removeListener("error", onError);
        this.out.removeListener("close", onClose);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const onError = (err: Error) => done(err);
      const onClose = () => done(new ClusterPackError("ERR_OUTPUT", "The output stream closed before the archive was written."));
      this.out.on("drain", onDrain);
      this.out.on("error", onError);
      this.out.on("close", onClose);
    });
  }
}

// ---------------------------------------------------------------------------------------

/**
 * The content of a file when it is at most `limit` bytes, else only its size. Callback fs
 * calls, one descriptor, no separate stat: fs.promises.readFile costs about twice as many
 * thread-pool round trips, which dominates when packing tens of thousands of small files.
 */
function readSmallFile(file: string, limit: number): Promise<{ size: number; data?: Buffer }> {
  return new Promise((resolve, reject) => {
    fs.open(file, "r", (err, fd) => {
      if (err) return reject(err);
      const finish = (error: Error | null, value?: { size: number; data?: Buffer }) => fs.close(fd, () => (error ? reject(error) : resolve(value!)));
      fs.fstat(fd, (err2, stat) => {
        if (err2) return finish(err2);
        if (!stat.isFile()) return finish(Object.assign(new Error("not a regular file"), { code: "EISDIR" }));
        if (stat.size > limit) return finish(null, { size: stat.size });
        const data = Buffer.allocUnsafe(stat.size);
        const readAt = (done: number): void => {
          if (done === stat.size) return finish(null, { size: stat.size, data });
          fs.read(fd, data, done, stat.size - done, done, (err3, n) => {
            if (err3) return finish(err3);
            if (n === 0) return finish(Object.assign(new Error(`file shrank while being read (${done} of ${stat.size} bytes)`), { code: "ESHRUNK" }));
            readAt(done + n);
          });
        };
        readAt(0);
      });
    });
  });
}

function toReadable(stream: NodeJS.ReadableStream): Readable {
  return stream instanceof Readable ? stream : Readable.from(stream as AsyncIterable<Buffer>);
}

async function collect(stream: Readable, size: number, name: string, signal: AbortSignal | undefined): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of withSignal(stream, signal) as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    n += buf.length;
    if (n > size) {
      stream.destroy();
      throw changed(name, "its stream", size, n);
    }
    chunks.push(buf);
  }
  if (n !== size) throw changed(name, "its stream", size, n);
  return Buffer.concat(chunks, n);
}

function changed(name: string, what: string, expected?: number, actual?: number): IntegrityError {
  const sizes = expected === undefined ? "" : ` (declared ${expected} bytes, got ${actual}${actual !== undefined && actual > expected ? "+" : ""})`;
  return new IntegrityError(`Entry ${name}: ${what} did not produce the declared content${sizes}; was it modified during the write?`, { code: "ERR_SOURCE_CHANGED" });
}

function asAbort(err: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted && !(err instanceof AbortError)) return new AbortError(undefined, { cause: signal.reason });
  return err;
}

// ---------------------------------------------------------------------------------------
// Entries compressed by the caller (addPrecompressed).

/**
 * A file's content compressed by the caller: raw deflate (method 8) or stored (method 0),
 * in memory (`data`) or, for large files, in a spool file (`spool`), which the writer then
 * owns: it is read when the entry is written and removed right after, or when the write
 * fails.
 */
export type PrecompressedEntry = {
  method: 0 | 8;
  /** CRC-32 of the uncompressed content. */
  crc32: number;
  uncompressedSize: number;
} & ({ data: Buffer; spool?: undefined } | { data?: undefined; spool: { path: string; compressedSize: number } });

/**
 * The zlib options addBuffer (and addFile, for files up to 4 MiB) deflates an entry of
 * `length` bytes with at `level`, or null when such an entry is stored. Deflating with
 * these, and storing instead when the result is not smaller, gives the writer's bytes.
 */
export function entryDeflateOptions(length: number, level: number): { level: number; windowBits: number } | null {
  if (level === 0 || length < MIN_DEFLATE) return null;
  return { level, windowBits: deflateWindowBits(length) };
}

function deflateWindowBits(length: number): number {
  return Math.min(15, Math.max(9, Math.ceil(Math.log2(length + 262))));
}

function checkPrecompressed(name: string, p: PrecompressedEntry, ctx: PrepareContext): Prepared {
  const { method, crc32: crc, uncompressedSize, data, spool } = p;
  if (spool) ctx.spools.add(spool.path); // ours now, whatever happens next
  const compressedSize = data ? data.length : spool?.compressedSize;
  if (
    (method !== 0 && method !== 8) ||
    !Number.isSafeInteger(uncompressedSize) ||
    uncompressedSize < 0 ||
    !Number.isSafeInteger(compressedSize) ||
    compressedSize! < 0 ||
    (method === 0 && compressedSize !== uncompressedSize)
  ) {
    throw new InvalidInputError(`Entry ${name}: precompressed data is inconsistent (method ${method}, ${compressedSize} bytes for ${uncompressedSize} declared); pass method 0 or 8 and the uncompressed size.`, { code: "ERR_INVALID_ENTRY" });
  }
  if (data) return { method, crc: crc >>> 0, compressedSize: data.length, uncompressedSize, data };
  const file = spool!.path;
  return { method, crc: crc >>> 0, compressedSize: compressedSize!, uncompressedSize, open: async () => fs.createReadStream(file, { highWaterMark: 1 << 20 }), spool: file };
}
