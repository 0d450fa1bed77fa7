import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import { AbortError, IntegrityError, redactUrl, throwIfAborted } from "@cluster-pack/errors";
import { DigestMemo, defaultCacheRoot, hashFile, publishFile, withTempFile, writeFileAtomic, shardedPath } from "@cluster-pack/io";
import { isHashAlgorithm, isValidHexDigest, unsafeComponentReason } from "@cluster-pack/packaging";
import { fileSource, peekEntries } from "@cluster-pack/zip";
import type { HttpClient } from "./http";
import type { DistributionFile } from "./simple-index";

/** The default cache root (@cluster-pack/io's `defaultCacheRoot`): $CLUSTER_PACK_CACHE, else $XDG_CACHE_HOME/cluster-pack, else ~/.cache/cluster-pack. */
export function defaultCacheDir(env: Record<string, string | undefined> = process.env): string {
  return defaultCacheRoot(env);
}

/** A file in the cache. */
export interface CachedFile {
  path: string;
  sha256: string;
  size: number;
  /** True when it was already cached (no transfer). */
  hit: boolean;
  /** True when a cached copy was found damaged, evicted and fetched again. */
  repaired?: boolean;
}

/**
 * The store's layout version: entries of `dists-v2` are read-only and trusted only
 * through an identity record taken after verification (older `files/` entries were
 * trusted on sight, so they are never read).
 */
const LAYOUT = "dists-v2";

/**
 * Content-addressed store of distribution files: `<root>/dists-v2/sha256/ab/<hex>/<filename>`.
 *
 * - Admission: a download streams to a temporary file while it is hashed, and is renamed
 *   into place only once it matches the index's (or lock's) hashes, the pins, the size the
 *   index declares and the Content-Length, and is complete as an archive (a zip's end
 *   record and central directory, a gzip stream to its trailer): a truncated body from an
 *   index without hashes is never cached as good. Entries are made read-only.
 * - Hits: an entry is used only when it is byte for byte what was verified: its file
 *   identity (@cluster-pack/io's DigestMemo: inode, size, mtime and ctime) is the one
 *   recorded for its sha256, or hashing it again gives that sha256. A damaged entry is
 *   evicted and fetched again, never used.
 * - Hand-out: `placeFile` copies (or reflinks) entries; it never hard-links them, so a
 *   user editing a downloaded file cannot reach the cache.
 */
export class DistributionCache {
  private readonly dir: string;
  private readonly memo: DigestMemo;

  constructor(
    readonly root: string,
    private readonly http: HttpClient,
  ) {
    this.dir = path.join(root, LAYOUT);
    this.memo = new DigestMemo(path.join(this.dir, "stat"));
  }

  /** Where a file with this sha256 lives (whether or not it exists yet). */
  pathFor(sha256: string, filename: string): string {
    // Entry points validate names (checkDistributionFilename); this keeps a DistributionFile built by hand from escaping the cache.
    const unsafe = isValidHexDigest("sha256", sha256) ? unsafeComponentReason(filename) : "comes with a sha256 that is not 64 hex digits";
    if (unsafe) throw new IntegrityError(`Refusing to cache ${JSON.stringify(filename)}: it ${unsafe}.`, { code: "ERR_UNSAFE_FILENAME" });
    return path.join(shardedPath(path.join(this.dir, "sha256"), sha256), filename);
  }

  /**
   * Returns the cached copy of `file`, downloading it when needed. The bytes must match the
   * index's hashes and, when `allowed` is given (hash-checking mode), one of those pins.
   */
  async fetch(file: DistributionFile, options: { allowed?: string[]; signal?: AbortSignal } = {}): Promise<CachedFile> {
    const known = file.hashes.sha256 ?? (await this.urlIndex(file.url));
    let repaired = false;
    if (known) {
      const p = this.pathFor(known, file.filename);
      const entry = await this.verifiedEntry(p, known, this.algorithms(file, options.allowed), options.signal);
      if (entry) {
        this.check(file, known, entry.digests, options.allowed);
        return { path: p, sha256: known, size: entry.size, hit: true };
      }
      // Missing or damaged: a damaged entry is evicted (with its URL record) and fetched again.
      repaired = entry === null;
      if (repaired) await this.evict(p, file.url);
    }
    const got = await this.download(file, options);
    return repaired ? { ...got, repaired } : got;
  }

  /**
   * The digests of a cached entry when its bytes are the ones verified as `sha256`;
   * `undefined` when there is no entry, `null` when it is damaged (not a regular file, or
   * other bytes). Only sha256 is memoised by identity: pins in other algorithms hash it.
   */
  private async verifiedEntry(p: string, sha256: string, algorithms: string[], signal?: AbortSignal): Promise<{ digests: Record<string, string>; size: number } | null | undefined> {
    const st = await fs.promises.lstat(p).catch(() => undefined);
    if (!st) return undefined;
    if (!st.isFile()) return null;
    throwIfAborted(signal);
    const id = await this.memo.lookup(p).catch(() => undefined);
    if (!id) return undefined;
    if (id.sha256 === sha256 && algorithms.length === 1) return { digests: { sha256 }, size: id.size };
    const hashed = await hashFile(id.path, algorithms, { signal });
    if (hashed.digests.sha256 !== sha256) return null;
    await this.memo.remember(id, sha256);
    return hashed;
  }

  private async evict(p: string, url: string): Promise<void> {
    await fs.promises.rm(p, { force: true }).catch(() => undefined);
    await fs.promises.rm(this.urlFile(url), { force: true }).catch(() => undefined);
  }

  /** sha256 plus every algorithm the index or the pins name (that Node knows). */
  private algorithms(file: DistributionFile, allowed: string[] | undefined): string[] {
    return [...new Set(["sha256", ...Object.keys(file.hashes), ...(allowed ?? []).map((h) => h.split(":")[0]!)])].filter(isHashAlgorithm);
  }

  private async download(file: DistributionFile, options: { allowed?: string[]; signal?: AbortSignal }): Promise<CachedFile> {
    throwIfAborted(options.signal);
    const hashers = new Map(this.algorithms(file, options.allowed).map((a) => [a, crypto.createHash(a)]));
    const what = `${file.filename} from ${redactUrl(file.url)}`;
    // Downloaded under <dir>/tmp (the destination depends on the hash), published by rename.
    return withTempFile(
      // basename: the name only labels the temporary, it never picks its directory.
      path.join(this.dir, "tmp", path.basename(file.filename)),
      async (tmp) => {
        const out = await fs.promises.open(tmp, "wx");
        let size = 0;
        try {
          const { contentLength } = await this.http.stream(
            file.url,
            async (chunk) => {
              for (const h of hashers.values()) h.update(chunk);
              size += chunk.length;
              await out.write(chunk);
            },
            { signal: options.signal },
          );
          await out.close();
          const digests = Object.fromEntries([...hashers].map(([a, h]) => [a, h.digest("hex")]));
          if (contentLength !== undefined && contentLength !== size) {
            throw new IntegrityError(`${what}: received ${size} bytes but the server announced ${contentLength}; the transfer was cut short. Nothing was cached.`, { code: "ERR_SIZE_MISMATCH", hint: "try again." });
          }
          if (file.size !== undefined && file.size !== size) {
            throw new IntegrityError(`${what}: downloaded ${size} bytes but the index (or lock) says ${file.size}; the transfer was truncated or the file changed. Nothing was cached.`, { code: "ERR_SIZE_MISMATCH" });
          }
          this.check(file, digests.sha256!, digests, options.allowed);
          await checkComplete(tmp, file, what, options.signal);
          await fs.promises.chmod(tmp, 0o444);
          const dest = this.pathFor(digests.sha256!, file.filename);
          await fs.promises.mkdir(path.dirname(dest), { recursive: true });
          await this.memo.publishVerified(tmp, dest, digests.sha256!);
          if (!file.hashes.sha256) await this.rememberUrl(file.url, digests.sha256!);
          return { path: dest, sha256: digests.sha256!, size, hit: false };
        } catch (err) {
          await out.close().catch(() => undefined);
          if (options.signal?.aborted) throw new AbortError(undefined, { cause: options.signal.reason });
          throw err;
        }
      },
      { signal: options.signal },
    );
  }

  /** Verifies index hashes and hash-checking pins; `digests` holds every algorithm computed. */
  private check(file: DistributionFile, sha256: string, digests: Record<string, string>, allowed?: string[]): void {
    const all: Record<string, string> = { ...digests, sha256 };
    for (const [alg, want] of Object.entries(file.hashes)) {
      const got = all[alg];
      if (got !== undefined && got !== want) {
        throw new IntegrityError(`${file.filename} from ${redactUrl(file.url)}: ${alg} is ${got} but the index (or lock) lists ${want}. The file was altered or the listing is wrong; nothing was cached.`, { code: "ERR_HASH_MISMATCH" });
      }
    }
    if (allowed && allowed.length) {
      const ok = allowed.some((h) => {
        const [alg, hex] = h.split(":") as [string, string];
        return all[alg] === hex;
      });
      if (!ok) {
        const alg = allowed[0]!.split(":")[0]!;
        throw new IntegrityError(
          `${file.filename}: ${alg}:${all[alg] ?? "(not computed)"} matches none of the pinned hashes (${allowed.join(", ")}).`,
          { code: "ERR_HASH_MISMATCH", hint: "if the new file is trusted, update the --hash pins." },
        );
      }
    }
  }

  private urlFile(url: string): string {
    return path.join(this.dir, "urls", `${crypto.createHash("sha256").update(url).digest("hex")}`);
  }

  private async urlIndex(url: string): Promise<string | undefined> {
    const s = await fs.promises.readFile(this.urlFile(url), "utf8").catch(() => "");
    return isValidHexDigest("sha256", s) ? s : undefined;
  }

  private async rememberUrl(url: string, sha: string): Promise<void> {
    // Only immutable-looking files are remembered by URL (a local path may be rewritten).
    if (url.startsWith("file:")) return;
    await writeFileAtomic(this.urlFile(url), sha);
  }
}

/**
 * Copies `src` (a cache entry) to `dest` atomically, as a reflink where the filesystem
 * offers one, else a plain copy; never a hard link, which would let an edit of `dest`
 * change the cache. The copy is writable by its owner, like any downloaded file.
 */
export async function placeFile(src: string, dest: string): Promise<void> {
  await publishFile(dest, async (tmp) => {
    await fs.promises.copyFile(src, tmp, fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE);
    await fs.promises.chmod(tmp, 0o644);
  });
}

/**
 * Refuses a download that is not a whole archive, whatever its hashes say (an index
 * without hashes vouches for nothing): a wheel or .zip sdist must end with a zip end
 * record whose central directory is all there; a .tar.gz must inflate to its gzip trailer.
 */
async function checkComplete(file: string, dist: DistributionFile, what: string, signal?: AbortSignal): Promise<void> {
  const name = dist.filename.toLowerCase();
  try {
    if (name.endsWith(".whl") || name.endsWith(".zip")) {
      const source = await fileSource(file);
      try {
        await peekEntries(source, () => false, { signal });
      } finally {
        await source.close?.();
      }
    } else if (name.endsWith(".tar.gz") || name.endsWith(".tgz")) {
      const sink = new Writable({ write: (_chunk, _enc, done) => done() });
      await pipeline(fs.createReadStream(file, { signal }), zlib.createGunzip(), sink);
    }
  } catch (err) {
    throwIfAborted(signal);
    throw new IntegrityError(`${what} is not a complete archive (${(err as Error).message}); the transfer was cut short or the file is damaged. Nothing was cached.`, { code: "ERR_TRUNCATED", cause: err, hint: "try again, or fix the file on the index." });
  }
}
