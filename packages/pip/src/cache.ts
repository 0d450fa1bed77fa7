import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { AbortError, IntegrityError, redactUrl, throwIfAborted } from "@cluster-pack/errors";
import { moveIntoPlace, publishFile, withTempFile, writeFileAtomic } from "@cluster-pack/io";
import { isHashAlgorithm, isValidHexDigest, unsafeComponentReason } from "@cluster-pack/packaging";
import type { HttpClient } from "./http";
import type { DistributionFile } from "./simple-index";

/** The default cache root: $CLUSTER_PACK_CACHE, else $XDG_CACHE_HOME/cluster-pack, else ~/.cache/cluster-pack. */
export function defaultCacheDir(env: Record<string, string | undefined> = process.env): string {
  if (env.CLUSTER_PACK_CACHE) return env.CLUSTER_PACK_CACHE;
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "cluster-pack");
}

/** A file in the cache. */
export interface CachedFile {
  path: string;
  sha256: string;
  size: number;
  /** True when it was already cached (no transfer). */
  hit: boolean;
}

/**
 * Content-addressed store of distribution files: `<root>/files/sha256/ab/<hex>/<filename>`.
 * Writes stream to a unique temporary file beside the destination while hashing, are
 * verified, then renamed into place, so readers never see partial files and concurrent
 * processes storing the same file are safe (the last rename wins with identical bytes).
 */
export class DistributionCache {
  constructor(
    readonly root: string,
    private readonly http: HttpClient,
  ) {}

  /** Where a file with this sha256 lives (whether or not it exists yet). */
  pathFor(sha256: string, filename: string): string {
    // Entry points validate names (checkDistributionFilename); this keeps a DistributionFile built by hand from escaping the cache.
    const unsafe = isValidHexDigest("sha256", sha256) ? unsafeComponentReason(filename) : "comes with a sha256 that is not 64 hex digits";
    if (unsafe) throw new IntegrityError(`Refusing to cache ${JSON.stringify(filename)}: it ${unsafe}.`, { code: "ERR_UNSAFE_FILENAME" });
    return path.join(this.root, "files", "sha256", sha256.slice(0, 2), sha256, filename);
  }

  /**
   * Returns the cached copy of `file`, downloading it when needed. The bytes must match the
   * index's hashes and, when `allowed` is given (hash-checking mode), one of those pins.
   */
  async fetch(file: DistributionFile, options: { allowed?: string[]; signal?: AbortSignal } = {}): Promise<CachedFile> {
    const known = file.hashes.sha256 ?? (await this.urlIndex(file.url));
    if (known) {
      const p = this.pathFor(known, file.filename);
      const st = await fs.promises.stat(p).catch(() => null);
      if (st) {
        this.check(file, known, {}, options.allowed);
        return { path: p, sha256: known, size: st.size, hit: true };
      }
    }
    return this.download(file, options);
  }

  private async download(file: DistributionFile, options: { allowed?: string[]; signal?: AbortSignal }): Promise<CachedFile> {
    throwIfAborted(options.signal);
    const algorithms = new Set(["sha256", ...Object.keys(file.hashes).filter(isHashAlgorithm), ...(options.allowed ?? []).map((h) => h.split(":")[0]!)]);
    const hashers = new Map([...algorithms].map((a) => [a, crypto.createHash(a)]));
    // Downloaded under <root>/tmp (the destination depends on the hash), published by rename.
    return withTempFile(
      // basename: the name only labels the temporary, it never picks its directory.
      path.join(this.root, "tmp", path.basename(file.filename)),
      async (tmp) => {
        const out = await fs.promises.open(tmp, "wx");
        let size = 0;
        try {
          await this.http.stream(
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
          this.check(file, digests.sha256!, digests, options.allowed);
          if (file.size !== undefined && file.size !== size) {
            throw new IntegrityError(`${redactUrl(file.url)}: downloaded ${size} bytes but the index says ${file.size}; the transfer was truncated or the file changed.`, { code: "ERR_SIZE_MISMATCH" });
          }
          const dest = this.pathFor(digests.sha256!, file.filename);
          await fs.promises.mkdir(path.dirname(dest), { recursive: true });
          await moveIntoPlace(tmp, dest);
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
          `${file.filename}: ${alg}:${all[alg] ?? "(not computed)"} matches none of the pinned hashes (${allowed.join(", ")}). If the new file is trusted, update the --hash pins.`,
          { code: "ERR_HASH_MISMATCH" },
        );
      }
    }
  }

  private urlFile(url: string): string {
    return path.join(this.root, "urls", `${crypto.createHash("sha256").update(url).digest("hex")}`);
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

/** Copies `src` to `dest` atomically (hard link when possible, else copy to a temp name and rename). */
export async function placeFile(src: string, dest: string): Promise<void> {
  await publishFile(dest, async (tmp) => {
    try {
      await fs.promises.link(src, tmp);
    } catch {
      await fs.promises.copyFile(src, tmp);
    }
  });
}
