import fs from "node:fs";
import path from "node:path";
import { PassThrough, Readable, Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { InvalidInputError } from "@cluster-pack/errors";
import { checkRange, isStaleTemp, publishFile, tempSiblingName, unreadableFile, type RandomAccessSource } from "@cluster-pack/io";
import { FsError, type FsErrorCode, checkAborted, isFsError, toAbortError } from "./errors";

/** What `stat` and `list` return. `path` is in the adapter's own path space. */
export interface FileStat {
  path: string;
  name: string;
  size: number;
  isFile: boolean;
  isDirectory: boolean;
  /** Last modification, when the store reports one. */
  mtimeMs?: number;
  /** Store's version tag (S3 ETag), when there is one. */
  etag?: string;
  /** Permission bits (0o755), on stores that keep them (local disk). */
  mode?: number;
}

/** What one round trip to the store tells about an object: the up-to-date check's input. */
export interface ObjectHead {
  /** User metadata written with the object (S3 `x-amz-meta-*`, HDFS `user.*` xattrs). */
  metadata: Record<string, string>;
  size?: number;
  etag?: string;
  mtimeMs?: number;
}

export interface TransferProgress {
  bytesDone: number;
  bytesTotal?: number;
}

export interface OpOptions {
  signal?: AbortSignal;
}

export interface ReadStreamOptions extends OpOptions {
  /** First byte to read (default 0). */
  offset?: number;
  /** Bytes to read from `offset` (default: to the end). */
  length?: number;
}

export interface ReadOptions extends ReadStreamOptions {
  /** Refuse to buffer more than this many bytes (default 256 MiB): `read` is for small files. */
  maxBytes?: number;
}

export interface WriteOptions extends OpOptions {
  /** Replace an existing file (default true). With false, an existing file is EEXIST. */
  overwrite?: boolean;
  /** Permission bits of the new file, on stores that keep them (local disk; others ignore it). */
  mode?: number;
  /** User metadata stored with the object; keys `[a-z0-9-]`, values printable ASCII. */
  metadata?: Record<string, string>;
  onProgress?: (progress: TransferProgress) => void;
}

export interface RmOptions extends OpOptions {
  recursive?: boolean;
  /** No error when the path does not exist. */
  force?: boolean;
}

export interface RenameOptions extends OpOptions {
  /** Atomically replace an existing destination file (default true). */
  overwrite?: boolean;
}

/** A body that can be opened again at any offset: lets uploads run parts in parallel and retry them. */
export interface ReopenableSource {
  readonly size: number;
  open(offset: number, length: number): Readable;
}

export type WriteBody = Buffer | Uint8Array | string | Readable | ReopenableSource;

export interface FileSystemCapabilities {
  /** `rename` exists and replaces the destination atomically. */
  rename: boolean;
  /** Any write is visible complete or not at all (S3 PUT / completed multipart). */
  atomicWrite: boolean;
  writable: boolean;
}

/** Anything that serves byte ranges (the zip reader's input): @cluster-pack/io's type. */
export type { RandomAccessSource };

export interface PublishOptions extends OpOptions {
  metadata?: Record<string, string>;
  /**
   * Replace an existing object (default true). With false, an existing one is EEXIST and
   * is left as it was (a no-overwrite rename or link, `If-None-Match: *` on S3 and Azure):
   * for content-addressed objects that concurrent writers may publish at once.
   */
  overwrite?: boolean;
  /** Written after the archive, atomically too: cluster-pack's `.json` description of the env. */
  sidecar?: { content: string | Buffer; path?: string };
  onProgress?: (progress: TransferProgress) => void;
  /**
   * The local file is the caller's to give away (a build output about to be deleted): a
   * store on the same filesystem moves it into place instead of copying its bytes (the
   * local adapter; a warm upload-env to a file:// store wrote its PEX twice). The file
   * may then be gone from `localFile` (moved), or still there (copied: another filesystem,
   * another store); the caller must not rely on either. Without this it is left as it was.
   */
  consume?: boolean;
}

export interface PublishResult {
  path: string;
  url: string;
  size: number;
  sidecarPath?: string;
}

export interface UpToDateResult {
  upToDate: boolean;
  /** What the store reported (null: the object does not exist). */
  head: ObjectHead | null;
}

const META_KEY = /^[a-z0-9][a-z0-9-]{0,127}$/;
const META_VALUE = /^[\x20-\x7e]{0,2048}$/;

/**
 * The filesystem every adapter implements: a few primitives (stat, list, readStream,
 * write, rm, mkdirp, head, and rename where the store has it), and the helpers written
 * once on top (exists, read, writeStream, put, get, copy, publish, isUpToDate,
 * openRandomAccess). Errors are FsError with Node codes.
 */
export abstract class FileSystem {
  /** Adapter name used as the prefix of every message: "local", "memory", "s3", "webhdfs", "http". */
  abstract readonly driver: string;
  abstract readonly capabilities: FileSystemCapabilities;

  /** A printable URL for `path` (credentials never included). */
  abstract url(path: string): string;
  abstract stat(path: string, options?: OpOptions): Promise<FileStat>;
  /** Immediate children of a directory, sorted by name. */
  abstract list(path: string, options?: OpOptions): Promise<FileStat[]>;
  abstract readStream(path: string, options?: ReadStreamOptions): Promise<Readable>;
  /** Writes the whole body; parent directories are created as needed. */
  abstract write(path: string, body: WriteBody, options?: WriteOptions): Promise<void>;
  abstract rm(path: string, options?: RmOptions): Promise<void>;
  abstract mkdirp(path: string, options?: OpOptions): Promise<void>;
  /** ONE round trip: user metadata (+ size/etag when the store returns them), or null when absent. */
  abstract head(path: string, options?: OpOptions): Promise<ObjectHead | null>;

  /** Renames within this filesystem; only where `capabilities.rename`. */
  rename(from: string, _to: string, _options?: RenameOptions): Promise<void> {
    return Promise.reject(this.error("ENOTSUP", "rename", from, "this store has no rename"));
  }

  async exists(path: string, options?: OpOptions): Promise<boolean> {
    try {
      await this.stat(path, options);
      return true;
    } catch (err) {
      if (isFsError(err, "ENOENT")) return false;
      throw err;
    }
  }

  /** Reads a (small) file or a byte range into memory. */
  async read(path: string, options: ReadOptions = {}): Promise<Buffer> {
    const maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
    const stream = await this.readStream(path, options);
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > maxBytes) {
        stream.destroy();
        throw this.error("EINVAL", "read", path, `more than ${maxBytes} bytes`, undefined, "use readStream or get for large files.");
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks, total);
  }

  /**
   * A Writable that stores what is written to it at `path`; `finish` fires once the
   * store has the whole object (a failed upload destroys the stream with the error).
   */
  writeStream(path: string, options: WriteOptions = {}): Writable {
    const pass = new PassThrough();
    const done = this.write(path, pass, options);
    const out = new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (pass.write(chunk)) cb();
        else pass.once("drain", () => cb());
      },
      final(cb) {
        pass.end();
        done.then(() => cb(), cb);
      },
      destroy(err, cb) {
        if (!pass.destroyed) pass.destroy(err ?? new Error("write stream destroyed before finishing"));
        cb(err);
      },
    });
    done.catch((err: Error) => {
      if (!out.destroyed) out.destroy(err);
    });
    return out;
  }

  /** Uploads a local file (parallel multipart on S3; re-readable, so parts retry). */
  async put(localFile: string, path: string, options: WriteOptions = {}): Promise<void> {
    await this.write(path, await fileSource(localFile), options);
  }

  /**
   * Downloads to a local file atomically: a temp file beside it, renamed when complete.
   * The copy keeps the source's permission bits where the store has them (local disk);
   * from a store without modes (S3, HTTP, WebHDFS) a file that starts with `#!` (a PEX, a
   * zipapp, a script) is made executable, so `./env.pex` runs after the download.
   */
  async get(path: string, localFile: string, options: OpOptions & { onProgress?: (p: TransferProgress) => void } = {}): Promise<void> {
    const st = await this.stat(path, options);
    if (st.isDirectory) throw this.error("EISDIR", "get", path, "is a directory", undefined, "download files one by one.");
    await publishFile(
      localFile,
      async (tmp, ctx) => {
        const src = await this.readStream(path, { signal: options.signal });
        const out = fs.createWriteStream(tmp, { flags: "wx", ...(st.mode === undefined ? {} : { mode: st.mode }) });
        await pipeline(src, progressCounter(st.size, options.onProgress), ctx.track(out), { signal: options.signal });
        if (st.mode === undefined && (await startsWithShebang(tmp))) await makeExecutable(tmp);
      },
      { signal: options.signal },
    );
  }

  /**
   * Copies a file within this filesystem or to `options.to` (another adapter). Same-store
   * copies use the store's server-side copy when it has one.
   */
  async copy(from: string, to: string, options: WriteOptions & { destination?: FileSystem } = {}): Promise<void> {
    const dest = options.destination ?? this;
    const st = await this.stat(from, options);
    if (st.isDirectory) throw this.error("EISDIR", "copy", from, "is a directory; copy files one by one");
    if (dest === this && (await this.copyWithin(from, to, options))) return;
    const source: ReopenableSource = {
      size: st.size,
      open: (offset, length) => lazyReadable(() => this.readStream(from, { offset, length, signal: options.signal })),
    };
    await dest.write(to, source, options);
  }

  /**
   * Publishes a local file so that readers see the complete object or nothing: a
   * temporary sibling renamed over the target where the store can rename atomically, a
   * single PUT / completed multipart upload on S3. The sidecar comes after the archive.
   */
  async publish(localFile: string, path: string, options: PublishOptions = {}): Promise<PublishResult> {
    if (!this.capabilities.writable) throw this.error("EROFS", "publish", path, "this store is read-only");
    // The permission bits go with the file (a PEX stays executable on local disk).
    const st = await fs.promises.stat(localFile);
    const { sidecar: _sidecar, consume, ...rest } = options;
    const write = { ...rest, mode: st.mode & 0o777 };
    let size: number;
    if (consume && (await this.moveLocalFile(localFile, path, write))) {
      size = st.size;
      options.onProgress?.({ bytesDone: size, bytesTotal: size });
    } else {
      size = await this.copyLocalFile(localFile, path, write);
    }
    let sidecarPath: string | undefined;
    if (options.sidecar) {
      sidecarPath = options.sidecar.path ?? defaultSidecarPath(path);
      await this.writeAtomic(sidecarPath, Buffer.from(options.sidecar.content), { signal: options.signal });
    }
    return { path, url: this.url(path), size, ...(sidecarPath === undefined ? {} : { sidecarPath }) };
  }

  /** Writes a local file's bytes atomically to `path`; returns their size. */
  private async copyLocalFile(localFile: string, path: string, options: WriteOptions): Promise<number> {
    const source = await fileSource(localFile);
    await this.writeAtomic(path, source, options);
    return source.size;
  }

  /**
   * Moves a local file the caller gave away to `path`, atomically, with its own mode,
   * where this store can (the local disk, same filesystem); false means "not handled, copy it".
   */
  protected async moveLocalFile(_localFile: string, _path: string, _options: WriteOptions): Promise<boolean> {
    return false;
  }

  /**
   * Is the copy at `path` the one described by `expected` (metadata written by `publish`)?
   * Costs one round trip (`head`).
   */
  async isUpToDate(path: string, expected: { metadata?: Record<string, string>; size?: number }, options: OpOptions = {}): Promise<UpToDateResult> {
    const head = await this.head(path, options);
    if (head === null) return { upToDate: false, head };
    if (expected.size !== undefined && head.size !== undefined && head.size !== expected.size) return { upToDate: false, head };
    for (const [k, v] of Object.entries(expected.metadata ?? {})) {
      if (head.metadata[k] !== v) return { upToDate: false, head };
    }
    return { upToDate: true, head };
  }

  /** A random-access view (for the zip reader): one stat, then one ranged read per call. */
  async openRandomAccess(path: string, options: OpOptions = {}): Promise<RandomAccessSource> {
    const st = await this.stat(path, options);
    if (st.isDirectory) throw this.error("EISDIR", "open", path, "is a directory");
    const name = this.url(path);
    return {
      name,
      size: st.size,
      read: async (offset, length, signal) => {
        checkRange(name, st.size, offset, length);
        if (length === 0) return Buffer.alloc(0);
        const buf = await this.read(path, { offset, length, signal, maxBytes: length });
        if (buf.length !== length) throw this.error("EIO", "read", path, `short read: ${buf.length} of ${length} bytes at ${offset}`);
        return buf;
      },
    };
  }

  /** Server-side copy where the store has one; false means "not handled, stream it". */
  protected async copyWithin(_from: string, _to: string, _options: WriteOptions): Promise<boolean> {
    return false;
  }

  /** Writes `body` so that it appears complete or not at all. */
  protected async writeAtomic(path: string, body: WriteBody, options: WriteOptions): Promise<void> {
    if (this.capabilities.atomicWrite) {
      await this.write(path, body, options);
      return;
    }
    if (!this.capabilities.rename) throw this.error("ENOTSUP", "publish", path, "this store can neither rename nor write atomically");
    await this.sweepStaleTemps(path.slice(0, Math.max(1, path.lastIndexOf("/"))), options.signal);
    const tmp = tempSiblingName(path);
    try {
      await this.write(tmp, body, { ...options, overwrite: false });
      checkAborted(options.signal);
      await this.rename(tmp, path, { overwrite: options.overwrite !== false, signal: options.signal });
    } catch (err) {
      await this.rm(tmp, { force: true }).catch(() => undefined);
      if (options.signal?.aborted) throw toAbortError(options.signal, err);
      throw err;
    }
  }

  /**
   * Removes the temporaries a dead process of this host left in `dir` (a killed publish),
   * once per directory per filesystem object: one listing, then the next write goes on.
   */
  protected async sweepStaleTemps(dir: string, signal?: AbortSignal): Promise<void> {
    if (this.swept.has(dir)) return;
    this.swept.add(dir);
    const entries = await this.list(dir, { signal }).catch(() => [] as FileStat[]);
    await Promise.all(entries.filter((e) => isStaleTemp(e.name)).map((e) => this.rm(e.path, { recursive: true, force: true, signal }).catch(() => undefined)));
  }

  private readonly swept = new Set<string>();

  /** Builds an FsError prefixed with this driver's name; `hint` is the fix, kept apart from the message. */
  protected error(code: FsErrorCode, op: string, p: string, message: string, cause?: unknown, hint?: string): FsError {
    return new FsError(code, { driver: this.driver, op, path: this.url(p), message, cause, ...(hint === undefined ? {} : { hint }) });
  }
}

/** True when the file begins with "#!": a script, and so meant to be executable. */
async function startsWithShebang(file: string): Promise<boolean> {
  const fh = await fs.promises.open(file, "r");
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await fh.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x23 && head[1] === 0x21;
  } finally {
    await fh.close();
  }
}

/** `chmod +x` as the umask allowed reading: execute wherever read is granted (0644 -> 0755, 0600 -> 0700). */
async function makeExecutable(file: string): Promise<void> {
  const mode = (await fs.promises.stat(file)).mode & 0o777;
  await fs.promises.chmod(file, mode | ((mode & 0o444) >> 2));
}

/** A ReopenableSource over a local file (size taken now). */
export async function fileSource(localFile: string): Promise<ReopenableSource> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(localFile);
  } catch (err) {
    throw unreadableFile(localFile, err);
  }
  if (!st.isFile()) throw new InvalidInputError(`${localFile} is not a regular file.`, { hint: "pass the archive's path." });
  return {
    size: st.size,
    open: (offset, length) =>
      length === 0 ? Readable.from([]) : fs.createReadStream(localFile, { start: offset, end: offset + length - 1, highWaterMark: 1024 * 1024 }),
  };
}

/** Distinguishes a ReopenableSource from the other body kinds. */
export function isReopenable(body: WriteBody): body is ReopenableSource {
  return typeof body === "object" && !Buffer.isBuffer(body) && !(body instanceof Uint8Array) && !(body instanceof Readable) && typeof (body as ReopenableSource).open === "function";
}

/** The byte count of a body when it is known without reading it (undefined for a plain stream). */
export function bodySize(body: WriteBody): number | undefined {
  if (typeof body === "string") return Buffer.byteLength(body);
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) return body.byteLength;
  return isReopenable(body) ? body.size : undefined;
}

/** Turns any body into a Readable plus its size when known. */
export function bodyToStream(body: WriteBody): { stream: Readable; size?: number } {
  if (typeof body === "string") body = Buffer.from(body);
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) {
    const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    return { stream: Readable.from(buf.length ? [buf] : []), size: buf.length };
  }
  if (isReopenable(body)) return { stream: body.open(0, body.size), size: body.size };
  return { stream: body };
}

/** Checks user metadata against what every store accepts (S3 lowercases keys, HDFS xattr names). */
export function validateMetadata(metadata: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata ?? {})) {
    if (!META_KEY.test(k)) throw new InvalidInputError(`Metadata key ${JSON.stringify(k)} is not allowed.`, { hint: "use lowercase letters, digits and '-' (S3 lowercases keys)." });
    if (typeof v !== "string" || !META_VALUE.test(v)) throw new InvalidInputError(`Metadata value for ${JSON.stringify(k)} is not printable ASCII up to 2048 characters.`, { hint: "encode it (e.g. hex or base64)." });
    out[k] = v;
  }
  return out;
}

/** `env.pex` -> `env.json`, `dir/a.tar.gz` -> `dir/a.tar.json`: cluster-pack's sidecar naming. */
export function defaultSidecarPath(p: string): string {
  const slash = p.lastIndexOf("/");
  const dot = p.lastIndexOf(".");
  return dot > slash + 1 ? `${p.slice(0, dot)}.json` : `${p}.json`;
}

/** Counts bytes through a stream and reports progress. */
export function progressCounter(total: number | undefined, onProgress?: (p: TransferProgress) => void): Transform {
  let done = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      done += chunk.length;
      onProgress?.({ bytesDone: done, ...(total === undefined ? {} : { bytesTotal: total }) });
      cb(null, chunk);
    },
  });
}

/** A Readable that opens its source on first read (so unread parts cost nothing). */
export function lazyReadable(open: () => Promise<Readable>): Readable {
  let src: Readable | undefined;
  let iter: AsyncIterator<Buffer> | undefined;
  return new Readable({
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- the whole body is in try/catch, which destroys the stream
    async read() {
      try {
        if (!iter) {
          src = await open();
          iter = (src as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
        }
        const next = await iter.next();
        this.push(next.done ? null : next.value);
      } catch (err) {
        this.destroy(err as Error);
      }
    },
    destroy(err, cb) {
      src?.destroy();
      cb(err);
    },
  });
}

/** Normalises a POSIX-style store path: leading slash, no dot segments, no trailing slash. */
export function normalizeStorePath(p: string): string {
  const out = path.posix.normalize(`/${p}`);
  return out.length > 1 && out.endsWith("/") ? out.slice(0, -1) : out;
}

/** The last segment of a store key or path (`envs/a.pex` -> `a.pex`): a FileStat's `name`. */
export function storeBaseName(key: string): string {
  return key.slice(key.lastIndexOf("/") + 1);
}

/** The optional FileStat/ObjectHead times of an object store's answer. */
export function objectTimes(lastModified: Date | undefined, etag: string | undefined): { mtimeMs?: number; etag?: string } {
  return { ...(lastModified ? { mtimeMs: lastModified.getTime() } : {}), ...(etag ? { etag } : {}) };
}
