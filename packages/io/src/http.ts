import http from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { AbortError, ClusterPackError, type ErrorOptions, redactUrl } from "@cluster-pack/errors";
import { isTransientStatus, parseRetryAfter, withRetry, type RetryOptions } from "./retry";

/** Options of one HTTP(S) request. */
export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  signal?: AbortSignal;
  /**
   * Idle timeout in ms (default 60 s): no byte for that long while connecting, waiting for
   * the headers or reading the body fails with HttpTimeoutError (code ETIMEDOUT, retryable).
   */
  timeoutMs?: number;
  /** Default: the process-wide keep-alive agents (one per scheme: a redirect may change it). */
  agents?: { http?: http.Agent; https?: https.Agent };
}

/** A response: final URL, status, headers, and the body as a Node stream (read or discard it). */
export interface HttpResponse {
  url: string;
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
}

/**
 * How a range source, a page fetcher or a downloader sends a GET: pip injects its
 * authenticated, retrying client, fs its store's own; `httpGet` is the plain default.
 */
export type HttpTransport = (url: string, init: { method?: string; headers?: Record<string, string>; signal?: AbortSignal }) => Promise<HttpResponse>;

/** No byte arrived for the whole idle timeout. Retryable (code ETIMEDOUT). */
export class HttpTimeoutError extends Error {
  readonly code = "ETIMEDOUT";
}

/** A redirect that is never followed: https to plain http (unless allowed), or to another scheme. */
export class RedirectRefusedError extends ClusterPackError {
  constructor(
    message: string,
    readonly from: string,
    readonly to: string,
    options?: ErrorOptions,
  ) {
    super("ERR_REDIRECT_REFUSED", message, options);
  }
}

/**
 * One HTTP(S) request with node:http; redirects are NOT followed (WebHDFS must see its
 * 307s; `httpRequestFollowing` follows them with the credential rules). Node's http
 * module rather than fetch: on a cold resolution (~100 requests on loopback) fetch
 * (undici behind web streams) cost several times the CPU per request, plus ~30 ms to
 * load; request bodies stream without `duplex` quirks; errors keep Node's ECONNRESET /
 * ECONNREFUSED codes for the retry policy. An abort destroys the socket and rejects (or
 * fails the body being read) with AbortError.
 */
export function httpRequest(url: string | URL, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  const u = typeof url === "string" ? new URL(url) : url;
  const secure = u.protocol === "https:";
  const signal = options.signal;
  return new Promise((resolve, reject) => {
    if (!secure && u.protocol !== "http:") return reject(new ClusterPackError("ERR_INVALID_URL", `${redactUrl(u.toString())}: only http and https URLs can be fetched.`));
    if (signal?.aborted) return reject(abortError(signal));
    const headers: Record<string, string> = { ...options.headers };
    if (Buffer.isBuffer(options.body)) headers["content-length"] = String(options.body.length);
    const timeoutMs = options.timeoutMs ?? 60_000;
    let response: http.IncomingMessage | undefined;
    const req = (secure ? https : http).request(u, { method: options.method ?? "GET", headers, agent: (secure ? options.agents?.https : options.agents?.http) ?? (secure ? AGENTS.https : AGENTS.http), timeout: timeoutMs });
    // destroy() without an error on the request: passing one can surface as an unhandled
    // 'error' on a socket still connecting. The body, if any, gets the AbortError.
    const onAbort = () => {
      response?.destroy(abortError(signal));
      req.destroy();
      reject(abortError(signal));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    req.on("timeout", () => {
      // Mid-body, the response must fail with this error (not a bare "aborted").
      const err = new HttpTimeoutError(`no answer from ${u.host} for ${timeoutMs} ms`);
      response?.destroy(err);
      req.destroy(err);
    });
    req.on("error", (err) => {
      signal?.removeEventListener("abort", onAbort);
      reject(signal?.aborted ? abortError(signal, err) : err);
    });
    req.on("response", (res) => {
      response = res;
      res.on("close", () => signal?.removeEventListener("abort", onAbort));
      // Readers see body errors through iteration; an unread body must not crash the process.
      res.on("error", () => undefined);
      resolve({ url: u.toString(), status: res.statusCode ?? 0, headers: res.headers, body: res });
    });
    const body = options.body;
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    // pipeline tears both down on either side's failure; the error reaches the caller through req.
    else pipeline(body, req).catch(() => undefined);
  });
}

/** Options of `httpRequestFollowing`. */
export interface FollowOptions extends HttpRequestOptions {
  /** Default 10. */
  maxRedirects?: number;
  /**
   * Credential headers (Authorization from the URL, .netrc or configuration) for a URL.
   * Asked only for URLs of the request's own origin: a hop to another scheme, host or port
   * gets none, and none of the caller's headers except the harmless ones (Accept, Range,
   * conditionals, User-Agent).
   */
  credentials?: (url: URL) => Record<string, string>;
  /** May a redirect lead from https to this plain-http URL? Default: never. */
  allowInsecure?: (url: URL) => boolean;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Headers that carry no secret and keep their meaning on another origin. */
const CROSS_ORIGIN_HEADERS = new Set(["accept", "accept-encoding", "accept-language", "user-agent", "range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range"]);

/**
 * A request that follows redirects (bodiless requests only; with a body the 3xx is
 * returned). The credential rules, written once here: credentials and any header that may
 * carry one go only to the original origin (scheme, host and port all equal), so a
 * redirect elsewhere, or from https to http on the same host, never carries them; a
 * redirect from https to plain http is refused unless `allowInsecure` accepts the target
 * (the user configured it as http); other schemes are refused.
 */
export async function httpRequestFollowing(url: string, options: FollowOptions = {}): Promise<HttpResponse> {
  const origin = new URL(url).origin;
  const max = options.maxRedirects ?? 10;
  let current = new URL(url);
  let method = options.method ?? "GET";
  for (let hop = 0; ; hop++) {
    const own = current.origin === origin;
    // Credentials first: a header the caller set explicitly wins.
    const headers: Record<string, string> = own && options.credentials ? { ...options.credentials(current) } : {};
    for (const [k, v] of Object.entries(options.headers ?? {})) if (own || CROSS_ORIGIN_HEADERS.has(k.toLowerCase())) headers[k.toLowerCase()] = v;
    const res = await httpRequest(current, { method, headers, signal: options.signal, timeoutMs: options.timeoutMs, agents: options.agents, ...(hop === 0 && options.body !== undefined ? { body: options.body } : {}) });
    const location = res.headers.location;
    if (!REDIRECTS.has(res.status) || !location || (hop === 0 && options.body !== undefined)) return res;
    discardBody(res);
    if (hop >= max) throw new ClusterPackError("ERR_TOO_MANY_REDIRECTS", `${redactUrl(url)}: more than ${max} redirects.`);
    let next: URL;
    try {
      next = new URL(location, current);
    } catch (err) {
      throw new ClusterPackError("ERR_BAD_REDIRECT", `${redactUrl(current.toString())}: redirected to an invalid location ${JSON.stringify(redactUrl(location))}.`, { cause: err });
    }
    if (next.protocol !== "http:" && next.protocol !== "https:") {
      throw new RedirectRefusedError(`${redactUrl(current.toString())}: redirected to a ${next.protocol} URL, which is never followed.`, current.toString(), next.toString());
    }
    if (current.protocol === "https:" && next.protocol === "http:" && !options.allowInsecure?.(next)) {
      throw new RedirectRefusedError(
        `${redactUrl(current.toString())} redirected to ${redactUrl(next.toString())}, from https to plain http; refused (the request would travel unencrypted).`,
        current.toString(),
        next.toString(),
        { hint: "if that http location is trusted, configure it explicitly with its http:// URL." },
      );
    }
    if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) method = "GET";
    current = next;
  }
}

/** An HTTP status the caller did not expect; `status` and `retryAfterMs` feed the retry policy. */
export class HttpStatusError extends ClusterPackError {
  constructor(
    message: string,
    readonly status: number,
    readonly retryAfterMs?: number,
    options?: ErrorOptions,
  ) {
    super("ERR_HTTP_STATUS", message, options);
  }
}

/**
 * Wraps a transport so that 408, 429 and 5xx answers are retried under `retry` (honouring
 * Retry-After) like connection failures; after the last attempt they fail as
 * HttpStatusError.
 */
export function retryingTransport(transport: HttpTransport, retry: RetryOptions = {}): HttpTransport {
  return (url, init) =>
    withRetry(
      async () => {
        const res = await transport(url, init);
        if (!isTransientStatus(res.status)) return res;
        discardBody(res);
        throw new HttpStatusError(`${redactUrl(url)}: HTTP ${res.status}. The server may be down.`, res.status, parseRetryAfter(res.headers["retry-after"]), { hint: "try again later." });
      },
      undefined,
      { ...retry, signal: init.signal },
    );
}

/** A GET through `httpRequestFollowing`: the default transport of the range source and downloads. */
export const httpGet: HttpTransport = (url, init) => httpRequestFollowing(url, init);

/** A header's value (the first, when repeated). */
export function responseHeader(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Reads a response body up to `limit` bytes (error bodies, pages, ranges). */
export async function readBody(body: Readable, limit = 256 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      body.destroy();
      throw new ClusterPackError("ERR_RESPONSE_TOO_LARGE", `response body larger than ${limit} bytes; refusing to buffer it.`);
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}

/** Drains an unwanted (small) body so its keep-alive socket can be reused. */
export function discardBody(res: HttpResponse): void {
  res.body.on("error", () => undefined);
  res.body.resume();
}

/**
 * Basic credentials embedded in a URL (`https://user:pass@host/`), and the URL without
 * them (fetch refuses such URLs, and they must never be printed).
 */
export function splitUrlCredentials(url: string): { url: string; authorization?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url };
  }
  if (!u.username && !u.password) return { url };
  const authorization = basicAuthorization(decodeURIComponent(u.username), decodeURIComponent(u.password));
  u.username = "";
  u.password = "";
  return { url: u.toString(), authorization };
}

/** The `Authorization` value of HTTP Basic credentials (from a URL, .netrc, configuration). */
export function basicAuthorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}

/**
 * Keep-alive agents shared by every client in the process; idle sockets do not keep the
 * process alive (the agent unrefs them).
 */
const AGENTS = { http: new http.Agent({ keepAlive: true, maxSockets: 32 }), https: new https.Agent({ keepAlive: true, maxSockets: 32 }) };

function abortError(signal: AbortSignal | undefined, cause?: unknown): AbortError {
  return new AbortError(undefined, { cause: signal?.reason ?? cause });
}
