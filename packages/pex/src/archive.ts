import fs from "node:fs";
import path from "node:path";
import { IntegrityError, InvalidInputError } from "@cluster-pack/errors";
import { fileSource, isShebangLine, locateCentralDirectory, sliceSource, ZipReader, type RandomAccessSource } from "@cluster-pack/zip";
import { parsePexInfo, pexLayers, type PexInfo } from "./pex-info";

/** `layered`: a split zipapp whose distributions are layer files beside it (PEX-INFO `cluster_pack.layers`). */
export type PexLayoutKind = "zipapp" | "zipapp-split" | "layered" | "packed" | "loose";

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
 * small boot zip last), or a packed/loose directory. With `checkLayout`, a PEX file must
 * also pass `checkPexLayout` (every byte accounted for).
 */
export async function openPex(pexPath: string, options: { signal?: AbortSignal; checkLayout?: boolean } = {}): Promise<OpenedPex> {
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(pexPath);
  } catch (err) {
    throw new InvalidInputError(`${pexPath} does not exist.`, { cause: err, code: "ERR_FILE_NOT_FOUND", hint: "pass the path of a .pex file or a packed PEX directory." });
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
  return openPexSource(await fileSource(pexPath), pexPath, options);
}

/**
 * Opens a single-file PEX through any random-access source (a local file, an S3 / HDFS /
 * HTTP object read by range requests): the last zip's central directory, PEX-INFO (checked
 * by parsePexInfo), and the bulk archive of the split layout. The source is closed by
 * `close()` (or on failure). `name` names the PEX in errors (credentials removed by the caller).
 */
export async function openPexSource(source: RandomAccessSource, pexPath: string, options: { signal?: AbortSignal; checkLayout?: boolean } = {}): Promise<OpenedPex> {
  const readers: ZipReader[] = [];
  try {
    // ZipReader reads the last zip of the file, with absolute offsets (pex, zip -A) or
    // offsets relative to its own start (our split layout's boot zip, `cat stub app.zip`),
    // as zipimport does; prefixLength is where that zip starts.
    const boot = await ZipReader.open(source, { maxEntries: 10_000_000, signal: options.signal }).catch((err: Error & { code?: string }) => {
      // The zip reader's message names the file and says what to check: wrapping it would name the file twice.
      if (err.code === "ERR_NOT_A_ZIP") throw new InvalidInputError(err.message, { cause: err, code: "ERR_NOT_A_PEX", hint: (err as { hint?: string }).hint });
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
    const opened: OpenedPex = {
      path: pexPath,
      layout: pexLayers(info).length ? "layered" : deps ? "zipapp-split" : "zipapp",
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
    if (options.checkLayout) await checkPexLayout(opened, options.signal);
    return opened;
  } catch (err) {
    for (const r of readers) await r.close().catch(() => undefined);
    await source.close?.();
    throw err;
  }
}

/**
 * Accounts for every byte of a PEX file, as Python would read it: the zip(s) pass
 * `ZipReader.checkLayout` (no hidden, unlisted or overlapping data), the file starts with
 * a `#!` line (or directly with the zip) and nothing else, and in the split layout the boot zip starts exactly where
 * the bulk archive PEX-INFO names ends (both zips are checked). Directory layouts have
 * no file to check here (their zips are checked where they are read). Throws IntegrityError.
 */
export async function checkPexLayout(pex: OpenedPex, signal?: AbortSignal): Promise<void> {
  if (!pex.boot) return;
  await pex.boot.checkLayout({ signal });
  let first = pex.boot;
  if (pex.bulk && pex.bulk !== pex.boot) {
    const deps = depsArchive(pex.info)!;
    if (pex.boot.prefixLength !== deps.length) {
      throw new IntegrityError(`${pex.path}: the boot zip starts at byte ${pex.boot.prefixLength} but PEX-INFO says the deps archive before it is ${deps.length} bytes: ${Math.abs(pex.boot.prefixLength - deps.length)} bytes belong to neither. The PEX is corrupt or crafted.`, { code: "ERR_UNLISTED_DATA" });
    }
    await pex.bulk.checkLayout({ signal });
    first = pex.bulk;
  }
  if (first.prefixLength === 0) return;
  const prefix = await first.source.read(0, Math.min(first.prefixLength, 4097), signal);
  if (prefix.length !== first.prefixLength || !isShebangLine(prefix)) {
    throw new IntegrityError(`${pex.path}: the ${first.prefixLength} bytes before the first zip entry are not one "#!" line: unlisted data, which some zip readers may take for entries. The PEX is corrupt or crafted.`, { code: "ERR_UNLISTED_DATA" });
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

/**
 * Where the last zip of a PEX file starts counting its offsets (0 when they are absolute in
 * the file, as pex and our writer make them; the shebang or bulk archive's length when
 * they are relative) and where its end record is: @cluster-pack/zip's end-of-directory
 * locator, the one ZipReader uses. (openPex lets ZipReader do this; kept for callers that
 * slice sources themselves.)
 */
export async function locateLastZip(source: RandomAccessSource, name: string, signal?: AbortSignal): Promise<{ start: number; eocd: number }> {
  try {
    const cd = await locateCentralDirectory(source, signal);
    return { start: cd.shift, eocd: cd.endOffset };
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_NOT_A_ZIP") throw new InvalidInputError(`${(err as Error).message} It is not a PEX.`, { cause: err, code: "ERR_NOT_A_PEX", hint: (err as { hint?: string }).hint });
    throw err;
  }
}

async function dirSize(dir: string): Promise<number> {
  let total = 0;
  for (const e of await fs.promises.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += (await fs.promises.stat(path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))).size;
  }
  return total;
}
