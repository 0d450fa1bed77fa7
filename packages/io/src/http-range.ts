import { Readable } from "node:stream";
import { ClusterPackError, IntegrityError, InvalidInputError, redactUrl, throwIfAborted } from "@cluster-pack/errors";
import { HttpStatusError, discardBody, httpRequestFollowing, readBody, responseHeader, retryingTransport, splitUrlCredentials, type HttpResponse, type HttpTransport } from "./http";
import type { RetryOptions } from "./retry";
import { checkRange, type RandomAccessSource } from "./source";

/** Options of `httpRangeSource`. */
export interface HttpRangeSourceOptions {
  /**
   * How requests are sent. pip passes its client (credentials, retries, timeouts, limits);
   * the default follows redirects with the credential rules of `httpRequestFollowing`,
   * sends the URL's own `user:pass@` as Basic auth, and retries transient failures.
   */
  transport?: HttpTransport;
  /** Sent with every request (e.g. Authorization, for the URL's origin only). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /**
   * Bytes fetched by the first request (`Range: bytes=-N`) and kept: the zip's end (a
   * small wheel entirely). Default 128 KiB, which covers the end record's search window.
   */
  tailSize?: number;
  /** The error for an unexpected HTTP status (default: ERR_NOT_FOUND, ERR_ACCESS_DENIED, ERR_HTTP_STATUS). */
  statusError?: (status: number, name: string) => Error;
  /** Retries of the default transport. */
  retry?: RetryOptions;
}

/**
 * A file served over HTTP(S) by a server that honours `Range` (static servers, S3
 * presigned URLs, package indexes). The first request asks for the last `tailSize` bytes
 * (`Range: bytes=-N`), which gives the size and the zip's central directory end in one
 * round trip; reads inside it cost nothing; later reads are ranged GETs pinned to the first
 * response's ETag (or Last-Modified) so a file replaced mid-read fails (ERR_SOURCE_CHANGED)
 * instead of mixing versions. A server that ignores Range fails with
 * ERR_HTTP_RANGE_UNSUPPORTED (downloading a whole wheel to read 2 KiB is what this avoids;
 * callers download the file instead).
 */
export async function httpRangeSource(url: string, options: HttpRangeSourceOptions = {}): Promise<RandomAccessSource> {
  const name = redactUrl(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw new InvalidInputError(`${name} is not a valid URL.`, { cause: err, code: "ERR_INVALID_URL" });
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new InvalidInputError(`${name}: only http and https URLs can be read with range requests.`, { code: "ERR_INVALID_URL" });
  }
  const statusError = options.statusError ?? defaultStatusError;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.headers ?? {})) headers[k.toLowerCase()] = v;
  let transport = options.transport;
  if (!transport) {
    const split = splitUrlCredentials(url);
    url = split.url;
    transport = defaultTransport(split.authorization, options.retry);
  }
  const get = transport;
  const tailSize = Math.max(1, options.tailSize ?? 128 * 1024);
  const probe = await get(url, { headers: { ...headers, range: `bytes=-${tailSize}` }, signal: options.signal });
  let size: number;
  let tail: Buffer;
  if (probe.status === 416) {
    // An empty file has no suffix to serve; the total comes in Content-Range "bytes */0".
    discardBody(probe);
    const total = /\/(\d+)\s*$/.exec(responseHeader(probe, "content-range") ?? "");
    if (!total || Number(total[1]) !== 0) throw statusError(probe.status, name);
    size = 0;
    tail = Buffer.alloc(0);
  } else if (probe.status === 206) {
    const range = parseContentRange(responseHeader(probe, "content-range"));
    if (!range) {
      probe.body.destroy();
      throw new IntegrityError(`${name}: the server answered 206 without a valid Content-Range header; cannot read byte ranges from it.`, { code: "ERR_HTTP_RANGE" });
    }
    size = range.total;
    tail = await readBody(probe.body, tailSize).catch((err) => {
      throw new IntegrityError(`${name}: the server sent more than the ${tailSize} bytes asked for.`, { code: "ERR_HTTP_RANGE", cause: err });
    });
    if (tail.length !== range.end - range.start + 1 || range.end !== size - 1) {
      throw new IntegrityError(`${name}: the server sent ${tail.length} bytes for range ${range.start}-${range.end}/${size}; the response is inconsistent.`, { code: "ERR_HTTP_RANGE" });
    }
  } else {
    // 200 would be the whole file: do not read it.
    probe.body.destroy();
    if (probe.status === 200) {
      throw new ClusterPackError(
        "ERR_HTTP_RANGE_UNSUPPORTED",
        `${name}: the server ignored the Range request (answered 200 with the whole file), so it cannot be read piece by piece.`,
        { hint: "download it first and open the local copy, or serve it from a server that supports byte ranges." },
      );
    }
    throw statusError(probe.status, name);
  }
  // Pin later reads to this version of the file: a changed file answers 412.
  const etag = responseHeader(probe, "etag");
  const lastModified = responseHeader(probe, "last-modified");
  const pin: Record<string, string> = etag && !etag.startsWith("W/") ? { "if-match": etag } : lastModified ? { "if-unmodified-since": lastModified } : {};
  const tailStart = size - tail.length;

  async function ranged(offset: number, length: number, signal?: AbortSignal): Promise<HttpResponse> {
    const res = await get(url, { headers: { ...headers, ...pin, range: `bytes=${offset}-${offset + length - 1}` }, signal });
    if (res.status !== 206) {
      res.body.destroy();
      if (res.status === 412) throw new IntegrityError(`${name}: the file changed on the server while it was being read.`, { code: "ERR_SOURCE_CHANGED", hint: "retry." });
      if (res.status === 200) throw new ClusterPackError("ERR_HTTP_RANGE_UNSUPPORTED", `${name}: the server stopped honouring Range requests (answered 200).`, { hint: "download the file and open the local copy instead." });
      throw statusError(res.status, name);
    }
    const range = parseContentRange(responseHeader(res, "content-range"));
    if (!range || range.start !== offset || range.end !== offset + length - 1 || range.total !== size) {
      res.body.destroy();
      throw new IntegrityError(`${name}: asked for bytes ${offset}-${offset + length - 1}/${size}, the server answered "${responseHeader(res, "content-range")}".`, { code: "ERR_HTTP_RANGE" });
    }
    return res;
  }

  return {
    name,
    size,
    async read(offset, length, signal) {
      checkRange(name, size, offset, length);
      throwIfAborted(signal);
      if (length === 0) return Buffer.alloc(0);
      if (offset >= tailStart) return tail.subarray(offset - tailStart, offset - tailStart + length);
      const res = await ranged(offset, length, signal);
      const body = await readBody(res.body, length).catch((err) => {
        throwIfAborted(signal);
        throw new IntegrityError(`${name}: reading ${length} bytes at ${offset} failed: ${(err as Error).message}`, { code: "ERR_HTTP_RANGE", cause: err });
      });
      if (body.length !== length) throw new IntegrityError(`${name}: asked for ${length} bytes at ${offset}, received ${body.length}.`, { code: "ERR_HTTP_RANGE" });
      return body;
    },
    createReadStream(offset, length, signal) {
      checkRange(name, size, offset, length);
      if (length === 0) return Readable.from([]);
      if (offset >= tailStart) return Readable.from([tail.subarray(offset - tailStart, offset - tailStart + length)]);
      // The request starts when the stream is first read, so an unread stream costs nothing.
      async function* body() {
        const res = await ranged(offset, length, signal);
        let received = 0;
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          received += chunk.length;
          if (received > length) {
            res.body.destroy();
            throw new IntegrityError(`${name}: the server sent more than the ${length} bytes asked for at ${offset}.`, { code: "ERR_HTTP_RANGE" });
          }
          yield chunk;
        }
        if (received !== length) throw new IntegrityError(`${name}: asked for ${length} bytes at ${offset}, received ${received}.`, { code: "ERR_HTTP_RANGE" });
      }
      return Readable.from(body(), { objectMode: false });
    },
  };
}

function defaultTransport(authorization: string | undefined, retry: RetryOptions | undefined): HttpTransport {
  const send: HttpTransport = (url, init) => httpRequestFollowing(url, { headers: init.headers, signal: init.signal, credentials: (): Record<string, string> => (authorization ? { authorization } : {}) });
  return retryingTransport(send, retry);
}

function defaultStatusError(status: number, name: string): ClusterPackError {
  if (status === 404 || status === 410) return new InvalidInputError(`${name}: not found (HTTP ${status}).`, { code: "ERR_NOT_FOUND", hint: "check the URL." });
  if (status === 401 || status === 403) return new InvalidInputError(`${name}: access denied (HTTP ${status}).`, { code: "ERR_ACCESS_DENIED", hint: "pass credentials through the headers option or your index configuration." });
  return new HttpStatusError(`${name}: unexpected HTTP status ${status} for a range request.`, status);
}

function parseContentRange(value: string | undefined): { start: number; end: number; total: number } | undefined {
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+)\s*$/i.exec(value ?? "");
  if (!m) return undefined;
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (end < start || end >= total) return undefined;
  return { start, end, total };
}
