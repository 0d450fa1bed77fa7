import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import path from "node:path";
import type { PythonEnvironment } from "@cluster-pack/engines";
import { ClusterPackError, IntegrityError, InvalidInputError, redactUrl, throwIfAborted } from "@cluster-pack/errors";
import { forEachLimit } from "@cluster-pack/io";
import { LocalLayerStore, layerNameSha256, openPexSource, pexLayers } from "@cluster-pack/pex";
import { withBuildLock } from "./lock";
import { openStore, type Store, type StoreOptions } from "./store";

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

/**
 * The layers an uploaded layered PEX names, in `layerStore` (default: `layers/` beside
 * it): its PEX-INFO read by range requests, nothing downloaded. What `fetchLayers` needs
 * when only the environment's URL is known (`cluster-pack fetch-layers`).
 */
export async function environmentLayers(packagePath: string, options: { store?: StoreOptions; layerStore?: string; signal?: AbortSignal } = {}): Promise<PublishedLayer[]> {
  const store = openStore(options.store ?? {});
  if (!(await store.isUpToDate(packagePath, {}, options.signal ? { signal: options.signal } : {})).head) {
    throw new InvalidInputError(`${redactUrl(packagePath)} does not exist.`, { hint: "pass the URL of an environment uploaded with upload-env --layered." });
  }
  return remoteLayers(store, packagePath, options.layerStore ?? defaultLayerStoreUrl(packagePath), options.signal);
}

/** The layers an uploaded layered PEX names (its PEX-INFO read by range requests). */
export async function remoteLayers(store: Store, packagePath: string, layerStoreUrl: string, signal?: AbortSignal): Promise<PublishedLayer[]> {
  const source = await store.openRandomAccess(packagePath, { signal });
  if (!source) throw new ClusterPackError("ERR_STORE", `${redactUrl(packagePath)} disappeared while it was being read.`, { hint: "run upload-env again." });
  const pex = await openPexSource(source, redactUrl(packagePath), signal ? { signal } : {});
  try {
    const base = layerStoreUrl.replace(/\/+$/, "");
    return pexLayers(pex.info).map((l) => ({ url: `${base}/${l.file}`, sha256: l.sha256, size: l.size, uploaded: false }));
  } finally {
    await pex.close();
  }
}

/** A layer as `fetchLayers` left it in the node directory. */
export interface FetchedLayer {
  url: string;
  sha256: string;
  /** `<layersDir>/<sha256>.zip`. */
  path: string;
  size: number;
  /** False when the node had it already, with those bytes (nothing was fetched for it). */
  fetched: boolean;
}

export interface FetchLayersOptions {
  store?: StoreOptions;
  signal?: AbortSignal;
  log?: (message: string) => void;
}

/**
 * The node-side half of `pythonEnvironment(url, { layers, layersDir })`, for engines that
 * have no per-file localiser of their own (Dask, Ray): run by the node's launcher before
 * it starts the engine's processes, it fills `layersDir` (a local layer store,
 * `<sha256>.zip`, shared by every job of the node) with the layers it lacks. A layer
 * there with the bytes its name says (by file identity, else hashed) is not fetched
 * again; a missing one is downloaded into a temporary sibling, checked against its name
 * and published by rename, under a per-layer lock so the processes of one node fetch it
 * once. A layer whose stored bytes are not its name is an IntegrityError naming it.
 */
export async function fetchLayers(env: PythonEnvironment, options: FetchLayersOptions = {}): Promise<{ dir: string; layers: FetchedLayer[]; bytesFetched: number }> {
  const { signal } = options;
  const dir = env.layersDir;
  if (!dir) throw new InvalidInputError(`fetchLayers needs the node directory of the layers (got ${env.layers?.length ?? 0} layers of ${redactUrl(env.archive.url)}).`, { optionNames: ["layersDir"], hint: "pass `layersDir` to pythonEnvironment." });
  const wanted = (env.layers ?? []).map((l) => {
    const sha256 = layerNameSha256(l.alias);
    if (!sha256) throw new InvalidInputError(`Layer ${redactUrl(l.url)} is not named <sha256>.zip, so it cannot be checked against its name.`, { optionNames: ["layers"], hint: "pass the layer URLs upload-env printed (its `layers`)." });
    return { url: l.url, sha256 };
  });
  const local = new LocalLayerStore(dir);
  const store = openStore(options.store ?? {});
  let bytesFetched = 0;
  const layers: FetchedLayer[] = [];
  await forEachLimit(
    wanted,
    2,
    async ({ url, sha256 }) => {
      const target = local.layerPath(sha256);
      const present = async () => ((await local.check(sha256, undefined, signal)) ? (await fsp.stat(target)).size : undefined);
      // Another process of this node may be fetching it: wait for it, then find it here.
      const got = await withBuildLock(dir, `fetch-${sha256}`, signal ? { signal } : {}, async () => {
        const size = await present();
        if (size !== undefined) return { size, fetched: false };
        const r = await local.add(
          sha256,
          async (temp) => {
            if (!(await store.get(url, temp, signal ? { signal } : {}))) {
              throw new ClusterPackError("ERR_LAYER", `Layer ${redactUrl(url)} is missing from its store.`, { hint: "upload the environment again (upload-env --layered), then fetch its layers." });
            }
          },
          signal,
        );
        if ("actual" in r) {
          throw new IntegrityError(`Layer ${redactUrl(url)} has sha256 ${r.actual} (${r.size} bytes), not the one its name says: the store's copy is damaged.`, { code: "ERR_LAYER", hint: "delete it and upload the environment again (upload-env --layered)." });
        }
        bytesFetched += r.layer.size;
        return { size: r.layer.size, fetched: true };
      });
      layers.push({ url, sha256, path: target, ...got });
    },
    signal ? { signal } : {},
  );
  const fetched = layers.filter((l) => l.fetched);
  options.log?.(`layers: ${layers.length - fetched.length} of ${layers.length} already in ${dir}; fetched ${fetched.length} (${bytesFetched} bytes)`);
  // In the environment's order, whatever order the fetches finished in.
  const order = new Map(wanted.map((w, i) => [w.sha256, i]));
  layers.sort((a, b) => order.get(a.sha256)! - order.get(b.sha256)!);
  return { dir: path.resolve(dir), layers, bytesFetched };
}
