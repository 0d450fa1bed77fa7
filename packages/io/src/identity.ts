import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { AbortError } from "@cluster-pack/errors";
import { moveIntoPlace, writeFileAtomic } from "./temp";

/**
 * The one rule for trusting a cached file without reading it (the reasoning of git's
 * index): a file's identity is its real path, device, inode, size, mtime and ctime in ns.
 * Users can set mtime but not ctime, and every write, chmod, rename or replacement
 * changes ctime (or the inode), so a file whose identity is the one recorded right after
 * its bytes were verified still holds those bytes. One hole remains: a write sets mtime
 * and ctime both to the current tick, so a write in the tick of the recorded timestamps
 * would not show. An identity is therefore "racy" (never recorded; the file is hashed again
 * next time) while its timestamps are under 2 s old AND mtime and ctime are under 2 s
 * apart. When they are further apart no write can leave both as recorded, which is why a
 * verified file we publish is given a fixed past mtime first (`DigestMemo.publishVerified`):
 * its identity can be recorded at once instead of costing the next reader a full hash.
 */

/** A file's identity at one moment. */
export interface FileIdentity {
  /** The real path (symlinks resolved). */
  path: string;
  /** sha1 over real path, device, inode, size, mtime and ctime (ns). */
  key: string;
  size: number;
  /** Changed too recently for its timestamps to prove the content unchanged later. */
  racy: boolean;
}

/** Timestamps this recent may share a coarse kernel tick with a later write. */
export const RACY_NS = 2_000_000_000n;

/** The mtime `publishVerified` gives a file (1980-01-01, the zip epoch): far from any ctime. */
const SEALED_MTIME = new Date(Date.UTC(1980, 0, 1));

/** Stats `file` (following symlinks) and returns its identity. */
export async function fileIdentity(file: string): Promise<FileIdentity> {
  const real = await fs.promises.realpath(file);
  return identityOf(real, await fs.promises.stat(real, { bigint: true }));
}

/** The identity of `real` from its (bigint) stats. */
export function identityOf(real: string, st: fs.BigIntStats, nowNs: bigint = BigInt(Date.now()) * 1_000_000n): FileIdentity {
  const key = crypto.createHash("sha1").update(`${real}\0${st.dev}\0${st.ino}\0${st.size}\0${st.mtimeNs}\0${st.ctimeNs}`).digest("hex");
  const newest = st.mtimeNs > st.ctimeNs ? st.mtimeNs : st.ctimeNs;
  const apart = st.mtimeNs > st.ctimeNs ? st.mtimeNs - st.ctimeNs : st.ctimeNs - st.mtimeNs;
  return { path: real, key, size: Number(st.size), racy: nowNs - newest < RACY_NS && apart < RACY_NS };
}

/** True while the file at `id.path` still has exactly this identity. */
export async function stillIdentical(id: FileIdentity): Promise<boolean> {
  const st = await fs.promises.stat(id.path, { bigint: true }).catch(() => undefined);
  return st !== undefined && identityOf(id.path, st).key === id.key;
}

/**
 * Digests of a file, streamed (archives and wheels can be gigabytes). `algorithms` are
 * Node hash names; the result maps each to its lower-case hex digest.
 */
export async function hashFile(file: string, algorithms: readonly string[] = ["sha256"], options: { signal?: AbortSignal } = {}): Promise<{ digests: Record<string, string>; size: number }> {
  const hashers = algorithms.map((a) => [a, crypto.createHash(a)] as const);
  let size = 0;
  try {
    for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20, ...(options.signal ? { signal: options.signal } : {}) })) {
      for (const [, h] of hashers) h.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
  } catch (err) {
    if (options.signal?.aborted) throw new AbortError(undefined, { cause: options.signal.reason });
    throw err;
  }
  return { digests: Object.fromEntries(hashers.map(([a, h]) => [a, h.digest("hex")])), size };
}

/** The lower-case hex sha256 of a file, streamed. */
export async function sha256File(file: string, options: { signal?: AbortSignal } = {}): Promise<string> {
  return (await hashFile(file, ["sha256"], options)).digests.sha256!;
}

/**
 * sha256 digests recorded by file identity, one small file each under `dir`
 * (`<dir>/<key[0:2]>/<key>` holding the hex digest): the memo behind every cache that hands
 * out files it verified once. A record is only written for a non-racy identity the file
 * still has after it was hashed; any change to the file makes its record unreachable.
 * Best effort: an unreadable or corrupt record is a miss, an unwritable one costs a hash.
 */
export class DigestMemo {
  constructor(readonly dir: string) {}

  /** The file's identity, with the sha256 recorded for exactly it when there is one. Rejects when the file is missing. */
  async lookup(file: string): Promise<FileIdentity & { sha256?: string }> {
    const id = await fileIdentity(file);
    const text = await fs.promises.readFile(this.recordPath(id.key), "utf8").catch(() => "");
    return /^[0-9a-f]{64}\n$/.test(text) ? { ...id, sha256: text.trim() } : id;
  }

  /**
   * Publishes `temp`, a private temporary whose bytes were just verified as `sha256`, at
   * `target` (by rename, replacing it) and records its identity at once. Its mtime is set to
   * a fixed past instant first, so the fresh file is not racy (see identityOf). Where the
   * file system refuses the mtime, the record waits for the next reader's hash, as before.
   */
  async publishVerified(temp: string, target: string, sha256: string): Promise<void> {
    await fs.promises.utimes(temp, SEALED_MTIME, SEALED_MTIME).catch(() => undefined);
    await moveIntoPlace(temp, target);
    const id = await this.lookup(target).catch(() => undefined);
    if (id) await this.remember(id, sha256);
  }

  /** Records `sha256` for `id` unless it is racy or the file has changed since `id` was taken. */
  async remember(id: FileIdentity & { sha256?: string }, sha256: string): Promise<void> {
    if (id.racy || id.sha256 === sha256) return;
    if (!(await stillIdentical(id))) return;
    await writeFileAtomic(this.recordPath(id.key), `${sha256}\n`).catch(() => undefined);
  }

  /**
   * True when the file's bytes have this sha256: by its identity record, else by hashing
   * it (then recording the identity, when it matches and is not racy).
   */
  async verify(file: string, sha256: string, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const id = await this.lookup(file);
    if (id.sha256 === sha256) return true;
    const { digests } = await hashFile(id.path, ["sha256"], options);
    if (digests.sha256 !== sha256) return false;
    await this.remember(id, sha256);
    return true;
  }

  private recordPath(key: string): string {
    return shardedPath(this.dir, key);
  }
}

/**
 * Proofs that a set of files held the bytes a claim names ("these installed files are the
 * ones this RECORD lists"), by the files' identities: one small record per (identities,
 * claim) under `dir`. A record is written only after the caller verified the bytes, when
 * no identity is racy and every file still has its identity; any change to any file
 * makes the record unreachable, so the set is verified again. Best effort, like DigestMemo.
 */
export class IdentitySetMemo {
  constructor(readonly dir: string) {}

  /** True when exactly these identities were recorded as holding `claim`. */
  async holds(ids: readonly FileIdentity[], claim: string): Promise<boolean> {
    const text = await fs.promises.readFile(this.recordPath(ids, claim), "utf8").catch(() => "");
    return text === `${ids.length}\n`;
  }

  /** Records that `ids` hold `claim` (call only after verifying them). */
  async remember(ids: readonly FileIdentity[], claim: string): Promise<void> {
    if (ids.some((id) => id.racy)) return;
    for (const id of ids) if (!(await stillIdentical(id))) return;
    await writeFileAtomic(this.recordPath(ids, claim), `${ids.length}\n`).catch(() => undefined);
  }

  private recordPath(ids: readonly FileIdentity[], claim: string): string {
    const h = crypto.createHash("sha256").update(claim).update("\0");
    for (const id of ids) h.update(`${id.key}\n`);
    return shardedPath(this.dir, h.digest("hex"));
  }
}

/**
 * The one layout of every content-addressed cache in the project: `<dir>/<first two hex
 * digits of key>/<name>` (name defaults to the key), so no directory holds more than 1/256
 * of the entries. The key must be lowercase hex (a digest): it is the choke point that keeps
 * a claimed hash from an index or a plan from naming a path outside `dir`.
 */
export function shardedPath(dir: string, key: string, name: string = key): string {
  if (!/^[0-9a-f]{2,}$/.test(key)) throw new TypeError(`shardedPath: "${key.slice(0, 80)}" is not a lowercase hex digest`);
  if (name !== key && (name.includes("/") || name.includes("\\") || name === "." || name === ".." || name.includes("\0"))) {
    throw new TypeError(`shardedPath: "${name.slice(0, 80)}" is not a file name`);
  }
  return path.join(dir, key.slice(0, 2), name);
}
