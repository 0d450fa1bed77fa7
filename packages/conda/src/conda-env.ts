import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { forEachLimit, fsPath } from "@cluster-pack/io";
import { replaceBinary, replaceText, type FileMode } from "./relocate";
import { walkTree, type EnvEntry, type Relocation } from "./walk";
import { checkEditableInstalls, findEditableInstalls, type EditableInstall } from "./editable";

/** One `conda-meta/<name>-<version>-<build>.json` record, the fields we use. */
export interface CondaPackageRecord {
  name: string;
  version: string;
  build: string;
  /** The record file, relative to the prefix. */
  recordFile: string;
  /** Installed paths, relative to the prefix. */
  files: string[];
  /** The package's extracted directory in the package cache, when it still exists. */
  cacheDir: string | null;
  noarchPython: boolean;
}

export interface CondaEnvironment {
  /** Absolute, symlinks resolved. */
  prefix: string;
  /** `X.Y` of the environment's python package, when it has one. */
  pythonVersion: string | null;
  packages: CondaPackageRecord[];
  /** Every entry of the environment, sorted, with how to relocate it. */
  entries: EnvEntry[];
  /** Managed files listed in a record but absent from disk. */
  missingFiles: string[];
  /** Packages whose extracted package-cache directory is gone. */
  uncachedPackages: string[];
  editableInstalls: EditableInstall[];
  warnings: string[];
}

export interface ReadCondaEnvironmentOptions {
  /** Pack even when managed files are missing (they are left out). Default false. */
  ignoreMissingFiles?: boolean;
  /** Pack even with editable installs (their code stays outside the archive). Default false. */
  ignoreEditablePackages?: boolean;
  /** Package caches to search when a record has no `link.source`; `CONDA_PKGS_DIRS` and the usual places are searched too. */
  packageCacheDirs?: string[];
  signal?: AbortSignal;
}

const DEFAULT_PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3";

/**
 * Reads a conda (or pixi/rattler) environment: its records, which files are managed and
 * how each must be relocated, what is unmanaged, missing, uncached or editable. Nothing
 * is written; the package cache is only read.
 */
export async function readCondaEnvironment(prefixIn: string, options: ReadCondaEnvironmentOptions = {}): Promise<CondaEnvironment> {
  const { signal } = options;
  const prefix = await realDir(prefixIn);
  const metaDir = path.join(prefix, "conda-meta");
  const metaStat = await fs.stat(metaDir).catch(() => null);
  if (!metaStat?.isDirectory()) {
    throw new InvalidInputError(
      `${prefixIn} is not a conda environment: it has no conda-meta/ directory`,
      { code: "ERR_NOT_A_CONDA_ENV", hint: `pass the environment's prefix (e.g. $CONDA_PREFIX), or use venv packing for a virtualenv.` },
    );
  }
  const warnings: string[] = [];
  const recordFiles = (await fs.readdir(metaDir)).filter((f) => f.endsWith(".json")).sort();
  const rawRecords = await Promise.all(recordFiles.map((f) => readRecord(path.join(metaDir, f), f)));
  const pythons = rawRecords.filter((r) => r.name === "python");
  if (pythons.length > 1) {
    throw new InvalidInputError(
      `${prefixIn}: conda-meta has ${pythons.length} records for python (${pythons.map((p) => p.recordFile).join(", ")})`,
      { code: "ERR_CORRUPT_ENV", hint: "remove the stale one and retry." },
    );
  }
  const pythonVersion = pythons[0] ? (/^(\d+\.\d+)/.exec(pythons[0].version)?.[1] ?? null) : null;
  const cacheDirs = candidateCacheDirs(prefix, options.packageCacheDirs);

  const entries = await walkTree(prefix, signal);
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const packages: CondaPackageRecord[] = [];
  const missingFiles: string[] = [];
  const uncachedPackages: string[] = [];

  for (const raw of rawRecords) {
    throwIfAborted(signal);
    const cacheDir = await findCacheDir(raw, cacheDirs);
    const dist = `${raw.name}-${raw.version}-${raw.build}`;
    if (!cacheDir) uncachedPackages.push(dist);
    const noarchPython = raw.noarchPython;
    if (noarchPython && !pythonVersion) {
      throw new InvalidInputError(`${prefixIn}: ${dist} is a noarch: python package but the environment has no python record`, {
        code: "ERR_CORRUPT_ENV",
        hint: "install python in it.",
      });
    }
    const remap = (p: string) => (noarchPython ? remapNoarch(p, pythonVersion!) : p);
    const info = raw.pathsData ?? (cacheDir ? await readCachePathInfo(cacheDir, remap) : null);
    for (const file of raw.files) {
      const entry = byPath.get(file);
      if (!entry) {
        missingFiles.push(file);
        continue;
      }
      if (entry.type !== "file") continue;
      const fileInfo = info?.get(file);
      if (!fileInfo || fileInfo.generated) {
        // Generated at link time (entry points, .pyc) or no metadata: look inside.
        entry.relocation = { kind: "scan" };
      } else if (fileInfo.placeholder) {
        const cached = cacheDir ? await cacheCopy(cacheDir, file, pythonVersion, noarchPython) : null;
        entry.relocation = cached
          ? { kind: "placeholder", placeholder: fileInfo.placeholder, mode: fileInfo.mode, source: cached }
          : { kind: "placeholder", placeholder: prefix, mode: fileInfo.mode, source: entry.absolute };
      } else {
        entry.relocation = { kind: "none" };
      }
    }
    packages.push({ name: raw.name, version: raw.version, build: raw.build, recordFile: raw.recordFile, files: raw.files, cacheDir, noarchPython });
  }

  if (missingFiles.length > 0) {
    const msg = `${missingFiles.length} file(s) listed in conda-meta are missing from ${prefix}: ${missingFiles.slice(0, 5).join(", ")}${missingFiles.length > 5 ? ", ..." : ""}`;
    if (!options.ignoreMissingFiles) {
      throw new InvalidInputError(msg, {
        code: "ERR_MISSING_FILES",
        hint: "reinstall the packages that own them, or pass ignoreMissingFiles (--ignore-missing-files) to pack without them.",
      });
    }
    warnings.push(msg);
  }
  if (uncachedPackages.length > 0) {
    warnings.push(
      `${uncachedPackages.length} package(s) are not in any package cache (${uncachedPackages.slice(0, 5).join(", ")}): their files are packed from the environment and text files are scanned for the prefix`,
    );
  }
  const diverged = await verifyCacheCopies(entries, prefix, signal);
  if (diverged.length > 0) {
    warnings.push(
      `${diverged.length} file(s) differ from their package-cache copy (edited after install, or a modified cache): packed from the environment, relocatable only to prefixes no longer than ${prefix.length} characters in binary files: ${diverged.slice(0, 5).join(", ")}${diverged.length > 5 ? ", ..." : ""}`,
    );
  }
  const editableInstalls = await findEditableInstalls(prefix, entries);
  checkEditableInstalls(prefix, editableInstalls, Boolean(options.ignoreEditablePackages), "environment", warnings);
  return { prefix, pythonVersion, packages, entries, missingFiles, uncachedPackages, editableInstalls, warnings };
}

/** `noarch: python` packages ship `site-packages/` and `python-scripts/`; conda links them here. */
export function remapNoarch(p: string, pythonVersion: string): string {
  if (p.startsWith("site-packages/")) return `lib/python${pythonVersion}/${p}`;
  if (p.startsWith("python-scripts/")) return `bin/${p.slice("python-scripts/".length)}`;
  return p;
}

// ---------------------------------------------------------------------------------------

interface RawRecord {
  name: string;
  version: string;
  build: string;
  recordFile: string;
  files: string[];
  linkSource: string | null;
  noarchPython: boolean;
  pathsData: Map<string, PathInfo> | null;
}

interface PathInfo {
  placeholder: string | null;
  mode: FileMode;
  /** Created at link time rather than copied from the package (entry points, .pyc). */
  generated: boolean;
}

async function realDir(p: string): Promise<string> {
  try {
    return await fs.realpath(path.resolve(p));
  } catch (err) {
    throw new InvalidInputError(`${p} does not exist`, { cause: err, code: "ERR_NOT_A_CONDA_ENV", hint: "pass the path of an environment." });
  }
}

async function readRecord(file: string, name: string): Promise<RawRecord> {
  let data: unknown;
  try {
    data = JSON.parse(await fs.readFile(file, "utf8"));
  } catch (err) {
    throw new InvalidInputError(
      `${file} is not valid JSON (${(err as Error).message}); the environment's record is corrupted`,
      { cause: err, code: "ERR_CORRUPT_RECORD", hint: "reinstall that package (or remove the file if the package is gone)." },
    );
  }
  const bad = (what: string) =>
    new InvalidInputError(`${file}: ${what}; the record is corrupted`, { code: "ERR_CORRUPT_RECORD", hint: "reinstall that package." });
  if (typeof data !== "object" || data === null || Array.isArray(data)) throw bad("not a JSON object");
  const r = data as Record<string, unknown>;
  if (typeof r.name !== "string" || typeof r.version !== "string") throw bad("missing name or version");
  const files = r.files ?? [];
  if (!Array.isArray(files) || files.some((f) => typeof f !== "string" || !isSafeRelative(f))) throw bad("`files` must be a list of relative paths inside the environment");
  const link = r.link as { source?: unknown } | null | undefined;
  const linkSource =
    typeof link?.source === "string" ? link.source : typeof r.extracted_package_dir === "string" ? r.extracted_package_dir : null;
  const noarch = r.noarch as unknown;
  const noarchPython =
    noarch === "python" || (typeof noarch === "object" && noarch !== null && (noarch as { type?: unknown }).type === "python") || r.package_type === "noarch_python";
  let pathsData: Map<string, PathInfo> | null = null;
  const pd = r.paths_data as { paths?: unknown } | undefined;
  if (pd && Array.isArray(pd.paths)) {
    pathsData = new Map();
    for (const p of pd.paths as Record<string, unknown>[]) {
      if (typeof p?._path !== "string" || !isSafeRelative(p._path)) throw bad("`paths_data.paths[]._path` must be a relative path inside the environment");
      pathsData.set(p._path, pathInfo(p));
    }
  }
  return {
    name: r.name,
    version: r.version,
    build: typeof r.build === "string" ? r.build : "",
    recordFile: `conda-meta/${name}`,
    files: files as string[],
    linkSource,
    noarchPython,
    pathsData,
  };
}

function pathInfo(p: Record<string, unknown>): PathInfo {
  const type = typeof p.path_type === "string" ? p.path_type : "hardlink";
  return {
    placeholder: typeof p.prefix_placeholder === "string" && p.prefix_placeholder ? p.prefix_placeholder : null,
    mode: p.file_mode === "binary" ? "binary" : "text",
    generated: !["hardlink", "softlink", "directory"].includes(type),
  };
}

function isSafeRelative(p: string): boolean {
  return p !== "" && !p.startsWith("/") && !p.includes("\0") && !p.split("/").includes("..");
}

function candidateCacheDirs(prefix: string, extra: string[] | undefined): string[] {
  const dirs = [...(extra ?? [])];
  const env = process.env.CONDA_PKGS_DIRS;
  if (env) dirs.push(...env.split(/[,:]/).filter(Boolean));
  // <root>/envs/<name> -> <root>/pkgs; a root environment has pkgs/ inside.
  if (path.basename(path.dirname(prefix)) === "envs") dirs.push(path.join(path.dirname(path.dirname(prefix)), "pkgs"));
  dirs.push(path.join(prefix, "pkgs"));
  const home = os.homedir();
  dirs.push(path.join(home, ".conda", "pkgs"), path.join(home, ".cache", "rattler", "cache", "pkgs"));
  if (process.env.RATTLER_CACHE_DIR) dirs.push(path.join(process.env.RATTLER_CACHE_DIR, "pkgs"));
  return dirs;
}

async function findCacheDir(r: RawRecord, cacheDirs: string[]): Promise<string | null> {
  const candidates = r.linkSource ? [r.linkSource] : [];
  const dist = `${r.name}-${r.version}-${r.build}`;
  for (const d of cacheDirs) candidates.push(path.join(d, dist));
  for (const c of candidates) {
    const st = await fs.stat(path.join(c, "info")).catch(() => null);
    if (st?.isDirectory()) return c;
  }
  return null;
}

/** Path info from the package cache: `info/paths.json`, else `info/files` + `info/has_prefix`. */
async function readCachePathInfo(cacheDir: string, remap: (p: string) => string): Promise<Map<string, PathInfo>> {
  const map = new Map<string, PathInfo>();
  const pathsJson = path.join(cacheDir, "info", "paths.json");
  const text = await fs.readFile(pathsJson, "utf8").catch(() => null);
  if (text !== null) {
    let data: { paths?: unknown };
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new InvalidInputError(`${pathsJson} is not valid JSON (${(err as Error).message})`, {
        cause: err,
        code: "ERR_CORRUPT_RECORD",
        hint: `remove ${cacheDir} from the package cache and reinstall the package.`,
      });
    }
    if (!Array.isArray(data.paths)) throw new InvalidInputError(`${pathsJson} has no "paths" list`, { code: "ERR_CORRUPT_RECORD", hint: `remove ${cacheDir} from the package cache.` });
    for (const p of data.paths as Record<string, unknown>[]) {
      if (typeof p?._path === "string") map.set(remap(p._path), pathInfo(p));
    }
    return map;
  }
  const files = await fs.readFile(path.join(cacheDir, "info", "files"), "utf8").catch(() => "");
  for (const line of files.split("\n")) if (line.trim()) map.set(remap(line.trim()), { placeholder: null, mode: "text", generated: false });
  const hasPrefix = await fs.readFile(path.join(cacheDir, "info", "has_prefix"), "utf8").catch(() => "");
  for (const line of hasPrefix.split("\n")) {
    if (!line.trim()) continue;
    const parts = parseHasPrefixLine(line.trim());
    map.set(remap(parts.path), { placeholder: parts.placeholder, mode: parts.mode, generated: false });
  }
  return map;
}

/** `info/has_prefix` lines: `<placeholder> <text|binary> <path>` (fields may be quoted) or just `<path>`. */
export function parseHasPrefixLine(line: string): { placeholder: string; mode: FileMode; path: string } {
  const fields = line.match(/"[^"]*"|'[^']*'|\S+/g)?.map((f) => f.replace(/^(["'])(.*)\1$/, "$2")) ?? [];
  if (fields.length >= 3) return { placeholder: fields[0]!, mode: fields[1] === "binary" ? "binary" : "text", path: fields.slice(2).join(" ") };
  return { placeholder: DEFAULT_PLACEHOLDER, mode: "text", path: fields.join(" ") };
}

/**
 * A placeholder file is packed from the package cache only when the cache copy, linked
 * to this prefix, gives exactly the environment's file; otherwise (a file edited after
 * install, a cache rewritten in place by another tool) the environment's own file is
 * packed, with the prefix as its placeholder. Returns the paths that diverged.
 */
async function verifyCacheCopies(entries: EnvEntry[], prefix: string, signal: AbortSignal | undefined): Promise<string[]> {
  const todo = entries.filter((e) => e.relocation.kind === "placeholder" && e.relocation.source !== e.absolute);
  const diverged: string[] = [];
  await forEachLimit(
    todo,
    8,
    async (entry) => {
      const rel = entry.relocation as Extract<Relocation, { kind: "placeholder" }>;
      const [cached, actual] = await Promise.all([fs.readFile(fsPath(rel.source)), fs.readFile(fsPath(entry.absolute))]);
      let linked: Buffer | null;
      try {
        linked = rel.mode === "binary" ? replaceBinary(cached, rel.placeholder, prefix, entry.path) : replaceText(cached, rel.placeholder, prefix);
      } catch {
        linked = null;
      }
      if (!linked || !linked.equals(actual)) {
        entry.relocation = { kind: "placeholder", placeholder: prefix, mode: rel.mode, source: entry.absolute };
        diverged.push(entry.path);
      }
    },
    { signal },
  );
  return diverged.sort();
}

async function cacheCopy(cacheDir: string, installed: string, pythonVersion: string | null, noarchPython: boolean): Promise<string | null> {
  let rel = installed;
  if (noarchPython && pythonVersion) {
    const sp = `lib/python${pythonVersion}/site-packages/`;
    if (installed.startsWith(sp)) rel = `site-packages/${installed.slice(sp.length)}`;
    else if (installed.startsWith("bin/")) rel = `python-scripts/${installed.slice(4)}`;
  }
  const p = path.join(cacheDir, rel);
  const st = await fs.lstat(p).catch(() => null);
  return st?.isFile() ? p : null;
}

/**
 * Finds a named conda environment the way `conda activate NAME` would, without conda:
 * `envs/NAME` under $CONDA_ROOT, the installation of $CONDA_EXE, ~/.conda and the usual
 * installation directories, then the environments conda registered in
 * ~/.conda/environments.txt. `base` is the installation itself.
 */
export async function findCondaEnvironment(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (!name || name.includes("/")) throw new InvalidInputError(`"${name}" is not an environment name`, { code: "ERR_BAD_ENV_NAME", hint: "pass a prefix (--prefix) for a path." });
  const home = env.HOME || os.homedir();
  const roots: string[] = [];
  if (env.CONDA_ROOT) roots.push(env.CONDA_ROOT);
  if (env.CONDA_EXE) roots.push(path.dirname(path.dirname(env.CONDA_EXE)));
  if (env.CONDA_PREFIX) roots.push(path.basename(path.dirname(env.CONDA_PREFIX)) === "envs" ? path.dirname(path.dirname(env.CONDA_PREFIX)) : env.CONDA_PREFIX);
  for (const d of ["miniforge3", "mambaforge", "miniconda3", "anaconda3", "micromamba", ".pixi"]) roots.push(path.join(home, d));
  const candidates = name === "base" ? roots : [...roots.map((r) => path.join(r, "envs", name)), path.join(home, ".conda", "envs", name)];
  const registered = await fs.readFile(path.join(home, ".conda", "environments.txt"), "utf8").catch(() => "");
  for (const line of registered.split("\n")) if (line.trim() && path.basename(line.trim()) === name) candidates.push(line.trim());
  for (const c of candidates) {
    const st = await fs.stat(path.join(c, "conda-meta")).catch(() => null);
    if (st?.isDirectory()) return c;
  }
  throw new InvalidInputError(`no conda environment named "${name}" was found (looked in ${candidates.slice(0, 4).join(", ")}${candidates.length > 4 ? ", ..." : ""})`, {
    code: "ERR_NOT_A_CONDA_ENV",
    hint: "pass its path with --prefix.",
  });
}
