import { createWriteStream, promises as fsp } from "node:fs";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ClusterPackError, IntegrityError, InvalidInputError, redactUrl, throwIfAborted } from "@cluster-pack/errors";
import { discardBody, fileSource, httpGet, publishFile, responseHeader, retryingTransport, sliceSource, splitUrlCredentials, withTempDir, type HttpResponse, type RandomAccessSource } from "@cluster-pack/io";
import { locateLastZip } from "@cluster-pack/pex";
import { ZipReader } from "@cluster-pack/zip";
import { defaultPackagePath, getDefaultFs, getUser, sidecarPath } from "./naming";
import { openStore, type StoreOptions } from "./store";

export interface UploadZipOptions {
  /** Destination (default `<default fs>/user/<user>/envs/<file name>`). */
  packagePath?: string;
  /** Upload even when the remote PEX has the same pex_hash. */
  forceUpload?: boolean;
  store?: StoreOptions;
  environ?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onProgress?: (progress: { phase: "download" | "upload"; done: number; total?: number; unit: "bytes" }) => void;
}

export interface UploadZipResult {
  packagePath: string;
  /** The PEX's own pex_hash (PEX-INFO). */
  pexHash: string;
  /** False when the remote PEX already had this pex_hash. */
  uploaded: boolean;
}

/**
 * cluster-pack's `upload_zip`: uploads an existing PEX (`.pex`, or a large PEX shipped as
 * `.pex.zip`) from a local path or an http(s) URL, skipped when the remote PEX's
 * PEX-INFO `pex_hash` is the same. The remote PEX-INFO is read with range reads (central
 * directory + one entry), never a full download. The stale sidecar of a previous
 * uploadEnv is removed, as cluster-pack does.
 */
export async function uploadZip(zipFile: string, options: UploadZipOptions = {}): Promise<UploadZipResult> {
  const { signal } = options;
  const environ = options.environ ?? process.env;
  const isUrl = /^https?:\/\//i.test(zipFile);
  const fileName = path.posix.basename(isUrl ? new URL(zipFile).pathname : zipFile);
  if (!/\.pex(\.zip)?$/.test(fileName)) {
    throw new InvalidInputError(`${isUrl ? redactUrl(zipFile) : zipFile} is not a PEX: uploadZip takes a .pex file or a large PEX shipped as .pex.zip.`);
  }
  const packagePath = options.packagePath ?? defaultPackagePath(await getDefaultFs({ env: environ }), getUser({ env: environ }), fileName.replace(/\.pex(\.zip)?$/, ""), fileName.endsWith(".zip") ? "pex.zip" : "pex");
  if (!/\.pex(\.zip)?$/.test(packagePath)) {
    throw new InvalidInputError(`packagePath ${packagePath} has the wrong extension: a PEX is uploaded as .pex (or .pex.zip for a large one).`);
  }
  return withTempDir("cluster-pack-upload-zip", async (work) => {
    let local = zipFile;
    if (isUrl) {
      local = path.join(work, fileName);
      await downloadTo(zipFile, local, options);
    } else if (!(await fsp.stat(zipFile).catch(() => undefined))?.isFile()) {
      throw new InvalidInputError(`PEX file ${zipFile} does not exist.`, { hint: "pass the path of a built .pex file or an http(s) URL." });
    }
    const localSource = await fileSource(local);
    const pexHash = await readPexHash(localSource, zipFile, signal).finally(() => localSource.close?.());
    const store = openStore({ env: environ, ...options.store });
    if (!options.forceUpload) {
      const remote = await store.openRandomAccess(packagePath, { signal });
      if (remote) {
        const remoteHash = await readPexHash(remote, packagePath, signal).catch(() => undefined);
        if (remoteHash === pexHash) return { packagePath, pexHash, uploaded: false };
      }
    }
    throwIfAborted(signal);
    await store.publish(local, packagePath, {
      signal,
      onProgress: (p) => options.onProgress?.({ phase: "upload", done: p.bytesDone, total: p.bytesTotal, unit: "bytes" }),
    });
    // The sidecar described the archive uploadEnv built; it no longer does.
    await store.rm(sidecarPath(packagePath), { signal });
    return { packagePath, pexHash, uploaded: true };
  });
}

/** Reads `pex_hash` from a PEX's PEX-INFO through any byte-range source. */
export async function readPexHash(source: RandomAccessSource, name: string, signal?: AbortSignal): Promise<string> {
  // PEX-INFO is in the last zip of the file (after a shebang, or after the bulk archive
  // of a split PEX): @cluster-pack/pex locates it from the tail, one range read.
  const { start } = await locateLastZip(source, redactUrl(name), signal);
  const reader = await ZipReader.open(start > 0 ? sliceSource(source, start, source.size - start) : source, { signal });
  try {
    const entry = reader.getEntry("PEX-INFO");
    if (!entry) throw new InvalidInputError(`${redactUrl(name)} has no PEX-INFO: it is not a PEX.`, { hint: `build it with \`cluster-pack pex build\` or pex.` });
    const info = JSON.parse((await reader.readEntry(entry, { maxBytes: 16 * 1024 * 1024, signal })).toString("utf8")) as { pex_hash?: unknown };
    if (typeof info.pex_hash !== "string" || info.pex_hash === "") {
      throw new IntegrityError(`${redactUrl(name)}: PEX-INFO has no pex_hash.`, { hint: "rebuild the PEX." });
    }
    return info.pex_hash;
  } finally {
    await reader.close();
  }
}

/**
 * Downloads an http(s) URL to a local file: a plain streamed GET (like cluster-pack's
 * urlretrieve), so any HTTP server works and memory stays bounded. The project's HTTP
 * layer: redirects keep the URL's credentials on its own origin only, transient failures
 * are retried.
 */
export async function downloadTo(url: string, local: string, options: Pick<UploadZipOptions, "signal" | "onProgress">): Promise<void> {
  const { url: clean, authorization } = splitUrlCredentials(url);
  let response: HttpResponse;
  try {
    response = await retryingTransport(httpGet)(clean, { headers: authorization ? { authorization } : {}, signal: options.signal });
  } catch (err) {
    throwIfAborted(options.signal);
    throw new ClusterPackError("ERR_DOWNLOAD", `Cannot download ${redactUrl(url)}: ${(err as Error).message}.`, { cause: err, hint: "check the URL and the network." });
  }
  if (response.status !== 200) {
    discardBody(response);
    const fix = response.status === 404 ? "Check the URL." : "Retry later or check the server.";
    const message = `Cannot download ${redactUrl(url)}: HTTP ${response.status}. ${fix}`;
    throw response.status >= 400 && response.status < 500 ? new InvalidInputError(message) : new ClusterPackError("ERR_DOWNLOAD", message);
  }
  const total = Number(responseHeader(response, "content-length") ?? "") || undefined;
  let done = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      done += chunk.length;
      options.onProgress?.({ phase: "download", done, total, unit: "bytes" });
      cb(null, chunk);
    },
  });
  await publishFile(local, (tmp, ctx) => pipeline(response.body, counter, ctx.track(createWriteStream(tmp, { flags: "wx" })), { signal: options.signal }), { signal: options.signal });
}
