import fs from "node:fs";
import path from "node:path";
import { IntegrityError, InvalidInputError } from "@cluster-pack/errors";
import { sliceSource } from "@cluster-pack/io";
import { fileSource, ZipReader, type RandomAccessSource } from "@cluster-pack/zip";
import { parsePexInfo, type PexInfo } from "./pex-info";

export type PexLayoutKind = "zipapp" | "zipapp-split" | "packed" | "loose";

/** A PEX opened for reading: its PEX-INFO and readers for its parts. */
export interface OpenedPex {
  path: string;
  layout: PexLayoutKind;
  info: PexInfo;
  infoText: string;
  /** The zip python imports from (`__main__.py`, `PEX-INFO`, `.bootstrap/`); absent for directories. */
  boot?: ZipReader;
  /** The archive holding `.deps/` and user code (the boot zip itself unless split). */
  bulk?: ZipReader;
  /** Size in bytes (sum of files for directory layouts). */
  size: number;
  close(): Promise<void>;
}

/**
 * Opens a PEX of any layout: a single-file zipapp (pex's, with relative or absolute
 * offsets after the shebang), cluster-pack's split zipapp (bulk ZIP64 archive first,
 * small boot zip last), or a packed/loose directory.
 */
export async function openPex(pexPath: string, options: { signal?: AbortSignal } = {}): Promise<OpenedPex> {
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(pexPath);
  } catch (err) {
    throw new InvalidInputError(`${pexPath} does not exist; pass the path of a .pex file or a packed PEX directory.`, { cause: err, code: "ERR_FILE_NOT_FOUND" });
  }
  if (stat.isDirectory()) {
    const infoPath = path.join(pexPath, "PEX-INFO");
    const infoText = await fs.promises.readFile(infoPath, "utf8").catch((err: Error) => {
      throw new InvalidInputError(`${pexPath} is a directory without PEX-INFO; it is not a PEX directory.`, { cause: err });
    });
    const info = parsePexInfo(infoText, infoPath);
    const bootstrapIsZip = await fs.promises.stat(path.join(pexPath, ".bootstrap")).then((s) => s.isFile(), () => false);
    return { path: pexPath, layout: bootstrapIsZip ? "packed" : "loose", info, infoText, size: await dirSize(pexPath), close: async () => undefined };
  }
  const source = await fileSource(pexPath);
  const readers: ZipReader[] = [];
  try {
    // ZipReader reads the last zip of the file, with absolute offsets (pex, zip -A) or
    // offsets relative to its own start (our split layout's boot zip, `cat stub app.zip`),
    // as zipimport does; prefixLength is where that zip starts.
    const boot = await ZipReader.open(source, { maxEntries: 10_000_000, signal: options.signal }).catch((err: Error & { code?: string }) => {
      // The zip reader's message names the file and says what to check: wrapping it would name the file twice.
      if (err.code === "ERR_NOT_A_ZIP") throw new InvalidInputError(err.message, { cause: err, code: "ERR_NOT_A_PEX" });
      throw err;
    });
    readers.push(boot);
    const start = boot.prefixLength;
    const infoEntry = boot.getEntry("PEX-INFO");
    if (!infoEntry) throw new InvalidInputError(`${pexPath} has no PEX-INFO entry; it is a zip file but not a PEX.`, { code: "ERR_NOT_A_PEX" });
    const infoText = (await boot.readEntry(infoEntry, { maxBytes: 64 * 1024 * 1024, signal: options.signal })).toString("utf8");
    const info = parsePexInfo(infoText, `${pexPath}: PEX-INFO`);
    const deps = depsArchive(info);
    let bulk = boot;
    if (deps) {
      if (deps.length > start) throw new IntegrityError(`${pexPath}: PEX-INFO says the deps archive is ${deps.length} bytes but the boot zip starts at ${start}; the PEX is damaged.`);
      bulk = await ZipReader.open(sliceSource(source, 0, deps.length), { maxEntries: 10_000_000, signal: options.signal });
      readers.push(bulk);
    }
    return {
      path: pexPath,
      layout: deps ? "zipapp-split" : "zipapp",
      info,
      infoText,
      boot,
      bulk,
      size: source.size,
      close: async () => {
        for (const r of readers) await r.close().catch(() => undefined);
        await source.close?.();
      },
    };
  } catch (err) {
    for (const r of readers) await r.close().catch(() => undefined);
    await source.close?.();
    throw err;
  }
}

/** Reads PEX-INFO of a PEX file or directory. */
export async function readPexInfo(pexPath: string, options: { signal?: AbortSignal } = {}): Promise<PexInfo> {
  const pex = await openPex(pexPath, options);
  try {
    return pex.info;
  } finally {
    await pex.close();
  }
}

/** cluster-pack's split layout marker in PEX-INFO (ignored by pex, which keeps unknown keys). */
export function depsArchive(info: PexInfo): { length: number } | undefined {
  const cp = info.raw.cluster_pack as { deps_archive?: { length?: unknown } } | undefined;
  const length = cp?.deps_archive?.length;
  return typeof length === "number" && Number.isSafeInteger(length) && length > 0 ? { length } : undefined;
}

/** A window of another source (yauzl reads a zip that does not start at 0 through it): @cluster-pack/io's. */
export { sliceSource };

/**
 * Finds the last end-of-central-directory record, like Python's zipimport, and returns
 * where that zip's own offsets count from (0 when they are absolute in the file).
 * (openPex lets ZipReader do this; kept for callers that slice sources themselves.)
 */
export async function locateLastZip(source: RandomAccessSource, name: string, signal?: AbortSignal): Promise<{ start: number; eocd: number }> {
  const tailLen = Math.min(source.size, 22 + 65535);
  if (tailLen < 22) throw new InvalidInputError(`${name} is too small to be a zip archive; it is not a PEX.`, { code: "ERR_NOT_A_PEX" });
  const tail = await source.read(source.size - tailLen, tailLen, signal);
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) !== 0x06054b50) continue;
    if (i + 22 + tail.readUInt16LE(i + 20) !== tail.length) continue;
    const eocd = source.size - tailLen + i;
    const cdSize = tail.readUInt32LE(i + 12);
    const cdOffset = tail.readUInt32LE(i + 16);
    if (cdOffset === 0xffffffff || cdSize === 0xffffffff) return { start: 0, eocd }; // ZIP64: offsets absolute in our writer
    const start = eocd - cdSize - cdOffset;
    if (start < 0) throw new IntegrityError(`${name}: the central directory points before the start of the file; the archive is damaged.`);
    // Absolute offsets (our writer, zip -A): the central directory really is at cdOffset.
    if (start > 0 && cdOffset + 4 <= source.size) {
      const sig = await source.read(cdOffset, 4, signal);
      if (sig.readUInt32LE(0) === 0x02014b50 && cdOffset + cdSize === eocd) return { start: 0, eocd };
    }
    return { start, eocd };
  }
  throw new InvalidInputError(`${name} is not a zip archive (no end of central directory record); it is not a PEX.`, { code: "ERR_NOT_A_PEX" });
}

async function dirSize(dir: string): Promise<number> {
  let total = 0;
  for (const e of await fs.promises.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += (await fs.promises.stat(path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))).size;
  }
  return total;
}
