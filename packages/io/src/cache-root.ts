import os from "node:os";
import path from "node:path";

/**
 * The root of every local cache of the project (index pages, wheels, locks, verified-wheel
 * records, install plans, bytecode, layers): `$CLUSTER_PACK_CACHE`, else
 * `$XDG_CACHE_HOME/cluster-pack`, else `~/.cache/cluster-pack`. One rule, so a cache
 * directory a user names (`cacheDir`, `--cache-dir`) or sets holds all of them.
 */
export function defaultCacheRoot(env: Record<string, string | undefined> = process.env): string {
  if (env.CLUSTER_PACK_CACHE) return env.CLUSTER_PACK_CACHE;
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "cluster-pack");
}
