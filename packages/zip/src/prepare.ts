import fs from "node:fs";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { finished, pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import { promisify } from "node:util";
import { IntegrityError, InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { tempPath, trackTemp } from "@cluster-pack/io";
import { crc32 } from "./names";
import type { RawAccess, RawSpan, ZipEntry, ZipReader } from "./reader";
import { type RandomAccessSource, withSignal } from "./source";

// Entries and their preparation: everything a local header needs (CRC, sizes, method)
// is known before it is written, so output never needs seeking or data descriptors
// (which some streaming unzippers, e.g. Java's, reject for stored entries). Raw copies
// of other archives' entries are prepared in raw-copy.ts.

export type EntryKind = "file" | "directory" | "symlink";
export type EntrySource =
  | { kind: "buffer"; data: Buffer }
  | { kind: "file"; path: string }
  | { kind: "stream"; open: () => NodeJS.ReadableStream | Promise<NodeJS.ReadableStream>; size: number }
  | { kind: "directory" }
  | { kind: "precompressed"; produce: () => Promise<PrecompressedEntry> }
  | RawSource
  | SpanSource;

/** Stored bytes at a known place of a source (addRawSpan). */
export type SpanSource = { kind: "span"; source: RandomAccessSource; span: RawSpan };

/** An entry of an open archive, copied as stored (addRawEntry). */
export type RawSource = { kind: "raw"; reader: ZipReader; access: RawAccess; entry: ZipEntry; verify?: ((inflated: NodeJS.ReadableStream) => Promise<void>) | undefined };

export interface PendingEntry {
  name: string;
  nameBytes: Buffer;
  /** General purpose flags (UTF-8 bit). */
  flags: number;
  kind: EntryKind;
  mode: number;
  compress: boolean;
  source: EntrySource;
}

export interface Prepared {
  method: number;
  crc32: number;
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

export interface PrepareContext {
  level: number;
  spoolDir: string;
  signal: AbortSignal | undefined;
  spools: Set<string>;
}

/** Entries up to this size are read and compressed in memory; larger ones stream (and spool). */
export const IN_MEMORY_LIMIT = 4 * 1024 * 1024;
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

/** Entry sources this file prepares (raw copies are raw-copy.ts's). */
export type OwnSource = Exclude<EntrySource, RawSource | SpanSource>;

/** Reads (and deflates) an entry's content: everything its local header needs. */
export async function prepareEntry(entry: PendingEntry, src: OwnSource, ctx: PrepareContext): Promise<Prepared> {
  switch (src.kind) {
    case "directory":
      return { method: 0, crc32: 0, compressedSize: 0, uncompressedSize: 0, data: Buffer.alloc(0) };
    case "buffer":
      return prepareBuffer(src.data, entry.compress, ctx);
    case "precompressed":
      return checkPrecompressed(entry.name, await src.produce(), ctx);
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
    if (deflated.length < data.length) return { method: 8, crc32: crc, compressedSize: deflated.length, uncompressedSize: data.length, data: deflated };
  }
  return { method: 0, crc32: crc, compressedSize: data.length, uncompressedSize: data.length, data };
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
    return { method: 0, crc32: crc, compressedSize: size, uncompressedSize: size, open, recheck: true };
  }
  // Deflated: compress once into a spool file beside the output, then copy it in.
  // A registered temporary: removed at exit or on a signal even if the write never ends.
  const spool = tempPath(path.join(ctx.spoolDir, "zip-spool"));
  trackTemp(spool, "file");
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
    crc32: crc,
    compressedSize,
    uncompressedSize: size,
    open: async () => fs.createReadStream(spool, { highWaterMark: 1 << 20 }),
    spool,
  };
}

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

export function changed(name: string, what: string, expected?: number, actual?: number): IntegrityError {
  const sizes = expected === undefined ? "" : ` (declared ${expected} bytes, got ${actual}${actual !== undefined && actual > expected ? "+" : ""})`;
  return new IntegrityError(`Entry ${name}: ${what} did not produce the declared content${sizes}; was it modified during the write?`, { code: "ERR_SOURCE_CHANGED" });
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

export function checkPrecompressed(name: string, p: PrecompressedEntry, ctx: PrepareContext): Prepared {
  const { method, crc32: crc, uncompressedSize, data, spool } = p;
  if (spool) {
    // Ours now, whatever happens next.
    trackTemp(spool.path, "file");
    ctx.spools.add(spool.path);
  }
  const compressedSize = data ? data.length : spool?.compressedSize;
  if (
    (method !== 0 && method !== 8) ||
    !Number.isSafeInteger(uncompressedSize) ||
    uncompressedSize < 0 ||
    !Number.isSafeInteger(compressedSize) ||
    compressedSize! < 0 ||
    (method === 0 && compressedSize !== uncompressedSize)
  ) {
    throw new InvalidInputError(`Entry ${name}: precompressed data is inconsistent (method ${method}, ${compressedSize} bytes for ${uncompressedSize} declared).`, { code: "ERR_INVALID_ENTRY", hint: "pass method 0 or 8 and the uncompressed size." });
  }
  if (data) return { method, crc32: crc >>> 0, compressedSize: data.length, uncompressedSize, data };
  const file = spool!.path;
  return { method, crc32: crc >>> 0, compressedSize: compressedSize!, uncompressedSize, open: async () => fs.createReadStream(file, { highWaterMark: 1 << 20 }), spool: file };
}
