import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { AbortError, ClusterPackError } from "@cluster-pack/errors";
import { tempPath, trackTemp } from "@cluster-pack/io";
import { entryDeflateOptions, type PrecompressedEntry, WorkerPool, type WorkerErrorDetail } from "@cluster-pack/zip";
import { changedError, sourceError } from "./source-errors";

/**
 * A file for the zip archive: its content loaded on demand (relocated; `size` is an
 * estimate for the window, 64 KiB when absent), or read from `source` (which must still be
 * `size` bytes).
 */
export type ZipDeflateItem = { name: string; load: () => Promise<Buffer>; size?: number } | { name: string; source: string; size: number };

export interface ZipDeflaterOptions {
  level: number;
  threads: number;
  /** Where files above LARGE_FILE are deflated to (spool files, handed to the writer, which removes them); default: the OS temp dir. */
  spoolDir?: string;
  signal?: AbortSignal;
  /** Uncompressed bytes being compressed or waiting for the writer at once (default 32 MiB, at least two 1 MiB batches per thread). */
  windowBytes?: number;
}

/**
 * Deflates zip entries on worker threads ahead of the ZipWriter, in the writer's output
 * order, and hands each over through `take` (its addPrecompressed producer). Entries give
 * the bytes the writer's own deflate gives: the same zlib, level and per-entry options
 * (`entryDeflateOptions`), stored when deflate does not shrink them, so the archive is
 * byte-identical whatever the thread count.
 *
 * Memory stays bounded by bytes, not entries: consecutive entries are cut into batches
 * (one worker message each, about BATCH_BYTES), and new batches start only while the
 * batches started and not yet fully taken hold less than the window. Files are read by the
 * workers; relocated content is loaded here just before its batch starts. A file above
 * LARGE_FILE is a batch of its own: its worker streams it through zlib into a spool file
 * (never held whole), as the writer's own streaming path does, and the writer copies that.
 * So every byte is compressed by one of `threads` workers, one job each at a time.
 */
export class ZipDeflater {
  private readonly batches: Batch[] = [];
  /** For each item: its batch and its index in it. */
  private readonly where: Array<{ batch: Batch; index: number }> = [];
  private readonly pool: WorkerPool<DeflateJob, DeflateResult>;
  private readonly window: number;
  private readonly level: number;
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort: () => void;
  private next = 0;
  private inWindow = 0;
  private failure: Error | undefined;
  private readonly spoolDir: string;
  /** Spool files made and not yet handed to the writer (removed on close). */
  private readonly spools = new Set<string>();
  private readonly untrack: Array<() => void> = [];

  /** `items` must be in the order the writer writes them (see `zipOrder`). */
  constructor(items: readonly ZipDeflateItem[], options: ZipDeflaterOptions) {
    this.level = options.level;
    this.signal = options.signal;
    this.window = options.windowBytes ?? Math.max(WINDOW_BYTES, 2 * options.threads * BATCH_BYTES);
    this.spoolDir = options.spoolDir ?? os.tmpdir();
    let cur: Batch | undefined;
    for (const item of items) {
      const bytes = (item.size ?? UNKNOWN_SIZE) + ENTRY_OVERHEAD;
      const large = isLarge(item);
      if (!cur || large || cur.large || cur.bytes >= BATCH_BYTES || cur.items.length >= BATCH_ENTRIES) {
        cur = { items: [], bytes: 0, taken: 0, started: false, result: undefined, large };
        this.batches.push(cur);
      }
      this.where.push({ batch: cur, index: cur.items.length });
      cur.items.push(item);
      cur.bytes += bytes;
    }
    this.pool = new WorkerPool<DeflateJob, DeflateResult>({
      source: ZIP_DEFLATE_WORKER,
      size: options.threads,
      jobError: (d, job) => jobError(d, job),
      crashError: (cause, job) => crashError(cause, job),
    });
    this.onAbort = () => this.fail(new AbortError(undefined, { cause: this.signal?.reason }));
    this.signal?.addEventListener("abort", this.onAbort, { once: true });
    if (this.signal?.aborted) this.onAbort();
    else this.pump();
  }

  /** The compressed entry of item `i` (its batch starts now if the window has not reached it yet). */
  async take(i: number): Promise<PrecompressedEntry> {
    const at = this.where[i];
    if (!at) throw new Error(`internal: no zip entry ${i}`);
    if (this.failure) throw this.failure;
    const result = await this.start(at.batch);
    const m = result.entries[at.index]!;
    if (++at.batch.taken === at.batch.items.length) {
      // Everything of this batch is with the writer now: make room for the next ones.
      at.batch.result = undefined;
      this.inWindow -= at.batch.bytes;
      this.pump();
    }
    if (m.spool) {
      this.spools.delete(m.spool); // the writer's now
      return { method: m.method, crc32: m.crc, uncompressedSize: m.size, spool: { path: m.spool, compressedSize: m.length } };
    }
    return { method: m.method, crc32: m.crc, uncompressedSize: m.size, data: Buffer.from(result.data, m.offset, m.length) };
  }

  /** Terminates the workers (pending entries reject) and removes spool files never taken. */
  async close(): Promise<void> {
    this.signal?.removeEventListener("abort", this.onAbort);
    await this.pool.close();
    await Promise.all([...this.spools].map((f) => fs.promises.rm(f, { force: true }).catch(() => undefined)));
    this.spools.clear();
    for (const u of this.untrack.splice(0)) u();
  }

  // ---------------------------------------------------------------------------------------

  private pump(): void {
    while (!this.failure && this.next < this.batches.length && (this.inWindow < this.window || this.inWindow === 0)) {
      const batch = this.batches[this.next++]!;
      if (!batch.started) void this.start(batch).catch(() => undefined);
    }
  }

  private start(batch: Batch): Promise<DeflateResult> {
    if (batch.result) return batch.result;
    if (batch.started) return Promise.reject(new Error("internal: a zip batch was taken twice"));
    batch.started = true;
    this.inWindow += batch.bytes;
    batch.result = this.compress(batch);
    batch.result.catch((err: Error) => this.fail(err));
    return batch.result;
  }

  private async compress(batch: Batch): Promise<DeflateResult> {
    const entries: JobEntry[] = [];
    const transfer: ArrayBuffer[] = [];
    for (const item of batch.items) {
      if ("load" in item) {
        const data = await item.load();
        // The window counts what was loaded, not the estimate.
        const actual = data.length - (item.size ?? UNKNOWN_SIZE);
        batch.bytes += actual;
        this.inWindow += actual;
        // A copy the worker can own (loaded content may be a view into a larger buffer).
        const copy = new Uint8Array(data).buffer;
        transfer.push(copy);
        entries.push({ name: item.name, data: copy, size: data.length, deflate: entryDeflateOptions(data.length, this.level) });
      } else if (isLarge(item)) {
        // The writer's streaming deflate: its level, zlib's default window, always method 8.
        // A temporary of this process: removed at exit if never handed over, or by the next run.
        const spool = tempPath(path.join(this.spoolDir, "zip-spool"));
        this.spools.add(spool);
        this.untrack.push(trackTemp(spool, "file"));
        entries.push({ name: item.name, path: item.source, size: item.size, deflate: { level: this.level, windowBits: 15 }, spool });
      } else {
        // The options depend on the length only: the worker checks the file still has it.
        entries.push({ name: item.name, path: item.source, size: item.size, deflate: entryDeflateOptions(item.size, this.level) });
      }
    }
    if (this.failure) throw this.failure;
    return this.pool.run({ entries }, transfer);
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.pool.failAll(err);
    void this.pool.close();
  }
}

/**
 * Files above this are streamed (never held whole in memory). It is the writer's own
 * in-memory limit: files up to it the writer stores when deflate does not shrink them, as
 * the workers do; larger ones it always deflates, streaming, as the workers do too.
 */
export const LARGE_FILE = 4 * 1024 * 1024;

function isLarge(item: ZipDeflateItem): boolean {
  return "source" in item && item.size > LARGE_FILE;
}

/** The writer's output order for file names (it sorts entries by their UTF-8 bytes). */
export function zipOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** A worker's crash, naming what it was compressing. */
export function crashError(cause: Error, job: DeflateJob | undefined): ClusterPackError {
  const names = job?.entries.map((e) => e.name) ?? [];
  const what = names.length === 0 ? "" : ` while compressing ${names[0]}${names.length > 1 ? ` (or one of ${names.length - 1} entries after it)` : ""}`;
  return new ClusterPackError("ERR_WORKER_CRASHED", `a zip compression thread failed${what}: ${cause.message}`, { cause, hint: "re-run with fewer threads (-j) if memory is short." });
}

// ---------------------------------------------------------------------------------------

/** Batches of about this many uncompressed bytes: one worker message per batch, not per file. */
const BATCH_BYTES = 1024 * 1024;
const BATCH_ENTRIES = 256;
const WINDOW_BYTES = 32 * 1024 * 1024;
/** Counted per entry, so that thousands of empty files still make batches end. */
const ENTRY_OVERHEAD = 512;
/** Generated content has no size until loaded. */
const UNKNOWN_SIZE = 64 * 1024;

interface Batch {
  items: ZipDeflateItem[];
  bytes: number;
  taken: number;
  started: boolean;
  /** Set while started and not fully taken. */
  result: Promise<DeflateResult> | undefined;
  /** One file above LARGE_FILE, streamed to a spool file. */
  large: boolean;
}

interface JobEntry {
  name: string;
  /** Read by the worker, which checks it still has `size` bytes; or content loaded here. */
  path?: string;
  data?: ArrayBuffer;
  size: number;
  /** The writer's zlib options for this length; null: stored. */
  deflate: { level: number; windowBits: number } | null;
  /** Stream the file through zlib into this new file (files above LARGE_FILE). */
  spool?: string;
}

export interface DeflateJob {
  entries: JobEntry[];
}

interface DeflateResult {
  /** Every entry's output, back to back. */
  data: ArrayBuffer;
  entries: Array<{ method: 0 | 8; crc: number; size: number; offset: number; length: number; spool?: string }>;
}

function jobError(d: WorkerErrorDetail, job: DeflateJob): ClusterPackError {
  const entry = job.entries.find((e) => e.path !== undefined && e.path === d.path);
  if (d.code === "ESIZE" && entry?.path) return changedError(entry.path, entry.name);
  // A full disk while spooling is a write failure, not an unreadable source.
  if (d.code === "ENOSPC" || d.code === "EDQUOT") return new ClusterPackError("ERR_NO_SPACE", `No space left on the device while compressing ${entry?.name ?? "a zip entry"}: ${d.message}`, { cause: Object.assign(new Error(d.message), { code: d.code }) });
  if (entry?.path) return sourceError(entry.path, entry.name, Object.assign(new Error(d.message), { code: d.code, path: d.path }));
  return new ClusterPackError("ERR_COMPRESSION", `compressing ${entry?.name ?? job.entries[0]?.name ?? "a zip entry"} failed: ${d.message}`);
}

// Reads, checksums and deflates a batch; one transferred buffer holds all its outputs. A
// large file is streamed to its spool file instead (zlib's stream work runs on libuv's
// pool, one piece at a time per worker, awaited here).
const ZIP_DEFLATE_WORKER = `
const fs = require("node:fs");
const zlib = require("node:zlib");
const { Transform } = require("node:stream");
const { pipeline } = require("node:stream/promises");
async function spoolLarge(e) {
  let crc = 0;
  let n = 0;
  const counter = new Transform({
    transform(chunk, _enc, cb) {
      crc = zlib.crc32(chunk, crc);
      n += chunk.length;
      cb(null, chunk);
    },
  });
  const input = fs.createReadStream(e.path, { highWaterMark: 1 << 20 });
  try {
    await pipeline(input, counter, zlib.createDeflateRaw({ level: e.deflate.level }), fs.createWriteStream(e.spool, { flags: "wx", mode: 0o600 }));
    if (n !== e.size) {
      const err = new Error(e.path + " (" + e.name + ") changed size: " + n + " bytes, " + e.size + " expected");
      err.code = "ESIZE";
      throw err;
    }
  } catch (err) {
    fs.rmSync(e.spool, { force: true });
    err.path = e.path;
    throw err;
  }
  const length = fs.statSync(e.spool).size;
  return { data: new ArrayBuffer(0), entries: [{ method: 8, crc, size: n, offset: 0, length, spool: e.spool }] };
}
async function handle({ entries }, transfer) {
  if (entries.length === 1 && entries[0].spool) return spoolLarge(entries[0]);
  const parts = [];
  const out = [];
  let offset = 0;
  for (const e of entries) {
    let data;
    if (e.data) data = Buffer.from(e.data);
    else {
      try {
        data = fs.readFileSync(e.path);
      } catch (err) {
        // A failed read (not the open) carries no path: name the file for the caller.
        err.path = e.path;
        throw err;
      }
      if (data.length !== e.size) {
        const err = new Error(e.path + " (" + e.name + ") changed size: " + data.length + " bytes, " + e.size + " expected");
        err.code = "ESIZE";
        err.path = e.path;
        throw err;
      }
    }
    const crc = zlib.crc32(data);
    let method = 0;
    let bytes = data;
    if (e.deflate) {
      const deflated = zlib.deflateRawSync(data, e.deflate);
      if (deflated.length < data.length) {
        method = 8;
        bytes = deflated;
      }
    }
    parts.push(bytes);
    out.push({ method, crc, size: data.length, offset, length: bytes.length });
    offset += bytes.length;
  }
  const all = new Uint8Array(offset);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  transfer.push(all.buffer);
  return { data: all.buffer, entries: out };
}
`;
