import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { AbortError, errorFromData, IntegrityError, InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { defaultCacheRoot, fileIdentity, settleAll, stillIdentical, writeFileAtomic, type FileIdentity, shardedPath } from "@cluster-pack/io";
import { WorkerPool, type ZipEntry } from "@cluster-pack/zip";
import { RecordVerifier, type RecordEntry } from "./record";
import type { VerifyJob, VerifyJobEntry } from "./verify-worker";

type Hashed = { id: FileIdentity | undefined; sha256: string };

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

/** `verified-wheels` in the default cache root (@cluster-pack/io's `defaultCacheRoot`). */
export function defaultVerifiedWheelsDir(env: Record<string, string | undefined> = process.env): string {
  return verifiedWheelsDirIn(defaultCacheRoot(env));
}

/** Where the verified-wheel records (and the install plans and bytecode beside them) live in a cache root. */
export function verifiedWheelsDirIn(cacheRoot: string): string {
  return path.join(cacheRoot, "verified-wheels");
}

/**
 * Checks raw wheel entries against their zip headers (inflated size, CRC-32) and RECORD
 * (size, hash) on worker threads (verify-worker.ts: inflate + hash off the main thread, in parallel with whatever the caller does meanwhile, e.g. copying the same
 * entries raw into a PEX), and memoises success per wheel CONTENT: a marker named by the
 * wheel file's sha256. A wheel whose bytes were verified once is not inflated again; a
 * different file at the same path has another sha256 and is verified afresh.
 *
 * The sha256 is computed here (by a worker, from the file) unless the caller passes one
 * it already knows (e.g. from a content-addressed download cache); a given sha256 is
 * trusted for the memo lookup, and when a wheel must be verified anyway the file's real
 * sha256 is computed and must equal it, so a marker is only ever written under the hash
 * of the bytes actually verified. The hash and the checks read the file
 * separately (and separately from a copy made meanwhile): the file's identity (inode,
 * size, mtime, ctime) must be the same after the last check as before the hash, or the
 * verification fails.
 */
export class WheelVerifier {
  private readonly cacheDir: string | undefined;
  private readonly pool: WorkerPool<VerifyJob, unknown>;
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
  /** Hashes started by hashAhead, each taken by the next verify of its path. */
  private readonly ahead = new Map<string, Promise<Hashed>>();

  /**
   * Starts hashing the wheel at `wheelPath` now (the caller will verify it once planned
   * and passes no sha256): the hash and the worker's start overlap the caller's planning
   * instead of delaying the first verification. The next `verify` of the path uses it.
   * Resolves to the sha256 (callers need not wait).
   */
  hashAhead(wheelPath: string): Promise<string> {
    let p = this.ahead.get(wheelPath);
    if (!p) {
      p = this.hash(wheelPath);
      p.catch(() => undefined); // observed by verify, or dropped with the verifier
      this.ahead.set(wheelPath, p);
    }
    return p.then((h) => h.sha256);
  }

  /** The file's sha256, and its identity from before the hash (undefined when it cannot be stat'ed: the hash then fails). */
  private async hash(wheelPath: string): Promise<Hashed> {
    const id = await fileIdentity(wheelPath).catch(() => undefined);
    return { id, sha256: (await this.pool.run({ kind: "hash", path: wheelPath })) as string };
  }

  /** Verifies `checks` of the wheel at `wheelPath` (named `wheelName` in errors) unless its content was verified before. */
  async verify(wheelPath: string, wheelName: string, checks: readonly RecordCheck[], options: { sha256?: string } = {}): Promise<WheelVerification> {
    throwIfAborted(this.signal);
    const hint = options.sha256?.toLowerCase();
    if (hint !== undefined && !/^[0-9a-f]{64}$/.test(hint)) throw new InvalidInputError(`The sha256 given for ${wheelName} ("${options.sha256}") is not 64 hex digits.`);
    if (hint && (await this.isMemoised(hint))) return { sha256: hint, memoised: true };
    const early = this.ahead.get(wheelPath);
    this.ahead.delete(wheelPath);
    const { id, sha256 } = await (early ?? this.hash(wheelPath));
    throwIfAborted(this.signal);
    if (hint && sha256 !== hint) {
      throw new IntegrityError(`${wheelName}: its sha256 is ${sha256} but ${hint} was given for it; the file changed or the wrong hash was passed.`);
    }
    if (!hint && (await this.isMemoised(sha256))) return { sha256, memoised: true };
    const jobs = batches(checks).map((batch) =>
      this.pool.run({ kind: "verify", path: wheelPath, wheel: wheelName, entries: batch.map(toJobEntry(wheelName)) }),
    );
    await settleAll(jobs);
    // The hash and the checks read the file separately: a marker names only bytes that
    // stayed the same from before the hash to after the last check.
    if (id && !(await stillIdentical(id))) {
      throw new IntegrityError(`${wheelName}: the file changed while it was being verified (${wheelPath}).`, { code: "ERR_SOURCE_CHANGED", hint: "build again." });
    }
    await this.remember(sha256);
    return { sha256, memoised: false };
  }

  async close(): Promise<void> {
    this.signal?.removeEventListener("abort", this.onAbort);
    await this.pool.close();
  }

  private async isMemoised(sha256: string): Promise<boolean> {
    return this.cacheDir ? isVerifiedWheel(this.cacheDir, sha256) : false;
  }

  // Best effort: a cache that cannot be written only means verifying again next time.
  private async remember(sha256: string): Promise<void> {
    if (!this.cacheDir) return;
    await writeFileAtomic(this.markerPath(sha256), `verified ${sha256}\n`).catch(() => undefined);
  }

  private markerPath(sha256: string): string {
    return verifiedMarkerPath(this.cacheDir!, sha256);
  }
}

/**
 * The marker saying the wheel file with this sha256 was verified: `v2/` holds markers of
 * wheels whose entries were checked against their CRC-32 as well as RECORD (markers of
 * older versions, which checked RECORD only, sit elsewhere and are never trusted).
 */
export function verifiedMarkerPath(cacheDir: string, sha256: string): string {
  return shardedPath(path.join(cacheDir, MARKER_VERSION), sha256);
}

/**
 * True while the marker of the wheel file with this sha256 exists in `cacheDir`: what every
 * cache derived from a verified wheel (install plans, bytecode) is read under.
 */
export async function isVerifiedWheel(cacheDir: string, sha256: string): Promise<boolean> {
  return fs.promises.stat(verifiedMarkerPath(cacheDir, sha256)).then(
    (s) => s.isFile(),
    () => false,
  );
}

const MARKER_VERSION = "v2";

// ---------------------------------------------------------------------------------------

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

function toJobEntry(wheel: string): (c: RecordCheck) => VerifyJobEntry {
  return ({ entry, record }) => {
    // Here rather than in the worker: an unknown algorithm fails before any job is posted.
    new RecordVerifier(wheel, record);
    const { method, crc32, compressedSize, uncompressedSize } = entry;
    return { path: record.path, offset: entry.localHeaderOffset, method, crc32, compressedSize, uncompressedSize, record };
  };
}

/**
 * The verification workers. Hashing one wheel is cheap next to starting a thread: one
 * worker hashes it, and more start for verification (inflating) work or more hashes. A failed
 * verification job is an integrity failure; a failed hash is an unreadable wheel.
 */
function verifyPool(size: number): WorkerPool<VerifyJob, unknown> {
  return new WorkerPool<VerifyJob, unknown>({
    module: require.resolve("./verify-worker"),
    size,
    unref: true,
    // A hash alone waits for the started worker; hashes of several wheels (a first build)
    // start another, which the verification needs next anyway (it started only once every
    // wheel was hashed, after a third of a small first build).
    mayGrow: (job, started, queued) => started === 0 || job.kind === "verify" || queued > 1,
    jobError: (d, job) => (job.kind === "verify" ? errorFromData({ ...d, name: "IntegrityError" }, "ERR_INTEGRITY") : new InvalidInputError(`Cannot read a wheel: ${d.message}`)),
  });
}
