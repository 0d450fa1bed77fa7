import { promises as fsp } from "node:fs";
import { InvalidInputError, redactUrl } from "@cluster-pack/errors";
import { diffPex, inspectPex, inspectPexSource, type PexDiff, type PexInspection } from "@cluster-pack/pex";
import { openStore, type StoreOptions } from "./store";

export interface DiffOptions {
  store?: StoreOptions;
  environ?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/**
 * `cluster-pack diff A B`: what changed between two PEX files or uploaded environments.
 * A local path is inspected in full (layout checked); a URL (s3://, hdfs://, https://...)
 * is read by range requests: the end of the file, the central directories and PEX-INFO,
 * never the whole file.
 */
export async function diffEnvironments(a: string, b: string, options: DiffOptions = {}): Promise<PexDiff> {
  const [left, right] = await Promise.all([openSide(a, options), openSide(b, options)]);
  return diffPex(left, right);
}

/** Inspects one side (sizes included): a local PEX file or directory, or a store URL. */
export async function inspectLocation(location: string, options: DiffOptions = {}): Promise<PexInspection> {
  return openSide(location, options);
}

async function openSide(location: string, options: DiffOptions): Promise<PexInspection> {
  const signal = options.signal;
  const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(location);
  if (!isUrl || location.startsWith("file://")) {
    const local = location.startsWith("file://") ? new URL(location).pathname : location;
    if (await fsp.stat(local).then(() => true, () => false)) return inspectPex(local, { sizes: true, ...(signal ? { signal } : {}) });
    if (!isUrl) throw new InvalidInputError(`${location} does not exist.`, { hint: "pass a .pex file, a packed PEX directory, or an uploaded environment's URL (s3://, hdfs://, https://)." });
  }
  const store = openStore({ env: options.environ ?? process.env, ...options.store });
  const source = await store.openRandomAccess(location, { signal });
  if (!source) throw new InvalidInputError(`${redactUrl(location)} does not exist.`, { hint: "pass the URL of an uploaded .pex." });
  return inspectPexSource(source, redactUrl(location), { sizes: true, ...(signal ? { signal } : {}) });
}
