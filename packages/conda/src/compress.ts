import { spawn } from "node:child_process";
import { Transform, type TransformCallback } from "node:stream";
import zlib from "node:zlib";
import { ClusterPackError, InvalidInputError } from "@cluster-pack/errors";
import { WorkerPool } from "@cluster-pack/zip";

/** The compressions a tar archive can be wrapped in. */
export type TarCompression = "none" | "gzip" | "bzip2" | "xz" | "zstd";

export interface CompressionOptions {
  level: number;
  threads: number;
}

/** Valid levels per compression, and conda-pack's default (4) clamped into each range. */
export const LEVELS: Record<TarCompression, { min: number; max: number }> = {
  none: { min: 0, max: 9 },
  gzip: { min: 0, max: 9 },
  bzip2: { min: 1, max: 9 },
  xz: { min: 0, max: 9 },
  zstd: { min: 1, max: 22 },
};

/**
 * A Transform that compresses a byte stream. Every compressor is deterministic: the
 * same input and level give the same bytes whatever the thread count.
 */
export function createCompressor(kind: TarCompression, options: CompressionOptions): Transform {
  const { level, threads } = options;
  const range = LEVELS[kind];
  if (!Number.isInteger(level) || level < range.min || level > range.max) {
    throw new InvalidInputError(`compression level ${level} is out of range for ${kind}`, { code: "ERR_BAD_LEVEL", hint: `use ${range.min}..${range.max}.` });
  }
  if (!Number.isInteger(threads) || threads < 1) {
    throw new InvalidInputError(`thread count ${threads} is invalid`, { code: "ERR_BAD_THREADS", hint: "use a whole number >= 1." });
  }
  switch (kind) {
    case "none":
      return new Transform({ transform: (chunk, _enc, cb) => cb(null, chunk) });
    case "gzip":
      return new ParallelGzip(level, threads);
    case "bzip2":
      return new ParallelBzip2(level, threads);
    case "xz":
      // Fixed block size and the multi-threaded encoder even for one thread (`-T+1`,
      // xz >= 5.4) make the output independent of the thread count. No npm xz library
      // compresses on several threads, so the system xz does the work.
      return new ProcessTransform("xz", ["-c", "-z", `-${level}`, `-T${threads === 1 ? "+1" : threads}`, "--block-size=8MiB", "-q"], "xz-utils");
    case "zstd":
      // The npm zstd bindings (zstd-napi, @mongodb-js/zstd) either fetch a prebuilt binary
      // from outside the npm registry or have no worker threads, so the system zstd does
      // the work; its multi-threaded output does not depend on the number of workers.
      return new ProcessTransform("zstd", zstdArgs(level, threads), "zstd");
  }
}

/** The zstd command line: level (with --ultra above 19) and worker threads, stdin to stdout. */
export function zstdArgs(level: number, threads: number): string[] {
  return ["-c", "-q", ...(level > 19 ? ["--ultra"] : []), `-${level}`, `-T${threads}`];
}

/**
 * Cuts the input into fixed-size blocks, keeps up to `maxInflight` of them compressing
 * (or queued) at once and emits the results in order. Fixed block boundaries make the
 * output independent of the thread count. Subclasses compress one block and may add a
 * header and a trailer.
 */
abstract class BlockParallelTransform extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private inflight: Promise<Buffer>[] = [];
  private started = false;

  constructor(
    private readonly blockSize: number,
    private readonly maxInflight: number,
  ) {
    super();
  }

  /** Starts compressing the next block (blocks are passed in input order). */
  protected abstract compressBlock(block: Buffer): Promise<Buffer>;
  protected header(): Buffer | null {
    return null;
  }
  protected trailer(): Buffer | null {
    return null;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.drain(false).then(() => cb(), cb);
  }

  override _flush(cb: TransformCallback): void {
    this.drain(true)
      .then(() => {
        this.start();
        const trailer = this.trailer();
        if (trailer) this.push(trailer);
      })
      .then(() => cb(), cb);
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    const header = this.header();
    if (header) this.push(header);
  }

  private async drain(final: boolean): Promise<void> {
    while (this.pendingBytes >= this.blockSize || (final && this.pendingBytes > 0)) {
      const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
      const n = Math.min(this.blockSize, all.length);
      const job = this.compressBlock(all.subarray(0, n));
      // Awaited in order below; after a destroy the rest are never awaited: no unhandled rejection.
      job.catch(() => {});
      this.inflight.push(job);
      const rest = all.subarray(n);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
      this.start();
      while (this.inflight.length >= this.maxInflight) this.push(await this.inflight.shift()!);
    }
    if (final) while (this.inflight.length > 0) this.push(await this.inflight.shift()!);
  }
}

/** Block size for parallel gzip; big enough that the 32 KiB dictionary priming is cheap. */
const GZIP_BLOCK = 1 << 20;
const DICT_SIZE = 32 * 1024;

/**
 * pigz-style parallel gzip: each 1 MiB block is deflated on its own (primed with the
 * previous 32 KiB as dictionary, ended by a sync flush so it stops on a byte boundary),
 * and the raw deflate pieces are concatenated into one gzip member closed by an empty
 * final block. The CRC is computed in order on the main thread.
 *
 * With several threads the blocks go to a pool of worker threads, so compression never
 * occupies libuv's small thread pool that file reads need; one thread uses zlib's
 * asynchronous API (one pool thread, no worker start-up). Both give the same bytes.
 */
class ParallelGzip extends BlockParallelTransform {
  private crc = 0;
  private size = 0;
  private prevTail: Buffer | null = null;
  private readonly pool: DeflatePool | null;

  constructor(
    private readonly level: number,
    threads: number,
  ) {
    // With workers, two blocks queued per worker keep every worker busy while the head of
    // the line is awaited (the pool still computes on `threads` threads); with libuv's pool
    // one block in flight is one thread.
    super(GZIP_BLOCK, threads > 1 ? 2 * threads : 1);
    this.pool = threads > 1 ? new DeflatePool(threads) : null;
  }

  protected override header(): Buffer {
    // Fixed header: no name, mtime 0, XFL from the level, OS = 3 (Unix), as gzip -n does.
    const xfl = this.level >= 9 ? 2 : this.level <= 1 ? 4 : 0;
    return Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, xfl, 0x03]);
  }

  protected override trailer(): Buffer {
    void this.pool?.close();
    const trailer = Buffer.alloc(10);
    // An empty final fixed-Huffman block (BFINAL=1, BTYPE=01, EOB), then CRC32 and ISIZE.
    trailer[0] = 0x03;
    trailer[1] = 0x00;
    trailer.writeUInt32LE(this.crc >>> 0, 2);
    trailer.writeUInt32LE(this.size % 0x100000000, 6);
    return trailer;
  }

  protected override compressBlock(block: Buffer): Promise<Buffer> {
    this.crc = zlib.crc32(block, this.crc);
    this.size += block.length;
    const dictionary = this.prevTail;
    this.prevTail = Buffer.from(block.subarray(Math.max(0, block.length - DICT_SIZE)));
    if (this.pool) return this.pool.deflate(block, this.level, dictionary);
    const opts: zlib.ZlibOptions = { level: this.level, finishFlush: zlib.constants.Z_SYNC_FLUSH };
    if (dictionary) opts.dictionary = dictionary;
    return new Promise<Buffer>((resolve, reject) => {
      zlib.deflateRaw(block, opts, (err, out) => (err ? reject(err) : resolve(out)));
    });
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    void this.pool?.close();
    cb(err);
  }
}

/** The worker's program: raw deflate with a dictionary and a sync flush. */
const GZIP_BLOCK_WORKER = `
const zlib = require("node:zlib");
function handle({ block, level, dictionary }, transfer) {
  const opts = { level, finishFlush: zlib.constants.Z_SYNC_FLUSH };
  if (dictionary) opts.dictionary = Buffer.from(dictionary);
  const out = zlib.deflateRawSync(Buffer.from(block), opts);
  const ab = out.buffer.slice(out.byteOffset, out.byteOffset + out.length);
  transfer.push(ab);
  return ab;
}
`;

interface GzipBlockJob {
  block: ArrayBuffer;
  level: number;
  dictionary: ArrayBuffer | null;
}

/** Worker threads deflating gzip blocks. */
class DeflatePool {
  private readonly pool: WorkerPool<GzipBlockJob, ArrayBuffer>;

  constructor(size: number) {
    this.pool = new WorkerPool({ source: GZIP_BLOCK_WORKER, size, jobError: (d) => new ClusterPackError("ERR_COMPRESSION", `deflate failed: ${d.message}`) });
  }

  async deflate(block: Buffer, level: number, dictionary: Buffer | null): Promise<Buffer> {
    // Copies into buffers the worker can own (the block is a view into a larger one).
    const job = { block: new Uint8Array(block).buffer, level, dictionary: dictionary ? new Uint8Array(dictionary).buffer : null };
    return Buffer.from(await this.pool.run(job, job.dictionary ? [job.block, job.dictionary] : [job.block]));
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** bzip2 chunk: 8 x 900k blocks, so each stream compresses as well as one bzip2 run. */
const BZIP2_CHUNK = 8 * 900 * 1000;

/**
 * pbzip2-style parallel bzip2: each chunk is compressed by its own `bzip2` process, and
 * the streams are concatenated into a multi-stream .bz2 (read by bzip2 -d, GNU tar and
 * Python's bz2/tarfile). The system bzip2 is used because the npm bzip2 encoders
 * (compressjs) are pure JS, several times slower, and single-threaded.
 */
class ParallelBzip2 extends BlockParallelTransform {
  constructor(
    private readonly level: number,
    threads: number,
  ) {
    super(BZIP2_CHUNK, threads);
  }

  protected override compressBlock(block: Buffer): Promise<Buffer> {
    return runToBuffer("bzip2", ["-c", "-z", `-${this.level}`], block, "bzip2");
  }
}

/** Streams through a child process (stdin -> stdout), with backpressure and exit-code checks. */
class ProcessTransform extends Transform {
  private readonly child;
  private readonly exited: Promise<void>;
  private stderr = "";

  constructor(command: string, args: string[], aptPackage: string) {
    super();
    this.child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdout.on("data", (d: Buffer) => {
      if (!this.push(d)) this.child.stdout.pause();
    });
    this.child.stderr.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-2000);
    });
    this.child.stdin.on("error", () => {
      // EPIPE when the process died: the exit code below reports it.
    });
    this.exited = new Promise((resolve, reject) => {
      this.child.on("error", (err: NodeJS.ErrnoException) =>
        reject(
          err.code === "ENOENT"
            ? new ClusterPackError("ERR_TOOL_MISSING", `${command} is not installed`, { cause: err, hint: `install it (Debian: apt-get install ${aptPackage}).` })
            : err,
        ),
      );
      this.child.on("close", (code, sig) =>
        code === 0 ? resolve() : reject(new ClusterPackError("ERR_COMPRESSION", `${command} ${args.join(" ")} failed (${sig ?? `exit ${code}`}): ${this.stderr.trim()}`)),
      );
    });
    this.exited.catch((err) => this.destroy(err));
  }

  override _read(size: number): void {
    this.child.stdout.resume();
    super._read(size);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.child.stdin.write(chunk)) cb();
    else this.child.stdin.once("drain", () => cb());
  }

  override _flush(cb: TransformCallback): void {
    this.child.stdin.end();
    this.exited.then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
    cb(err);
  }
}

function runToBuffer(command: string, args: string[], input: Buffer, aptPackage: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.stdin.on("error", () => {});
    child.on("error", (e: NodeJS.ErrnoException) =>
      reject(e.code === "ENOENT" ? new ClusterPackError("ERR_TOOL_MISSING", `${command} is not installed`, { cause: e, hint: `install it (Debian: apt-get install ${aptPackage}).` }) : e),
    );
    child.on("close", (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new ClusterPackError("ERR_COMPRESSION", `${command} failed (exit ${code}): ${err.trim()}`))));
    child.stdin.end(input);
  });
}
