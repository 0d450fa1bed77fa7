import path from "node:path";
import { fileURLToPath } from "node:url";
import { InvalidInputError, redactUrl } from "@cluster-pack/errors";
import { locationScheme } from "@cluster-pack/io";
import { LocalFileSystem } from "./adapters/local";
import { HttpFileSystem, type HttpFileSystemOptions } from "./adapters/http";
import { WebHdfsFileSystem, type WebHdfsOptions } from "./adapters/webhdfs";
import type { FileSystem, OpOptions, PublishOptions, PublishResult, RandomAccessSource, UpToDateResult } from "./filesystem";
import { loadHadoopConfig, resolveViewFs, webHdfsEndpointFor } from "./hadoop-config";
import type { S3FileSystemOptions } from "./s3";
import type { AzureBlobFileSystemOptions } from "./azure";

export interface ResolveOptions {
  s3?: S3FileSystemOptions;
  hdfs?: Partial<WebHdfsOptions> & {
    /** Default HADOOP_CONF_DIR. */
    hadoopConfDir?: string;
    /** Namenode HTTP port when no configuration names one (default 9870). */
    httpPort?: number;
  };
  http?: HttpFileSystemOptions;
  /** Azure settings (account and container come from the URL; credentials default to AZURE_STORAGE_*). */
  azure?: Partial<AzureBlobFileSystemOptions>;
  /** Where AWS_* / HADOOP_* / AZURE_STORAGE_* defaults are read (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface ResolvedLocation {
  fs: FileSystem;
  /** The path inside `fs`. */
  path: string;
  /** Printable URL (credentials stripped). */
  url: string;
}

const SCHEMES = "s3://, s3a://, hdfs://, viewfs://, webhdfs://, swebhdfs://, abfss://, wasbs://, az://, file://, http(s):// or a local path";

/** The Azure SDK version the project was tested with, for install hints. */
const AZURE_PACKAGE = "@azure/storage-blob@12.32.0";

/**
 * Picks the adapter for a URL and the path inside it: `s3://bucket/key` (also s3a/s3n),
 * `hdfs://nn:8020/path` or `hdfs:///path` (fs.defaultFS), `viewfs://cluster/path`
 * (through the mount table), `webhdfs://host:port/path`, `abfss://container@account.dfs.core.windows.net/path`
 * (also abfs, wasbs, wasb, and fsspec's `az://container/path`), `file:///path`, `/local/path`,
 * `https://...` (read-only). Defaults come from the user's AWS_* / HADOOP_CONF_DIR / AZURE_STORAGE_* setup.
 * A scheme without its `//` (`s3:/bucket/key`) is refused (ERR_INVALID_URL), never taken
 * for a local path: @cluster-pack/io's `locationScheme` is the rule.
 */
export async function resolveFileSystem(url: string, options: ResolveOptions = {}): Promise<ResolvedLocation> {
  const env = options.env ?? process.env;
  if (!url) throw new InvalidInputError("Empty storage URL.", { hint: `pass a local path or one of ${SCHEMES}.` });
  const scheme = locationScheme(url);
  if (scheme === undefined) {
    const abs = path.resolve(url);
    return { fs: new LocalFileSystem(), path: abs, url: abs };
  }
  switch (scheme) {
    case "file": {
      const abs = fileURLToPath(url);
      return { fs: new LocalFileSystem(), path: abs, url: abs };
    }
    case "s3":
    case "s3a":
    case "s3n": {
      const u = new URL(url);
      if (!u.hostname) throw new InvalidInputError(`${redactUrl(url)} has no bucket.`, { hint: "use s3://<bucket>/<key>." });
      // Loaded lazily: the AWS SDK is heavy and only S3 users need it.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { S3FileSystem } = require("./s3") as typeof import("./s3");
      const fs = new S3FileSystem({ env, ...options.s3 });
      const p = `/${u.hostname}${decodeURIComponent(u.pathname)}`;
      return { fs, path: p, url: fs.url(p) };
    }
    case "hdfs":
    case "webhdfs":
    case "swebhdfs": {
      const u = new URL(url);
      const hopts = options.hdfs ?? {};
      let namenodes: string[];
      let authority: string;
      let auth: WebHdfsOptions["auth"];
      if (scheme === "hdfs") {
        const conf = loadHadoopConfig({ dir: hopts.hadoopConfDir, env });
        ({ namenodes, authority } = webHdfsEndpointFor(u.host, conf, { httpPort: hopts.httpPort }));
        // A secure cluster's core-site.xml says so: SPNEGO from the first request, no 401 round trip.
        if (conf?.get("hadoop.security.authentication")?.toLowerCase() === "kerberos") auth = "kerberos";
      } else {
        if (!u.host) throw new InvalidInputError(`${redactUrl(url)} has no namenode.`, { hint: `use ${scheme}://<host>:<http port>/path.` });
        namenodes = [`${scheme === "swebhdfs" ? "https" : "http"}://${u.host}`];
        authority = u.host;
      }
      const fs = new WebHdfsFileSystem({ env, ...(auth ? { auth } : {}), ...hopts, namenodes: hopts.namenodes ?? namenodes, authority: hopts.authority ?? authority });
      const p = decodeURIComponent(u.pathname) || "/";
      return { fs, path: p, url: fs.url(p) };
    }
    case "viewfs": {
      const conf = loadHadoopConfig({ dir: options.hdfs?.hadoopConfDir, env });
      return resolveFileSystem(resolveViewFs(url, conf), options);
    }
    case "abfss":
    case "abfs":
    case "wasbs":
    case "wasb":
    case "az": {
      let mod: typeof import("./azure");
      try {
        // Loaded lazily: the Azure SDK is an optional dependency only Azure users need.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        mod = require("./azure") as typeof import("./azure");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND") throw err;
        throw new InvalidInputError(`${redactUrl(url)} needs the optional Azure SDK.`, { cause: err, hint: `npm install ${AZURE_PACKAGE}.` });
      }
      const loc = mod.parseAzureUrl(url, env);
      const fs = new mod.AzureBlobFileSystem({
        env,
        scheme: loc.scheme,
        ...(loc.endpointSuffix ? { endpointSuffix: loc.endpointSuffix } : {}),
        ...azureKeysFromHadoop(loc, options.hdfs?.hadoopConfDir, env),
        ...options.azure,
        account: options.azure?.account ?? loc.account,
      });
      const p = `/${loc.container}${loc.path}`;
      return { fs, path: p, url: fs.url(p) };
    }
    case "http":
    case "https": {
      const u = new URL(url);
      const fs = new HttpFileSystem(u.origin, options.http);
      const p = `${u.pathname}${u.search}`;
      return { fs, path: p, url: fs.url(p) };
    }
    default:
      throw new InvalidInputError(`Unsupported storage URL scheme "${scheme}://" in ${redactUrl(url)}.`, { hint: `use ${SCHEMES}.` });
  }
}

/**
 * The key or SAS token a Hadoop user already has for this account in core-site.xml
 * (hadoop-azure: `fs.azure.account.key.<account>.<dfs|blob>.<suffix>`,
 * `fs.azure.sas.fixed.token.<host>`, WASB's `fs.azure.sas.<container>.<host>`), used when
 * no AZURE_STORAGE_* variable or option gives one.
 */
function azureKeysFromHadoop(loc: { scheme: string; account: string; container: string; endpointSuffix?: string }, dir: string | undefined, env: NodeJS.ProcessEnv): { accountKey?: string; sasToken?: string } {
  if (env.AZURE_STORAGE_CONNECTION_STRING || env.AZURE_STORAGE_KEY || env.AZURE_STORAGE_ACCOUNT_KEY || env.AZURE_STORAGE_SAS_TOKEN) return {};
  const conf = loadHadoopConfig({ dir, env });
  if (!conf) return {};
  const suffix = loc.endpointSuffix ?? "core.windows.net";
  for (const service of loc.scheme.startsWith("abfs") ? ["dfs", "blob"] : ["blob", "dfs"]) {
    const host = `${loc.account}.${service}.${suffix}`;
    const key = conf.get(`fs.azure.account.key.${host}`);
    if (key) return { accountKey: key };
    const sas = conf.get(`fs.azure.sas.fixed.token.${host}`) ?? conf.get(`fs.azure.sas.${loc.container}.${host}`);
    if (sas) return { sasToken: sas };
  }
  return {};
}

/** `resolveFileSystem` + `FileSystem.publish`: the archive appears complete or not at all. */
export async function publish(localFile: string, url: string, options: PublishOptions & ResolveOptions = {}): Promise<PublishResult> {
  const { fs, path: p } = await resolveFileSystem(url, options);
  return fs.publish(localFile, p, options);
}

/** One round trip: does `url` carry this metadata (and size)? */
export async function isUpToDate(url: string, expected: { metadata?: Record<string, string>; size?: number }, options: OpOptions & ResolveOptions = {}): Promise<UpToDateResult> {
  const { fs, path: p } = await resolveFileSystem(url, options);
  return fs.isUpToDate(p, expected, options);
}

/** A RandomAccessSource (zip reader contract) over any supported URL. */
export async function openRandomAccess(url: string, options: OpOptions & ResolveOptions = {}): Promise<RandomAccessSource> {
  const { fs, path: p } = await resolveFileSystem(url, options);
  return fs.openRandomAccess(p, options);
}
