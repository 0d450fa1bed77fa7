import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { AbortError, IntegrityError, InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { WorkerPool, type ZipEntry } from "@cluster-pack/zip";
import { RECORD_ALGORITHMS, type RecordEntry } from "./record";

/** One raw wheel entry to check against its RECORD row. */
export interface RecordCheck {
  entry: ZipEntry;
  record: RecordEntry;
}

export interface WheelVerifierOptions {
  /**
   * Directory of "verified" markers, one per wheel sha256 (default
   * `<cluster-pack cache>/verified-wheels`); `false` verifies every wheel every time.
   */
  cacheDir?: string | false;
  /** Worker threads (default: available parallelism, at most 4). */
  threads?: number;
  signal?: AbortSignal;
}

export interface WheelVerification {
  /** sha256 (hex) of the wheel file. */
  sha256: string;
  /** True when an earlier verification of the same bytes was reused. */
  memoised: boolean;
}

/** `$CLUSTER_PACK_CACHE`, else `$XDG_CACHE_HOME/cluster-pack`, else `~/.cache/cluster-pack`, then `verified-wheels`. */
export function defaultVerifiedWheelsDir(env: Record<string, string | undefined> = process.env): string {
  const root = env.CLUSTER_PACK_CACHE || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "cluster-pack");
  return path.join(root, "verified-wheels");
}

/**
 * Checks raw wheel entries against RECORD on worker threads (inflate + hash off the main
 * thread, in parallel with whatever the caller does meanwhile, e.g. copying the same
 * entries raw into a PEX), and memoises success per wheel CONTENT: a marker named by the
 * wheel file's sha256. A wheel whose bytes were verified once is not inflated again; a
 * different file at the same path has another sha256 and is verified afresh.
 *
 * The sha256 is computed here (by a worker, from the file) unless the caller passes one
 * it already knows (e.g. from a content-addressed download cache); a given sha256 is
 * trusted for the memo lookup, and when a wheel must be verified anyway the file's real
 * sha256 is computed and must equal it, so a marker is only ever written under the hash
 * of the bytes actually verified. (The check reads the wheel separately from the copy, as
 * the inline check did: a wheel rewritten in place during a build is not guarded against;
 * wheels in a content-addressed cache never are.)
 */
export class WheelVerifier {
  private readonly cacheDir: string | undefined;
  private readonly pool: WorkerPool<Job, unknown>;
  private readonly signal: AbortSignal | undefined;

  constructor(options: WheelVerifierOptions = {}) {
    this.cacheDir = options.cacheDir === false ? undefined : (options.cacheDir ?? defaultVerifiedWheelsDir());
    const threads = options.threads ?? Math.min(4, Math.max(1, os.availableParallelism?.() ?? os.cpus().length));
    this.pool = verifyPool(Math.max(1, threads));
    this.signal = options.signal;
    // One listener for all jobs (not one per job: thousands of listeners on one signal).
    this.onAbort = () => this.pool.failAll(new AbortError(undefined, { cause: this.signal?.reason }));
    this.signal?.addEventListener("abort", this.onAbort, { once: true });
  }

  private readonly onAbort: () => void;

  /** Verifies `checks` of the wheel at `wheelPath` (named `wheelName` in errors) unless its content was verified before. */
  async verify(wheelPath: string, wheelName: string, checks: readonly RecordCheck[], options: { sha256?: string } = {}): Promise<WheelVerification> {
    throwIfAborted(this.signal);
    const hint = options.sha256?.toLowerCase();
    if (hint !== undefined && !/^[0-9a-f]{64}$/.test(hint)) throw new InvalidInputError(`The sha256 given for ${wheelName} ("${options.sha256}") is not 64 hex digits.`);
    if (hint && (await this.isMemoised(hint))) return { sha256: hint, memoised: true };
    const sha256 = (await this.pool.run({ kind: "hash", path: wheelPath })) as string;
    throwIfAborted(this.signal);
    if (hint && sha256 !== hint) {
      throw new IntegrityError(`${wheelName}: its sha256 is ${sha256} but ${hint} was given for it; the file changed or the wrong hash was passed.`);
    }
    if (!hint && (await this.isMemoised(sha256))) return { sha256, memoised: true };
    const jobs = batches(checks).map((batch) =>
      this.pool.run({ kind: "verify", path: wheelPath, wheel: wheelName, entries: batch.map(toJobEntry(wheelName)) }),
    );
    const settled = await Promise.allSettled(jobs);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) throw failed.reason;
    await this.remember(sha256);
    return { sha256, memoised: false };
  }

  async close(): Promise<void> {
    this.signal?.removeEventListener("abort", this.onAbort);
    await this.pool.close();
  }

  private async isMemoised(sha256: string): Promise<boolean> {
    if (!this.cacheDir) return false;
    return fs.promises.stat(this.markerPath(sha256)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  // Best effort: a cache that cannot be written only means verifying again next time.
  private async remember(sha256: string): Promise<void> {
    if (!this.cacheDir) return;
    const marker = this.markerPath(sha256);
    const tmp = `${marker}.tmp-${process.pid}-${crypto.randomBytes(6).toString("hex")}`;
    try {
      await fs.promises.mkdir(path.dirname(marker), { recursive: true });
      await fs.promises.writeFile(tmp, `verified ${sha256}\n`, { flag: "wx", mode: 0o644 });
      await fs.promises.rename(tmp, marker);
    } catch {
      await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  private markerPath(sha256: string): string {
    return path.join(this.cacheDir!, sha256.slice(0, 2), sha256);
  }
}

// ---------------------------------------------------------------------------------------

interface JobEntry {
  path: string;
  offset: number;
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  algorithm: string;
  hash: string;
  size: number;
}

type Job = { kind: "hash"; path: string } | { kind: "verify"; path: string; wheel: string; entries: JobEntry[] };

/** Entries per worker job: about this many inflated bytes (a few big entries, or many small ones). */
const BATCH_BYTES = 16 * 1024 * 1024;

function batches(checks: readonly RecordCheck[]): RecordCheck[][] {
  const out: RecordCheck[][] = [];
  let cur: RecordCheck[] = [];
  let bytes = 0;
  for (const c of [...checks].sort((a, b) => a.entry.localHeaderOffset - b.entry.localHeaderOffset)) {
    cur.push(c);
    bytes += c.entry.uncompressedSize + 512;
    if (bytes >= BATCH_BYTES) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
  }
  if (cur.length) out.push(cur);
  return out;
}

function toJobEntry(wheel: string): (c: RecordCheck) => JobEntry {
  return ({ entry, record }) => {
    const [algorithm, hash] = splitHash(record.hash ?? "");
    if (!RECORD_ALGORITHMS.has(algorithm)) {
      throw new IntegrityError(`${wheel}: RECORD uses the hash algorithm "${algorithm}" for ${record.path}, which PEP 427 forbids or this installer does not know; rebuild the wheel with sha256.`);
    }
    return {
      path: record.path,
      offset: entry.localHeaderOffset,
      method: entry.method,
      compressedSize: entry.compressedSize,
      uncompressedSize: entry.uncompressedSize,
      algorithm,
      hash,
      size: record.size ?? -1,
    };
  };
}

function splitHash(h: string): [string, string] {
  const i = h.indexOf("=");
  return [h.slice(0, i), h.slice(i + 1).replace(/=+$/, "")];
}

// The worker only uses Node built-ins and is passed as source text, so it runs the same
// from the compiled package and from the TypeScript sources under jest. Bounded memory:
// files are hashed in 4 MiB reads; entries up to 64 MiB are inflated in one call, larger
// ones streamed.
const VERIFY_WORKER = `
const fs = require("node:fs");
const zlib = require("node:zlib");
const crypto = require("node:crypto");
const { pipeline } = require("node:stream");
const CHUNK = 4 << 20;
const WHOLE = 64 << 20;
const nodeAlg = (a) => a.startsWith("sha3_") ? a.replace("_", "-") : a === "blake2b" ? "blake2b512" : a === "blake2s" ? "blake2s256" : a;
function readAt(fd, length, position) {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw new Error("the file is shorter than its zip directory says (truncated or changed)");
    done += n;
  }
  return buf;
}
function hashFile(p) {
  const fd = fs.openSync(p, "r");
  try {
    const h = crypto.createHash("sha256");
    const buf = Buffer.allocUnsafe(CHUNK);
    let pos = 0, n;
    while ((n = fs.readSync(fd, buf, 0, CHUNK, pos)) > 0) { h.update(buf.subarray(0, n)); pos += n; }
    return h.digest("hex");
  } finally { fs.closeSync(fd); }
}
async function checkEntry(fd, p, wheel, e) {
  const head = readAt(fd, 30, e.offset);
  if (head.readUInt32LE(0) !== 0x04034b50) throw new Error(wheel + ": " + e.path + ": no local header at offset " + e.offset + "; the wheel is corrupt");
  const start = e.offset + 30 + head.readUInt16LE(26) + head.readUInt16LE(28);
  const h = crypto.createHash(nodeAlg(e.algorithm));
  let size = 0;
  if (e.compressedSize <= WHOLE) {
    const raw = readAt(fd, e.compressedSize, start);
    let data = raw;
    if (e.method === 8) {
      try { data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, e.uncompressedSize + 1) }); }
      catch (err) { throw new Error(wheel + ": " + e.path + " does not inflate to its declared " + e.uncompressedSize + " bytes (" + err.message + "); the wheel is corrupt"); }
    }
    size = data.length;
    h.update(data);
  } else {
    const input = fs.createReadStream(p, { start, end: start + e.compressedSize - 1, highWaterMark: 1 << 20 });
    const stream = e.method === 8 ? pipeline(input, zlib.createInflateRaw(), () => {}) : input;
    for await (const chunk of stream) {
      size += chunk.length;
      if (size > e.uncompressedSize) break;
      h.update(chunk);
    }
    input.destroy();
  }
  if (e.size >= 0 && size !== e.size) throw new Error(wheel + ": " + e.path + " is " + size + " bytes but RECORD says " + e.size + "; the wheel is corrupt or was tampered with.");
  const got = h.digest("base64url");
  if (got !== e.hash) throw new Error(wheel + ": " + e.path + " does not match its RECORD hash (" + e.algorithm + "=" + e.hash + " expected, " + e.algorithm + "=" + got + " found); the wheel is corrupt or was tampered with.");
}
async function handle(job) {
  if (job.kind === "hash") return hashFile(job.path);
  const fd = fs.openSync(job.path, "r");
  try { for (const e of job.entries) await checkEntry(fd, job.path, job.wheel, e); }
  finally { fs.closeSync(fd); }
}
`;

/**
 * The verification workers. Hashing a wheel is cheap next to starting a thread: one worker
 * hashes them all, and more start only for verification (inflating) work. A failed
 * verification job is an integrity failure; a failed hash is an unreadable wheel.
 */
function verifyPool(size: number): WorkerPool<Job, unknown> {
  return new WorkerPool<Job, unknown>({
    source: VERIFY_WORKER,
    size,
    unref: true,
    mayGrow: (job, started) => started === 0 || job.kind === "verify",
    jobError: (d, job) => (job.kind === "verify" ? new IntegrityError(d.message) : new InvalidInputError(`Cannot read a wheel: ${d.message}`)),
  });
}
