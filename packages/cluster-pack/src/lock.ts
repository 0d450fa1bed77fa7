import { promises as fsp } from "node:fs";
import path from "node:path";
import lockfile from "proper-lockfile";
import { throwIfAborted } from "@cluster-pack/errors";
import { sleep } from "@cluster-pack/io";

/**
 * Runs `fn` while holding a cross-process lock for one lock hash, so concurrent
 * `uploadEnv` calls on this machine build and upload once: the others wait, then find
 * the remote copy up to date. proper-lockfile (mkdir-based, refreshed mtime, stale
 * detection) is used because Node has no flock; a holder that dies leaves a lock that
 * goes stale after `staleMs` and is taken over.
 */
export async function withBuildLock<T>(
  cacheDir: string,
  hash: string,
  options: { signal?: AbortSignal; staleMs?: number },
  fn: () => Promise<T>,
): Promise<T> {
  const dir = path.join(cacheDir, "locks");
  await fsp.mkdir(dir, { recursive: true });
  const target = path.join(dir, `${hash.replace(/[^A-Za-z0-9]/g, "_")}`);
  const stale = options.staleMs ?? 20_000;
  let release: (() => Promise<void>) | undefined;
  let compromised: Error | undefined;
  let delay = 50;
  while (!release) {
    throwIfAborted(options.signal);
    try {
      release = await lockfile.lock(target, {
        realpath: false,
        stale,
        update: Math.floor(stale / 4),
        retries: 0,
        onCompromised: (err) => {
          // Another process took the lock over (we were too slow to refresh it): the
          // publish is atomic and the bytes deterministic, so finishing is still safe.
          compromised = err;
        },
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ELOCKED") throw err;
      await sleep(delay + Math.floor(Math.random() * delay), options.signal);
      delay = Math.min(delay * 2, 1000);
    }
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => {
      // Already released because it was compromised: nothing left to clean.
      void compromised;
    });
  }
}
