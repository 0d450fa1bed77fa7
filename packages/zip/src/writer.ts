import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { setMaxListeners } from "node:events";
import { AbortError, IntegrityError, InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { crc32, entryKey, normalizeMode, unsafeReason } from "./names";
import { rawAccess, type RawSpan, type ZipEntry, type ZipReader } from "./reader";
import { publishFile, removeTemp } from "@cluster-pack/io";
import { type RandomAccessSource, withSignal } from "./source";
import { centralHeaderRoom, encodeEndRecords, encodeLocalHeader, FLAG_UTF8, LOCAL_HEADER_SIZE, MAX32, writeCentralHeader } from "./records";
import { FileSink, StreamSink, type Sink } from "./sinks";
import { prepareEntry, type EntryKind, type EntrySource, type PendingEntry, type PrecompressedEntry, type PrepareContext, type Prepared } from "./prepare";
import { directCopy, groupItems, prepareRawCopy, RAW_WINDOW, rawCopyIn, WindowBuffers } from "./raw-copy";

export { entryDeflateOptions, type PrecompressedEntry } from "./prepare";
export type { RawSpan } from "./reader";

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
 * archive with consistent ZIP64 decisions, so one small writer handles every entry. The
 * parts, one job each: this file (the API and the write loop), prepare.ts (reading and
 * deflating entries), raw-copy.ts (copies of stored bytes, windows, slabs, spans),
 * records.ts (the record layouts), sinks.ts (file and stream output); zlib compresses.
 */
export class ZipWriter {
  private readonly options: ZipWriterOptions;
  private readonly entries = new Map<string, PendingEntry>();
  private readonly names = new Map<string, string>();

  constructor(options: ZipWriterOptions = {}) {
    const level = options.compressionLevel ?? 6;
    if (!Number.isInteger(level) || level < 0 || level > 9) {
      throw new InvalidInputError(`compressionLevel ${options.compressionLevel} is invalid.`, { code: "ERR_INVALID_OPTION", hint: "use an integer from 0 to 9." });
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
    const access = rawAccess(reader);
    const e = access.resolve(entry);
    if (e.isDirectory) {
      this.addDirectory(name);
      return;
    }
    if (e.method !== 0 && e.method !== 8) {
      throw new InvalidInputError(`${reader.source.name}: entry ${e.name} uses compression method ${e.method}; only stored and deflate entries can be copied.`, { code: "ERR_UNSUPPORTED_ZIP" });
    }
    const kind = e.isSymlink ? "symlink" : "file";
    this.add(name, kind, { kind: "raw", reader, access, entry: e, verify: options.verify }, { mode: options.mode ?? e.mode });
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

  /**
   * Replaces the data of an entry added with addBuffer (a generated file that gains
   * content once more is known: an installed wheel's RECORD listing bytecode compiled
   * after the wheel was added). Nothing else about the entry changes.
   */
  replaceBuffer(name: string, data: Buffer | string): void {
    const existing = this.names.get(entryKey(name));
    const entry = existing === undefined ? undefined : this.entries.get(existing);
    if (entry?.source.kind !== "buffer") throw new InvalidInputError(`Entry ${JSON.stringify(name)} was not added with addBuffer; only such entries can be replaced.`, { code: "ERR_INVALID_ENTRY" });
    entry.source = { kind: "buffer", data: typeof data === "string" ? Buffer.from(data, "utf8") : data };
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
    try {
      return await publishFile(
        target,
        async (temp) => {
          const handle = await fs.promises.open(temp, "wx", 0o600);
          const sink = new FileSink(handle, options.digest ?? true);
          try {
            const { size, entries, sha256 } = await this.writeAll(sink, dir, options);
            await sink.flush();
            await handle.sync();
            await handle.chmod(options.mode ?? 0o644);
            return { path: target, size, entries, sha256 };
          } catch (err) {
            await sink.flush().catch(() => undefined); // let in-flight writes settle before closing
            throw err;
          } finally {
            await handle.close().catch(() => undefined);
          }
        },
        { signal: options.signal },
      );
    } catch (err) {
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
    if (reason) throw new InvalidInputError(`Entry name ${JSON.stringify(name)} is invalid: ${reason}.`, { code: "ERR_INVALID_ENTRY", hint: `use a relative "/"-separated path.` });
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
        if (w?.readSync || item.direct) return; // read when its turn comes (cheaper, no memory ahead)
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
      const header = sink.write(encodeLocalHeader(entry.nameBytes, entry.flags, p, zip64));
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
          await removeTemp(p.spool);
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
        // Slab memory for the next read, within its bound (waits while the disk catches up).
        const wait = w?.readSync ? buffers.ready(w.end - w.start) : item.direct ? buffers.ready(RAW_WINDOW) : undefined;
        if (wait) await wait;
        const recycled = w?.readSync ? buffers.take(w.end - w.start) : undefined;
        const got = item.direct ? undefined : ((w?.readSync ? w.readSync(w.start, w.end - w.start, recycled) : undefined) ?? (await prepared[k]!));
        prepared[k] = undefined;
        start(k + ahead);
        if (item.direct) {
          const entry = sorted[item.first]!;
          const w = emit(entry, directCopy(entry, buffers, signal) ?? (await prepare(entry, ctx)));
          if (w) await w;
          continue;
        }
        if (!item.window) {
          const w = emit(sorted[item.first]!, got as Prepared);
          if (w) await w;
          continue;
        }
        // Raw entries served from one read of their wheel (see groupItems).
        for (let i = item.first; i < item.first + item.count; i++) {
          const entry = sorted[i]!;
          const w = emit(entry, rawCopyIn(entry, got as Buffer, item.window.start) ?? (await prepare(entry, ctx)));
          if (w) await w;
        }
      }
      const cdOffset = sink.position;
      await sink.write(central.bytes());
      const cdSize = sink.position - cdOffset;
      await sink.write(encodeEndRecords(sorted.length, cdOffset, cdSize, sink.position, forceZip64, this.options.comment));
      await sink.flush();
      return { size: sink.position, entries: sorted.length, sha256: sink.digest() };
    } catch (err) {
      internal.abort(err);
      throw err;
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      // Settle everything still being prepared, then drop spool files.
      await Promise.allSettled(prepared.filter((p): p is Promise<Prepared | Buffer> => !!p));
      await Promise.all([...ctx.spools].map((f) => removeTemp(f)));
    }
  }
}

// ---------------------------------------------------------------------------------------

/** Reads an entry's content: raw copies in raw-copy.ts, everything else in prepare.ts. */
function prepare(entry: PendingEntry, ctx: PrepareContext): Promise<Prepared> {
  const src = entry.source;
  return src.kind === "raw" || src.kind === "span" ? prepareRawCopy(entry, src, ctx) : prepareEntry(entry, src, ctx);
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
  if (n !== p.compressedSize || (p.recheck && crc >>> 0 !== p.crc32 >>> 0)) {
    if (stream instanceof Readable) stream.destroy();
    throw new IntegrityError(`Entry ${entry.name}: its content changed while the archive was being written (${n} bytes, expected ${p.compressedSize}).`, { code: "ERR_SOURCE_CHANGED", hint: "write again." });
  }
  await verification;
}

/** Central directory headers appended to one buffer. */
class CentralDirectory {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private length = 0;

  add(entry: PendingEntry, p: Prepared, offset: number, force: boolean): void {
    const room = centralHeaderRoom(entry.nameBytes.length);
    if (this.length + room > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + room));
      this.buf.copy(grown, 0, 0, this.length);
      this.buf = grown;
    }
    const externalAttributes = ((entry.mode << 16) | (entry.kind === "directory" ? 0x10 : 0)) >>> 0;
    const { method, crc32, compressedSize, uncompressedSize } = p;
    this.length += writeCentralHeader(this.buf, this.length, { name: entry.nameBytes, flags: entry.flags, method, crc32, compressedSize, uncompressedSize, externalAttributes, localHeaderOffset: offset }, force);
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

function asAbort(err: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted && !(err instanceof AbortError)) return new AbortError(undefined, { cause: signal.reason });
  return err;
}
