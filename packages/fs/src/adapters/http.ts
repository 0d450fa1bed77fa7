import { Readable } from "node:stream";
import { redactUrl } from "@cluster-pack/errors";
import { httpRangeSource, httpRequest, readBody, retryingTransport, type HttpResponse, type HttpTransport, type RandomAccessSource, type RetryOptions } from "@cluster-pack/io";
import {
  FileSystem,
  type FileStat,
  type ObjectHead,
  type OpOptions,
  type ReadStreamOptions,
  type WriteBody,
  type WriteOptions,
} from "../filesystem";
import { type FsErrorCode, toAbortError } from "../errors";
import { resumableStream } from "../resumable";

export interface HttpFileSystemOptions {
  /** Sent with every request (e.g. Authorization); never printed. */
  headers?: Record<string, string>;
  retry?: RetryOptions;
  timeoutMs?: number;
}

/**
 * Read-only HTTP(S): stat and head through HEAD, ranged reads through `Range`, resumed
 * after a connection reset only while the ETag stays the same. Paths are `pathname+search`
 * under one origin. Every write is EROFS.
 */
export class HttpFileSystem extends FileSystem {
  readonly driver = "http";
  readonly capabilities = { rename: false, atomicWrite: false, writable: false };
  private readonly origin: string;
  private readonly headers: Record<string, string>;
  private readonly retry: RetryOptions;
  private readonly timeoutMs: number;
  /** One request, redirects not followed (a 3xx is reported with its target), 429/5xx retried. */
  private readonly transport: HttpTransport;

  /** `origin` is `https://host:port`; anything after it is ignored. */
  constructor(origin: string, options: HttpFileSystemOptions = {}) {
    super();
    this.origin = new URL(origin).origin;
    this.headers = options.headers ?? {};
    this.retry = options.retry ?? {};
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.transport = retryingTransport((url, init) => httpRequest(url, { ...init, timeoutMs: this.timeoutMs }), this.retry);
  }

  url(p: string): string {
    return redactUrl(this.origin + (p.startsWith("/") ? p : `/${p}`));
  }

  async stat(p: string, options: OpOptions = {}): Promise<FileStat> {
    const h = await this.headRequest(p, options.signal);
    const pathname = new URL(this.fullUrl(p)).pathname;
    return { path: p, name: decodeURIComponent(pathname.slice(pathname.lastIndexOf("/") + 1)), size: h.size ?? 0, isFile: true, isDirectory: false, ...(h.etag ? { etag: h.etag } : {}), ...(h.mtimeMs ? { mtimeMs: h.mtimeMs } : {}) };
  }

  async list(p: string): Promise<FileStat[]> {
    throw this.error("ENOTSUP", "list", p, "HTTP has no directory listing", undefined, "use an index or a store URL (s3://, hdfs://).");
  }

  async readStream(p: string, options: ReadStreamOptions = {}): Promise<Readable> {
    let etag: string | undefined;
    return resumableStream(
      async (pos, end, signal) => {
        const ranged = pos > 0 || end !== undefined;
        const res = await this.request("GET", p, signal, ranged ? { range: `bytes=${pos}-${end === undefined ? "" : end - 1}` } : {});
        if (res.status === 416) {
          res.body.resume();
          return { stream: Readable.from([]), end: pos };
        }
        await this.check(res, "read", p);
        if (ranged && res.status !== 206) {
          res.body.destroy();
          throw this.error("EIO", "read", p, `the server ignored the Range header (HTTP ${res.status}); it cannot serve partial reads`);
        }
        const tag = header(res, "etag");
        if (etag !== undefined && tag !== etag) {
          res.body.destroy();
          throw this.error("EIO", "read", p, "the file changed while it was being read (ETag differs)", undefined, "retry the whole download.");
        }
        etag = tag;
        const len = Number(header(res, "content-length"));
        return { stream: res.body, ...(Number.isFinite(len) ? { end: pos + len } : {}) };
      },
      { offset: options.offset, length: options.length, signal: options.signal, retry: this.retry },
    );
  }

  async write(p: string, _body: WriteBody, _options?: WriteOptions): Promise<void> {
    throw this.error("EROFS", "write", p, "HTTP URLs are read-only; publish to s3://, hdfs:// or a local path");
  }

  async rm(p: string): Promise<void> {
    throw this.error("EROFS", "rm", p, "HTTP URLs are read-only");
  }

  async mkdirp(p: string): Promise<void> {
    throw this.error("EROFS", "mkdirp", p, "HTTP URLs are read-only");
  }

  async head(p: string, options: OpOptions = {}): Promise<ObjectHead | null> {
    try {
      return await this.headRequest(p, options.signal);
    } catch (err) {
      if ((err as { code?: string }).code === "ENOENT") return null;
      throw err;
    }
  }

  private async headRequest(p: string, signal: AbortSignal | undefined): Promise<ObjectHead> {
    const res = await this.request("HEAD", p, signal, {});
    res.body.resume();
    await this.check(res, "stat", p);
    const metadata: Record<string, string> = {};
    // S3-style user metadata when the server is an object store's public endpoint.
    for (const [k, v] of Object.entries(res.headers)) if (k.startsWith("x-amz-meta-") && typeof v === "string") metadata[k.slice(11)] = v;
    const size = Number(header(res, "content-length"));
    const lm = header(res, "last-modified");
    const etag = header(res, "etag");
    return { metadata, ...(Number.isFinite(size) ? { size } : {}), ...(etag ? { etag } : {}), ...(lm ? { mtimeMs: Date.parse(lm) } : {}) };
  }

  /**
   * The one HTTP range source of @cluster-pack/io over this adapter's transport: the size
   * and the tail in one request, later reads pinned to the ETag.
   */
  override async openRandomAccess(p: string, options: OpOptions = {}): Promise<RandomAccessSource> {
    try {
      return await httpRangeSource(this.fullUrl(p), { transport: this.transport, headers: this.headers, signal: options.signal, statusError: (status) => this.statusError(status, "open", p) });
    } catch (err) {
      throw this.mapFailure(err, "open", p, options.signal);
    }
  }

  private async request(method: string, p: string, signal: AbortSignal | undefined, headers: Record<string, string>): Promise<HttpResponse> {
    return this.transport(this.fullUrl(p), { method, signal, headers: { ...this.headers, ...headers } }).catch((err) => {
      throw this.mapFailure(err, method, p, signal);
    });
  }

  private mapFailure(err: unknown, op: string, p: string, signal: AbortSignal | undefined): Error {
    if (signal?.aborted) return toAbortError(signal, err);
    if ((err as { driver?: string }).driver || (err as { code?: string }).code === "ERR_HTTP_RANGE_UNSUPPORTED") return err as Error;
    return this.error("EIO", op, p, (err as Error).message, err, (err as { hint?: string }).hint);
  }

  private statusError(status: number, op: string, p: string, detail = ""): Error {
    const code: FsErrorCode = status === 404 || status === 410 ? "ENOENT" : status === 401 || status === 403 ? "EACCES" : "EIO";
    return this.error(code, op, p, `HTTP ${status}${detail}`, undefined, code === "EACCES" ? "check the credentials or headers given for this URL." : undefined);
  }

  private async check(res: HttpResponse, op: string, p: string): Promise<void> {
    if (res.status >= 200 && res.status < 300) return;
    if (res.status >= 300 && res.status < 400 && res.headers.location) {
      res.body.resume();
      throw this.error("EIO", op, p, `redirected to ${redactUrl(String(res.headers.location))}`, undefined, "use that URL.");
    }
    const text = res.status === 304 ? "" : (await readBody(res.body, 64 * 1024).catch(() => Buffer.alloc(0))).toString("utf8");
    throw this.statusError(res.status, op, p, text ? `: ${text.slice(0, 200)}` : "");
  }

  private fullUrl(p: string): string {
    return this.origin + (p.startsWith("/") ? p : `/${p}`);
  }
}

function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
