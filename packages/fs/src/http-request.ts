import http from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { toAbortError } from "./errors";

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  signal?: AbortSignal;
  /** Idle socket timeout (default 60 s): a silent server becomes a retryable ETIMEDOUT. */
  timeoutMs?: number;
  agent?: http.Agent;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
}

/**
 * One HTTP(S) request with node:http: redirects are NOT followed (WebHDFS needs to see
 * its 307s), the response body is a stream, aborts destroy the socket. Written on
 * node:http rather than fetch to stream request bodies without `duplex` quirks and to get
 * Node's own ECONNRESET/ECONNREFUSED codes for the retry logic.
 */
export function httpRequest(url: string | URL, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  const u = typeof url === "string" ? new URL(url) : url;
  const mod = u.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(toAbortError(options.signal));
      return;
    }
    const headers: Record<string, string> = { ...options.headers };
    if (Buffer.isBuffer(options.body)) headers["content-length"] = String(options.body.length);
    const req = mod.request(u, { method: options.method ?? "GET", headers, ...(options.agent ? { agent: options.agent } : {}) });
    // destroy() without an error: passing one can surface as an unhandled 'error' on a socket still connecting.
    const onAbort = () => {
      req.destroy();
      reject(toAbortError(options.signal));
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    req.setTimeout(options.timeoutMs ?? 60_000, () => req.destroy(Object.assign(new Error(`no answer from ${u.host} within ${options.timeoutMs ?? 60_000} ms`), { code: "ETIMEDOUT" })));
    req.on("error", (err) => {
      options.signal?.removeEventListener("abort", onAbort);
      reject(options.signal?.aborted ? toAbortError(options.signal, err) : err);
    });
    req.on("response", (res) => {
      res.on("close", () => options.signal?.removeEventListener("abort", onAbort));
      // An abort after the headers destroys the body; readers still see that error, an unread body must not crash the process.
      res.on("error", () => undefined);
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
    });
    const body = options.body;
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else {
      // pipeline tears both down on either side's failure; the error itself reaches the caller through req.
      pipeline(body, req).catch(() => undefined);
    }
  });
}

/** Reads a response body up to `limit` bytes (error bodies and JSON answers are small). */
export async function readBody(res: http.IncomingMessage, limit = 16 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      res.destroy();
      throw new Error(`response body larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}
