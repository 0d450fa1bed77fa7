import fs from "node:fs";
import type { Readable } from "node:stream";
import { AbortError, ClusterPackError, IntegrityError, InvalidInputError, throwIfAborted } from "@cluster-pack/errors";

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

/**
 * A read outside a source: every source (file, buffer, HTTP range, store, slice) throws
 * this one, so callers handle a truncated archive alike whatever it is read from.
 */
export class OutOfRangeError extends IntegrityError {
  constructor(
    readonly source: string,
    readonly size: number,
    readonly offset: number,
    readonly length: number,
  ) {
    super(`${source}: read of ${length} bytes at offset ${offset} is outside the ${size}-byte file (the archive is truncated or its offsets are corrupt).`, { code: "ERR_OUT_OF_BOUNDS" });
  }
}

/** Throws OutOfRangeError unless `[offset, offset + length)` lies within `size` bytes. */
export function checkRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new OutOfRangeError(name, size, offset, length);
  }
}

/**
 * The error for an input file that cannot be opened (`what` says what it is: "requirements
 * file", "lock file"): one line naming the file once, with the reason in words rather than
 * Node's "ENOENT: no such file or directory, open '<the path again>'".
 */
export function unreadableFile(file: string, err: unknown, options: { what?: string; code?: string } = {}): InvalidInputError {
  const errno = (err as NodeJS.ErrnoException).code;
  const subject = options.what ? `${options.what} ${file}` : file;
  const code = options.code ?? (errno === "ENOENT" ? "ERR_FILE_NOT_FOUND" : "ERR_FILE_NOT_READABLE");
  const why =
    errno === "ENOENT"
      ? "does not exist"
      : errno === "EISDIR"
        ? "is a directory, not a file"
        : errno === "EACCES" || errno === "EPERM"
          ? "cannot be read: permission denied"
          : errno === "ENOTDIR"
            ? "does not exist: a part of its path is not a directory"
            : `cannot be read (${errno ?? (err as Error)?.message ?? String(err)})`;
  return new InvalidInputError(`${subject} ${why}.`, { cause: err, code, ...(errno === "ENOENT" ? { hint: "check the path." } : {}) });
}

/** A local file, read with positional reads through one file handle. */
export async function fileSource(path: string): Promise<RandomAccessSource> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(path, "r");
  } catch (err) {
    throw unreadableFile(path, err, { code: "ERR_FILE_NOT_READABLE" });
  }
  const stat = await handle.stat();
  if (!stat.isFile()) {
    await handle.close();
    throw new InvalidInputError(`${path} is not a regular file.`, { code: "ERR_FILE_NOT_READABLE", hint: "pass the path of a zip archive." });
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
 * `length` bytes of `source` from `start`, as a source of its own (offsets count from
 * `start`): the bulk zip of a split PEX, a zip after a shebang. Closing the slice leaves
 * the underlying source open.
 */
export function sliceSource(source: RandomAccessSource, start: number, length: number): RandomAccessSource {
  checkRange(source.name, source.size, start, length);
  const { createReadStream, readSync } = source;
  return {
    name: source.name,
    size: length,
    ...(source.preferredReadSize !== undefined ? { preferredReadSize: source.preferredReadSize } : {}),
    read: async (offset, len, signal) => {
      checkRange(source.name, length, offset, len);
      return source.read(start + offset, len, signal);
    },
    ...(createReadStream
      ? {
          createReadStream: (offset: number, len: number, signal?: AbortSignal) => {
            checkRange(source.name, length, offset, len);
            return createReadStream.call(source, start + offset, len, signal);
          },
        }
      : {}),
    ...(readSync
      ? {
          readSync: (offset: number, len: number, into?: Buffer) => {
            checkRange(source.name, length, offset, len);
            return readSync.call(source, start + offset, len, into);
          },
        }
      : {}),
  };
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
