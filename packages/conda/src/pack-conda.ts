import fs from "node:fs/promises";
import path from "node:path";
import { InvalidInputError } from "@cluster-pack/errors";
import { decodeFileName, forEachLimit, fsPath, isPathInside, showFileName } from "@cluster-pack/io";
import { checkOutput, formatFromName, parseFormat, readSource, sourceError, writeArchive, type ArchiveFormat, type ArchiveItem } from "./archive";
import { LEVELS } from "./compress";
import { readCondaEnvironment, type ReadCondaEnvironmentOptions } from "./conda-env";
import { describePythonEnv, type PythonEnvDescription } from "./env-description";
import { applyPathFilters, type PathFilter } from "./fnmatch";
import { isText, relocate, rewriteShebang, type FileMode } from "./relocate";
import { activateScript, condaUnpackScript, deactivateScript, type UnpackRecord } from "./runtime";
import { sortByPath, symlinkInside, type EnvEntry } from "./walk";

/** Options shared by conda and venv packing. */
export interface PackOptionsBase {
  /** The archive (or directory, for no-archive) to write. */
  output: string;
  /** Default: from the output's extension; else tar.gz. */
  format?: ArchiveFormat | string;
  /** A directory inside the archive that holds the environment (default: none). */
  arcroot?: string;
  /** Compression level; default 4 (conda-pack's). */
  compressLevel?: number;
  /** Compression threads; default 1, -1 or 0 = every CPU. */
  threads?: number;
  /**
   * Store what symlinks to files inside the environment point to, instead of the links.
   * A link leading outside the environment is then refused (ERR_SYMLINK_OUTSIDE) unless
   * `followExternalSymlinks` is set too. Default false.
   */
  dereferenceSymlinks?: boolean;
  /**
   * Store the files that symlinks leading outside the environment point to (say, into a
   * shared package cache). Without it such links are kept as links (with a warning), and
   * never followed: a link to /etc/shadow must not put /etc/shadow in the archive. Default false.
   */
  followExternalSymlinks?: boolean;
  /** Include/exclude fnmatch patterns, applied in order to paths relative to the environment. */
  filters?: PathFilter[];
  /** Replace an existing output. Default false: refuse. */
  force?: boolean;
  /** Entry timestamps; default 1980-01-01 (or SOURCE_DATE_EPOCH). */
  mtime?: Date;
  /** The directory the archive is unpacked into on the cluster (engine configuration). Default "pyenv". */
  alias?: string;
  signal?: AbortSignal;
  onProgress?: (progress: PackProgress) => void;
}

export interface PackProgress {
  phase: "scan" | "write";
  done: number;
  total: number;
}

export interface PackCondaOptions extends PackOptionsBase, Omit<ReadCondaEnvironmentOptions, "signal"> {
  /** The environment to pack. */
  prefix: string;
  /**
   * Rewrite prefixes at pack time to this absolute path (where the environment will be
   * unpacked) instead of shipping bin/conda-unpack.
   */
  destPrefix?: string;
}

export interface PackResult {
  output: string;
  format: ArchiveFormat;
  /** Entries written (files, symlinks, directories). */
  entries: number;
  /** Files that carry a prefix and are rewritten (at pack time or by conda-unpack). */
  relocatedFiles: number;
  /** Archive size in bytes. */
  size: number;
  sha256: string | null;
  warnings: string[];
  /** For the engine configuration: where it unpacks and how to run its python. */
  env: PythonEnvDescription;
}

/** Packs a conda environment: the conda-pack replacement. */
export async function packCondaEnvironment(options: PackCondaOptions): Promise<PackResult> {
  const common = await resolveCommon(options);
  const { signal } = options;
  if (options.destPrefix !== undefined && !path.posix.isAbsolute(options.destPrefix)) {
    throw new InvalidInputError(`destPrefix "${options.destPrefix}" must be an absolute path (where the environment will be unpacked)`, { code: "ERR_BAD_DEST_PREFIX" });
  }
  const env = await readCondaEnvironment(options.prefix, { ...options, ...(signal ? { signal } : {}) });
  await checkOutputOutside(env.prefix, options.output);
  const destPrefix = options.destPrefix?.replace(/\/+$/, "") || undefined;
  const warnings = [...env.warnings];
  const selected = selectEntries(env.entries, options.filters ?? []);

  // Pass 1: find which scanned files carry the prefix (the unpack script must list them).
  const scanned = await scanForPrefix(selected, env.prefix, signal, options.onProgress);
  const records: UnpackRecord[] = [];
  const items: ArchiveItem[] = [];
  let relocatedFiles = 0;
  const notes: LinkNotes = { outside: [], dangling: [] };
  for (const entry of selected) {
    const item = await itemFor(entry, env.prefix, options, notes);
    if (!item) continue;
    const rel = entry.relocation;
    if (entry.type === "file" && rel.kind === "placeholder") {
      item.load = () => relocatedContent(entry, rel.source, rel.placeholder, rel.mode, destPrefix);
      if (!destPrefix) records.push([entry.path, rel.placeholder, rel.mode]);
      relocatedFiles++;
    } else if (entry.type === "file" && scanned.has(entry.path)) {
      item.load = () => relocatedContent(entry, entry.absolute, env.prefix, "text", destPrefix);
      if (!destPrefix) records.push([entry.path, env.prefix, "text"]);
      relocatedFiles++;
    }
    items.push(item);
  }
  warnings.push(...linkWarnings(notes));
  if (!destPrefix) records.push(["bin/activate", env.prefix, "text"]);
  items.push(generated("bin/activate", activateScript(destPrefix ?? env.prefix), 0o644), generated("bin/deactivate", deactivateScript(), 0o644));
  if (!destPrefix) items.push(generated("bin/conda-unpack", condaUnpackScript(records), 0o755));
  return writeEnvironment(items, common, options, { kind: "conda", relocatedFiles, warnings });
}

// ---------------------------------------------------------------------------------------

export interface CommonSettings {
  format: ArchiveFormat;
  level: number;
  threads: number;
  mtime: Date;
  arcroot: string;
}

/** Writes the items of a conda or venv environment and describes the result. */
export async function writeEnvironment(
  items: ArchiveItem[],
  common: CommonSettings,
  options: PackOptionsBase,
  info: { kind: "conda" | "venv"; relocatedFiles: number; warnings: string[] },
): Promise<PackResult> {
  const final = finishItems(items, common.arcroot);
  const result = await writeArchive(final, options.output, {
    format: common.format,
    level: common.level,
    threads: common.threads,
    mtime: common.mtime,
    force: Boolean(options.force),
    ...(options.signal ? { signal: options.signal } : {}),
    onProgress: (done, total) => options.onProgress?.({ phase: "write", done, total }),
  });
  const output = path.resolve(options.output);
  return {
    output,
    format: common.format,
    entries: final.length,
    relocatedFiles: info.relocatedFiles,
    size: result.size,
    sha256: result.sha256,
    warnings: info.warnings,
    env: describePythonEnv(output, info.kind, { alias: options.alias, arcroot: common.arcroot }),
  };
}

/** Validates what conda and venv packing share and checks the output. */
export async function resolveCommon(options: PackOptionsBase): Promise<CommonSettings> {
  if (!options.output) throw new InvalidInputError("no output path given", { code: "ERR_BAD_OUTPUT", hint: "pass output (--output)." });
  const format = options.format ? parseFormat(options.format) : (formatFromName(options.output) ?? "tar.gz");
  const level = options.compressLevel ?? 4;
  const kind = format === "tar.gz" || format === "zip" ? "gzip" : format === "tar.bz2" ? "bzip2" : format === "tar.xz" ? "xz" : format === "tar.zst" ? "zstd" : "none";
  const range = LEVELS[kind];
  if (!Number.isInteger(level) || level < range.min || level > range.max) {
    throw new InvalidInputError(`compression level ${level} is out of range for ${format}`, { code: "ERR_BAD_LEVEL", hint: `use ${range.min}..${range.max}.` });
  }
  let threads = options.threads ?? 1;
  if (threads === -1 || threads === 0) threads = (await import("node:os")).availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new InvalidInputError(`threads must be a whole number >= 1 (or -1 for every CPU), got ${threads}`, { code: "ERR_BAD_THREADS" });
  const arcroot = (options.arcroot ?? "").replace(/^\/+|\/+$/g, "");
  if (arcroot.split("/").some((s) => s === ".." || s === ".") || arcroot.includes("\\")) {
    throw new InvalidInputError(`arcroot "${options.arcroot}" must be a relative path without . or .. segments`, { code: "ERR_BAD_ARCROOT" });
  }
  const epoch = process.env.SOURCE_DATE_EPOCH;
  const mtime = options.mtime ?? (epoch && /^\d+$/.test(epoch) ? new Date(Number(epoch) * 1000) : new Date(Date.UTC(1980, 0, 1)));
  await checkOutput(options.output, options.force);
  return { format, level, threads, mtime, arcroot };
}

/**
 * Refuses an output inside the environment (the archive would overwrite or add one of its
 * files, and be packed into the next archive) or, worse, one that holds it (replacing that
 * directory would delete the environment). `prefix` is a real path.
 */
export async function checkOutputOutside(prefix: string, output: string): Promise<void> {
  const abs = path.resolve(output);
  const dir = await fs.realpath(path.dirname(abs)).catch(() => path.dirname(abs));
  const out = path.join(dir, path.basename(abs));
  if (isPathInside(prefix, out)) {
    throw new InvalidInputError(`the output ${output} is inside the environment ${prefix}: writing it there would overwrite or add a file of the environment.`, { code: "ERR_OUTPUT_IN_ENV", hint: "write it outside the environment (--output <path>)." });
  }
  if (isPathInside(out, prefix)) {
    throw new InvalidInputError(`the output ${output} contains the environment ${prefix}: replacing it would delete the environment.`, { code: "ERR_OUTPUT_IN_ENV", hint: "choose an output path outside it (--output <path>)." });
  }
}

/** Applies the filters to files and links; keeps directories that still hold something or were empty. */
export function selectEntries(entries: readonly EnvEntry[], filters: readonly PathFilter[]): EnvEntry[] {
  if (filters.length === 0) return [...entries];
  const leaves = entries.filter((e) => e.type !== "directory").map((e) => e.path);
  const keptLeaves = new Set(applyPathFilters(leaves, filters));
  const emptyDirs = entries.filter((e) => e.type === "directory" && !entries.some((o) => o.path.startsWith(`${e.path}/`))).map((e) => e.path);
  const keptEmpty = new Set(applyPathFilters(emptyDirs, filters));
  const neededDirs = new Set<string>();
  for (const p of [...keptLeaves, ...keptEmpty]) {
    for (let i = p.indexOf("/"); i >= 0; i = p.indexOf("/", i + 1)) neededDirs.add(p.slice(0, i));
  }
  return entries.filter((e) => (e.type === "directory" ? neededDirs.has(e.path) || keptEmpty.has(e.path) : keptLeaves.has(e.path)));
}

/** What packing noticed about links, summarised once in the warnings. */
export interface LinkNotes {
  outside: string[];
  dangling: string[];
}

export function linkWarnings(notes: LinkNotes): string[] {
  const out: string[] = [];
  const list = (l: string[]) => `${l.slice(0, 3).join(", ")}${l.length > 3 ? `, and ${l.length - 3} more` : ""}`;
  if (notes.outside.length > 0) {
    out.push(`${notes.outside.length} symlink(s) point outside the environment; they were kept as links (not followed) and only work where their targets exist: ${list(notes.outside)}`);
  }
  if (notes.dangling.length > 0) out.push(`${notes.dangling.length} dangling symlink(s) left out: ${list(notes.dangling)}`);
  return out;
}

/**
 * The archive item of an entry (content added by the caller when it must be rewritten).
 * Symlinks: kept as links unless `dereferenceSymlinks` (targets inside `root`) or
 * `followExternalSymlinks` (targets outside it) say to store the file they lead to; where
 * a link leads is judged by the kernel's resolution (realpath), not by its text.
 */
export async function itemFor(entry: EnvEntry, root: string, options: PackOptionsBase, notes: LinkNotes): Promise<ArchiveItem | null> {
  if (entry.type === "directory") return { name: entry.path, type: "directory", mode: 0o755 };
  if (entry.type === "file") return { name: entry.path, type: "file", mode: fileMode(entry.mode), source: entry.absolute, size: entry.size };
  const target = entry.linkTarget!;
  const real = await fs.realpath(fsPath(entry.absolute), { encoding: "buffer" }).then(decodeFileName, () => null);
  const outside = real === null ? symlinkInside(root, entry.path, target) === null : !isPathInside(root, real);
  if (options.dereferenceSymlinks || options.followExternalSymlinks) {
    const st = real === null ? null : await fs.stat(fsPath(real)).catch(() => null);
    if (!st && options.dereferenceSymlinks) {
      notes.dangling.push(entry.path);
      return null;
    }
    if (st?.isFile()) {
      if (outside ? options.followExternalSymlinks : options.dereferenceSymlinks) return { name: entry.path, type: "file", mode: fileMode(st.mode), source: real!, size: st.size };
      if (outside) {
        throw new InvalidInputError(
          `${path.join(root, entry.path)} is a symlink to ${showFileName(real!)}, outside the environment; dereferencing it would put that file in the archive.`,
          { code: "ERR_SYMLINK_OUTSIDE", hint: "pass --follow-external-symlinks (followExternalSymlinks) to store it anyway, or remove the link." },
        );
      }
    }
    // A link to a directory stays a link: its contents are packed where they live.
  }
  // An absolute link into the environment becomes relative, so it survives the move.
  if (path.isAbsolute(target)) {
    const inside = symlinkInside(root, entry.path, target);
    if (inside !== null && !outside) {
      const rel = path.posix.relative(path.posix.dirname(entry.path), inside) || ".";
      return { name: entry.path, type: "symlink", mode: 0o777, linkTarget: rel };
    }
  }
  if (outside) notes.outside.push(`${showFileName(entry.path)} -> ${showFileName(target)}`);
  return { name: entry.path, type: "symlink", mode: 0o777, linkTarget: target };
}

/** 0755 when any execute bit is set, else 0644. */
export function fileMode(mode: number): number {
  return mode & 0o111 ? 0o755 : 0o644;
}

/** Adds generated items (replacing same-named ones), the arcroot, parent directories, and sorts. */
export function finishItems(items: ArchiveItem[], arcroot: string): ArchiveItem[] {
  const byName = new Map<string, ArchiveItem>();
  for (const item of items) byName.set(item.name, item);
  const dirs = new Set<string>();
  for (const name of byName.keys()) {
    for (let i = name.indexOf("/"); i >= 0; i = name.indexOf("/", i + 1)) dirs.add(name.slice(0, i));
  }
  for (const d of dirs) if (!byName.has(d)) byName.set(d, { name: d, type: "directory", mode: 0o755 });
  const out: ArchiveItem[] = [];
  if (arcroot) {
    const parts = arcroot.split("/");
    for (let i = 1; i <= parts.length; i++) out.push({ name: parts.slice(0, i).join("/"), type: "directory", mode: 0o755 });
  }
  for (const item of sortByPath([...byName.values()], (i) => i.name)) {
    out.push(arcroot ? { ...item, name: `${arcroot}/${item.name}` } : item);
  }
  return out;
}

export function generated(name: string, content: string | Buffer, mode: number): ArchiveItem {
  const data = Buffer.isBuffer(content) ? content : Buffer.from(content);
  return { name, type: "file", mode, size: data.length, load: async () => data };
}

async function relocatedContent(entry: EnvEntry, source: string, placeholder: string, mode: FileMode, destPrefix: string | undefined): Promise<Buffer> {
  let data = await readSource(source, entry.path);
  if (destPrefix !== undefined) return relocate(data, placeholder, destPrefix, mode, entry.path);
  if (mode === "text" && entry.path.startsWith("bin/")) data = rewriteShebang(data, placeholder) ?? data;
  return data;
}

const SCAN_CONCURRENCY = 16;
const SCAN_WHOLE_BELOW = 8 * 1024 * 1024;

/**
 * Big files are read whole only when their first 8 KiB has no NUL: a large binary (a
 * shared library) is never text, and reading it all would only cost memory.
 */
async function containsPrefixAsText(entry: EnvEntry, needle: Buffer): Promise<boolean> {
  if (entry.size > SCAN_WHOLE_BELOW) {
    const fh = await fs.open(fsPath(entry.absolute), "r").catch((err: unknown) => {
      throw sourceError(entry.absolute, entry.path, err);
    });
    try {
      const head = Buffer.alloc(8192);
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      if (head.subarray(0, bytesRead).includes(0)) return false;
    } finally {
      await fh.close();
    }
  }
  const data = await readSource(entry.absolute, entry.path);
  return data.includes(needle) && isText(data);
}

/** Text files of unknown origin that contain the prefix. */
async function scanForPrefix(
  entries: readonly EnvEntry[],
  prefix: string,
  signal: AbortSignal | undefined,
  onProgress: PackOptionsBase["onProgress"],
): Promise<Set<string>> {
  const todo = entries.filter((e) => e.type === "file" && e.relocation.kind === "scan");
  const needle = Buffer.from(prefix);
  const found = new Set<string>();
  let done = 0;
  await forEachLimit(
    todo,
    SCAN_CONCURRENCY,
    async (entry) => {
      if (await containsPrefixAsText(entry, needle)) found.add(entry.path);
      onProgress?.({ phase: "scan", done: ++done, total: todo.length });
    },
    { signal },
  );
  return found;
}


