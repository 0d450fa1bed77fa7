import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import tarStream from "tar-stream";
import { AbortError, ClusterPackError, InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { encodeFileName, fsPath, hasRawBytes, outputExistsError, publishDirectory, publishFile, showFileName } from "@cluster-pack/io";
import { ZipWriter } from "@cluster-pack/zip";
import { createCompressor, type TarCompression } from "./compress";
import { changedError, sourceError } from "./source-errors";
import { ZipDeflater, zipOrder } from "./zip-deflate";

export { sourceError } from "./source-errors";

/** Output formats, conda-pack's names. */
export type ArchiveFormat = "zip" | "tar" | "tar.gz" | "tar.bz2" | "tar.xz" | "tar.zst" | "no-archive";

export const ARCHIVE_FORMATS: readonly ArchiveFormat[] = ["zip", "tar", "tar.gz", "tar.bz2", "tar.xz", "tar.zst", "no-archive"];

/** One entry to write. File content is either a loader (relocated content) or a path streamed as is. */
export interface ArchiveItem {
  /** Name inside the archive, `/`-separated, no leading slash. */
  name: string;
  type: "file" | "directory" | "symlink";
  /** Normalised permission bits. */
  mode: number;
  linkTarget?: string;
  /** File content: loaded on demand, in order, a bounded number ahead. */
  load?: () => Promise<Buffer>;
  /** Or: a file copied byte for byte, of this size. */
  source?: string;
  size?: number;
}

export interface WriteArchiveOptions {
  format: ArchiveFormat;
  level: number;
  threads: number;
  /** Entry timestamps (tar). */
  mtime: Date;
  /** Replace an existing output; otherwise the final step refuses to clobber one that appeared meanwhile. */
  force?: boolean;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface WriteArchiveResult {
  /** Bytes of the archive (for no-archive: of the files written). */
  size: number;
  /** sha256 of the archive file; null for no-archive. */
  sha256: string | null;
}

/** The format a file name implies, or null. */
export function formatFromName(file: string): ArchiveFormat | null {
  const f = file.toLowerCase();
  if (f.endsWith(".zip")) return "zip";
  if (f.endsWith(".tar.gz") || f.endsWith(".tgz")) return "tar.gz";
  if (f.endsWith(".tar.bz2") || f.endsWith(".tbz2")) return "tar.bz2";
  if (f.endsWith(".tar.xz") || f.endsWith(".txz")) return "tar.xz";
  if (f.endsWith(".tar.zst") || f.endsWith(".tzst")) return "tar.zst";
  if (f.endsWith(".tar")) return "tar";
  return null;
}

/** Accepts conda-pack's aliases too (tgz, tbz2, txz, tzst, parcel-less). */
export function parseFormat(value: string): ArchiveFormat {
  const aliases: Record<string, ArchiveFormat> = { tgz: "tar.gz", tbz2: "tar.bz2", txz: "tar.xz", tzst: "tar.zst", "tar.zstd": "tar.zst", directory: "no-archive" };
  const v = aliases[value] ?? value;
  if ((ARCHIVE_FORMATS as readonly string[]).includes(v)) return v as ArchiveFormat;
  throw new InvalidInputError(`unknown archive format "${value}"`, { code: "ERR_BAD_FORMAT", hint: `use one of ${ARCHIVE_FORMATS.join(", ")}.` });
}

/** Refuses an existing output unless `force`. */
export async function checkOutput(output: string, force: boolean | undefined): Promise<void> {
  const st = await fsp.lstat(output).catch(() => null);
  if (st && !force) throw outputExistsError(output, "force");
  const dir = path.dirname(path.resolve(output));
  const dst = await fsp.stat(dir).catch(() => null);
  if (!dst?.isDirectory()) throw new InvalidInputError(`the directory of the output, ${dir}, does not exist`, { code: "ERR_BAD_OUTPUT", hint: "create it first." });
}

/**
 * Writes `items` (already sorted) to `output` atomically: into a temporary file (or
 * directory) beside it, renamed into place at the end; removed on error or abort.
 */
export async function writeArchive(items: readonly ArchiveItem[], output: string, options: WriteArchiveOptions): Promise<WriteArchiveResult> {
  const { format, signal } = options;
  throwIfAborted(signal);
  const out = path.resolve(output);
  if (format === "zip") return writeZip(items, out, options);
  if (format === "no-archive") return writeDirectory(items, out, options);
  const compression: TarCompression = ({ tar: "none", "tar.gz": "gzip", "tar.bz2": "bzip2", "tar.xz": "xz", "tar.zst": "zstd" } as const)[format];
  return publishFile(
    out,
    async (tmp, ctx) => {
      const compressor = createCompressor(compression, { level: options.level, threads: options.threads });
      const hash = crypto.createHash("sha256");
      let size = 0;
      const pack = tarStream.pack();
      const sink = ctx.track(fs.createWriteStream(tmp, { flags: "wx", mode: 0o644 }));
      const written = pipeline(
        pack,
        coalesce,
        compressor,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            hash.update(chunk);
            size += chunk.length;
            yield chunk;
          }
        },
        sink,
        signal ? { signal } : {},
      );
      // If the pipeline fails early (disk full, compressor died), stop feeding entries.
      let failed: unknown = null;
      written.catch((err) => {
        failed = err;
      });
      try {
        await forEachLoaded(items, signal, options.onProgress, async (item, data) => {
          if (failed) throw failed;
          await tarEntry(pack, item, data, options.mtime);
        });
        pack.finalize();
      } catch (err) {
        pack.destroy(err as Error);
        await written.catch(() => {});
        // The sink's failure (a full disk) is the cause when it stopped the entries.
        throw failed ?? err;
      }
      await written;
      return { size, sha256: hash.digest("hex") };
    },
    { overwrite: !!options.force, fsync: true, signal },
  ).catch((err) => {
    throw normalizeAbort(err, signal);
  });
}

// ---------------------------------------------------------------------------------------

const PREFETCH_ITEMS = 64;
const PREFETCH_BYTES = 64 * 1024 * 1024;
/** Files above this are streamed instead of read whole. */
const STREAM_ABOVE = 8 * 1024 * 1024;

type Loaded = Buffer | { stream: string; size: number } | null;

/** Calls `fn` for each item in order with its content, reading a bounded window ahead. */
async function forEachLoaded(
  items: readonly ArchiveItem[],
  signal: AbortSignal | undefined,
  onProgress: ((done: number, total: number) => void) | undefined,
  fn: (item: ArchiveItem, data: Loaded) => Promise<void>,
): Promise<void> {
  const window: Promise<Loaded>[] = [];
  let next = 0;
  let windowBytes = 0;
  const sizes: number[] = [];
  const fill = () => {
    while (next < items.length && window.length < PREFETCH_ITEMS && windowBytes < PREFETCH_BYTES) {
      const item = items[next++]!;
      const p = loadItem(item);
      p.catch(() => {});
      const est = item.size ?? 0;
      sizes.push(est);
      windowBytes += est;
      window.push(p);
    }
  };
  for (let i = 0; i < items.length; i++) {
    throwIfAborted(signal);
    fill();
    const data = await window.shift()!;
    windowBytes -= sizes.shift()!;
    await fn(items[i]!, data);
    onProgress?.(i + 1, items.length);
  }
}

async function loadItem(item: ArchiveItem): Promise<Loaded> {
  if (item.type !== "file") return null;
  if (item.load) return item.load();
  if (!item.source) throw new Error(`internal: ${item.name} has no content`);
  if ((item.size ?? 0) > STREAM_ABOVE) return { stream: item.source, size: item.size! };
  return readSource(item.source, item.name, item.size);
}

/** Below this, files are read synchronously: one syscall sequence beats four thread-pool round trips. */
const READ_SYNC_BELOW = 256 * 1024;

/** Reads a file that must still be what the environment listed; names it when it vanished or changed. */
export async function readSource(file: string, name: string, expectedSize?: number): Promise<Buffer> {
  let data: Buffer;
  try {
    data = expectedSize !== undefined && expectedSize < READ_SYNC_BELOW ? fs.readFileSync(fsPath(file)) : await fsp.readFile(fsPath(file));
  } catch (err) {
    throw sourceError(file, name, err);
  }
  if (expectedSize !== undefined && data.length !== expectedSize) throw changedError(file, name);
  return data;
}

function tarEntry(pack: tarStream.Pack, item: ArchiveItem, data: Loaded, mtime: Date): Promise<void> {
  const base = { name: item.name, mode: item.mode, mtime, uid: 0, gid: 0, uname: "", gname: "" };
  const link = item.type === "symlink" ? item.linkTarget! : "";
  if (hasRawBytes(item.name) || hasRawBytes(link)) {
    // tar-stream encodes names as UTF-8 strings; a name that is not UTF-8 goes in our own
    // pax header (hdrcharset=BINARY, as POSIX and Python's tarfile write it) just before
    // the entry, whose ustar fields then hold an ASCII stand-in that pax readers ignore.
    pack.push(rawPaxHeader(item.type === "directory" ? `${item.name}/` : item.name, link, mtime));
    const standIn = `@raw-name-${crypto.createHash("sha1").update(encodeFileName(item.name)).digest("hex")}`;
    item = { ...item, name: standIn, ...(link ? { linkTarget: "@raw-link" } : {}) };
    base.name = standIn;
  }
  return new Promise<void>((resolve, reject) => {
    const cb = (err?: Error | null) => (err ? reject(err) : resolve());
    // Directory names end with "/", as GNU tar and Python's tarfile write them.
    if (item.type === "directory") pack.entry({ ...base, name: `${item.name}/`, type: "directory" }, cb);
    else if (item.type === "symlink") pack.entry({ ...base, type: "symlink", linkname: item.linkTarget! }, cb);
    else if (Buffer.isBuffer(data)) pack.entry({ ...base, type: "file", size: data.length }, data, cb);
    else if (data && "stream" in data) {
      const entry = pack.entry({ ...base, type: "file", size: data.size }, (err) => {
        if (err && /size mismatch/i.test(err.message)) reject(changedError(data.stream, item.name));
        else cb(err);
      });
      pipeline(fs.createReadStream(fsPath(data.stream)), entry).catch((err) => reject((err as NodeJS.ErrnoException).code ? sourceError(data.stream, item.name, err) : err));
    } else reject(new Error(`internal: no content for ${item.name}`));
  });
}

/**
 * A pax extended header (typeflag x) carrying `path` (and `linkpath`) as raw bytes. Records
 * are "<length> <key>=<value>\n", the length counting the whole record, its digits included.
 */
function rawPaxHeader(name: string, link: string, mtime: Date): Buffer {
  const record = (key: string, value: Buffer) => {
    const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from("\n")]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    return Buffer.concat([Buffer.from(String(len)), body]);
  };
  const data = Buffer.concat([record("hdrcharset", Buffer.from("BINARY")), record("path", encodeFileName(name)), ...(link ? [record("linkpath", encodeFileName(link))] : [])]);
  const header = Buffer.alloc(512);
  header.write("PaxHeader/@raw-name", 0, "ascii");
  header.write("0000644\0", 100, "ascii");
  header.write("0000000\0", 108, "ascii");
  header.write("0000000\0", 116, "ascii");
  header.write(`${data.length.toString(8).padStart(11, "0")}\0`, 124, "ascii");
  header.write(`${Math.max(0, Math.floor(mtime.getTime() / 1000)).toString(8).padStart(11, "0")}\0`, 136, "ascii");
  header.write("x", 156, "ascii");
  header.write("ustar\x0000", 257, "ascii");
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  return Buffer.concat([header, data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

/** Zip names are UTF-8 (or CP437 to readers without the flag): a name that is neither cannot be stored faithfully. */
function refuseRawNamesInZip(items: readonly ArchiveItem[]): void {
  const bad = items.find((i) => hasRawBytes(i.name) || (i.linkTarget !== undefined && hasRawBytes(i.linkTarget)));
  if (!bad) return;
  const what = hasRawBytes(bad.name) ? `the name of ${showFileName(bad.name)}` : `the target of the symlink ${bad.name} (${showFileName(bad.linkTarget!)})`;
  throw new InvalidInputError(
    `${what} is not valid UTF-8, and a zip archive cannot store it faithfully (zip readers decode names as UTF-8 or CP437).`,
    { code: "ERR_NAME_NOT_UTF8", hint: "pack into a tar format instead (--format tar.gz), or rename the file." },
  );
}

async function writeZip(items: readonly ArchiveItem[], out: string, options: WriteArchiveOptions): Promise<WriteArchiveResult> {
  refuseRawNamesInZip(items);
  // `threads` worker threads deflate every file ahead of the writer, one job each at a time
  // (the bytes the writer's own deflate would give, whatever the count), so the thread
  // count is what compresses; the main thread only reads, lays out and writes. Level 0
  // stores: nothing to compress.
  const zip = new ZipWriter({ compressionLevel: options.level, compress: options.level > 0, concurrency: options.threads });
  const parallel = options.threads >= 1 && options.level > 0;
  const viaWorkers = (item: ArchiveItem) => parallel && item.type === "file" && (!!item.load || item.size !== undefined);
  const files = items.filter(viaWorkers).sort((a, b) => zipOrder(a.name, b.name));
  let deflater: ZipDeflater | undefined;
  try {
    if (parallel) {
      const d = new ZipDeflater(
        files.map((f) => (f.load ? { name: f.name, load: f.load, ...(f.size !== undefined ? { size: f.size } : {}) } : { name: f.name, source: f.source!, size: f.size! })),
        { level: options.level, threads: options.threads, spoolDir: path.dirname(out), ...(options.signal ? { signal: options.signal } : {}) },
      );
      deflater = d;
      files.forEach((f, i) => zip.addPrecompressed(f.name, () => d.take(i), { mode: f.mode }));
    }
    for (const item of items) {
      throwIfAborted(options.signal);
      if (item.type === "directory") zip.addDirectory(item.name);
      else if (item.type === "symlink") zip.addSymlink(item.name, item.linkTarget!);
      else if (viaWorkers(item)) continue;
      else if (item.load) zip.addBuffer(item.name, await item.load(), { mode: item.mode });
      else zip.addFile(item.name, item.source!, { mode: item.mode });
    }
    // The zip writer is atomic on its own; writing to our temporary name lets the final
    // step refuse to clobber an output that appeared meanwhile.
    const result = await publishFile(
      out,
      (tmp) =>
        zip.writeTo(tmp, {
          ...(options.signal ? { signal: options.signal } : {}),
          ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        }),
      { overwrite: !!options.force, signal: options.signal },
    );
    return { size: result.size, sha256: result.sha256 };
  } catch (err) {
    // The zip writer reports unreadable sources with its own code; a vanished file is ours.
    const cause = (err as { cause?: NodeJS.ErrnoException })?.cause ?? (err as NodeJS.ErrnoException);
    if ((err as ClusterPackError).code === "ERR_FILE_NOT_READABLE" && cause?.code === "ENOENT" && typeof cause.path === "string") {
      throw sourceError(cause.path, items.find((i) => i.source === cause.path)?.name ?? cause.path, cause);
    }
    throw normalizeAbort(err, options.signal);
  } finally {
    await deflater?.close();
  }
}

/** no-archive: a plain copy. Never hardlinks, so rewriting the copy can never reach a package cache. */
async function writeDirectory(items: readonly ArchiveItem[], out: string, options: WriteArchiveOptions): Promise<WriteArchiveResult> {
  let size = 0;
  try {
    await publishDirectory(
      out,
      async (tmp) => {
        await forEachLoaded(items, options.signal, options.onProgress, async (item, data) => {
          // Names that are not UTF-8 are written as the bytes they stand for.
          const dest = fsPath(path.join(tmp, item.name));
          if (item.type === "directory") {
            await fsp.mkdir(dest, { recursive: true, mode: 0o755 });
            return;
          }
          await fsp.mkdir(fsPath(path.dirname(path.join(tmp, item.name))), { recursive: true, mode: 0o755 });
          if (item.type === "symlink") {
            await fsp.symlink(fsPath(item.linkTarget!), dest);
          } else if (Buffer.isBuffer(data)) {
            await fsp.writeFile(dest, data, { mode: item.mode, flag: "wx" });
            size += data.length;
          } else if (data && "stream" in data) {
            // A real copy (or a copy-on-write clone, which is still a separate file).
            try {
              await fsp.copyFile(fsPath(data.stream), dest, fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE);
            } catch (err) {
              throw sourceError(data.stream, item.name, err);
            }
            await fsp.chmod(dest, item.mode);
            size += data.size;
          }
        });
        // Directories were created with default modes before their contents: set them last.
        for (const item of items) if (item.type === "directory") await fsp.chmod(fsPath(path.join(tmp, item.name)), item.mode);
      },
      { overwrite: !!options.force, signal: options.signal },
    );
    return { size, sha256: null };
  } catch (err) {
    throw normalizeAbort(err, options.signal);
  }
}

/** tar-stream emits 512-byte headers and small files one by one: hand on 1 MiB pieces instead. */
async function* coalesce(source: AsyncIterable<unknown>): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let size = 0;
  for await (const item of source) {
    const chunk = item as Buffer;
    // Big pieces (file contents) pass as they are: copying them would only cost time.
    if (chunk.length >= 256 * 1024) {
      if (size > 0) yield Buffer.concat(parts, size);
      parts = [];
      size = 0;
      yield chunk;
      continue;
    }
    parts.push(chunk);
    size += chunk.length;
    if (size >= 1 << 20) {
      yield Buffer.concat(parts, size);
      parts = [];
      size = 0;
    }
  }
  if (size > 0) yield Buffer.concat(parts, size);
}


function normalizeAbort(err: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted && !(err instanceof AbortError)) return new AbortError(undefined, { cause: signal.reason });
  return err;
}
