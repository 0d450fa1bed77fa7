import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AbortError, ClusterPackError, redactUrl } from "@cluster-pack/errors";
import {
  HttpTimeoutError,
  Limiter,
  basicAuthorization,
  discardBody,
  httpRangeSource,
  httpRequestFollowing,
  isTransientError,
  isTransientStatus,
  parseRetryAfter,
  readBody,
  responseHeader,
  splitUrlCredentials,
  withRetry,
  writeFileAtomicSync,
  type HttpResponse,
  type RandomAccessSource,
} from "@cluster-pack/io";

/** Options of HttpClient. */
export interface HttpClientOptions {
  /** Seconds before one request is abandoned (pip's `timeout`). Default 15. */
  timeout?: number;
  /** Extra attempts on transient failures (connection reset, 5xx, 429), with full-jitter backoff. Default 3. */
  retries?: number;
  /** Concurrent requests at most. Default 16. */
  concurrency?: number;
  /** Directory for cached index pages (ETag / Last-Modified revalidation). */
  cacheDir?: string;
  /**
   * Write each fetched page to its own file under cacheDir (default true). A PipSession
   * turns this off: its pack file holds the pages, and a cold run then writes one file
   * instead of one per page (file creation dominated a cold resolution's cache writes).
   */
  pageFiles?: boolean;
  /** .netrc file; default $NETRC or ~/.netrc. */
  netrc?: string | null;
  /** Backoff before the first retry in ms (its cap doubles each time). Default 250. */
  backoffMs?: number;
}

export interface FetchTextResult {
  url: string;
  status: number;
  contentType: string;
  body: string;
  /** True when served from the cache (fresh or revalidated with 304). */
  fromCache: boolean;
}

/** A network failure after retries: the message names the (redacted) URL and what to check. */
export class NetworkError extends ClusterPackError {
  /** Worth another attempt (a reset, a timeout, a 5xx); read by the retry policy. */
  readonly transient: boolean;
  /** What the server asked for in Retry-After, when it did. */
  readonly retryAfterMs?: number;

  constructor(
    message: string,
    readonly url: string,
    readonly status?: number,
    options?: { cause?: unknown; hint?: string; transient?: boolean; retryAfterMs?: number },
  ) {
    super(status === 404 ? "ERR_HTTP_NOT_FOUND" : "ERR_NETWORK", message, options);
    this.transient = options?.transient ?? false;
    if (options?.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * The one place that talks to indexes: http(s) and file:// URLs, credentials from the URL
 * or .netrc (never printed, sent only to their own origin: see @cluster-pack/io's
 * `httpRequestFollowing`), bounded concurrency, timeouts, the project's retry policy, and a
 * disk cache for text pages revalidated with ETag / Last-Modified.
 */
export class HttpClient {
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly cacheDir: string | undefined;
  private readonly pageFiles: boolean;
  private readonly limiter: Limiter;
  /** Authorization by origin (scheme, host and port): https://host's never go to http://host. */
  private readonly credentials = new Map<string, string>();
  /** Origins of indexes configured as plain http: the only http targets a redirect from https may reach. */
  private readonly httpOrigins = new Set<string>();
  private netrc: Map<string, { login: string; password: string }> | undefined;
  private readonly netrcPath: string | null;
  /** Cached pages preloaded from a pack (see loadPack), and the ones this run used. */
  private pack = new Map<string, CachedPage>();
  private readonly used = new Map<string, CachedPage>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly writes = new Map<string, string>();
  /** Hosts that refused or failed to resolve in this run: not tried again. */
  private readonly deadHosts = new Map<string, Error>();

  constructor(options: HttpClientOptions = {}) {
    this.timeoutMs = (options.timeout ?? 15) * 1000;
    this.retries = options.retries ?? 3;
    this.backoffMs = options.backoffMs ?? 250;
    this.cacheDir = options.cacheDir;
    this.pageFiles = options.pageFiles ?? true;
    this.limiter = new Limiter(options.concurrency ?? 16);
    this.netrcPath = options.netrc === undefined ? process.env.NETRC || path.join(os.homedir(), ".netrc") : options.netrc;
  }

  /**
   * Registers a configured package source (an index or find-links URL): credentials
   * embedded in it (`https://user:pass@host/simple`) for its origin, and, for an http://
   * source, its origin as one the user chose to reach without TLS. Returns the URL without
   * credentials. Files linked from that index on the same origin inherit them, as in pip.
   */
  registerUrl(url: string): string {
    const split = splitUrlCredentials(url);
    const origin = safeOrigin(split.url);
    if (origin && split.authorization) this.credentials.set(origin, split.authorization);
    if (origin?.startsWith("http:")) this.httpOrigins.add(origin);
    return split.url;
  }

  /**
   * A URL about to be fetched (from a page, a lock, the user): its own credentials are
   * used for its origin unless that origin has configured ones (a page cannot replace the
   * credentials of another index); the URL is returned without them.
   */
  private prepare(url: string): string {
    const split = splitUrlCredentials(url);
    const origin = safeOrigin(split.url);
    if (origin && split.authorization && !this.credentials.has(origin)) this.credentials.set(origin, split.authorization);
    return split.url;
  }

  /**
   * Cache writes are best-effort and off the critical path: they run in the background and
   * `flush()` waits for them (a failed cache write only costs a refetch next time).
   */
  background(p: Promise<unknown>): void {
    const tracked = p.catch(() => undefined).finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  /**
   * Queues a best-effort cache file write; `flush()` performs it. Queued writes are done in
   * one synchronous batch: measured at a third of the CPU of as many async writes (each an
   * open, write, close and rename through the thread pool) on a cold resolution.
   */
  cacheWrite(file: string, data: string): void {
    this.writes.set(file, data);
  }

  /** Writes queued cache files and waits for background cache writes. */
  async flush(): Promise<void> {
    while (this.pending.size || this.writes.size) {
      const batch = [...this.writes];
      this.writes.clear();
      for (const [file, data] of batch) {
        try {
          writeFileAtomicSync(file, data);
        } catch {
          // A failed cache write only costs a refetch next time.
        }
      }
      await Promise.all([...this.pending]);
    }
  }

  /** Seeds the page cache with entries saved by `savedPages` of an earlier run (one file read instead of one per page). */
  preload(pages: Record<string, unknown>): void {
    for (const [k, v] of Object.entries(pages)) this.pack.set(k, v as CachedPage);
  }

  /** The cached pages this run used, to preload next time. */
  savedPages(): Record<string, unknown> {
    return Object.fromEntries(this.used);
  }

  /** GETs a text resource (index page), using and refreshing the disk cache. */
  async getText(url: string, options: { accept?: string; signal?: AbortSignal } = {}): Promise<FetchTextResult> {
    url = this.prepare(url);
    if (url.startsWith("file:")) {
      const file = fileURLToPath(url);
      let target = file;
      const st = await fs.promises.stat(file).catch(() => null);
      if (st?.isDirectory()) target = path.join(file, "index.html");
      try {
        const body = await fs.promises.readFile(target, "utf8");
        return { url, status: 200, contentType: target.endsWith(".json") ? "application/vnd.pypi.simple.v1+json" : "text/html", body, fromCache: false };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return { url, status: 404, contentType: "", body: "", fromCache: false };
        throw new NetworkError(`Cannot read ${target}: ${(err as Error).message}`, url, undefined, { cause: err });
      }
    }
    const cacheFile = this.cacheDir ? path.join(this.cacheDir, PAGES, `${sha256(url + "\0" + (options.accept ?? ""))}.json`) : undefined;
    const stored = cacheFile ? (this.pack.get(cacheFile) ?? (await readJson<CachedPage>(cacheFile))) : null;
    // A damaged entry is a miss (and is not revalidated: a 304 would confirm bytes the server never sent).
    const cached = stored && intactPage(stored) ? stored : null;
    if (cached && cacheFile) this.used.set(cacheFile, cached);
    if (cached && cached.maxAge && Date.now() - cached.storedAt < cached.maxAge * 1000) {
      return { url, status: cached.status, contentType: cached.contentType, body: cached.body, fromCache: true };
    }
    const headers: Record<string, string> = {};
    if (options.accept) headers.accept = options.accept;
    if (cached?.etag) headers["if-none-match"] = cached.etag;
    if (cached?.lastModified) headers["if-modified-since"] = cached.lastModified;
    const res = await this.request(url, { headers, signal: options.signal });
    if (res.status === 304 && cached) {
      discardBody(res);
      const refreshed = { ...cached, storedAt: Date.now(), maxAge: maxAge(res) ?? cached.maxAge };
      if (cacheFile) {
        if (this.pageFiles) this.cacheWrite(cacheFile, JSON.stringify(refreshed));
        this.used.set(cacheFile, refreshed);
      }
      return { url, status: cached.status, contentType: cached.contentType, body: cached.body, fromCache: true };
    }
    const body = await this.readBody(res, url, options.signal);
    const result: FetchTextResult = { url: res.url || url, status: res.status, contentType: responseHeader(res, "content-type") ?? "", body: body.toString("utf8"), fromCache: false };
    // 404s are cached too when the server says how long they stay valid (PyPI does), so a
    // project missing from one of several indexes costs nothing on a warm run.
    const cacheable = res.status === 200 || (res.status === 404 && maxAge(res) !== undefined);
    if (cacheFile && cacheable && !/no-store/i.test(responseHeader(res, "cache-control") ?? "")) {
      const page: CachedPage = { status: res.status, contentType: result.contentType, body: result.body, digest: sha256(result.body), etag: responseHeader(res, "etag"), lastModified: responseHeader(res, "last-modified"), storedAt: Date.now(), maxAge: maxAge(res) };
      if (page.etag || page.lastModified || page.maxAge) {
        if (this.pageFiles) this.cacheWrite(cacheFile, JSON.stringify(page));
        this.used.set(cacheFile, page);
      }
    }
    return result;
  }

  /** GETs bytes (a metadata file, a whole wheel when range reads are not possible). */
  async getBuffer(url: string, options: { signal?: AbortSignal; maxBytes?: number } = {}): Promise<Buffer> {
    url = this.prepare(url);
    if (url.startsWith("file:")) return fs.promises.readFile(fileURLToPath(url));
    const res = await this.request(url, { signal: options.signal });
    if (res.status !== 200) {
      discardBody(res);
      throw statusError(url, res.status);
    }
    return this.readBody(res, url, options.signal, options.maxBytes);
  }

  /**
   * Streams a URL's body to `onChunk` (downloads), with the same retries/timeouts for the
   * connection. Returns the Content-Length the server announced, when it did, for the
   * caller to hold the body against (a body cut short without one looks complete here).
   */
  async stream(url: string, onChunk: (chunk: Uint8Array) => void | Promise<void>, options: { signal?: AbortSignal } = {}): Promise<{ contentLength?: number }> {
    url = this.prepare(url);
    if (url.startsWith("file:")) {
      for await (const chunk of fs.createReadStream(fileURLToPath(url), { signal: ownSignal(options.signal) })) await onChunk(chunk as Buffer);
      return {};
    }
    const res = await this.request(url, { signal: options.signal });
    if (res.status !== 200) {
      discardBody(res);
      throw statusError(url, res.status);
    }
    const declared = responseHeader(res, "content-length");
    const contentLength = declared !== undefined && /^\d+$/.test(declared.trim()) ? Number(declared) : undefined;
    let received = 0;
    let sinkError: unknown;
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        received += chunk.length;
        await Promise.resolve(onChunk(chunk)).catch((err: unknown) => {
          sinkError = err;
          throw err;
        });
      }
      return contentLength === undefined ? {} : { contentLength };
    } catch (err) {
      res.body.destroy();
      if (options.signal?.aborted) throw new AbortError(undefined, { cause: options.signal.reason });
      if (err instanceof HttpTimeoutError) throw new NetworkError(`${redactUrl(url)}: the download stalled for ${this.timeoutMs / 1000} s.`, url, undefined, { cause: err, hint: `check the index, or raise the timeout (pip's "timeout" setting / --timeout).` });
      // The caller's own failure (a full disk) stays as it is; the connection's is named.
      if (err === sinkError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new NetworkError(`${redactUrl(url)}: the connection broke after ${received}${contentLength === undefined ? "" : ` of ${contentLength}`} bytes (${(err as Error).message}${code ? `, ${code}` : ""}); nothing was kept.`, url, undefined, { cause: err, transient: true, hint: "try again." });
    }
  }

  /**
   * The file at `url` as a RandomAccessSource over range requests, with this client's
   * credentials, retries and timeouts. The first request asks for the last `tailSize` bytes
   * (`Range: bytes=-N`: the size and a zip's end in one round trip; reads inside it cost
   * nothing); later reads are pinned to its ETag / Last-Modified so a file replaced mid-read
   * fails (ERR_SOURCE_CHANGED) instead of mixing versions. A server that ignores Range
   * fails with ERR_HTTP_RANGE_UNSUPPORTED (callers download the file instead).
   */
  async rangeSource(url: string, options: { tailSize?: number; signal?: AbortSignal } = {}): Promise<RandomAccessSource> {
    return httpRangeSource(this.prepare(url), {
      transport: (u, init) => this.request(u, init),
      ...(options.tailSize === undefined ? {} : { tailSize: options.tailSize }),
      signal: options.signal,
      statusError: (status) => statusError(url, status),
    });
  }

  /** Authorization headers for a URL (credentials registered for its origin, else .netrc's for its host name). */
  authHeaders(url: string | URL): Record<string, string> {
    let u: URL;
    try {
      u = typeof url === "string" ? new URL(url) : url;
    } catch {
      return {};
    }
    const cred = this.credentials.get(u.origin) ?? this.netrcCredential(u.hostname);
    return cred ? { authorization: cred } : {};
  }

  private netrcCredential(hostname: string): string | undefined {
    if (this.netrc === undefined) this.netrc = this.netrcPath ? parseNetrc(this.netrcPath) : new Map();
    const e = this.netrc.get(hostname) ?? this.netrc.get("default");
    return e ? basicAuthorization(e.login, e.password) : undefined;
  }

  /**
   * One request with timeout, retries (the project's policy: full-jitter backoff, Retry-After)
   * and the concurrency limit. Returns any HTTP status except retried ones. A host that
   * refuses connections or does not resolve fails at once and is not tried again this run.
   */
  private async request(url: string, init: { headers?: Record<string, string>; signal?: AbortSignal }): Promise<HttpResponse> {
    init = { ...init, signal: ownSignal(init.signal) };
    const host = safeHost(url);
    const dead = host ? this.deadHosts.get(host) : undefined;
    if (dead) throw new NetworkError(dead.message, url, undefined, { cause: dead });
    let attempts = 0;
    try {
      return await withRetry(
        () => {
          attempts++;
          return this.limiter.run(async () => {
            const res = await this.follow(url, init).catch((err: unknown) => {
              throw this.failure(err, url, host, init.signal);
            });
            if (!isTransientStatus(res.status)) return res;
            discardBody(res);
            throw statusError(url, res.status, parseRetryAfter(res.headers["retry-after"]));
          }, init.signal);
        },
        (err) => err instanceof NetworkError && err.transient,
        { attempts: this.retries + 1, baseDelayMs: this.backoffMs, signal: init.signal },
      );
    } catch (err) {
      if (init.signal?.aborted) throw new AbortError(undefined, { cause: init.signal.reason });
      if (err instanceof NetworkError && err.transient && attempts > 1) throw new NetworkError(`${err.message} (after ${attempts} attempts)`, url, err.status, { cause: err, hint: err.hint });
      throw err;
    }
  }

  /** A request failure as a NetworkError saying whether it is worth another attempt. */
  private failure(err: unknown, url: string, host: string | null, signal?: AbortSignal): unknown {
    const name = redactUrl(url);
    if (signal?.aborted) return new AbortError(undefined, { cause: signal.reason });
    if (err instanceof ClusterPackError) return err;
    const code = (err as NodeJS.ErrnoException).code;
    if (err instanceof HttpTimeoutError) {
      return new NetworkError(`${name}: no answer within ${this.timeoutMs / 1000} s.`, url, undefined, { cause: err, transient: true, hint: `check that the index is reachable, or raise the timeout (pip's "timeout" setting / --timeout).` });
    }
    if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "ECONNREFUSED") {
      const e = new NetworkError(`${host ?? name}: ${code === "ECONNREFUSED" ? "connection refused" : "host name does not resolve"} (${code})`, url, undefined, { cause: err, hint: "check the index URL and your network, or remove the index from pip's configuration." });
      if (host && code !== "EAI_AGAIN") this.deadHosts.set(host, e);
      return e;
    }
    return new NetworkError(`${name}: ${(err as Error).message}${code ? ` (${code})` : ""}`, url, undefined, { cause: err, transient: isTransientError(err) });
  }

  /** A GET that follows redirects under @cluster-pack/io's credential rules (credentials only to their own origin, no https -> http unless configured). */
  private follow(url: string, init: { headers?: Record<string, string>; signal?: AbortSignal }): Promise<HttpResponse> {
    return httpRequestFollowing(url, {
      headers: { "user-agent": "cluster-pack", ...init.headers },
      credentials: (u) => this.authHeaders(u),
      allowInsecure: (u) => this.httpOrigins.has(u.origin),
      timeoutMs: this.timeoutMs,
      signal: init.signal,
    });
  }

  private async readBody(res: HttpResponse, url: string, signal?: AbortSignal, maxBytes = 256 << 20): Promise<Buffer> {
    try {
      return await readBody(res.body, maxBytes);
    } catch (err) {
      if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
      if (err instanceof HttpTimeoutError) throw new NetworkError(`${redactUrl(url)}: the response stalled for ${this.timeoutMs / 1000} s.`, url, undefined, { cause: err, hint: `check the index, or raise the timeout (pip's "timeout" setting / --timeout).` });
      if ((err as { code?: string }).code === "ERR_RESPONSE_TOO_LARGE") throw new NetworkError(`${redactUrl(url)}: response larger than ${maxBytes} bytes; refusing to buffer it.`, url, undefined, { cause: err });
      throw new NetworkError(`${redactUrl(url)}: reading the response failed: ${(err as Error).message}`, url, undefined, { cause: err });
    }
  }
}

/** Parses a .netrc file into host -> credentials ("default" for the default entry). */
export function parseNetrc(file: string): Map<string, { login: string; password: string }> {
  const out = new Map<string, { login: string; password: string }>();
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return out;
  }
  const tokens = text.replace(/#.*$/gm, "").split(/\s+/).filter(Boolean);
  let host: string | null = null;
  let entry = { login: "", password: "" };
  const flush = () => {
    if (host !== null) out.set(host, entry);
  };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === "machine") {
      flush();
      host = tokens[++i] ?? null;
      entry = { login: "", password: "" };
    } else if (t === "default") {
      flush();
      host = "default";
      entry = { login: "", password: "" };
    } else if (t === "login") entry.login = tokens[++i] ?? "";
    else if (t === "password") entry.password = tokens[++i] ?? "";
    else if (t === "account") i++;
    else if (t === "macdef") break;
  }
  flush();
  return out;
}

export function sha256(s: string | Buffer): string {
  return crypto.createHash("sha256").update(s).digest("hex");
}

export async function readJson<T>(file: string): Promise<T | null> {
  // A cold cache misses on every lookup: a synchronous existence check costs microseconds,
  // a failed async open costs an exception and a thread-pool round trip (measured ~1 ms each).
  if (!fs.existsSync(file)) return null;
  try {
    return JSON.parse(await fs.promises.readFile(file, "utf8")) as T;
  } catch {
    return null;
  }
}

export function statusError(url: string, status: number, retryAfterMs?: number): NetworkError {
  const denied = status === 401 || status === 403;
  const hint = denied ? "check the credentials (in the index URL or ~/.netrc)." : status === 404 ? undefined : "try again later.";
  return new NetworkError(`${redactUrl(url)}: HTTP ${status}.${denied || status === 404 ? "" : " The server may be down."}`, url, status, {
    transient: isTransientStatus(status),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    ...(hint === undefined ? {} : { hint }),
  });
}

// ---------------------------------------------------------------------------------------

/** Page cache layout version: v2 entries carry the sha256 of their body, checked on every read. */
const PAGES = "http-v2";

interface CachedPage {
  status: number;
  contentType: string;
  body: string;
  /** sha256 of `body`: a flipped byte or a cut entry is a miss, never a listing we trust. */
  digest: string;
  etag?: string;
  lastModified?: string;
  storedAt: number;
  maxAge?: number;
}

function intactPage(p: CachedPage): boolean {
  return typeof p === "object" && p !== null && typeof p.body === "string" && typeof p.status === "number" && p.digest === sha256(p.body);
}

function maxAge(res: HttpResponse): number | undefined {
  const m = /max-age=(\d+)/i.exec(responseHeader(res, "cache-control") ?? "");
  return m ? Number(m[1]) : undefined;
}

function safeOrigin(url: string): string | null {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}

function safeHost(url: string): string | null {
  try {
    return new URL(url).host;
  } catch {
    return null;
  }
}

/**
 * A signal of this request's own that follows the caller's. A session runs dozens of
 * requests on one caller signal at once (a cold resolve or `pex build`); each listens for
 * its abort (socket, limiter queue, retry sleep, file stream), and more than ten
 * listeners on one signal make Node print a MaxListenersExceededWarning. A dependent
 * signal (AbortSignal.any) is aborted with the caller's without adding a listener to it.
 */
function ownSignal(signal: AbortSignal | undefined): AbortSignal | undefined {
  return signal && AbortSignal.any([signal]);
}
