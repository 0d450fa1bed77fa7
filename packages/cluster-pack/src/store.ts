import path from "node:path";
import { fileURLToPath } from "node:url";
import { ClusterPackError, InvalidInputError } from "@cluster-pack/errors";
import { LocalFileSystem, type FileSystem, type ObjectHead, type RandomAccessSource, type S3FileSystemOptions, type TransferProgress } from "@cluster-pack/fs";

/** Options for the store behind a package path. */
export interface StoreOptions {
  /** S3 settings (endpoint, credentials, path style); default: the AWS variables and credential chain. */
  s3?: S3FileSystemOptions;
  /** A ready filesystem to use for every URL (tests, custom stores). */
  fileSystem?: FileSystem;
}

/**
 * The few store operations the workflow needs, addressed by the caller's URLs (s3://,
 * hdfs://, file://, local paths) and delegated to @cluster-pack/fs. One adapter per
 * call of openStore; every URL passed must live on that store.
 */
export interface Store {
  publish(
    local: string,
    url: string,
    options: { signal?: AbortSignal; metadata?: Record<string, string>; sidecar?: { content: Buffer | string; path: string }; onProgress?: (p: TransferProgress) => void },
  ): Promise<void>;
  /** One round trip: does `url` exist with this metadata (and size)? */
  isUpToDate(url: string, expected: { metadata?: Record<string, string>; size?: number }, options: { signal?: AbortSignal }): Promise<{ upToDate: boolean; head: ObjectHead | null }>;
  /** A small file's bytes, or undefined when it does not exist. */
  readSmall(url: string, options: { signal?: AbortSignal }): Promise<Buffer | undefined>;
  /** Byte-range access to a remote file, or undefined when it does not exist. */
  openRandomAccess(url: string, options: { signal?: AbortSignal }): Promise<RandomAccessSource | undefined>;
  /** Removes a file; absent is fine. */
  rm(url: string, options: { signal?: AbortSignal }): Promise<void>;
}

export async function openStore(baseUrl: string, options: StoreOptions = {}): Promise<Store> {
  const fs = options.fileSystem ?? (await fileSystemFor(baseUrl, options));
  const pathOf = async (url: string): Promise<string> => storePath(url);
  const isMissing = (err: unknown) => (err as { code?: string }).code === "ENOENT";
  return {
    async publish(local, url, o) {
      const sidecar = o.sidecar ? { content: o.sidecar.content, path: await pathOf(o.sidecar.path) } : undefined;
      await fs.publish(local, await pathOf(url), { signal: o.signal, metadata: o.metadata, sidecar, onProgress: o.onProgress });
    },
    async isUpToDate(url, expected, o) {
      return fs.isUpToDate(await pathOf(url), expected, o);
    },
    async readSmall(url, o) {
      try {
        return await fs.read(await pathOf(url), { signal: o.signal, maxBytes: 16 * 1024 * 1024 });
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    },
    async openRandomAccess(url, o) {
      try {
        return await fs.openRandomAccess(await pathOf(url), o);
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    },
    async rm(url, o) {
      await fs.rm(await pathOf(url), { signal: o.signal, force: true });
    },
  };
}

/** The adapter for a URL's scheme; SDKs load only when their scheme is used. */
export async function fileSystemFor(url: string, options: StoreOptions): Promise<FileSystem> {
  const scheme = schemeOf(url);
  if (scheme === "" || scheme === "file") return new LocalFileSystem();
  if (scheme === "s3" || scheme === "s3a" || scheme === "s3n") {
    const { S3FileSystem } = loadS3Adapter();
    return new S3FileSystem(options.s3 ?? {});
  }
  throw new InvalidInputError(`Cannot store packages at ${url}: the ${scheme}:// scheme is not supported here. Use s3://bucket/key, file:///path or a local path.`);
}

/** The adapter's path for a URL: local paths as they are, `/bucket/key` for S3. */
export function storePath(url: string): string {
  const scheme = schemeOf(url);
  if (scheme === "") return url;
  if (scheme === "file") return fileURLToPath(url);
  const u = new URL(url);
  return `/${u.host}${decodeURIComponent(u.pathname)}`;
}

function schemeOf(url: string): string {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(url);
  return m ? m[1]!.toLowerCase() : "";
}

/**
 * Loads @cluster-pack/fs's S3 adapter on first use (so the AWS SDK costs nothing to users
 * of other stores). Its `./s3` export currently points at dist/adapters/s3.js while the
 * module is built to dist/s3.js, so the module beside the package's entry point is the
 * fallback until @cluster-pack/fs exports resolveFileSystem.
 */
function loadS3Adapter(): { S3FileSystem: new (o: S3FileSystemOptions) => FileSystem } {
  const tried: string[] = [];
  for (const id of ["@cluster-pack/fs/s3", path.join(path.dirname(require.resolve("@cluster-pack/fs")), "s3")]) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(id) as { S3FileSystem?: new (o: S3FileSystemOptions) => FileSystem };
      if (mod.S3FileSystem) return mod as { S3FileSystem: new (o: S3FileSystemOptions) => FileSystem };
    } catch (err) {
      tried.push(`${id}: ${(err as Error).message.split("\n")[0]}`);
    }
  }
  throw new ClusterPackError("ERR_S3_UNAVAILABLE", `The S3 adapter of @cluster-pack/fs cannot be loaded (${tried.join("; ")}). Reinstall cluster-pack.`);
}
