import { Readable } from "node:stream";
import {
  FileSystem,
  bodyToStream,
  normalizeStorePath,
  storeBaseName,
  progressCounter,
  validateMetadata,
  type FileStat,
  type ObjectHead,
  type OpOptions,
  type ReadStreamOptions,
  type RenameOptions,
  type RmOptions,
  type WriteBody,
  type WriteOptions,
} from "../filesystem";
import { checkAborted, toAbortError } from "../errors";

export interface MemoryFileSystemOptions {
  /** Shown in URLs and messages (`memory://<name>/path`); default "default". */
  name?: string;
}

interface MemoryFile {
  data: Buffer;
  mtimeMs: number;
  metadata: Record<string, string>;
}

/**
 * A filesystem in memory, for tests and dry runs. Writes are buffered and stored in one
 * step, so they are atomic like S3 PUTs; rename is atomic too.
 */
export class MemoryFileSystem extends FileSystem {
  readonly driver = "memory";
  readonly capabilities = { rename: true, atomicWrite: true, writable: true };
  private readonly files = new Map<string, MemoryFile>();
  private readonly dirs = new Set<string>(["/"]);
  private readonly name: string;

  constructor(options: MemoryFileSystemOptions = {}) {
    super();
    this.name = options.name ?? "default";
  }

  url(p: string): string {
    return `memory://${this.name}${normalizeStorePath(p)}`;
  }

  async stat(p: string, options: OpOptions = {}): Promise<FileStat> {
    checkAborted(options.signal);
    const key = normalizeStorePath(p);
    const file = this.files.get(key);
    if (file) return fileStat(key, file);
    if (this.dirs.has(key)) return { path: key, name: storeBaseName(key), size: 0, isFile: false, isDirectory: true };
    throw this.error("ENOENT", "stat", key, "no such file or directory");
  }

  async list(p: string, options: OpOptions = {}): Promise<FileStat[]> {
    checkAborted(options.signal);
    const key = normalizeStorePath(p);
    if (this.files.has(key)) throw this.error("ENOTDIR", "list", key, "not a directory");
    if (!this.dirs.has(key)) throw this.error("ENOENT", "list", key, "no such directory");
    const prefix = key === "/" ? "/" : `${key}/`;
    const out: FileStat[] = [];
    for (const [k, f] of this.files) if (isChild(prefix, k)) out.push(fileStat(k, f));
    for (const d of this.dirs) if (d !== key && isChild(prefix, d)) out.push({ path: d, name: storeBaseName(d), size: 0, isFile: false, isDirectory: true });
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async readStream(p: string, options: ReadStreamOptions = {}): Promise<Readable> {
    checkAborted(options.signal);
    const key = normalizeStorePath(p);
    const file = this.files.get(key);
    if (!file) {
      if (this.dirs.has(key)) throw this.error("EISDIR", "read", key, "is a directory");
      throw this.error("ENOENT", "read", key, "no such file");
    }
    const start = Math.min(options.offset ?? 0, file.data.length);
    const end = options.length === undefined ? file.data.length : Math.min(file.data.length, start + options.length);
    const slice = file.data.subarray(start, end);
    return Readable.from(slice.length ? [slice] : []);
  }

  async write(p: string, body: WriteBody, options: WriteOptions = {}): Promise<void> {
    const key = normalizeStorePath(p);
    const metadata = validateMetadata(options.metadata);
    if (this.dirs.has(key)) throw this.error("EISDIR", "write", key, "is a directory");
    this.ensureParents(key, "write");
    if (options.overwrite === false && this.files.has(key)) throw this.error("EEXIST", "write", key, "file already exists");
    const { stream, size } = bodyToStream(body);
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of stream.pipe(progressCounter(size, options.onProgress)) as AsyncIterable<Buffer>) {
        checkAborted(options.signal);
        chunks.push(chunk);
      }
    } catch (err) {
      stream.destroy();
      if (options.signal?.aborted) throw toAbortError(options.signal, err);
      throw err;
    }
    // Re-check after the await: another writer may have created it meanwhile.
    if (options.overwrite === false && this.files.has(key)) throw this.error("EEXIST", "write", key, "file already exists");
    this.ensureParents(key, "write");
    this.files.set(key, { data: Buffer.concat(chunks), mtimeMs: Date.now(), metadata });
  }

  async rm(p: string, options: RmOptions = {}): Promise<void> {
    checkAborted(options.signal);
    const key = normalizeStorePath(p);
    if (this.files.delete(key)) return;
    if (!this.dirs.has(key)) {
      if (options.force) return;
      throw this.error("ENOENT", "rm", key, "no such file or directory");
    }
    if (key === "/") throw this.error("EINVAL", "rm", key, "refusing to remove the root");
    const prefix = `${key}/`;
    const children = [...this.files.keys(), ...this.dirs].filter((k) => k.startsWith(prefix));
    if (children.length && !options.recursive) throw this.error("ENOTEMPTY", "rm", key, "directory not empty", undefined, "pass recursive.");
    for (const k of children) {
      this.files.delete(k);
      this.dirs.delete(k);
    }
    this.dirs.delete(key);
  }

  async mkdirp(p: string, options: OpOptions = {}): Promise<void> {
    checkAborted(options.signal);
    const key = normalizeStorePath(p);
    if (this.files.has(key)) throw this.error("EEXIST", "mkdirp", key, "a file exists at this path");
    this.ensureParents(`${key}/x`, "mkdirp");
  }

  async head(p: string, options: OpOptions = {}): Promise<ObjectHead | null> {
    checkAborted(options.signal);
    const file = this.files.get(normalizeStorePath(p));
    return file ? { metadata: { ...file.metadata }, size: file.data.length, mtimeMs: file.mtimeMs } : null;
  }

  override async rename(from: string, to: string, options: RenameOptions = {}): Promise<void> {
    checkAborted(options.signal);
    const src = normalizeStorePath(from);
    const dst = normalizeStorePath(to);
    const file = this.files.get(src);
    if (!file) {
      if (this.dirs.has(src)) return this.renameDir(src, dst);
      throw this.error("ENOENT", "rename", src, "no such file");
    }
    if (this.dirs.has(dst)) throw this.error("EISDIR", "rename", dst, "destination is a directory");
    if (options.overwrite === false && this.files.has(dst)) throw this.error("EEXIST", "rename", dst, "destination exists");
    this.ensureParents(dst, "rename");
    this.files.delete(src);
    this.files.set(dst, file);
  }

  private renameDir(src: string, dst: string): void {
    if (this.files.has(dst) || this.dirs.has(dst)) throw this.error("EEXIST", "rename", dst, "destination exists");
    if (dst.startsWith(`${src}/`)) throw this.error("EINVAL", "rename", dst, "cannot move a directory into itself");
    this.ensureParents(dst, "rename");
    const prefix = `${src}/`;
    for (const [k, f] of [...this.files]) {
      if (k.startsWith(prefix)) {
        this.files.delete(k);
        this.files.set(dst + k.slice(src.length), f);
      }
    }
    for (const d of [...this.dirs]) {
      if (d === src || d.startsWith(prefix)) {
        this.dirs.delete(d);
        this.dirs.add(dst + d.slice(src.length));
      }
    }
  }

  private ensureParents(key: string, op: string): void {
    const parts = key.split("/").slice(1, -1);
    let cur = "";
    for (const part of parts) {
      cur += `/${part}`;
      if (this.files.has(cur)) throw this.error("ENOTDIR", op, cur, "a parent is a file");
    }
    cur = "";
    for (const part of parts) {
      cur += `/${part}`;
      this.dirs.add(cur);
    }
  }
}

function fileStat(key: string, f: MemoryFile): FileStat {
  return { path: key, name: storeBaseName(key), size: f.data.length, isFile: true, isDirectory: false, mtimeMs: f.mtimeMs };
}


function isChild(prefix: string, k: string): boolean {
  return k.startsWith(prefix) && k.length > prefix.length && !k.slice(prefix.length).includes("/");
}
