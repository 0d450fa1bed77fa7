import fs from "node:fs";
import { Readable } from "node:stream";
import { AbortError, ClusterPackError, IntegrityError, InvalidInputError, redactUrl, throwIfAborted } from "@cluster-pack/errors";

/** Anything that can serve byte ranges: local file, HTTP range, S3 range, a Buffer. */
export interface RandomAccessSource {
  /** For error messages: a path, or a URL with credentials removed. */
  readonly name: string;
  readonly size: number;
  /** Exactly `length` bytes from `offset`, or a rejection (never a short buffer). */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer>;
  /**
   * Optional: the range as one stream (one HTTP request, one file stream). When absent,
   * readers fall back to successive `read` calls.
   */
  createReadStream?(offset: number, length: number, signal?: AbortSignal): Readable;
  /**
   * Optional: how many bytes a read may cover beyond what was asked for when that is
   * nearly free (local files: consecutive small entries then share one read). Remote
   * sources leave it unset so that reading one entry fetches only that entry.
   */
  readonly preferredReadSize?: number;
  /**
   * Optional: a synchronous read, for local files only. Bulk raw copies use it: a read
   * from the page cache costs about a memcpy, while an async read also costs a thread-pool
   * round trip and its bookkeeping (measured: several times the CPU on a PEX build).
   * With `into` (at least `length` bytes), reads into it and returns its first `length`
   * bytes: a reused buffer saves the page faults of fresh memory on every read.
   */
  readSync?(offset: number, length: number, into?: Buffer): Buffer;
  close?(): Promise<void>;
}

/** Options of `httpRangeSource`. */
export interface HttpRangeSourceOptions {
  /** Sent with every request (e.g. Authorization). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /**
   * Bytes fetched by the first request (`Range: bytes=-N`) and kept: the zip's end (a
   * small wheel entirely). Default 128 KiB, which covers the end record's search window.
   */
  tailSize?: number;
}

/** A local file, read with positional reads through one file handle. */
export async function fileSource(path: string): Promise<RandomAccessSource> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(path, "r");
  } catch (err) {
    throw new InvalidInputError(`Cannot open ${path}: ${(err as Error).message}. Check that the file exists and is readable.`, { cause: err, code: "ERR_FILE_NOT_READABLE" });
  }
  const stat = await handle.stat();
  if (!stat.isFile()) {
    await handle.close();
    throw new InvalidInputError(`${path} is not a regular file; pass the path of a zip archive.`, { code: "ERR_FILE_NOT_READABLE" });
  }
  const size = stat.size;
  let closed = false;
  return {
    name: path,
    size,
    preferredReadSize: 256 * 1024,
    async read(offset, length, signal) {
      checkRange(path, size, offset, length);
      throwIfAborted(signal);
      const buffer = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(buffer, done, length - done, offset + done);
        if (bytesRead === 0) throw new IntegrityError(`${path}: unexpected end of file at byte ${offset + done} (the file shrank while being read).`);
        done += bytesRead;
      }
      return buffer;
    },
    readSync(offset, length, into) {
      checkRange(path, size, offset, length);
      if (closed) throw new ClusterPackError("ERR_CLOSED", `${path}: the source is closed.`);
      const buffer = into && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const n = fs.readSync(handle.fd, buffer, done, length - done, offset + done);
        if (n === 0) throw new IntegrityError(`${path}: unexpected end of file at byte ${offset + done} (the file shrank while being read).`);
        done += n;
      }
      return buffer;
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}

/** Bytes already in memory. The buffer is not copied: do not modify it while in use. */
export function bufferSource(data: Buffer, name = "<buffer>"): RandomAccessSource {
  return {
    name,
    size: data.length,
    preferredReadSize: 1024 * 1024,
    async read(offset, length, signal) {
      checkRange(name, data.length, offset, length);
      throwIfAborted(signal);
      return data.subarray(offset, offset + length);
    },
  };
}

/**
 * A file served over HTTP(S) by a server that honours `Range` (static servers, S3
 * presigned URLs, package indexes). The first request asks for the last `tailSize` bytes
 * (`Range: bytes=-N`), which gives the size and the zip's central directory end in one
 * round trip; later reads are ranged GETs pinned to the first response's ETag (or
 * Last-Modified) so a file replaced mid-read is detected instead of mixed. A server that
 * ignores Range is an error (downloading a whole wheel to read 2 KiB is what this avoids).
 */
export async function httpRangeSource(url: string, options: HttpRangeSourceOptions = {}): Promise<RandomAccessSource> {
  const name = redactUrl(url);
  const baseHeaders: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.headers ?? {})) baseHeaders[k.toLowerCase()] = v;
  // fetch refuses URLs with credentials; honour them the way curl and pip do (Basic auth).
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw new InvalidInputError(`${name} is not a valid URL.`, { cause: err, code: "ERR_INVALID_URL" });
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new InvalidInputError(`${name}: only http and https URLs can be read with range requests.`, { code: "ERR_INVALID_URL" });
  }
  if (parsed.username || parsed.password) {
    baseHeaders.authorization ??= `Basic ${Buffer.from(`${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`).toString("base64")}`;
    parsed.username = "";
    parsed.password = "";
    url = parsed.toString();
  }
  const tailSize = Math.max(1, options.tailSize ?? 128 * 1024);
  const probe = await httpFetch(url, name, { ...baseHeaders, range: `bytes=-${tailSize}` }, options.signal);
  let size: number;
  let tail: Buffer;
  if (probe.status === 416) {
    // An empty file has no suffix to serve; the total comes in Content-Range "bytes */0".
    await probe.body?.cancel().catch(() => undefined);
    const total = /\/(\d+)\s*$/.exec(probe.headers.get("content-range") ?? "");
    if (!total || Number(total[1]) !== 0) throw httpStatusError(name, probe.status);
    size = 0;
    tail = Buffer.alloc(0);
  } else if (probe.status === 206) {
    const range = parseContentRange(probe.headers.get("content-range"));
    if (!range) {
      await probe.body?.cancel().catch(() => undefined);
      throw new IntegrityError(`${name}: the server answered 206 without a valid Content-Range header; cannot read byte ranges from it.`, { code: "ERR_HTTP_RANGE" });
    }
    size = range.total;
    tail = Buffer.from(await probe.arrayBuffer());
    if (tail.length !== range.end - range.start + 1 || range.end !== size - 1) {
      throw new IntegrityError(`${name}: the server sent ${tail.length} bytes for range ${range.start}-${range.end}/${size}; the response is inconsistent.`, { code: "ERR_HTTP_RANGE" });
    }
  } else if (probe.status === 200) {
    await probe.body?.cancel().catch(() => undefined);
    throw new ClusterPackError(
      "ERR_HTTP_RANGE_UNSUPPORTED",
      `${name}: the server ignored the Range request (answered 200 with the whole file), so the archive cannot be read piece by piece. Download it first and open the local copy (fileSource), or serve it from a server that supports byte ranges.`,
    );
  } else {
    await probe.body?.cancel().catch(() => undefined);
    throw httpStatusError(name, probe.status);
  }
  // Pin later reads to this version of the file: a changed file answers 412.
  const etag = probe.headers.get("etag");
  const lastModified = probe.headers.get("last-modified");
  const pin: Record<string, string> = etag && !etag.startsWith("W/") ? { "if-match": etag } : lastModified ? { "if-unmodified-since": lastModified } : {};
  const tailStart = size - tail.length;

  async function ranged(offset: number, length: number, signal?: AbortSignal): Promise<Response> {
    const response = await httpFetch(url, name, { ...baseHeaders, ...pin, range: `bytes=${offset}-${offset + length - 1}` }, signal);
    if (response.status === 412) {
      await response.body?.cancel().catch(() => undefined);
      throw new IntegrityError(`${name}: the file changed on the server while it was being read; retry.`, { code: "ERR_SOURCE_CHANGED" });
    }
    if (response.status === 200) {
      await response.body?.cancel().catch(() => undefined);
      throw new ClusterPackError("ERR_HTTP_RANGE_UNSUPPORTED", `${name}: the server stopped honouring Range requests (answered 200); download the file and open the local copy instead.`);
    }
    if (response.status !== 206) {
      await response.body?.cancel().catch(() => undefined);
      throw httpStatusError(name, response.status);
    }
    const range = parseContentRange(response.headers.get("content-range"));
    if (!range || range.start !== offset || range.end !== offset + length - 1 || range.total !== size) {
      await response.body?.cancel().catch(() => undefined);
      throw new IntegrityError(`${name}: asked for bytes ${offset}-${offset + length - 1}/${size}, the server answered "${response.headers.get("content-range")}".`, { code: "ERR_HTTP_RANGE" });
    }
    return response;
  }

  return {
    name,
    size,
    async read(offset, length, signal) {
      checkRange(name, size, offset, length);
      if (length === 0) return Buffer.alloc(0);
      if (offset >= tailStart) return tail.subarray(offset - tailStart, offset - tailStart + length);
      const response = await ranged(offset, length, signal);
      const body = Buffer.from(await response.arrayBuffer());
      if (body.length !== length) throw new IntegrityError(`${name}: asked for ${length} bytes at ${offset}, received ${body.length}.`, { code: "ERR_HTTP_RANGE" });
      return body;
    },
    createReadStream(offset, length, signal) {
      checkRange(name, size, offset, length);
      if (length === 0) return Readable.from([]);
      if (offset >= tailStart) return Readable.from([tail.subarray(offset - tailStart, offset - tailStart + length)]);
      // The request starts when the stream is first read, so an unread stream costs nothing.
      async function* body() {
        const response = await ranged(offset, length, signal);
        if (!response.body) throw new IntegrityError(`${name}: empty response body for a range request.`, { code: "ERR_HTTP_RANGE" });
        let received = 0;
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          received += chunk.length;
          if (received > length) throw new IntegrityError(`${name}: the server sent more than the ${length} bytes asked for at ${offset}.`, { code: "ERR_HTTP_RANGE" });
          yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
        }
        if (received !== length) throw new IntegrityError(`${name}: asked for ${length} bytes at ${offset}, received ${received}.`, { code: "ERR_HTTP_RANGE" });
      }
      return Readable.from(body(), { objectMode: false });
    },
  };
}

// ---------------------------------------------------------------------------------------

function checkRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new IntegrityError(`${name}: read of ${length} bytes at offset ${offset} is outside the ${size}-byte file (the archive is truncated or its offsets are corrupt).`, { code: "ERR_OUT_OF_BOUNDS" });
  }
}

async function httpFetch(url: string, name: string, headers: Record<string, string>, signal?: AbortSignal): Promise<Response> {
  throwIfAborted(signal);
  try {
    return await fetch(url, { headers, signal: signal ?? null, redirect: "follow" });
  } catch (err) {
    if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
    throw new ClusterPackError("ERR_HTTP", `${name}: request failed: ${(err as Error).message}. Check the URL and that the server is reachable.`, { cause: err });
  }
}

function httpStatusError(name: string, status: number): ClusterPackError {
  if (status === 404 || status === 410) return new InvalidInputError(`${name}: not found (HTTP ${status}). Check the URL.`, { code: "ERR_NOT_FOUND" });
  if (status === 401 || status === 403) return new InvalidInputError(`${name}: access denied (HTTP ${status}). Pass credentials through the headers option or your index configuration.`, { code: "ERR_ACCESS_DENIED" });
  return new ClusterPackError("ERR_HTTP_STATUS", `${name}: unexpected HTTP status ${status} for a range request.`);
}

function parseContentRange(value: string | null): { start: number; end: number; total: number } | undefined {
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+)\s*$/i.exec(value ?? "");
  if (!m) return undefined;
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (end < start || end >= total) return undefined;
  return { start, end, total };
}

/** Destroys `stream` with an AbortError when `signal` fires. */
export function withSignal<T extends Readable>(stream: T, signal?: AbortSignal): T {
  if (!signal) return stream;
  const onAbort = () => stream.destroy(new AbortError(undefined, { cause: signal.reason }));
  if (signal.aborted) {
    process.nextTick(onAbort);
    return stream;
  }
  signal.addEventListener("abort", onAbort, { once: true });
  stream.once("close", () => signal.removeEventListener("abort", onAbort));
  return stream;
}
