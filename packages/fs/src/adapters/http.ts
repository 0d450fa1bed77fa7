import { Readable } from "node:stream";
import { redactUrl } from "@cluster-pack/errors";
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
import { httpRequest, readBody, type HttpResponse } from "../http-request";
import { resumableStream } from "../resumable";
import { isTransientError, withRetry, type RetryOptions } from "../retry";

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

  /** `origin` is `https://host:port`; anything after it is ignored. */
  constructor(origin: string, options: HttpFileSystemOptions = {}) {
    super();
    this.origin = new URL(origin).origin;
    this.headers = options.headers ?? {};
    this.retry = options.retry ?? {};
    this.timeoutMs = options.timeoutMs ?? 60_000;
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
    throw this.error("ENOTSUP", "list", p, "HTTP has no directory listing; use an index or a store URL (s3://, hdfs://)");
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
          throw this.error("EIO", "read", p, "the file changed while it was being read (ETag differs); retry the whole download");
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

  private async request(method: string, p: string, signal: AbortSignal | undefined, headers: Record<string, string>): Promise<HttpResponse> {
    return withRetry(
      async () => {
        const res = await httpRequest(this.fullUrl(p), { method, signal, headers: { ...this.headers, ...headers }, timeoutMs: this.timeoutMs });
        if (res.status === 429 || res.status >= 500) {
          res.body.resume();
          throw Object.assign(this.error("EIO", method, p, `HTTP ${res.status}`), { transient: true });
        }
        return res;
      },
      isTransientError,
      { ...this.retry, signal },
    ).catch((err) => {
      if (signal?.aborted) throw toAbortError(signal, err);
      if ((err as { driver?: string }).driver) throw err;
      throw this.error("EIO", method, p, (err as Error).message, err);
    });
  }

  private async check(res: HttpResponse, op: string, p: string): Promise<void> {
    if (res.status >= 200 && res.status < 300) return;
    if (res.status >= 300 && res.status < 400 && res.headers.location) {
      res.body.resume();
      throw this.error("EIO", op, p, `redirected to ${redactUrl(String(res.headers.location))}; use that URL`);
    }
    const text = res.status === 304 ? "" : (await readBody(res.body, 64 * 1024).catch(() => Buffer.alloc(0))).toString("utf8");
    const code: FsErrorCode = res.status === 404 || res.status === 410 ? "ENOENT" : res.status === 401 || res.status === 403 ? "EACCES" : "EIO";
    const hint = code === "EACCES" ? " (check the credentials or headers given for this URL)" : "";
    throw this.error(code, op, p, `HTTP ${res.status}${hint}${text ? `: ${text.slice(0, 200)}` : ""}`);
  }

  private fullUrl(p: string): string {
    return this.origin + (p.startsWith("/") ? p : `/${p}`);
  }
}

function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
