import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ClusterPackError, InvalidInputError, redactUrl } from "@cluster-pack/errors";
import { resolveFileSystem, type ObjectHead, type RandomAccessSource, type ResolveOptions, type ResolvedLocation, type TransferProgress } from "@cluster-pack/fs";

/** Options for the stores behind package paths: S3 (endpoint, credentials), HDFS (user, Hadoop conf), HTTP. */
export type StoreOptions = ResolveOptions;

/**
 * The few store operations the workflow needs, addressed by the caller's URLs (s3://,
 * hdfs://, viewfs://, file://, local paths) and delegated to @cluster-pack/fs.
 */
export interface Store {
  publish(
    local: string,
    url: string,
    options: { signal?: AbortSignal; metadata?: Record<string, string>; sidecar?: { content: Buffer | string; path: string }; onProgress?: (p: TransferProgress) => void; overwrite?: boolean; consume?: boolean },
  ): Promise<void>;
  /** The files directly under a directory / prefix (name, size, mtime); empty when it does not exist. */
  list(url: string, options: { signal?: AbortSignal }): Promise<StoreEntry[]>;
  /** One round trip: does `url` exist with this metadata (and size)? */
  isUpToDate(url: string, expected: { metadata?: Record<string, string>; size?: number }, options: { signal?: AbortSignal }): Promise<{ upToDate: boolean; head: ObjectHead | null }>;
  /** Publishes small content (a sidecar) atomically, as `publish` does a file. */
  publishSmall(content: Buffer | string, url: string, options: { signal?: AbortSignal }): Promise<void>;
  /** Downloads a file to a local path (atomically); false when it does not exist. */
  get(url: string, local: string, options: { signal?: AbortSignal }): Promise<boolean>;
  /** A small file's bytes, or undefined when it does not exist. */
  readSmall(url: string, options: { signal?: AbortSignal }): Promise<Buffer | undefined>;
  /** Byte-range access to a remote file, or undefined when it does not exist. */
  openRandomAccess(url: string, options: { signal?: AbortSignal }): Promise<RandomAccessSource | undefined>;
  /** Removes a file; absent is fine. */
  rm(url: string, options: { signal?: AbortSignal }): Promise<void>;
}

/** A file listed by `Store.list`. */
export interface StoreEntry {
  name: string;
  /** The entry's URL in the caller's form (the directory URL + "/" + name). */
  url: string;
  size: number;
  isDirectory: boolean;
  mtimeMs?: number;
}

export function openStore(options: StoreOptions = {}): Store {
  const store = rawStore(options);
  // Every failure names the URL, the operation and what to do about it.
  const wrap =
    <A extends unknown[], R>(what: string, fn: (url: string, ...rest: A) => Promise<R>) =>
    (url: string, ...rest: A): Promise<R> =>
      fn(url, ...rest).catch((err: unknown) => {
        throw storeError(err, what, url);
      });
  return {
    publish: (local, url, o) =>
      store.publish(local, url, o).catch((err: unknown) => {
        // A no-overwrite publish that finds the object there is the caller's to decide.
        if (o.overwrite === false && (err as { code?: unknown }).code === "EEXIST") throw err;
        throw storeError(err, "upload to", url);
      }),
    list: wrap("list", store.list),
    publishSmall: (content, url, o) =>
      store.publishSmall(content, url, o).catch((err: unknown) => {
        throw storeError(err, "upload to", url);
      }),
    isUpToDate: wrap("check", store.isUpToDate),
    readSmall: wrap("read", store.readSmall),
    get: wrap("download", store.get),
    openRandomAccess: wrap("read", store.openRandomAccess),
    rm: wrap("remove", store.rm),
  };
}

/** The path names something that cannot hold the file (a file where a directory must be): the caller's input. */
const NOT_A_PLACE = new Set(["ENOTDIR", "EISDIR", "EEXIST"]);
/** The store refused: credentials, permissions, a read-only store (S3 authentication is EACCES). */
const REFUSED = new Set(["EACCES", "EPERM", "EROFS"]);

function storeError(err: unknown, what: string, url: string): unknown {
  const code = (err as { code?: unknown }).code;
  if (err instanceof InvalidInputError || code === "ABORT_ERR" || typeof code !== "string" || !/^E[A-Z]+$/.test(code)) return err;
  const message = (err as Error).message;
  if (NOT_A_PLACE.has(code)) {
    return new InvalidInputError(`Cannot ${what} ${redactUrl(url)}: ${message}.`, { code: "ERR_PACKAGE_PATH", cause: err, hint: "choose a package path you can write to (a directory you own, or an s3:// / hdfs:// location your credentials may write)." });
  }
  if (REFUSED.has(code)) {
    // An operation failure (exit 1), as the store's other failures: the command was right, the access is not.
    return new ClusterPackError(
      "ERR_ACCESS_DENIED",
      `Cannot ${what} ${redactUrl(url)}: ${message}.`,
      { cause: err, hint: "check your credentials and permissions, or choose a package path you can write to." },
    );
  }
  return new ClusterPackError(
    "ERR_STORE",
    `Cannot ${what} ${redactUrl(url)}: ${message}.`,
    { cause: err, hint: "check that the store is reachable (endpoint, network, AWS_ENDPOINT_URL / HADOOP_CONF_DIR) and your credentials, then retry." },
  );
}

function rawStore(options: StoreOptions): Store {
  // One adapter per URL (resolution does no I/O); a viewfs mount may send two URLs to two stores.
  const cache = new Map<string, Promise<ResolvedLocation>>();
  const at = (url: string): Promise<ResolvedLocation> => {
    let r = cache.get(url);
    if (!r) {
      r = resolveFileSystem(url, options);
      cache.set(url, r);
    }
    return r;
  };
  const isMissing = (err: unknown) => (err as { code?: string }).code === "ENOENT";
  return {
    async publish(local, url, o) {
      const { fs, path } = await at(url);
      const sidecar = o.sidecar ? { content: o.sidecar.content, path: (await at(o.sidecar.path)).path } : undefined;
      await fs.publish(local, path, { signal: o.signal, metadata: o.metadata, sidecar, onProgress: o.onProgress, ...(o.overwrite === false ? { overwrite: false } : {}), ...(o.consume ? { consume: true } : {}) });
    },
    async list(url, o) {
      const { fs, path: p } = await at(url);
      try {
        const base = url.replace(/\/+$/, "");
        return (await fs.list(p, o)).map((e) => ({ name: e.name, url: `${base}/${e.name}`, size: e.size, isDirectory: e.isDirectory, ...(e.mtimeMs !== undefined ? { mtimeMs: e.mtimeMs } : {}) }));
      } catch (err) {
        if (isMissing(err)) return [];
        throw err;
      }
    },
    async publishSmall(content, url, o) {
      const { fs, path: p } = await at(url);
      const work = await fsp.mkdtemp(path.join(os.tmpdir(), "cluster-pack-small-"));
      try {
        const local = path.join(work, "content");
        await fsp.writeFile(local, content);
        await fs.publish(local, p, { signal: o.signal, consume: true });
      } finally {
        await fsp.rm(work, { recursive: true, force: true });
      }
    },
    async isUpToDate(url, expected, o) {
      const { fs, path } = await at(url);
      return fs.isUpToDate(path, expected, o);
    },
    async get(url, local, o) {
      const { fs, path: p } = await at(url);
      try {
        await fs.get(p, local, { signal: o.signal });
        return true;
      } catch (err) {
        if (isMissing(err)) return false;
        throw err;
      }
    },
    async readSmall(url, o) {
      const { fs, path } = await at(url);
      try {
        return await fs.read(path, { signal: o.signal, maxBytes: 16 * 1024 * 1024 });
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    },
    async openRandomAccess(url, o) {
      const { fs, path } = await at(url);
      try {
        return await fs.openRandomAccess(path, o);
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    },
    async rm(url, o) {
      const { fs, path } = await at(url);
      await fs.rm(path, { signal: o.signal, force: true });
    },
  };
}
