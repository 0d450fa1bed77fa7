import { createHash } from "node:crypto";
import { throwIfAborted } from "@cluster-pack/errors";
import { forEachLimit } from "@cluster-pack/io";
import { withBuildLock } from "./lock";
import type { Store } from "./store";

/** A layer to publish: its local file in the layer store and its facts. */
export interface LocalLayer {
  file: string;
  sha256: string;
  size: number;
  /** The local `<layer store>/<sha256>.zip`. */
  path: string;
}

/** A layer as published. */
export interface PublishedLayer {
  url: string;
  sha256: string;
  size: number;
  /** False when the store had it already (this call uploaded nothing for it). */
  uploaded: boolean;
}

/** The default layer store of an environment: `layers/` beside it (`<dir>/env.pex` -> `<dir>/layers`). */
export function defaultLayerStoreUrl(packagePath: string): string {
  const slash = packagePath.lastIndexOf("/");
  return `${slash >= 0 ? packagePath.slice(0, slash) : "."}/layers`;
}

/**
 * Publishes the layers the store lacks: ONE listing of the layer directory decides (a
 * layer is there when an object of its name and size is; names are content hashes and
 * every publish is atomic, so a complete object of that name holds those bytes); each
 * missing one is uploaded under a per-layer lock of this machine (concurrent uploads of
 * environments that share layers upload each once, the others find it there) and
 * published without overwrite (two machines racing: the second gets EEXIST and the first
 * one's identical bytes stay).
 */
export async function publishLayers(
  store: Store,
  layerStoreUrl: string,
  layers: LocalLayer[],
  options: { cacheDir: string; signal?: AbortSignal; log?: (m: string) => void; onBytes?: (done: number) => void },
): Promise<PublishedLayer[]> {
  const { signal } = options;
  const base = layerStoreUrl.replace(/\/+$/, "");
  const present = await listedLayers(store, base, signal);
  const out: PublishedLayer[] = layers.map((l) => ({ url: `${base}/${l.file}`, sha256: l.sha256, size: l.size, uploaded: false }));
  const missing = layers.map((l, i) => ({ l, i })).filter(({ l }) => present.get(l.file) !== l.size);
  if (missing.length) options.log?.(`layers: ${layers.length - missing.length} of ${layers.length} already in ${base}; uploading ${missing.length} (${missing.reduce((a, { l }) => a + l.size, 0)} bytes)`);
  let bytes = 0;
  await forEachLimit(
    missing,
    2,
    async ({ l, i }) => {
      const url = out[i]!.url;
      const key = createHash("sha256").update(`layer\0${base}\0${l.sha256}`).digest("hex");
      await withBuildLock(options.cacheDir, key, signal ? { signal } : {}, async () => {
        // Another process of this machine may have uploaded it while we waited.
        if ((await store.isUpToDate(url, { size: l.size }, { signal })).upToDate) return;
        try {
          await store.publish(l.path, url, { signal, overwrite: false });
          out[i]!.uploaded = true;
          bytes += l.size;
          options.onBytes?.(bytes);
        } catch (err) {
          if ((err as { code?: unknown }).code !== "EEXIST") throw err;
          // Published by another machine meanwhile: content-addressed, so it is these bytes.
        }
      });
    },
    signal ? { signal } : {},
  );
  return out;
}

/**
 * After the top PEX is published: the layers it names that are no longer in the store
 * (a `cluster-pack gc` that decided before the top PEX appeared) are published again, so
 * the environment never stays broken. Returns how many were restored.
 */
export async function restoreLayers(store: Store, layerStoreUrl: string, layers: LocalLayer[], options: { cacheDir: string; signal?: AbortSignal; log?: (m: string) => void }): Promise<number> {
  throwIfAborted(options.signal);
  const base = layerStoreUrl.replace(/\/+$/, "");
  const present = await listedLayers(store, base, options.signal);
  const gone = layers.filter((l) => present.get(l.file) !== l.size);
  if (!gone.length) return 0;
  options.log?.(`layers: ${gone.length} removed from ${base} while this environment was published (a concurrent gc?); publishing them again`);
  const again = await publishLayers(store, base, gone, options);
  return again.filter((l) => l.uploaded).length;
}

async function listedLayers(store: Store, base: string, signal?: AbortSignal): Promise<Map<string, number>> {
  const entries = await store.list(base, signal ? { signal } : {});
  return new Map(entries.filter((e) => !e.isDirectory).map((e) => [e.name, e.size]));
}
