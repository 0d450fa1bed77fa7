import { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import {
  FileSystem,
  bodyToStream,
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

export interface S3FileSystemOptions {
  /** A ready client; when given, region/endpoint/credentials options are ignored. */
  client?: S3Client;
  /** Default: AWS_REGION, AWS_DEFAULT_REGION, then the profile's region (SDK chain). */
  region?: string;
  /** S3-compatible endpoint (MinIO, Ceph). Default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL. */
  endpoint?: string;
  /** Path-style URLs (`endpoint/bucket/key`); default true when a custom endpoint is set. */
  forcePathStyle?: boolean;
  /** Default: the AWS credential chain (env, AWS_PROFILE, SSO, web identity, IMDS...). */
  credentials?: S3ClientConfig["credentials"];
  /** Named profile from ~/.aws/config (default AWS_PROFILE). */
  profile?: string;
  /** SDK attempts per request (default: AWS_MAX_ATTEMPTS or 3). */
  maxAttempts?: number;
  /** Multipart part size in bytes (default 16 MiB; S3 needs >= 5 MiB except the last part). */
  partSize?: number;
  /** Parts uploaded in parallel (default 4): memory stays under (concurrency + 1) x partSize. */
  concurrency?: number;
  /** Bodies at least this large go multipart (default: partSize). */
  multipartThreshold?: number;
  /**
   * Connection and idle-socket timeouts in ms (default 60 000 each, the AWS CLI's
   * `--cli-connect-timeout` and `--cli-read-timeout`). Without them a store that accepts a
   * request and never answers holds the write forever; with them the request fails as
   * transient and is retried. 0 disables one.
   */
  timeouts?: { connectMs?: number; idleMs?: number };
  /** Extra S3Client settings (e.g. requestChecksumCalculation for older S3-compatible stores). */
  clientConfig?: Partial<S3ClientConfig>;
  /** Retries of one part / one resumed download on top of the SDK's own (default 3 attempts). */
  retry?: RetryOptions;
  /** Where AWS_* defaults are read (default process.env). */
  env?: NodeJS.ProcessEnv;
}

const MiB = 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 60_000;
const MAX_COPY_SIZE = 5 * 1024 * MiB;

/**
 * S3 and S3-compatible stores. Paths are `/<bucket>/<key>`. Writes are atomic (one PUT,
 * or a multipart upload that is either completed or aborted), so publish needs no
 * rename; directories are s3a-style `key/` marker objects plus common prefixes.
 */
export class S3FileSystem extends FileSystem {
  readonly driver = "s3";
  readonly capabilities = { rename: false, atomicWrite: true, writable: true };
  readonly client: S3Client;
  private readonly partSize: number;
  private readonly concurrency: number;
  private readonly threshold: number;
  private readonly retry: RetryOptions;

  constructor(options: S3FileSystemOptions = {}) {
    super();
    this.client = options.client ?? createS3Client(options);
    this.partSize = options.partSize ?? 16 * MiB;
    if (!(this.partSize >= 1)) throw new InvalidInputError(`[s3] partSize must be a positive number of bytes, got ${options.partSize}`);
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.threshold = options.multipartThreshold ?? this.partSize;
    this.retry = { attempts: 3, ...options.retry };
  }

  url(p: string): string {
    return `s3:/${normalizeStorePath(p)}`;
  }

  async stat(p: string, options: OpOptions = {}): Promise<FileStat> {
    const { bucket, key, norm } = this.split(p);
    if (key === "") {
      await this.send("stat", norm, options.signal, (o) => this.client.send(new HeadBucketCommand({ Bucket: bucket }), o));
      return { path: norm, name: bucket, size: 0, isFile: false, isDirectory: true };
    }
    try {
      const h = await this.send("stat", norm, options.signal, (o) => this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), o));
      return { path: norm, name: storeBaseName(key), size: h.ContentLength ?? 0, isFile: true, isDirectory: false, ...objectTimes(h.LastModified, h.ETag) };
    } catch (err) {
      if ((err as FsError).code !== "ENOENT") throw err;
    }
    const r = await this.send("stat", norm, options.signal, (o) => this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${key}/`, MaxKeys: 1 }), o));
    if ((r.KeyCount ?? 0) > 0) return { path: norm, name: storeBaseName(key), size: 0, isFile: false, isDirectory: true };
    throw this.error("ENOENT", "stat", norm, "no such object or prefix");
  }

  async list(p: string, options: OpOptions = {}): Promise<FileStat[]> {
    const { bucket, key, norm } = this.split(p);
    const prefix = key === "" ? "" : `${key}/`;
    const out: FileStat[] = [];
    let token: string | undefined;
    let sawAny = false;
    do {
      const r = await this.send("list", norm, options.signal, (o) => this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: "/", ContinuationToken: token }), o));
      for (const o of r.Contents ?? []) {
        sawAny = true;
        if (!o.Key || o.Key === prefix) continue; // the directory marker itself
        out.push({ path: `/${bucket}/${o.Key}`, name: o.Key.slice(prefix.length), size: o.Size ?? 0, isFile: true, isDirectory: false, ...objectTimes(o.LastModified, o.ETag) });
      }
      for (const cp of r.CommonPrefixes ?? []) {
        sawAny = true;
        if (!cp.Prefix) continue;
        const name = cp.Prefix.slice(prefix.length, -1);
        out.push({ path: `/${bucket}/${cp.Prefix.slice(0, -1)}`, name, size: 0, isFile: false, isDirectory: true });
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    if (!sawAny && key !== "") {
      if ((await this.head(norm, options)) !== null) throw this.error("ENOTDIR", "list", norm, "is an object, not a prefix");
      throw this.error("ENOENT", "list", norm, "no such prefix");
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async readStream(p: string, options: ReadStreamOptions = {}): Promise<Readable> {
    const { bucket, key, norm } = this.split(p);
    if (key === "") throw this.error("EISDIR", "read", norm, "is a bucket");
    if (options.length === 0) return Readable.from([]);
    let etag: string | undefined;
    return resumableStream(
      async (pos, end, signal) => {
        try {
          const r = await this.send("read", norm, signal, (o) => this.client.send(new GetObjectCommand({
              Bucket: bucket,
              Key: key,
              ...(pos > 0 || end !== undefined ? { Range: `bytes=${pos}-${end === undefined ? "" : end - 1}` } : {}),
              // A resumed read must continue the same object, not a newer one.
              ...(etag ? { IfMatch: etag } : {}),
            }), o));
          etag ??= r.ETag;
          return { stream: r.Body as Readable, end: pos + (r.ContentLength ?? 0) };
        } catch (err) {
          if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 416 || ((err as FsError).cause as { name?: string })?.name === "InvalidRange") {
            return { stream: Readable.from([]), end: pos };
          }
          throw err;
        }
      },
      { offset: options.offset, length: options.length, signal: options.signal, retry: this.retry },
    );
  }

  async write(p: string, body: WriteBody, options: WriteOptions = {}): Promise<void> {
    const { bucket, key, norm } = this.split(p);
    if (key === "" || key.endsWith("/")) throw this.error("EISDIR", "write", norm, "needs an object key, not a bucket or prefix");
    const metadata = validateMetadata(options.metadata);
    checkAborted(options.signal);
    if (options.overwrite === false && (await this.head(norm, options)) !== null) {
      throw this.error("EEXIST", "write", norm, "object already exists");
    }
    const { stream, size } = bodyToStream(body);
    // A body known to be under the threshold is one part, however many part sizes it spans.
    const single = size !== undefined && size < this.threshold;
    const parts = new PartReader(stream, single ? Math.max(1, size) : this.partSize);
    try {
      const first = await parts.next();
      const second = first && !single && first.length === this.partSize ? await parts.next() : null;
      if (!second) {
        // One PUT: the object appears complete or not at all.
        const buf = first ?? Buffer.alloc(0);
        await this.send("write", norm, options.signal, (o) => this.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: buf, ContentLength: buf.length, Metadata: metadata, ...(options.overwrite === false ? { IfNoneMatch: "*" } : {}) }), o));
        options.onProgress?.({ bytesDone: buf.length, bytesTotal: buf.length });
        return;
      }
      await this.multipart(bucket, key, norm, [first!, second], parts, size, metadata, options);
    } catch (err) {
      stream.destroy();
      if (options.signal?.aborted) throw toAbortError(options.signal, err);
      throw err;
    }
  }

  async rm(p: string, options: RmOptions = {}): Promise<void> {
    const { bucket, key, norm } = this.split(p);
    if (key === "") throw this.error("EINVAL", "rm", norm, "refusing to remove a whole bucket");
    const isObject = (await this.head(norm, options)) !== null;
    if (isObject) await this.send("rm", norm, options.signal, (o) => this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), o));
    const under: string[] = [];
    let token: string | undefined;
    do {
      const r = await this.send("rm", norm, options.signal, (o) => this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${key}/`, ContinuationToken: token }), o));
      for (const o of r.Contents ?? []) if (o.Key) under.push(o.Key);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    if (!isObject && under.length === 0) {
      if (options.force) return;
      throw this.error("ENOENT", "rm", norm, "no such object or prefix");
    }
    if (isObject) return;
    const children = under.filter((k) => k !== `${key}/`);
    if (children.length && !options.recursive) throw this.error("ENOTEMPTY", "rm", norm, "prefix not empty", undefined, "pass recursive.");
    await forEachLimit(under, 8, (k) => this.send("rm", `/${bucket}/${k}`, options.signal, (o) => this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: k }), o)));
  }

  async mkdirp(p: string, options: OpOptions = {}): Promise<void> {
    const { bucket, key, norm } = this.split(p);
    if (key === "") {
      await this.stat(norm, options);
      return;
    }
    if ((await this.head(norm, options)) !== null) throw this.error("EEXIST", "mkdirp", norm, "an object exists at this key");
    // An s3a-style directory marker, so empty directories exist like on HDFS.
    await this.send("mkdirp", norm, options.signal, (o) => this.client.send(new PutObjectCommand({ Bucket: bucket, Key: `${key}/`, Body: Buffer.alloc(0), ContentLength: 0 }), o));
  }

  async head(p: string, options: OpOptions = {}): Promise<ObjectHead | null> {
    const { bucket, key, norm } = this.split(p);
    if (key === "") return null;
    try {
      const h = await this.send("head", norm, options.signal, (o) => this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), o));
      return { metadata: { ...(h.Metadata ?? {}) }, size: h.ContentLength ?? 0, ...objectTimes(h.LastModified, h.ETag) };
    } catch (err) {
      if ((err as FsError).code === "ENOENT") return null;
      throw err;
    }
  }

  protected override async copyWithin(from: string, to: string, options: WriteOptions): Promise<boolean> {
    const src = this.split(from);
    const dst = this.split(to);
    const h = await this.head(src.norm, options);
    if (h === null) throw this.error("ENOENT", "copy", src.norm, "no such object");
    if ((h.size ?? 0) > MAX_COPY_SIZE) return false;
    if (options.overwrite === false && (await this.head(dst.norm, options)) !== null) throw this.error("EEXIST", "copy", dst.norm, "object already exists");
    const metadata = options.metadata ? validateMetadata(options.metadata) : undefined;
    await this.send("copy", dst.norm, options.signal, (o) => this.client.send(new CopyObjectCommand({
        Bucket: dst.bucket,
        Key: dst.key,
        CopySource: `${src.bucket}/${src.key.split("/").map(encodeURIComponent).join("/")}`,
        ...(metadata ? { Metadata: metadata, MetadataDirective: "REPLACE" } : {}),
      }), o));
    return true;
  }

  /**
   * Parallel parts, each retried on its own; memory bounded by the parts in flight. Any
   * failure or abort aborts the upload so no orphan parts stay stored (and billed).
   */
  private async multipart(
    bucket: string,
    key: string,
    norm: string,
    firstParts: Buffer[],
    parts: PartReader,
    size: number | undefined,
    metadata: Record<string, string>,
    options: WriteOptions,
  ): Promise<void> {
    // Not cancelled midway: an abort while the answer is on its way would leave an upload
    // whose id we never learn, so nobody could abort it. It is short; the abort is checked after.
    const created = await this.send("write", norm, undefined, (o) => this.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, Metadata: metadata }), o));
    const uploadId = created.UploadId;
    if (!uploadId) throw this.error("EIO", "write", norm, "the store returned no UploadId for the multipart upload");
    if (options.signal?.aborted) {
      await this.abortUpload(bucket, key, norm, uploadId, undefined);
      throw toAbortError(options.signal);
    }
    const done: { PartNumber: number; ETag: string }[] = [];
    let bytesDone = 0;
    try {
      await uploadParts(parts, firstParts, {
        concurrency: this.concurrency,
        signal: options.signal,
        upload: async (n, buf, signal) => {
          const r = await withRetry(
            () => this.send("write", norm, signal, (o) => this.client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: n, Body: buf, ContentLength: buf.length }), o)),
            isTransientError,
            { ...this.retry, signal },
          );
          if (!r.ETag) throw this.error("EIO", "write", norm, `the store returned no ETag for part ${n}`);
          done.push({ PartNumber: n, ETag: r.ETag });
          bytesDone += buf.length;
          options.onProgress?.({ bytesDone, ...(size === undefined ? {} : { bytesTotal: size }) });
        },
      });
      done.sort((a, b) => a.PartNumber - b.PartNumber);
      throwIfAborted(options.signal);
      // Not cancelled midway either: the object is then either complete or the upload aborted below.
      await this.send("write", norm, undefined, (o) => this.client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: done } }), o));
    } catch (err) {
      await this.abortUpload(bucket, key, norm, uploadId, err);
      throw err;
    }
  }

  private async abortUpload(bucket: string, key: string, norm: string, uploadId: string, reason: unknown): Promise<void> {
    try {
      await withRetry(() => this.send("abort", norm, undefined, (o) => this.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }), o)), isTransientError, this.retry);
    } catch (abortErr) {
      // Keep the original failure; say what is left behind, and in its hint how to remove it.
      if (reason instanceof Error) {
        reason.message += `; aborting multipart upload ${uploadId} also failed (${(abortErr as Error).message}), so its parts may remain`;
        const before = (reason as { hint?: unknown }).hint;
        const removal = `remove the parts with \`aws s3api abort-multipart-upload --bucket ${bucket} --key ${key} --upload-id ${uploadId}\` or a lifecycle rule.`;
        Object.assign(reason, { hint: typeof before === "string" && before ? `${before.replace(/\.$/, "")}; then ${removal}` : removal });
      }
    }
  }

  private split(p: string): { bucket: string; key: string; norm: string } {
    const norm = normalizeStorePath(p);
    const slash = norm.indexOf("/", 1);
    const bucket = slash === -1 ? norm.slice(1) : norm.slice(1, slash);
    const key = slash === -1 ? "" : norm.slice(slash + 1);
    if (!bucket) throw new InvalidInputError(`[s3] ${JSON.stringify(p)} has no bucket`, { hint: "use s3://<bucket>/<key>." });
    return { bucket, key, norm };
  }

  private async send<T>(op: string, p: string, signal: AbortSignal | undefined, call: (options: { abortSignal?: AbortSignal }) => Promise<T>): Promise<T> {
    checkAborted(signal);
    try {
      return await call(signal ? { abortSignal: signal } : {});
    } catch (err) {
      if (signal?.aborted) throw toAbortError(signal, err);
      throw this.mapError(err, op, p);
    }
  }

  private mapError(err: unknown, op: string, p: string): Error {
    if (err instanceof FsError || err instanceof InvalidInputError) return err;
    const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number }; code?: string };
    const name = e.name ?? "Error";
    const status = e.$metadata?.httpStatusCode;
    if (/region is missing/i.test(e.message ?? "")) {
      return new InvalidInputError("[s3] no AWS region configured.", { cause: err, hint: "set AWS_REGION (or AWS_DEFAULT_REGION, or a region in your AWS profile) or pass the region option." });
    }
    if (name === "NoSuchBucket") return this.error("ENOENT", op, p, "the bucket does not exist", err, "create it or fix the URL.");
    if (name === "NoSuchKey" || name === "NotFound" || status === 404) return this.error("ENOENT", op, p, "no such object", err);
    if (name === "CredentialsProviderError" || /Could not load credentials/i.test(e.message ?? "")) {
      return this.error("EACCES", op, p, "no AWS credentials found", err, "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or pass credentials.");
    }
    if (["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken", "InvalidToken", "Forbidden"].includes(name) || status === 403) {
      // The SDK's message never holds the secret; ours names only the error kind.
      return this.error("EACCES", op, p, `access denied by the store (${name})`, err, "check the credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the credentials option) and the bucket policy.");
    }
    if (name === "PreconditionFailed" || status === 412) return this.error("EEXIST", op, p, "the object changed or already exists (precondition failed)", err);
    const transient = isTransientError(err) || (status !== undefined && status >= 500);
    const mapped = this.error("EIO", op, p, `${name}${status ? ` (HTTP ${status})` : ""}: ${e.message ?? "request failed"}${transient ? " (after retries)" : ""}`, err);
    return transient ? Object.assign(mapped, { transient: true }) : mapped;
  }
}

/** Builds an S3Client from options and the user's AWS_* environment. */
export function createS3Client(options: S3FileSystemOptions = {}): S3Client {
  const env = options.env ?? process.env;
  const endpoint = options.endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const maxAttempts = options.maxAttempts ?? (env.AWS_MAX_ATTEMPTS ? Number(env.AWS_MAX_ATTEMPTS) : undefined);
  return withoutNodeVersionWarning(
    () =>
      new S3Client({
        ...(region ? { region } : {}),
        ...(endpoint ? { endpoint } : {}),
        forcePathStyle: options.forcePathStyle ?? Boolean(endpoint),
        ...(options.credentials ? { credentials: options.credentials } : {}),
        ...(options.profile ?? env.AWS_PROFILE ? { profile: options.profile ?? env.AWS_PROFILE } : {}),
        ...(maxAttempts ? { maxAttempts } : {}),
        requestHandler: { connectionTimeout: options.timeouts?.connectMs ?? DEFAULT_TIMEOUT_MS, socketTimeout: options.timeouts?.idleMs ?? DEFAULT_TIMEOUT_MS },
        ...options.clientConfig,
      }),
  );
}

/**
 * The SDK warns (7 lines on stderr, once per process) when a client is made on a Node
 * older than the one its future releases will need; our `engines` supports Node 20, so
 * users get nothing to act on. The SDK's documented switch is an environment variable,
 * read while the client is configured: set only around that construction (the SDK then
 * remembers it warned and stays quiet for every later client, its credential clients
 * included), so nothing else in the process sees it changed.
 */
function withoutNodeVersionWarning<T>(make: () => T): T {
  const key = "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED";
  const saved = process.env[key];
  if (saved !== undefined) return make();
  process.env[key] = "true";
  try {
    return make();
  } finally {
    delete process.env[key];
  }
}
