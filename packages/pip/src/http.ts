import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AbortError, ClusterPackError, redactUrl, throwIfAborted } from "@cluster-pack/errors";
import type { RandomAccessSource } from "@cluster-pack/zip";

/** Options of HttpClient. */
export interface HttpClientOptions {
  /** Seconds before one request is abandoned (pip's `timeout`). Default 15. */
  timeout?: number;
  /** Extra attempts on transient failures (connection reset, 5xx, 429). Default 3. */
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
  /** Backoff before the first retry in ms (doubles each time). Default 250. */
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
  constructor(
    message: string,
    readonly url: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(status === 404 ? "ERR_HTTP_NOT_FOUND" : "ERR_NETWORK", message, options);
  }
}

/**
 * The one place that talks to indexes: http(s) and file:// URLs, credentials from the URL
 * or .netrc (never printed), bounded concurrency, timeouts, retries with exponential backoff,
 * and a disk cache for text pages revalidated with ETag / Last-Modified.
 */
export class HttpClient {
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly cacheDir: string | undefined;
  private readonly pageFiles: boolean;
  private readonly limiter: Limiter;
  private readonly credentials = new Map<string, string>();
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
   * Registers credentials embedded in a URL (`https://user:pass@host/simple`) for its host,
   * and returns the URL without them. Files linked from that index inherit them, as in pip.
   */
  registerUrl(url: string): string {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return url;
    }
    if (u.username || u.password) {
      this.credentials.set(u.host, `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString("base64")}`);
      u.username = "";
      u.password = "";
      return u.toString();
    }
    return url;
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
          writeAtomicSync(file, data);
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
    url = this.registerUrl(url);
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
    const cacheFile = this.cacheDir ? path.join(this.cacheDir, "http", `${sha256(url + "\0" + (options.accept ?? ""))}.json`) : undefined;
    const cached = cacheFile ? (this.pack.get(cacheFile) ?? (await readJson<CachedPage>(cacheFile))) : null;
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
      discard(res);
      const refreshed = { ...cached, storedAt: Date.now(), maxAge: maxAge(res.headers) ?? cached.maxAge };
      if (cacheFile) {
        if (this.pageFiles) this.cacheWrite(cacheFile, JSON.stringify(refreshed));
        this.used.set(cacheFile, refreshed);
      }
      return { url, status: cached.status, contentType: cached.contentType, body: cached.body, fromCache: true };
    }
    const body = await this.readBody(res, url, options.signal);
    const result: FetchTextResult = { url: res.url || url, status: res.status, contentType: res.headers.get("content-type") ?? "", body: body.toString("utf8"), fromCache: false };
    // 404s are cached too when the server says how long they stay valid (PyPI does), so a
    // project missing from one of several indexes costs nothing on a warm run.
    const cacheable = res.status === 200 || (res.status === 404 && maxAge(res.headers) !== undefined);
    if (cacheFile && cacheable && !/no-store/i.test(res.headers.get("cache-control") ?? "")) {
      const page: CachedPage = { status: res.status, contentType: result.contentType, body: result.body, etag: res.headers.get("etag") ?? undefined, lastModified: res.headers.get("last-modified") ?? undefined, storedAt: Date.now(), maxAge: maxAge(res.headers) };
      if (page.etag || page.lastModified || page.maxAge) {
        if (this.pageFiles) this.cacheWrite(cacheFile, JSON.stringify(page));
        this.used.set(cacheFile, page);
      }
    }
    return result;
  }

  /** GETs bytes (a metadata file, a whole wheel when range reads are not possible). */
  async getBuffer(url: string, options: { signal?: AbortSignal; maxBytes?: number } = {}): Promise<Buffer> {
    url = this.registerUrl(url);
    if (url.startsWith("file:")) return fs.promises.readFile(fileURLToPath(url));
    const res = await this.request(url, { signal: options.signal });
    if (res.status !== 200) {
      discard(res);
      throw statusError(url, res.status);
    }
    return this.readBody(res, url, options.signal, options.maxBytes);
  }

  /** Streams a URL's body to `onChunk` (downloads), with the same retries/timeouts for the connection. */
  async stream(url: string, onChunk: (chunk: Uint8Array) => void | Promise<void>, options: { signal?: AbortSignal } = {}): Promise<void> {
    url = this.registerUrl(url);
    if (url.startsWith("file:")) {
      for await (const chunk of fs.createReadStream(fileURLToPath(url), { signal: options.signal })) await onChunk(chunk as Buffer);
      return;
    }
    const res = await this.request(url, { signal: options.signal });
    if (res.status !== 200) {
      discard(res);
      throw statusError(url, res.status);
    }
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) await onChunk(chunk);
    } catch (err) {
      res.body.destroy();
      if (options.signal?.aborted) throw new AbortError(undefined, { cause: options.signal.reason });
      if (err instanceof IdleTimeout) throw new NetworkError(`${redactUrl(url)}: the download stalled for ${this.timeoutMs / 1000} s. Check the index, or raise the timeout (pip's "timeout" setting / --timeout).`, url, undefined, { cause: err });
      throw err;
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
    url = this.registerUrl(url);
    const name = redactUrl(url);
    const tailSize = Math.max(1, options.tailSize ?? 128 * 1024);
    const probe = await this.request(url, { headers: { range: `bytes=-${tailSize}` }, signal: options.signal });
    let size: number;
    let tail: Buffer;
    if (probe.status === 416) {
      // An empty file has no suffix to serve; the total comes in Content-Range "bytes */0".
      discard(probe);
      const total = /\/(\d+)\s*$/.exec(probe.headers.get("content-range") ?? "");
      if (!total || Number(total[1]) !== 0) throw statusError(url, probe.status);
      size = 0;
      tail = Buffer.alloc(0);
    } else if (probe.status === 206) {
      const range = parseContentRange(probe.headers.get("content-range"));
      if (!range) {
        probe.body.destroy();
        throw new ClusterPackError("ERR_HTTP_RANGE", `${name}: the server answered 206 without a valid Content-Range header; cannot read byte ranges from it.`);
      }
      size = range.total;
      tail = await this.readBody(probe, url, options.signal, tailSize);
      if (tail.length !== range.end - range.start + 1 || range.end !== size - 1) {
        throw new ClusterPackError("ERR_HTTP_RANGE", `${name}: the server sent ${tail.length} bytes for range ${range.start}-${range.end}/${size}; the response is inconsistent.`);
      }
    } else {
      // 200 would be the whole file: do not read it.
      probe.body.destroy();
      if (probe.status === 200) throw new ClusterPackError("ERR_HTTP_RANGE_UNSUPPORTED", `${name}: the server ignored the Range request; the file has to be downloaded whole.`);
      throw statusError(url, probe.status);
    }
    const etag = probe.headers.get("etag");
    const lastModified = probe.headers.get("last-modified");
    const pin: Record<string, string> = etag && !etag.startsWith("W/") ? { "if-match": etag } : lastModified ? { "if-unmodified-since": lastModified } : {};
    const tailStart = size - tail.length;
    return {
      name,
      size,
      read: async (offset, length, signal) => {
        if (offset < 0 || length < 0 || offset + length > size) throw new ClusterPackError("ERR_OUT_OF_RANGE", `${name}: read of ${length} bytes at ${offset} is outside the ${size}-byte file.`);
        if (length === 0) return Buffer.alloc(0);
        if (offset >= tailStart) return tail.subarray(offset - tailStart, offset - tailStart + length);
        const res = await this.request(url, { headers: { ...pin, range: `bytes=${offset}-${offset + length - 1}` }, signal });
        if (res.status !== 206) {
          res.body.destroy();
          if (res.status === 412) throw new ClusterPackError("ERR_SOURCE_CHANGED", `${name}: the file changed on the server while it was being read; retry.`);
          if (res.status === 200) throw new ClusterPackError("ERR_HTTP_RANGE_UNSUPPORTED", `${name}: the server stopped honouring Range requests; the file has to be downloaded whole.`);
          throw statusError(url, res.status);
        }
        const range = parseContentRange(res.headers.get("content-range"));
        if (!range || range.start !== offset || range.end !== offset + length - 1 || range.total !== size) {
          res.body.destroy();
          throw new ClusterPackError("ERR_HTTP_RANGE", `${name}: asked for bytes ${offset}-${offset + length - 1}/${size}, the server answered "${res.headers.get("content-range")}".`);
        }
        const body = await this.readBody(res, url, signal, length);
        if (body.length !== length) throw new ClusterPackError("ERR_HTTP_RANGE", `${name}: asked for ${length} bytes at ${offset}, received ${body.length}.`);
        return body;
      },
    };
  }

  /** Authorization headers for a URL (URL credentials registered for its host, else .netrc). */
  authHeaders(url: string): Record<string, string> {
    let host: string;
    try {
      host = new URL(url).host;
    } catch {
      return {};
    }
    const cred = this.credentials.get(host) ?? this.netrcCredential(new URL(url).hostname);
    return cred ? { authorization: cred } : {};
  }

  private netrcCredential(hostname: string): string | undefined {
    if (this.netrc === undefined) this.netrc = this.netrcPath ? parseNetrc(this.netrcPath) : new Map();
    const e = this.netrc.get(hostname) ?? this.netrc.get("default");
    return e ? `Basic ${Buffer.from(`${e.login}:${e.password}`).toString("base64")}` : undefined;
  }

  /** One request with timeout, retries and backoff. Returns any HTTP status except retried ones. */
  private async request(url: string, init: { headers?: Record<string, string>; signal?: AbortSignal }): Promise<HttpResponse> {
    const name = redactUrl(url);
    const host = safeHost(url);
    const dead = host ? this.deadHosts.get(host) : undefined;
    if (dead) throw new NetworkError(dead.message, url, undefined, { cause: dead });
    let lastError: unknown;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      throwIfAborted(init.signal);
      if (attempt > 0) await sleep(this.backoffMs * 2 ** (attempt - 1), init.signal);
      const release = await this.limiter.acquire(init.signal);
      try {
        const res = await this.follow(url, init);
        if (res.status >= 500 || res.status === 429) {
          discard(res);
          lastError = statusError(url, res.status);
          continue;
        }
        return res;
      } catch (err) {
        if (init.signal?.aborted) throw new AbortError(undefined, { cause: init.signal.reason });
        if (err instanceof NetworkError) throw err;
        const code = (err as NodeJS.ErrnoException).code;
        if (err instanceof IdleTimeout) {
          lastError = new NetworkError(`${name}: no answer within ${this.timeoutMs / 1000} s. Check that the index is reachable, or raise the timeout (pip's "timeout" setting / --timeout).`, url, undefined, { cause: err });
          continue;
        }
        if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "ECONNREFUSED") {
          const e = new NetworkError(`${host ?? name}: ${code === "ECONNREFUSED" ? "connection refused" : "host name does not resolve"} (${code}). Check the index URL and your network, or remove the index from pip's configuration`, url, undefined, { cause: err });
          if (host && code !== "EAI_AGAIN") this.deadHosts.set(host, e);
          throw e;
        }
        lastError = new NetworkError(`${name}: ${(err as Error).message}${code ? ` (${code})` : ""}`, url, undefined, { cause: err });
      } finally {
        release();
      }
    }
    const e = lastError instanceof NetworkError ? lastError : new NetworkError(`${name}: request failed`, url, undefined, { cause: lastError });
    throw new NetworkError(`${e.message} (after ${this.retries + 1} attempts)`, url, e.status, { cause: e });
  }

  /** A GET that follows redirects (credentials are recomputed for each host, as fetch and pip do). */
  private async follow(url: string, init: { headers?: Record<string, string>; signal?: AbortSignal }): Promise<HttpResponse> {
    let current = url;
    for (let hop = 0; ; hop++) {
      const headers = { "user-agent": "cluster-pack", ...this.authHeaders(current), ...init.headers };
      const res = await send(current, headers, this.timeoutMs, init.signal);
      const location = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(res.statusCode ?? 0) || !location) return wrapResponse(current, res);
      res.resume();
      if (hop >= MAX_REDIRECTS) throw new NetworkError(`${redactUrl(url)}: more than ${MAX_REDIRECTS} redirects.`, url);
      const next = new URL(location, current);
      if (next.protocol !== "http:" && next.protocol !== "https:") throw new NetworkError(`${redactUrl(url)}: redirected to a ${next.protocol} URL, which is not followed.`, url);
      current = next.toString();
    }
  }

  private async readBody(res: HttpResponse, url: string, signal?: AbortSignal, maxBytes = 256 << 20): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        total += chunk.length;
        if (total > maxBytes) {
          res.body.destroy();
          throw new NetworkError(`${redactUrl(url)}: response larger than ${maxBytes} bytes; refusing to buffer it.`, url);
        }
        chunks.push(chunk);
      }
    } catch (err) {
      if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
      if (err instanceof IdleTimeout) throw new NetworkError(`${redactUrl(url)}: the response stalled for ${this.timeoutMs / 1000} s. Check the index, or raise the timeout (pip's "timeout" setting / --timeout).`, url, undefined, { cause: err });
      throw err instanceof NetworkError ? err : new NetworkError(`${redactUrl(url)}: reading the response failed: ${(err as Error).message}`, url, undefined, { cause: err });
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
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

/** Writes a file atomically: temp file in the same directory, then rename. */
export async function writeAtomic(file: string, data: string | Buffer): Promise<void> {
  const dir = path.dirname(file);
  // Cache writes land in a few directories over and over; create each once per process.
  if (!MADE_DIRS.has(dir)) {
    await fs.promises.mkdir(dir, { recursive: true });
    MADE_DIRS.add(dir);
  }
  const tmp = tempName(file);
  try {
    await fs.promises.writeFile(tmp, data);
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
}

/** writeAtomic, synchronously (for batches of small cache files). */
export function writeAtomicSync(file: string, data: string | Buffer): void {
  const dir = path.dirname(file);
  if (!MADE_DIRS.has(dir)) {
    fs.mkdirSync(dir, { recursive: true });
    MADE_DIRS.add(dir);
  }
  const tmp = tempName(file);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** A temporary name beside `file`, unique across processes (pid) and within this one (counter). */
function tempName(file: string): string {
  return `${file}.${process.pid}.${(TEMP_COUNTER++).toString(36)}.tmp`;
}

let TEMP_COUNTER = 0;

const MADE_DIRS = new Set<string>();

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

export function statusError(url: string, status: number): NetworkError {
  const hint = status === 401 || status === 403 ? " Check the credentials (in the index URL or ~/.netrc)." : status === 404 ? "" : " The server may be down; try again later.";
  return new NetworkError(`${redactUrl(url)}: HTTP ${status}.${hint}`, url, status);
}

// ---------------------------------------------------------------------------------------

interface CachedPage {
  status: number;
  contentType: string;
  body: string;
  etag?: string;
  lastModified?: string;
  storedAt: number;
  maxAge?: number;
}

/** A response as this client uses it: final URL, status, headers, and the body as a Node stream. */
interface HttpResponse {
  url: string;
  status: number;
  headers: { get(name: string): string | null };
  body: http.IncomingMessage;
}

const MAX_REDIRECTS = 10;

/**
 * Node's http module rather than fetch: on a cold resolution (~100 requests on loopback)
 * fetch (undici behind web streams) cost several times the CPU per request, plus ~30 ms to
 * load on first use. Keep-alive agents shared by every client in the process; idle
 * sockets do not keep the process alive (the agent unrefs them).
 */
const AGENTS = { http: new http.Agent({ keepAlive: true, maxSockets: 32 }), https: new https.Agent({ keepAlive: true, maxSockets: 32 }) };

/** The socket went idle for the whole timeout (connecting, waiting for headers, or mid-body). */
class IdleTimeout extends Error {}

function send(url: string, headers: Record<string, string>, timeoutMs: number, signal?: AbortSignal): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const secure = u.protocol === "https:";
    if (!secure && u.protocol !== "http:") return reject(new Error(`unsupported URL scheme ${u.protocol}`));
    let response: http.IncomingMessage | undefined;
    const req = (secure ? https : http).request(u, { method: "GET", headers, agent: secure ? AGENTS.https : AGENTS.http, timeout: timeoutMs, ...(signal ? { signal } : {}) }, (res) => {
      response = res;
      resolve(res);
    });
    req.on("timeout", () => {
      // Mid-body, the response must fail with this error (not a bare "aborted").
      const err = new IdleTimeout(`no data for ${timeoutMs} ms`);
      response?.destroy(err);
      req.destroy(err);
    });
    req.on("error", reject);
    req.end();
  });
}

function wrapResponse(url: string, res: http.IncomingMessage): HttpResponse {
  return {
    url,
    status: res.statusCode ?? 0,
    headers: {
      get(name) {
        const v = res.headers[name.toLowerCase()];
        return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v;
      },
    },
    body: res,
  };
}

/** Drains an unwanted (small) body so its keep-alive socket can be reused. */
function discard(res: HttpResponse): void {
  res.body.resume();
  res.body.on("error", () => undefined);
}

function parseContentRange(value: string | null): { start: number; end: number; total: number } | null {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(value?.trim() ?? "");
  if (!m) return null;
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return start <= end && end < total ? { start, end, total } : null;
}

function maxAge(h: HttpResponse["headers"]): number | undefined {
  const m = /max-age=(\d+)/i.exec(h.get("cache-control") ?? "");
  return m ? Number(m[1]) : undefined;
}

function safeHost(url: string): string | null {
  try {
    return new URL(url).host;
  } catch {
    return null;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        reject(new AbortError(undefined, { cause: signal.reason }));
      },
      { once: true },
    );
  });
}

/** A counting semaphore. */
export class Limiter {
  private active = 0;
  private readonly queue: Array<() => void> = [];
  constructor(private readonly max: number) {}
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.active >= this.max) {
      await new Promise<void>((resolve, reject) => {
        const go = () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        };
        const onAbort = () => {
          const i = this.queue.indexOf(go);
          if (i >= 0) this.queue.splice(i, 1);
          reject(new AbortError(undefined, { cause: signal!.reason }));
        };
        this.queue.push(go);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    }
    this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      this.queue.shift()?.();
    };
  }
}
