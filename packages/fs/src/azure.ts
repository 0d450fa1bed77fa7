import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import {
  AnonymousCredential,
  BlobServiceClient,
  StorageSharedKeyCredential,
  type BlockBlobClient,
  type ContainerClient,
  type StoragePipelineOptions,
} from "@azure/storage-blob";
import { InvalidInputError, redactUrl } from "@cluster-pack/errors";
import {
  FileSystem,
  bodySize,
  bodyToStream,
  isReopenable,
  normalizeStorePath,
  objectTimes,
  storeBaseName,
  validateMetadata,
  type FileStat,
  type ObjectHead,
  type OpOptions,
  type ReadStreamOptions,
  type RmOptions,
  type WriteBody,
  type WriteOptions,
} from "./filesystem";
import { FsError, checkAborted, toAbortError } from "./errors";
import { PartReader, uploadParts } from "./parts";
import { resumableStream } from "./resumable";
import { forEachLimit, isTransientError, withRetry, type RetryOptions } from "@cluster-pack/io";

/** How URLs print: ADLS Gen2 (`abfss://container@account.dfs.<suffix>/path`), WASB, or fsspec's `az://container/path`. */
export type AzureScheme = "abfss" | "abfs" | "wasbs" | "wasb" | "az";

export interface AzureBlobFileSystemOptions {
  /** Storage account name (`<account>.blob.core.windows.net`). */
  account: string;
  /** Blob endpoint (`https://<account>.blob.core.windows.net`, Azurite's `http://127.0.0.1:10000/devstoreaccount1`). Default: the connection string's BlobEndpoint, else built from the account. */
  endpoint?: string;
  /** DNS suffix of the account's hosts (default `core.windows.net`; `core.chinacloudapi.cn`, `core.usgovcloudapi.net`). */
  endpointSuffix?: string;
  /** Printed URLs' scheme (default `abfss`); `wasb`/`abfs` also mean plain HTTP to the default endpoint. */
  scheme?: AzureScheme;
  /** Default: AZURE_STORAGE_CONNECTION_STRING when it names this account. */
  connectionString?: string;
  /** Shared key. Default: AZURE_STORAGE_KEY / AZURE_STORAGE_ACCOUNT_KEY when AZURE_STORAGE_ACCOUNT(_NAME) is this account or unset. */
  accountKey?: string;
  /** A SAS token (`sv=...&sig=...`). Default: AZURE_STORAGE_SAS_TOKEN. */
  sasToken?: string;
  /** An @azure/identity credential (any @azure/core-auth TokenCredential); without one and without keys, DefaultAzureCredential when installed. */
  credential?: AzureTokenCredential;
  /** A ready client; the options above are then ignored. */
  client?: BlobServiceClient;
  /** Block size for staged uploads (default 8 MiB; Azure takes up to 4000 MiB). */
  blockSize?: number;
  /** Blocks uploaded in parallel (default 4): memory stays under (concurrency + 1) x blockSize. */
  concurrency?: number;
  /** Bodies up to this size go in one Put Blob (default 32 MiB); larger ones as staged blocks + Put Block List. */
  singleUploadThreshold?: number;
  /** Retries of one block / one resumed download on top of the SDK's own (default 3 attempts). */
  retry?: RetryOptions;
  env?: NodeJS.ProcessEnv;
}

/** @azure/core-auth's TokenCredential, structurally (core-auth is the SDK's dependency, not ours). */
export interface AzureTokenCredential {
  getToken(scopes: string | string[], options?: object): Promise<{ token: string; expiresOnTimestamp: number } | null>;
}

const MiB = 1024 * 1024;
/** Hadoop's (wasb/abfs) directory marker: a zero-length blob with this metadata. */
const FOLDER_META = "hdi_isfolder";
/** Our metadata keys are `[a-z0-9-]`; Azure wants C# identifiers: `lock-sha256` is stored as `cp_lock_sha256`. */
const META_PREFIX = "cp_";

/**
 * Azure Blob Storage and ADLS Gen2 through the Blob API (which Gen2 accounts also serve),
 * on @azure/storage-blob. Paths are `/<container>/<blob name>`. Writes are atomic: one
 * Put Blob, or blocks staged under IDs unique to the writer and made visible by the
 * final Put Block List; `overwrite: false` is `If-None-Match: *` on that last request.
 * Directories are Hadoop's `hdi_isfolder` marker blobs plus name prefixes, so the
 * wasb/abfs connectors see the same tree.
 */
export class AzureBlobFileSystem extends FileSystem {
  readonly driver = "azure";
  readonly capabilities = { rename: false, atomicWrite: true, writable: true };
  readonly client: BlobServiceClient;
  readonly account: string;
  private readonly scheme: AzureScheme;
  private readonly suffix: string;
  private readonly blockSize: number;
  private readonly concurrency: number;
  private readonly threshold: number;
  private readonly retry: RetryOptions;

  constructor(options: AzureBlobFileSystemOptions) {
    super();
    if (!options.account || !/^[a-z0-9]{3,24}$/.test(options.account)) {
      throw new InvalidInputError(`[azure] "${options.account ?? ""}" is not a storage account name (3-24 lowercase letters and digits).`, { hint: "fix the URL (abfss://<container>@<account>.dfs.core.windows.net/path)." });
    }
    this.account = options.account;
    this.scheme = options.scheme ?? "abfss";
    this.suffix = options.endpointSuffix ?? "core.windows.net";
    this.client = options.client ?? createBlobServiceClient(options);
    this.blockSize = options.blockSize ?? 8 * MiB;
    if (!(this.blockSize >= 1)) throw new InvalidInputError(`[azure] blockSize must be a positive number of bytes, got ${options.blockSize}`);
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.threshold = options.singleUploadThreshold ?? 32 * MiB;
    this.retry = { attempts: 3, ...options.retry };
  }

  url(p: string): string {
    const norm = normalizeStorePath(p);
    const slash = norm.indexOf("/", 1);
    const container = slash === -1 ? norm.slice(1) : norm.slice(1, slash);
    const rest = slash === -1 ? "/" : norm.slice(slash);
    if (this.scheme === "az") return `az://${container}${rest}`;
    const service = this.scheme.startsWith("abfs") ? "dfs" : "blob";
    return `${this.scheme}://${container ? `${container}@` : ""}${this.account}.${service}.${this.suffix}${rest}`;
  }

  async stat(p: string, options: OpOptions = {}): Promise<FileStat> {
    const { container, key, norm } = this.split(p);
    if (key === "") {
      await this.send("stat", norm, options.signal, (abortSignal) => this.containerClient(container).getProperties({ abortSignal }));
      return { path: norm, name: container, size: 0, isFile: false, isDirectory: true };
    }
    const props = await this.properties(container, key, norm, options.signal);
    if (props && !props.folder) return { path: norm, name: storeBaseName(key), size: props.size, isFile: true, isDirectory: false, ...props.times };
    if (props?.folder) return { path: norm, name: storeBaseName(key), size: 0, isFile: false, isDirectory: true };
    const page = await this.send("stat", norm, options.signal, (abortSignal) => this.containerClient(container).listBlobsFlat({ prefix: `${key}/`, abortSignal }).byPage({ maxPageSize: 1 }).next());
    if (!page.done && page.value.segment.blobItems.length > 0) return { path: norm, name: storeBaseName(key), size: 0, isFile: false, isDirectory: true };
    throw this.error("ENOENT", "stat", norm, "no such blob or directory");
  }

  async list(p: string, options: OpOptions = {}): Promise<FileStat[]> {
    const { container, key, norm } = this.split(p);
    const prefix = key === "" ? "" : `${key}/`;
    const byName = new Map<string, FileStat>();
    let sawAny = false;
    const pages = this.containerClient(container).listBlobsByHierarchy("/", { prefix, includeMetadata: true, abortSignal: options.signal }).byPage({ maxPageSize: 5000 });
    for (;;) {
      const page = await this.send("list", norm, options.signal, () => pages.next());
      if (page.done) break;
      for (const b of page.value.segment.blobItems) {
        sawAny = true;
        if (b.name === prefix) continue; // an s3a-style `dir/` marker
        const name = b.name.slice(prefix.length);
        const full = `/${container}/${b.name}`;
        if (isFolder(b.metadata)) byName.set(name, { path: full, name, size: 0, isFile: false, isDirectory: true });
        else byName.set(name, { path: full, name, size: b.properties.contentLength ?? 0, isFile: true, isDirectory: false, ...objectTimes(b.properties.lastModified, b.properties.etag) });
      }
      for (const bp of page.value.segment.blobPrefixes ?? []) {
        sawAny = true;
        const name = bp.name.slice(prefix.length, -1);
        byName.set(name, { path: `/${container}/${bp.name.slice(0, -1)}`, name, size: 0, isFile: false, isDirectory: true });
      }
    }
    if (!sawAny && key !== "") {
      const props = await this.properties(container, key, norm, options.signal);
      if (props?.folder) return [];
      if (props) throw this.error("ENOTDIR", "list", norm, "is a blob, not a directory");
      throw this.error("ENOENT", "list", norm, "no such directory");
    }
    return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async readStream(p: string, options: ReadStreamOptions = {}): Promise<Readable> {
    const { container, key, norm } = this.split(p);
    if (key === "") throw this.error("EISDIR", "read", norm, "is a container");
    if (options.length === 0) return Readable.from([]);
    const blob = this.blob(container, key);
    let etag: string | undefined;
    return resumableStream(
      async (pos, end, signal) => {
        try {
          const r = await this.send("read", norm, signal, (abortSignal) =>
            // A resumed read must continue the same blob, not a newer one.
            blob.download(pos, end === undefined ? undefined : end - pos, { abortSignal, ...(etag ? { conditions: { ifMatch: etag } } : {}) }),
          );
          etag ??= r.etag;
          return { stream: r.readableStreamBody as Readable, end: pos + (r.contentLength ?? 0) };
        } catch (err) {
          // Reading from the very end answers 416 InvalidRange: that is an empty read.
          if ((err as { azureStatus?: number }).azureStatus === 416) return { stream: Readable.from([]), end: pos };
          throw err;
        }
      },
      { offset: options.offset, length: options.length, signal: options.signal, retry: this.retry },
    );
  }

  async write(p: string, body: WriteBody, options: WriteOptions = {}): Promise<void> {
    const { container, key, norm } = this.split(p);
    if (key === "" || key.endsWith("/")) throw this.error("EISDIR", "write", norm, "needs a blob name, not a container or directory");
    const metadata = encodeMetadata(validateMetadata(options.metadata));
    checkAborted(options.signal);
    const blob = this.blob(container, key);
    const conditions = options.overwrite === false ? { ifNoneMatch: "*" } : {};
    const size = bodySize(body);
    const progress = (bytesDone: number) => options.onProgress?.({ bytesDone, ...(size === undefined ? {} : { bytesTotal: size }) });
    if (isReopenable(body) && body.size <= this.threshold) {
      // One Put Blob streamed from the source; the SDK reopens it for its own retries.
      await this.send("write", norm, options.signal, (abortSignal) => blob.upload(() => body.open(0, body.size), body.size, { metadata, conditions, abortSignal, onProgress: (e) => progress(e.loadedBytes) }));
      progress(body.size);
      return;
    }
    const { stream } = bodyToStream(body);
    // A body known to fit one Put Blob is read as one part, however many block sizes it spans.
    const single = size !== undefined && size <= this.threshold;
    const parts = new PartReader(stream, single ? Math.max(1, size) : this.blockSize);
    try {
      const first = await parts.next();
      const second = first && !single && first.length === this.blockSize ? await parts.next() : null;
      if (!second) {
        const buf = first ?? Buffer.alloc(0);
        await this.send("write", norm, options.signal, (abortSignal) => blob.upload(buf, buf.length, { metadata, conditions, abortSignal }));
        progress(buf.length);
        return;
      }
      // Block IDs carry a per-writer prefix, so concurrent writers never replace each other's blocks.
      const writer = randomBytes(9).toString("hex");
      const ids: string[] = [];
      let bytesDone = 0;
      const count = await uploadParts(parts, [first!, second], {
        concurrency: this.concurrency,
        signal: options.signal,
        upload: async (n, buf, signal) => {
          const id = Buffer.from(`${writer}-${String(n).padStart(6, "0")}`).toString("base64");
          ids[n - 1] = id;
          await withRetry(() => this.send("write", norm, signal, (abortSignal) => blob.stageBlock(id, buf, buf.length, { abortSignal })), isTransientError, { ...this.retry, signal });
          bytesDone += buf.length;
          progress(bytesDone);
        },
      });
      if (ids.length !== count) throw this.error("EIO", "write", norm, `staged ${ids.length} of ${count} blocks`);
      // Nothing is visible until this commit; staged blocks never committed expire on their own (7 days).
      await this.send("write", norm, options.signal, (abortSignal) => blob.commitBlockList(ids, { metadata, conditions, abortSignal }));
    } catch (err) {
      stream.destroy();
      if (options.signal?.aborted) throw toAbortError(options.signal, err);
      throw err;
    }
  }

  async rm(p: string, options: RmOptions = {}): Promise<void> {
    const { container, key, norm } = this.split(p);
    if (key === "") throw this.error("EINVAL", "rm", norm, "refusing to remove a whole container");
    const props = await this.properties(container, key, norm, options.signal);
    if (props && !props.folder) {
      await this.send("rm", norm, options.signal, (abortSignal) => this.blob(container, key).delete({ abortSignal }));
      return;
    }
    const under: string[] = [];
    const pages = this.containerClient(container).listBlobsFlat({ prefix: `${key}/`, abortSignal: options.signal }).byPage({ maxPageSize: 5000 });
    for (;;) {
      const page = await this.send("rm", norm, options.signal, () => pages.next());
      if (page.done) break;
      for (const b of page.value.segment.blobItems) under.push(b.name);
    }
    if (!props && under.length === 0) {
      if (options.force) return;
      throw this.error("ENOENT", "rm", norm, "no such blob or directory");
    }
    if (under.some((n) => n !== `${key}/`) && !options.recursive) throw this.error("ENOTEMPTY", "rm", norm, "directory not empty", undefined, "pass recursive.");
    // Children first, the directory's own marker last: an interrupted rm leaves a directory, not orphans.
    await forEachLimit(under, 8, (name) => this.send("rm", `/${container}/${name}`, options.signal, (abortSignal) => this.blob(container, name).deleteIfExists({ abortSignal })));
    if (props?.folder) await this.send("rm", norm, options.signal, (abortSignal) => this.blob(container, key).deleteIfExists({ abortSignal }));
  }

  async mkdirp(p: string, options: OpOptions = {}): Promise<void> {
    const { container, key, norm } = this.split(p);
    if (key === "") {
      await this.stat(norm, options);
      return;
    }
    const props = await this.properties(container, key, norm, options.signal);
    if (props?.folder) return;
    if (props) throw this.error("EEXIST", "mkdirp", norm, "a blob exists at this name");
    try {
      await this.send("mkdirp", norm, options.signal, (abortSignal) => this.blob(container, key).upload(Buffer.alloc(0), 0, { metadata: { [FOLDER_META]: "true" }, conditions: { ifNoneMatch: "*" }, abortSignal }));
    } catch (err) {
      // Made meanwhile by someone else: fine if it is a directory.
      if ((err as FsError).code !== "EEXIST" || !(await this.properties(container, key, norm, options.signal))?.folder) throw err;
    }
  }

  async head(p: string, options: OpOptions = {}): Promise<ObjectHead | null> {
    const { container, key, norm } = this.split(p);
    if (key === "") return null;
    const props = await this.properties(container, key, norm, options.signal);
    if (!props || props.folder) return null;
    return { metadata: props.metadata, size: props.size, ...props.times };
  }

  protected override async copyWithin(from: string, to: string, options: WriteOptions): Promise<boolean> {
    const src = this.split(from);
    const dst = this.split(to);
    const source = this.blob(src.container, src.key);
    const metadata = options.metadata ? encodeMetadata(validateMetadata(options.metadata)) : undefined;
    const poller = await this.send("copy", dst.norm, options.signal, (abortSignal) =>
      this.blob(dst.container, dst.key).beginCopyFromURL(source.url, { abortSignal, intervalInMs: 250, ...(metadata ? { metadata } : {}), ...(options.overwrite === false ? { conditions: { ifNoneMatch: "*" } } : {}) }),
    );
    const done = await this.send("copy", dst.norm, options.signal, () => poller.pollUntilDone());
    if (done.copyStatus !== "success") throw this.error("EIO", "copy", dst.norm, `server-side copy ended ${done.copyStatus ?? "without a status"}`);
    return true;
  }

  /** One Get Blob Properties: metadata, size, whether it is a directory marker; null when absent. */
  private async properties(container: string, key: string, norm: string, signal: AbortSignal | undefined): Promise<{ folder: boolean; size: number; metadata: Record<string, string>; times: { mtimeMs?: number; etag?: string } } | null> {
    try {
      const r = await this.send("head", norm, signal, (abortSignal) => this.blob(container, key).getProperties({ abortSignal }));
      return { folder: isFolder(r.metadata), size: r.contentLength ?? 0, metadata: decodeMetadata(r.metadata), times: objectTimes(r.lastModified, r.etag) };
    } catch (err) {
      if ((err as FsError).code === "ENOENT") return null;
      throw err;
    }
  }

  private containerClient(container: string): ContainerClient {
    return this.client.getContainerClient(container);
  }

  private blob(container: string, key: string): BlockBlobClient {
    return this.containerClient(container).getBlockBlobClient(key);
  }

  private split(p: string): { container: string; key: string; norm: string } {
    const norm = normalizeStorePath(p);
    const slash = norm.indexOf("/", 1);
    const container = slash === -1 ? norm.slice(1) : norm.slice(1, slash);
    const key = slash === -1 ? "" : norm.slice(slash + 1);
    if (!container) throw this.error("EINVAL", "resolve", norm, "needs a container: /<container>/<path>");
    return { container, key, norm };
  }

  /** Runs one SDK call with the caller's signal; maps RestError and aborts to FsError. */
  private async send<T>(op: string, p: string, signal: AbortSignal | undefined, fn: (abortSignal: AbortSignal | undefined) => Promise<T>): Promise<T> {
    checkAborted(signal);
    try {
      return await fn(signal);
    } catch (err) {
      if (signal?.aborted) throw toAbortError(signal, err);
      if (err instanceof FsError) throw err;
      throw this.mapError(err, op, p);
    }
  }

  private mapError(err: unknown, op: string, p: string): FsError {
    const e = err as { name?: string; code?: string; statusCode?: number; message?: string; details?: { errorCode?: string } };
    const code = e.details?.errorCode ?? e.code ?? e.name ?? "Error";
    const status = e.statusCode;
    // The SDK's error carries the request, whose URL may hold a SAS signature: keep only what is safe to print.
    const cause = Object.assign(new Error(`${code}${status ? ` (HTTP ${status})` : ""}: ${firstLine(e.message)}`), { code, status });
    const mapped = (c: Parameters<FileSystem["error"]>[0], msg: string, hint?: string) => Object.assign(this.error(c, op, p, msg, cause, hint), { azureStatus: status });
    if (e.name === "CredentialUnavailableError" || e.name === "AuthenticationRequiredError") {
      return mapped("EACCES", `no Azure credentials`, "set AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY, or AZURE_STORAGE_SAS_TOKEN, or sign in for DefaultAzureCredential (az login, AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, managed identity).");
    }
    if (code === "ContainerNotFound") return mapped("ENOENT", "the container does not exist", "create it or fix the URL.");
    if (code === "BlobNotFound" || code === "ResourceNotFound" || status === 404) return mapped("ENOENT", "no such blob");
    if (code === "BlobAlreadyExists" || (status === 409 && op !== "rm")) return mapped("EEXIST", "the blob already exists");
    if (code === "ConditionNotMet" || status === 412) return mapped("EEXIST", "the blob changed or already exists (precondition failed)");
    if (status === 416 || code === "InvalidRange") return mapped("EINVAL", "range outside the blob");
    if (code === "InvalidBlockList") {
      return Object.assign(mapped("EIO", "the staged blocks were discarded before the commit: another writer committed this blob meanwhile (Azure keeps one list of uncommitted blocks per blob)", "write again."), { transient: true });
    }
    if (status === 401 || status === 403 || /^(AuthenticationFailed|AuthorizationFailure|AuthorizationPermissionMismatch|NoAuthenticationInformation|InvalidAuthenticationInfo)/.test(code)) {
      return mapped("EACCES", `access denied by the store (${code})`, "check the credentials (AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN and its permissions, or the identity's role on the container).");
    }
    const transient = isTransientError(err) || (status !== undefined && status >= 500);
    const out = mapped("EIO", `${code}${status ? ` (HTTP ${status})` : ""}: ${firstLine(e.message) || "request failed"}${transient ? " (after retries)" : ""}`);
    return transient ? Object.assign(out, { transient: true }) : out;
  }
}

/**
 * A BlobServiceClient from the options and the configuration Azure users have, first
 * match wins: a connection string for this account, a shared key, a SAS token, a given
 * TokenCredential, then @azure/identity's DefaultAzureCredential (loaded only then).
 */
export function createBlobServiceClient(options: AzureBlobFileSystemOptions): BlobServiceClient {
  const env = options.env ?? process.env;
  const pipeline: StoragePipelineOptions = { retryOptions: { maxTries: 4 } };
  const cs = options.connectionString ?? env.AZURE_STORAGE_CONNECTION_STRING;
  if (cs) {
    const parts = parseConnectionString(cs);
    const named = parts.accountname ?? (parts.usedevelopmentstorage === "true" ? "devstoreaccount1" : undefined);
    if (named === options.account) {
      // The SDK parses the string itself; ours only decides whether it is this account's.
      if (options.endpoint || !parts.blobendpoint) {
        const endpoint = options.endpoint ?? defaultEndpoint(options);
        if (parts.accountkey) return new BlobServiceClient(endpoint, new StorageSharedKeyCredential(named, parts.accountkey), pipeline);
        if (parts.sharedaccesssignature) return new BlobServiceClient(withSas(endpoint, parts.sharedaccesssignature), new AnonymousCredential(), pipeline);
      }
      return BlobServiceClient.fromConnectionString(cs, pipeline);
    }
    if (options.connectionString) throw new InvalidInputError(`[azure] the connection string is for account "${named ?? "(none)"}", not "${options.account}".`, { hint: `pass the connection string of ${options.account}.` });
  }
  const endpoint = options.endpoint ?? defaultEndpoint(options);
  const envAccount = env.AZURE_STORAGE_ACCOUNT ?? env.AZURE_STORAGE_ACCOUNT_NAME;
  const key = options.accountKey ?? (envAccount === undefined || envAccount === options.account ? env.AZURE_STORAGE_KEY ?? env.AZURE_STORAGE_ACCOUNT_KEY : undefined);
  if (key) return new BlobServiceClient(endpoint, new StorageSharedKeyCredential(options.account, key), pipeline);
  const sas = options.sasToken ?? (envAccount === undefined || envAccount === options.account ? env.AZURE_STORAGE_SAS_TOKEN : undefined);
  if (sas) return new BlobServiceClient(withSas(endpoint, sas), new AnonymousCredential(), pipeline);
  if (options.credential) return new BlobServiceClient(endpoint, options.credential, pipeline);
  let identity: typeof import("@azure/identity") | undefined;
  try {
    // Loaded lazily: @azure/identity is optional and only needed without keys or SAS.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    identity = require("@azure/identity") as typeof import("@azure/identity");
  } catch {
    identity = undefined;
  }
  if (!identity) {
    throw new InvalidInputError(
      `[azure] no credentials for account ${options.account}.`,
      { hint: "set AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, or install @azure/identity (npm install @azure/identity@4.13.0) to sign in with DefaultAzureCredential." },
    );
  }
  return new BlobServiceClient(endpoint, new identity.DefaultAzureCredential(), pipeline);
}

/** Account, container and path of an `abfss://`, `abfs://`, `wasbs://`, `wasb://` or `az://` URL. */
export function parseAzureUrl(url: string, env: NodeJS.ProcessEnv = process.env): { scheme: AzureScheme; account: string; container: string; path: string; endpointSuffix?: string } {
  const m = /^(abfss|abfs|wasbs|wasb|az):\/\/([^/?#]*)([^?#]*)$/i.exec(url);
  if (!m) throw new InvalidInputError(`${redactUrl(url)} is not an Azure storage URL.`, { hint: "use abfss://<container>@<account>.dfs.core.windows.net/path, wasbs://<container>@<account>.blob.core.windows.net/path or az://<container>/path." });
  const scheme = m[1]!.toLowerCase() as AzureScheme;
  const authority = m[2]!;
  const rest = decodeURIComponent(m[3] || "/");
  if (scheme === "az") {
    const csAccount = env.AZURE_STORAGE_CONNECTION_STRING ? parseConnectionString(env.AZURE_STORAGE_CONNECTION_STRING).accountname : undefined;
    const account = env.AZURE_STORAGE_ACCOUNT ?? env.AZURE_STORAGE_ACCOUNT_NAME ?? csAccount;
    if (!authority) throw new InvalidInputError(`${redactUrl(url)} has no container.`, { hint: "use az://<container>/path." });
    if (!account) throw new InvalidInputError(`${redactUrl(url)} names no storage account.`, { hint: "set AZURE_STORAGE_ACCOUNT (or AZURE_STORAGE_CONNECTION_STRING), or use abfss://<container>@<account>.dfs.core.windows.net/path." });
    return { scheme, account, container: authority, path: rest };
  }
  const at = authority.lastIndexOf("@");
  const container = at === -1 ? "" : authority.slice(0, at);
  const host = (at === -1 ? authority : authority.slice(at + 1)).toLowerCase();
  const hm = /^([a-z0-9]+)\.(dfs|blob)\.([a-z0-9.-]+)$/.exec(host);
  if (!hm) throw new InvalidInputError(`${redactUrl(url)}: "${host}" is not an account host.`, { hint: `use ${scheme}://<container>@<account>.${scheme.startsWith("abfs") ? "dfs" : "blob"}.core.windows.net/path.` });
  if (!container) throw new InvalidInputError(`${redactUrl(url)} has no container.`, { hint: `use ${scheme}://<container>@${host}/path.` });
  return { scheme, account: hm[1]!, container, path: rest, endpointSuffix: hm[3]! };
}

// Helpers.

/**
 * `Key=Value;...` with lowercase keys. Written here because the SDK keeps its parser
 * private, and the account must be known before choosing a credential.
 */
function parseConnectionString(cs: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of cs.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) out[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim();
  }
  return out;
}

function defaultEndpoint(o: AzureBlobFileSystemOptions): string {
  const plain = o.scheme === "wasb" || o.scheme === "abfs";
  return `${plain ? "http" : "https"}://${o.account}.blob.${o.endpointSuffix ?? "core.windows.net"}`;
}

function withSas(endpoint: string, sas: string): string {
  const q = sas.replace(/^\?/, "");
  return `${endpoint.replace(/\/+$/, "")}?${q}`;
}

function encodeMetadata(m: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) out[`${META_PREFIX}${k.replace(/-/g, "_")}`] = v;
  return out;
}

function decodeMetadata(m: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m ?? {})) {
    const lower = k.toLowerCase();
    if (lower.startsWith(META_PREFIX)) out[lower.slice(META_PREFIX.length).replace(/_/g, "-")] = v;
  }
  return out;
}

function isFolder(m: Record<string, string> | undefined): boolean {
  for (const [k, v] of Object.entries(m ?? {})) if (k.toLowerCase() === FOLDER_META && v.toLowerCase() === "true") return true;
  return false;
}


function firstLine(s: string | undefined): string {
  return (s ?? "").split("\n")[0]!.trim().slice(0, 300);
}
