import { ClusterPackError, InvalidInputError, redactUrl, throwIfAborted } from "@cluster-pack/errors";
import { forEachLimit } from "@cluster-pack/io";
import { layerNameSha256, openPexSource, pexLayers } from "@cluster-pack/pex";
import { openStore, type Store, type StoreEntry, type StoreOptions } from "./store";

export interface GcOptions {
  /** Delete the unreferenced old layers (default false: only list them). */
  delete?: boolean;
  /** Layers younger than this are kept whatever references them (default 24 h). */
  graceMs?: number;
  store?: StoreOptions;
  environ?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** The clock (tests). */
  now?: () => number;
  onLog?: (message: string) => void;
}

export interface GcLayer {
  url: string;
  size: number;
  mtimeMs?: number;
  /** Named by an environment under the prefix. */
  referenced: boolean;
  /** Modified within the grace period (or of unknown age). */
  young: boolean;
  /** `keep`; `delete` (dry run); `deleted`. */
  action: "keep" | "delete" | "deleted";
}

export interface GcResult {
  prefix: string;
  dryRun: boolean;
  graceMs: number;
  /** Environments (PEX files) read, with the number of layers each names. */
  environments: { url: string; layers: number }[];
  layers: GcLayer[];
  /** Bytes of the layers deleted (or that --delete would delete). */
  reclaimable: number;
}

/** 24 hours: longer than any upload, so a layer uploaded for an environment whose PEX is not published yet is never taken. */
export const DEFAULT_GC_GRACE_MS = 24 * 3600 * 1000;

/**
 * `cluster-pack gc <prefix>`: the layers under `prefix` (files `<sha256>.zip` in any
 * `layers/` directory below it) that no environment under `prefix` names (the PEX-INFO of
 * every `.pex` below it, read by range requests) and that are older than the grace period;
 * listed, or with `delete` removed.
 *
 * Safety with uploads running: an upload publishes its layers first and its PEX last, so
 * its new layers are young (kept); just before deleting, the environments are listed
 * again (any new or changed one is read) and each candidate's age is checked again, and
 * an upload re-lists its layers after publishing its PEX and publishes again any that a
 * gc removed meanwhile. A PEX that cannot be read stops gc (its references are unknown).
 * Every environment using a layer store must live under the prefix given.
 */
export async function gc(prefix: string, options: GcOptions = {}): Promise<GcResult> {
  const { signal } = options;
  const graceMs = options.graceMs ?? DEFAULT_GC_GRACE_MS;
  if (!Number.isFinite(graceMs) || graceMs < 0) throw new InvalidInputError(`The grace period ${graceMs} ms is not a duration.`, { hint: "give e.g. 24h or 30m (--grace)." });
  const now = options.now ?? Date.now;
  const store = openStore({ env: options.environ ?? process.env, ...options.store });
  const base = prefix.replace(/\/+$/, "");
  const log = options.onLog ?? (() => {});

  const first = await walk(store, base, signal);
  if (!first.found) throw new InvalidInputError(`${redactUrl(prefix)} does not exist or is empty.`, { hint: "pass the directory (prefix) that holds the environments and their layers/ directory." });
  if (first.layers.length && !first.manifests.length) {
    // A prefix holding layers but no environment (e.g. the layers/ directory itself): every
    // layer would look unreferenced.
    throw new InvalidInputError(`${redactUrl(prefix)} holds layers but no environment (.pex) that could name them.`, { hint: "pass the prefix that holds the environments too (e.g. the directory above layers/)." });
  }
  const refs = new Map<string, { key: string; names: string[] }>();
  await readManifests(store, first.manifests, refs, signal);
  const referenced = () => new Set([...refs.values()].flatMap((r) => r.names));
  const cutoff = now() - graceMs;
  let inUse = referenced();
  const layers: GcLayer[] = first.layers.map((e) => ({
    url: e.url,
    size: e.size,
    ...(e.mtimeMs !== undefined ? { mtimeMs: e.mtimeMs } : {}),
    referenced: inUse.has(e.name),
    young: e.mtimeMs === undefined || e.mtimeMs > cutoff,
    action: "keep" as const,
  }));
  for (const l of layers) if (!l.referenced && !l.young) l.action = "delete";
  log(`${first.manifests.length} environments, ${layers.length} layers, ${layers.filter((l) => l.action === "delete").length} unreferenced and older than the grace period`);

  if (options.delete && layers.some((l) => l.action === "delete")) {
    // Environments published since the first listing reference layers too.
    const again = await walk(store, base, signal);
    await readManifests(store, again.manifests, refs, signal);
    inUse = referenced();
    await forEachLimit(
      layers.filter((l) => l.action === "delete"),
      4,
      async (l) => {
        const name = l.url.slice(l.url.lastIndexOf("/") + 1);
        if (inUse.has(name)) {
          l.referenced = true;
          l.action = "keep";
          return;
        }
        const head = (await store.isUpToDate(l.url, {}, { signal })).head;
        if (!head) {
          l.action = "keep"; // gone already
          return;
        }
        if (head.mtimeMs === undefined || head.mtimeMs > now() - graceMs) {
          l.young = true;
          l.action = "keep";
          return;
        }
        throwIfAborted(signal);
        await store.rm(l.url, { signal });
        l.action = "deleted";
      },
      signal ? { signal } : {},
    );
  }
  const environments = [...refs.entries()].map(([url, r]) => ({ url, layers: r.names.length })).sort((a, b) => (a.url < b.url ? -1 : 1));
  const reclaimable = layers.filter((l) => l.action !== "keep").reduce((a, l) => a + l.size, 0);
  return { prefix: base, dryRun: !options.delete, graceMs, environments, layers, reclaimable };
}

/** "24h", "30m", "90s", "7d", "1.5h", or a number of seconds, in ms. */
export function parseDuration(text: string, flag = "--grace"): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$/i.exec(text);
  if (!m) throw new InvalidInputError(`${flag} ${JSON.stringify(text)} is not a duration.`, { hint: "write e.g. 24h, 30m, 7d or 3600 (seconds)." });
  const unit = (m[2] ?? "s").toLowerCase();
  const factor = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[unit]!;
  return Math.round(Number(m[1]) * factor);
}

interface Walked {
  found: boolean;
  manifests: StoreEntry[];
  layers: (StoreEntry & { name: string })[];
}

/** Every `.pex` below `base`, and the `<sha256>.zip` files of every `layers/` directory below it. */
async function walk(store: Store, base: string, signal?: AbortSignal): Promise<Walked> {
  const out: Walked = { found: false, manifests: [], layers: [] };
  const queue: { url: string; name: string }[] = [{ url: base, name: base.slice(base.lastIndexOf("/") + 1) }];
  let dirs = 0;
  while (queue.length) {
    throwIfAborted(signal);
    const dir = queue.shift()!;
    if (++dirs > 100_000) throw new ClusterPackError("ERR_GC_TOO_LARGE", `More than 100,000 directories under ${redactUrl(base)}.`, { hint: "give a narrower prefix." });
    const entries = await store.list(dir.url, signal ? { signal } : {});
    if (entries.length) out.found = true;
    for (const e of entries) {
      if (e.isDirectory) queue.push({ url: e.url, name: e.name });
      else if (dir.name === "layers" && layerNameSha256(e.name) !== undefined) out.layers.push(e);
      else if (e.name.endsWith(".pex") && !e.name.startsWith(".")) out.manifests.push(e);
    }
  }
  return out;
}

/** Reads the layers each (new or changed) manifest names; a manifest that cannot be read stops gc. */
async function readManifests(store: Store, manifests: StoreEntry[], refs: Map<string, { key: string; names: string[] }>, signal?: AbortSignal): Promise<void> {
  await forEachLimit(
    manifests,
    8,
    async (m) => {
      const key = `${m.size}:${m.mtimeMs ?? ""}`;
      if (refs.get(m.url)?.key === key) return;
      const source = await store.openRandomAccess(m.url, { signal });
      if (!source) return; // removed meanwhile: it references nothing any more
      try {
        const pex = await openPexSource(source, redactUrl(m.url), signal ? { signal } : {});
        try {
          refs.set(m.url, { key, names: pexLayers(pex.info).map((l) => l.file) });
        } finally {
          await pex.close();
        }
      } catch (err) {
        if ((err as { name?: string }).name === "AbortError") throw err;
        throw new ClusterPackError(
          "ERR_GC_UNREADABLE",
          `Cannot read the environment ${redactUrl(m.url)} (${(err as Error).message}), so the layers it may name are unknown: gc stopped without deleting anything.`,
          { cause: err, hint: "remove or fix that file, or give a prefix without it." },
        );
      }
    },
    signal ? { signal } : {},
  );
}
