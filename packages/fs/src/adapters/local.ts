import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileIdentity, isNoSpaceError, moveIntoPlace, publishFile, writeFileAtomic } from "@cluster-pack/io";
import {
  FileSystem,
  bodyToStream,
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
import { type FsErrorCode, checkAborted, toAbortError } from "../errors";

/** Hidden file beside a file holding its user metadata (Node has no portable xattr API). */
const META_SUFFIX = ".cp-meta.json";

interface MetaRecord {
  /** The file's identity (@cluster-pack/io's key: real path, inode, size, mtime, ctime) when the metadata was set. */
  identity: string;
  metadata: Record<string, string>;
}

/**
 * The local disk. Every write is a temporary sibling renamed into place, so it is atomic;
 * user metadata lives in a hidden sidecar that is trusted only while the file keeps the
 * identity it had when the metadata was set (any rewrite changes its ctime or inode, even
 * with the old size and mtime restored, so a changed file never inherits stale metadata
 * and "upload only when changed" cannot be fooled). The racy rule of cached digests does
 * not apply: the metadata describes the write this adapter just made, not bytes it verified.
 */
export class LocalFileSystem extends FileSystem {
  readonly driver = "local";
  readonly capabilities = { rename: true, atomicWrite: true, writable: true };

  url(p: string): string {
    return pathToFileURL(path.resolve(p)).toString();
  }

  async stat(p: string, options: OpOptions = {}): Promise<FileStat> {
    checkAborted(options.signal);
    const abs = path.resolve(p);
    const st = await this.wrap("stat", abs, () => fs.promises.stat(abs));
    return toStat(abs, st);
  }

  async list(p: string, options: OpOptions = {}): Promise<FileStat[]> {
    checkAborted(options.signal);
    const abs = path.resolve(p);
    const names = await this.wrap("list", abs, () => fs.promises.readdir(abs));
    const out: FileStat[] = [];
    for (const name of names.sort()) {
      if (isMetaName(name)) continue;
      try {
        out.push(toStat(path.join(abs, name), await fs.promises.stat(path.join(abs, name))));
      } catch (err) {
        // Removed between readdir and stat: it is simply not there any more.
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw this.mapError(err, "list", abs);
      }
    }
    return out;
  }

  async readStream(p: string, options: ReadStreamOptions = {}): Promise<Readable> {
    checkAborted(options.signal);
    const abs = path.resolve(p);
    const handle = await this.wrap("read", abs, () => fs.promises.open(abs, "r"));
    const st = await handle.stat();
    if (st.isDirectory()) {
      await handle.close();
      throw this.error("EISDIR", "read", abs, "is a directory");
    }
    const start = options.offset ?? 0;
    const end = options.length === undefined ? Infinity : start + options.length - 1;
    if (options.length === 0 || start >= st.size) {
      await handle.close();
      return Readable.from([]);
    }
    return handle.createReadStream({ start, end, highWaterMark: 1024 * 1024, signal: options.signal } as never);
  }

  async write(p: string, body: WriteBody, options: WriteOptions = {}): Promise<void> {
    const abs = path.resolve(p);
    const metadata = validateMetadata(options.metadata);
    await this.mkdirParent("write", abs);
    const { stream, size } = bodyToStream(body);
    try {
      if ((await fs.promises.stat(abs).catch(() => null))?.isDirectory()) throw this.error("EISDIR", "write", abs, "destination is a directory");
      await publishFile(
        abs,
        async (tmp, ctx) => {
          const out = fs.createWriteStream(tmp, { flags: "wx", ...(options.mode === undefined ? {} : { mode: options.mode }) });
          await pipeline(stream, progressCounter(size, options.onProgress), ctx.track(out), { signal: options.signal });
        },
        { overwrite: options.overwrite !== false, signal: options.signal },
      );
    } catch (err) {
      stream.destroy();
      if (options.signal?.aborted) throw toAbortError(options.signal, err);
      throw this.mapError(err, "write", abs);
    }
    await this.writeMeta(abs, metadata);
  }

  /**
   * A local file given away to this disk moves into place by rename (no bytes copied) when
   * it is on the same filesystem; another filesystem (EXDEV) is copied as usual.
   */
  protected override async moveLocalFile(localFile: string, p: string, options: WriteOptions): Promise<boolean> {
    const abs = path.resolve(p);
    const metadata = validateMetadata(options.metadata);
    checkAborted(options.signal);
    await this.mkdirParent("write", abs);
    try {
      await this.commit(localFile, abs, options.overwrite !== false, "write");
    } catch (err) {
      // commit's errors are FsErrors whose cause is Node's (EXDEV maps to EIO).
      if ((err as { cause?: NodeJS.ErrnoException }).cause?.code === "EXDEV") return false;
      throw err;
    }
    await this.writeMeta(abs, metadata);
    return true;
  }

  async rm(p: string, options: RmOptions = {}): Promise<void> {
    checkAborted(options.signal);
    const abs = path.resolve(p);
    let st: fs.Stats;
    try {
      st = await fs.promises.lstat(abs);
    } catch (err) {
      if (options.force && (err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw this.mapError(err, "rm", abs);
    }
    if (st.isDirectory()) {
      if (abs === path.parse(abs).root) throw this.error("EINVAL", "rm", abs, "refusing to remove the root");
      await this.wrap("rm", abs, () => (options.recursive ? fs.promises.rm(abs, { recursive: true, force: true }) : fs.promises.rmdir(abs)));
    } else {
      await this.wrap("rm", abs, () => fs.promises.unlink(abs));
      await fs.promises.rm(metaPath(abs), { force: true });
    }
  }

  async mkdirp(p: string, options: OpOptions = {}): Promise<void> {
    checkAborted(options.signal);
    const abs = path.resolve(p);
    await this.wrap("mkdirp", abs, () => fs.promises.mkdir(abs, { recursive: true }));
  }

  async head(p: string, options: OpOptions = {}): Promise<ObjectHead | null> {
    checkAborted(options.signal);
    const abs = path.resolve(p);
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw this.mapError(err, "head", abs);
    }
    if (st.isDirectory()) return null;
    const rec = await validMeta(abs);
    return { metadata: rec ? rec.metadata : {}, size: st.size, mtimeMs: st.mtimeMs };
  }

  override async rename(from: string, to: string, options: RenameOptions = {}): Promise<void> {
    checkAborted(options.signal);
    const src = path.resolve(from);
    const dst = path.resolve(to);
    const st = await this.wrap("rename", src, () => fs.promises.stat(src));
    await this.mkdirParent("rename", dst);
    if (st.isDirectory()) {
      if (await exists(dst)) throw this.error("EEXIST", "rename", dst, "destination exists");
      await this.wrap("rename", src, () => fs.promises.rename(src, dst));
      return;
    }
    const rec = await validMeta(src);
    await this.commit(src, dst, options.overwrite !== false, "rename");
    await fs.promises.rm(metaPath(src), { force: true });
    // The moved file keeps its content: its metadata moves along, recorded for its new identity.
    if (rec) await this.writeMeta(dst, rec.metadata);
    else await fs.promises.rm(metaPath(dst), { force: true });
  }

  /** mkdir -p of the parent; Node says EEXIST when a parent is a file, callers expect ENOTDIR. */
  private async mkdirParent(op: string, abs: string): Promise<void> {
    try {
      await fs.promises.mkdir(path.dirname(abs), { recursive: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EEXIST" || code === "ENOTDIR") throw this.error("ENOTDIR", op, abs, "a parent is a file", err);
      throw this.mapError(err, op, abs);
    }
  }

  /** Moves `tmp` to `dst`; without overwrite, link() fails atomically when dst exists. */
  private async commit(tmp: string, dst: string, overwrite: boolean, op: string): Promise<void> {
    const dstSt = await fs.promises.stat(dst).catch(() => null);
    if (dstSt?.isDirectory()) throw this.error("EISDIR", op, dst, "destination is a directory");
    await this.wrap(op, dst, () => moveIntoPlace(tmp, dst, { overwrite }));
  }

  private async writeMeta(abs: string, metadata: Record<string, string>): Promise<void> {
    const mp = metaPath(abs);
    if (Object.keys(metadata).length === 0) {
      await fs.promises.rm(mp, { force: true });
      return;
    }
    const id = await this.wrap("write", abs, () => fileIdentity(abs));
    const rec: MetaRecord = { identity: id.key, metadata };
    await writeFileAtomic(mp, JSON.stringify(rec));
  }

  private async wrap<T>(op: string, p: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.mapError(err, op, p);
    }
  }

  private mapError(err: unknown, op: string, p: string): Error {
    if (typeof err === "object" && err !== null && (err as { driver?: unknown }).driver !== undefined) return err as Error;
    if ((err as { code?: unknown })?.code === "ABORT_ERR") return err as Error;
    if (isNoSpaceError(err)) return this.error("ENOSPC", op, p, "no space left on the device", err, "free some space or write elsewhere.");
    const code = (err as NodeJS.ErrnoException)?.code;
    const known: FsErrorCode[] = ["ENOENT", "EEXIST", "EACCES", "ENOTDIR", "EISDIR", "ENOTEMPTY", "EROFS", "EINVAL"];
    const mapped: FsErrorCode = code === "ERR_OUTPUT_EXISTS" ? "EEXIST" : code === "EPERM" ? "EACCES" : known.includes(code as FsErrorCode) ? (code as FsErrorCode) : "EIO";
    // Node's message repeats the path ("ENOENT: no such file or directory, stat '/x'"), which FsError names already.
    return this.error(mapped, op, p, mapped === "EIO" ? ((err as Error)?.message ?? String(err)) : ERRNO_WORDS[mapped], err);
  }
}

const ERRNO_WORDS: Record<Exclude<FsErrorCode, "EIO">, string> = {
  ENOENT: "no such file or directory",
  EEXIST: "destination exists",
  EACCES: "permission denied",
  ENOTDIR: "a part of the path is not a directory",
  EISDIR: "is a directory",
  ENOTEMPTY: "directory not empty",
  EROFS: "read-only file system",
  ENOTSUP: "operation not supported",
  EINVAL: "invalid argument",
  ENOSPC: "no space left on the device",
};

function toStat(abs: string, st: fs.Stats): FileStat {
  return { path: abs, name: path.basename(abs), size: st.isFile() ? st.size : 0, isFile: st.isFile(), isDirectory: st.isDirectory(), mtimeMs: st.mtimeMs, mode: st.mode & 0o777 };
}

function metaPath(abs: string): string {
  return path.join(path.dirname(abs), `.${path.basename(abs)}${META_SUFFIX}`);
}

function isMetaName(name: string): boolean {
  return name.startsWith(".") && name.endsWith(META_SUFFIX);
}

async function readMeta(abs: string): Promise<MetaRecord | null> {
  try {
    return JSON.parse(await fs.promises.readFile(metaPath(abs), "utf8")) as MetaRecord;
  } catch {
    return null;
  }
}

/** The sidecar, when it was written for the file as it is now (a stale one is as good as none). */
async function validMeta(abs: string): Promise<MetaRecord | null> {
  const rec = await readMeta(abs);
  if (!rec || typeof rec.identity !== "string") return null;
  const id = await fileIdentity(abs).catch(() => null);
  return id?.key === rec.identity ? rec : null;
}

async function exists(p: string): Promise<boolean> {
  return fs.promises.stat(p).then(
    () => true,
    () => false,
  );
}
