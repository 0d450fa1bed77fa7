import { execFile } from "node:child_process";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ClusterPackError, InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { isPathInside } from "@cluster-pack/io";
import { canonicalizeName } from "@cluster-pack/packaging";

/** An installed Python environment, read from its files (no `pip list`). */
export interface InstalledEnvironment {
  /** Absolute, real path of the environment's prefix. */
  prefix: string;
  kind: "venv" | "conda" | "system";
  /** Basename of the prefix (cluster-pack names archives after it). */
  name: string;
  /** The environment's interpreter (`<prefix>/bin/python`), or the one that was asked. */
  python: string;
  /** Full version "3.11.7" when known. */
  pythonVersion: string;
  /** The environment's own site-packages directories (not the base interpreter's). */
  sitePackages: string[];
  /** Set when the probed interpreter is a running PEX (the `PEX` variable it exports): its path. */
  pex?: string;
}

/** One installed distribution (a `*.dist-info` or `*.egg-info`). */
export interface InstalledDistribution {
  name: string;
  /** PEP 503 normalised name. */
  normalizedName: string;
  version: string;
  /** The `*.dist-info` / `*.egg-info` path. */
  metadataPath: string;
  format: "dist-info" | "egg-info";
  /** Content of INSTALLER ("pip", "uv", "conda"...), when present. */
  installer?: string;
  /** Parsed direct_url.json (PEP 610), when present. */
  directUrl?: DirectUrl;
  /** Top-level import names from top_level.txt, when present. */
  topLevel: string[];
  /** Set for editable installs (develop mode): the code lives outside site-packages. */
  editable?: EditableInstall;
}

export interface DirectUrl {
  url: string;
  dir_info?: { editable?: boolean };
  vcs_info?: { vcs: string; commit_id: string; requested_revision?: string };
  archive_info?: { hash?: string; hashes?: Record<string, string> };
}

/** Where an editable install's code is and which top-level packages it provides. */
export interface EditableInstall {
  /** The project directory (PEP 610 url of an editable, or the egg-link target). */
  projectDir: string;
  /** How the install was recognised. */
  via: "pep660" | "egg-link" | "pth";
  /** Directories the install puts on sys.path (from its .pth), e.g. `<project>/src`. */
  roots: string[];
  /** Top-level regular packages: import name -> absolute directory. Namespace packages are skipped. */
  packages: Record<string, string>;
}

export interface FindEnvironmentOptions {
  /** A venv or conda prefix. Default: $VIRTUAL_ENV, else $CONDA_PREFIX. */
  path?: string;
  /** An interpreter to ask for its environment (one subprocess) instead of `path`. */
  python?: string;
  /** Environment variables to read VIRTUAL_ENV / CONDA_PREFIX from (default process.env). */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/**
 * Finds the environment to pack: a given prefix, a given interpreter, or the active venv /
 * conda env. Reads pyvenv.cfg or conda-meta; asks the interpreter only when neither says
 * enough (one subprocess).
 */
export async function findEnvironment(options: FindEnvironmentOptions = {}): Promise<InstalledEnvironment> {
  throwIfAborted(options.signal);
  if (options.python) return probeInterpreter(options.python, options.signal);
  const env = options.env ?? process.env;
  const given = options.path ?? env.VIRTUAL_ENV ?? env.CONDA_PREFIX;
  if (!given) {
    throw new InvalidInputError(
      "No Python environment found: neither VIRTUAL_ENV nor CONDA_PREFIX is set and no environment was given.",
      { code: "ERR_NO_ENVIRONMENT", hint: "activate a virtualenv or conda env, or pass `env` (a venv/conda prefix), `python` (an interpreter), or requirements.", optionNames: ["env", "python"] },
    );
  }
  let prefix: string;
  try {
    prefix = await fsp.realpath(path.resolve(given));
  } catch (err) {
    throw new InvalidInputError(`Python environment ${given} does not exist.`, {
      code: "ERR_NO_ENVIRONMENT",
      hint: "pass the prefix of a venv or conda env.",
      cause: err,
    });
  }
  const cfg = await readText(path.join(prefix, "pyvenv.cfg"));
  if (cfg !== undefined) return venvFromConfig(prefix, cfg, options.signal);
  if (await isDirectory(path.join(prefix, "conda-meta"))) return condaEnvironment(prefix, options.signal);
  const python = path.join(prefix, "bin", "python");
  if (await exists(python)) return probeInterpreter(python, options.signal);
  throw new InvalidInputError(
    `${prefix} is not a Python environment: it has no pyvenv.cfg, no conda-meta/ and no bin/python.`,
    { code: "ERR_NO_ENVIRONMENT", hint: "pass the prefix of a venv or conda env." },
  );
}

/** Reads every `*.dist-info` and `*.egg-info` of the environment, plus `.egg-link` develop installs. */
export async function readInstalledDistributions(
  env: InstalledEnvironment | string[],
  options: { signal?: AbortSignal } = {},
): Promise<InstalledDistribution[]> {
  const dirs = Array.isArray(env) ? env : env.sitePackages;
  const byName = new Map<string, InstalledDistribution>();
  for (const site of dirs) {
    throwIfAborted(options.signal);
    const names = (await fsp.readdir(site).catch(() => [] as string[])).sort();
    const pth = await readPthPaths(site, names);
    for (const entry of names) {
      const full = path.join(site, entry);
      let dist: InstalledDistribution | undefined;
      if (entry.endsWith(".dist-info")) dist = await readDistInfo(full, pth);
      else if (entry.endsWith(".egg-info")) dist = await readEggInfo(full);
      else if (entry.endsWith(".egg-link")) dist = await readEggLink(full);
      // The first site directory wins, like sys.path order.
      if (dist && !byName.has(dist.normalizedName)) byName.set(dist.normalizedName, dist);
    }
    // Legacy `setup.py develop` / `conda develop`: a .pth line pointing at a project that
    // carries its own *.egg-info, with no egg-link in site-packages.
    for (const root of pth.outside) {
      for (const entry of (await fsp.readdir(root).catch(() => [] as string[])).sort()) {
        if (!entry.endsWith(".egg-info")) continue;
        const dist = await readEggInfo(path.join(root, entry));
        if (!dist || byName.has(dist.normalizedName)) continue;
        dist.editable = await describeEditable(projectDirOf(root), "pth", [root], dist.topLevel);
        byName.set(dist.normalizedName, dist);
      }
    }
  }
  return [...byName.values()].sort((a, b) => (a.normalizedName < b.normalizedName ? -1 : a.normalizedName > b.normalizedName ? 1 : 0));
}

/**
 * The editable installs of an environment as cluster-pack returns them: top-level package
 * import name -> its source directory (flat and src/ layouts; namespace packages skipped).
 */
export async function getEditableRequirements(
  env?: InstalledEnvironment | FindEnvironmentOptions,
  options: { signal?: AbortSignal } = {},
): Promise<Record<string, string>> {
  const resolved = env && "sitePackages" in env ? env : await findEnvironment({ ...env, signal: options.signal ?? env?.signal });
  const out: Record<string, string> = {};
  for (const dist of await readInstalledDistributions(resolved, options)) {
    if (!dist.editable) continue;
    for (const [name, dir] of Object.entries(dist.editable.packages)) out[name] = dir;
  }
  return out;
}

// ---------------------------------------------------------------------------------------

async function venvFromConfig(prefix: string, cfg: string, signal?: AbortSignal): Promise<InstalledEnvironment> {
  const values = parseKeyValues(cfg);
  const sitePackages = await findSitePackages(prefix);
  const python = path.join(prefix, "bin", "python");
  const version = values.get("version_info") ?? values.get("version");
  if (!version || sitePackages.length === 0) {
    // uv/virtualenv variants or unusual layouts: the interpreter knows for sure.
    const probed = await probeInterpreter(python, signal);
    return { ...probed, prefix, kind: "venv", name: path.basename(prefix) };
  }
  return { prefix, kind: "venv", name: path.basename(prefix), python, pythonVersion: version.trim(), sitePackages };
}

async function condaEnvironment(prefix: string, signal?: AbortSignal): Promise<InstalledEnvironment> {
  const records = (await fsp.readdir(path.join(prefix, "conda-meta"))).filter((f) => /^python-\d[^-]*-.*\.json$/.test(f));
  const python = path.join(prefix, "bin", "python");
  const sitePackages = await findSitePackages(prefix);
  const match = records.length === 1 ? /^python-(\d[^-]*)-/.exec(records[0]!) : null;
  if (!match || sitePackages.length === 0) {
    if (!(await exists(python))) {
      throw new InvalidInputError(
        `Conda environment ${prefix} has no python package (conda-meta has ${records.length} python records).`,
        { code: "ERR_NO_ENVIRONMENT", hint: "install python in it or pass another environment." },
      );
    }
    const probed = await probeInterpreter(python, signal);
    return { ...probed, prefix, kind: "conda", name: path.basename(prefix) };
  }
  return { prefix, kind: "conda", name: path.basename(prefix), python, pythonVersion: match[1]!, sitePackages };
}

const PROBE = `import json, platform, sys, sysconfig
paths = []
for key in ("purelib", "platlib"):
    p = sysconfig.get_paths()[key]
    if p not in paths:
        paths.append(p)
print(json.dumps({"prefix": sys.prefix, "base_prefix": getattr(sys, "base_prefix", sys.prefix), "version": platform.python_version(), "site": paths, "conda": __import__("os").path.isdir(sys.prefix + "/conda-meta"), "pex": __import__("os").environ.get("PEX")}))`;

async function probeInterpreter(python: string, signal?: AbortSignal): Promise<InstalledEnvironment> {
  const stdout = await new Promise<string>((resolve, reject) => {
    // Without an inherited PEX: only a PEX interpreter itself sets it (see `pex` below).
    const { PEX: _inherited, ...env } = process.env;
    execFile(python, ["-I", "-c", PROBE], { env, signal, timeout: 60_000, maxBuffer: 1 << 20 }, (err, out, stderr) => {
      if (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === "ENOENT" || e.code === "EACCES") {
          reject(new InvalidInputError(`Python interpreter ${python} cannot be run (${e.code}).`, { code: "ERR_NO_ENVIRONMENT", cause: err, hint: "pass an existing interpreter or environment." }));
        } else {
          reject(new ClusterPackError("ERR_PYTHON_PROBE", `Asking ${python} for its environment failed: ${String(stderr).trim() || e.message}`, { cause: err }));
        }
      } else resolve(String(out));
    });
  });
  const info = JSON.parse(stdout) as { prefix: string; base_prefix: string; version: string; site: string[]; conda: boolean; pex?: string | null };
  const prefix = await fsp.realpath(info.prefix).catch(() => info.prefix);
  const kind = info.conda ? "conda" : info.prefix !== info.base_prefix ? "venv" : "system";
  const sitePackages: string[] = [];
  for (const s of info.site) if (await isDirectory(s)) sitePackages.push(s);
  // A PEX exports its own path to the code it runs: probing one tells it apart from python.
  return { prefix, kind, name: path.basename(prefix), python, pythonVersion: info.version, sitePackages, ...(typeof info.pex === "string" && info.pex ? { pex: info.pex } : {}) };
}

async function findSitePackages(prefix: string): Promise<string[]> {
  const out: string[] = [];
  for (const lib of ["lib", "lib64"]) {
    const libDir = path.join(prefix, lib);
    for (const entry of (await fsp.readdir(libDir).catch(() => [] as string[])).sort()) {
      if (!/^(python|pypy)\d/.test(entry)) continue;
      const site = path.join(libDir, entry, "site-packages");
      if (!(await isDirectory(site))) continue;
      const real = await fsp.realpath(site);
      if (!out.includes(real)) out.push(real);
    }
  }
  return out;
}

interface PthInfo {
  /** Absolute directories named by .pth lines that lie outside site-packages. */
  outside: string[];
  /** setuptools' strict/compat editable finders: import name -> path (from MAPPING). */
  finderMappings: Record<string, string>;
}

async function readPthPaths(site: string, names: string[]): Promise<PthInfo> {
  const outside: string[] = [];
  const finderMappings: Record<string, string> = {};
  for (const entry of names) {
    if (entry.endsWith(".pth")) {
      const text = (await readText(path.join(site, entry))) ?? "";
      for (const raw of text.split(/\r?\n/)) {
        const line = raw.trim();
        if (!line || line.startsWith("#") || /^import[\s\t]/.test(line)) continue;
        const dir = path.resolve(site, line);
        if (isPathInside(site, dir) || !(await isDirectory(dir))) continue;
        const real = await fsp.realpath(dir);
        if (!outside.includes(real)) outside.push(real);
      }
    } else if (/^__editable___.*_finder\.py$/.test(entry)) {
      Object.assign(finderMappings, parseFinderMapping((await readText(path.join(site, entry))) ?? ""));
    }
  }
  return { outside, finderMappings };
}

/** setuptools writes `MAPPING: dict[str, str] = {'pkg': '/abs/src/pkg'}` into its editable finder. */
function parseFinderMapping(source: string): Record<string, string> {
  const block = /^MAPPING\b[^=]*=\s*(\{[^}]*\})/m.exec(source);
  const out: Record<string, string> = {};
  if (!block) return out;
  const pair = /(['"])((?:\\.|(?!\1).)*)\1\s*:\s*(['"])((?:\\.|(?!\3).)*)\3/g;
  for (let m = pair.exec(block[1]!); m; m = pair.exec(block[1]!)) out[unescapePy(m[2]!)] = unescapePy(m[4]!);
  return out;
}

async function readDistInfo(dir: string, pth: PthInfo): Promise<InstalledDistribution | undefined> {
  const metadata = await readText(path.join(dir, "METADATA"));
  const fromName = splitMetadataDirName(path.basename(dir, ".dist-info"));
  const headers = metadata !== undefined ? parseHeaders(metadata) : new Map<string, string>();
  const name = headers.get("name") ?? fromName.name;
  const version = headers.get("version") ?? fromName.version;
  if (!name || !version) return undefined;
  const installer = (await readText(path.join(dir, "INSTALLER")))?.trim() || undefined;
  const topLevel = splitLines(await readText(path.join(dir, "top_level.txt")));
  let directUrl: DirectUrl | undefined;
  const du = await readText(path.join(dir, "direct_url.json"));
  if (du !== undefined) {
    try {
      directUrl = JSON.parse(du) as DirectUrl;
    } catch (err) {
      throw new InvalidInputError(`${path.join(dir, "direct_url.json")} is not valid JSON.`, { cause: err, hint: `reinstall ${name} (pip install --force-reinstall).` });
    }
  }
  const dist: InstalledDistribution = { name, normalizedName: canonicalizeName(name), version, metadataPath: dir, format: "dist-info", topLevel };
  if (installer) dist.installer = installer;
  if (directUrl) dist.directUrl = directUrl;
  if (directUrl?.dir_info?.editable && directUrl.url.startsWith("file:")) {
    const projectDir = fileURLToPath(directUrl.url);
    const mapped = Object.entries(pth.finderMappings).filter(([, p]) => isPathInside(projectDir, p));
    if (mapped.length > 0) {
      // Strict/compat editable: setuptools maps each package explicitly, trust that.
      const packages: Record<string, string> = {};
      for (const [pkg, p] of mapped) if (!pkg.includes(".") && (await exists(path.join(p, "__init__.py")))) packages[pkg] = p;
      dist.editable = { projectDir, via: "pep660", roots: [...new Set(mapped.map(([, p]) => path.dirname(p)))], packages };
    } else {
      const roots = pth.outside.filter((r) => isPathInside(projectDir, r));
      dist.editable = await describeEditable(projectDir, "pep660", roots, topLevel);
    }
  }
  return dist;
}

async function readEggInfo(p: string): Promise<InstalledDistribution | undefined> {
  const stat = await fsp.stat(p).catch(() => undefined);
  if (!stat) return undefined;
  const pkgInfo = stat.isDirectory() ? await readText(path.join(p, "PKG-INFO")) : await readText(p);
  const fromName = splitMetadataDirName(path.basename(p, ".egg-info"));
  const headers = pkgInfo !== undefined ? parseHeaders(pkgInfo) : new Map<string, string>();
  const name = headers.get("name") ?? fromName.name;
  const version = headers.get("version") ?? fromName.version;
  if (!name || !version) return undefined;
  const topLevel = stat.isDirectory() ? splitLines(await readText(path.join(p, "top_level.txt"))) : [];
  const installer = stat.isDirectory() ? (await readText(path.join(p, "INSTALLER")))?.trim() || undefined : undefined;
  const dist: InstalledDistribution = { name, normalizedName: canonicalizeName(name), version, metadataPath: p, format: "egg-info", topLevel };
  if (installer) dist.installer = installer;
  return dist;
}

async function readEggLink(file: string): Promise<InstalledDistribution | undefined> {
  const target = splitLines(await readText(file))[0];
  if (!target) return undefined;
  const root = path.resolve(path.dirname(file), target);
  const eggName = path.basename(file, ".egg-link");
  let dist: InstalledDistribution | undefined;
  for (const entry of (await fsp.readdir(root).catch(() => [] as string[])).sort()) {
    if (entry.endsWith(".egg-info") && canonicalizeName(splitMetadataDirName(entry.slice(0, -9)).name) === canonicalizeName(eggName)) {
      dist = await readEggInfo(path.join(root, entry));
      break;
    }
  }
  if (!dist) return undefined;
  dist.editable = await describeEditable(projectDirOf(root), "egg-link", [root], dist.topLevel);
  return dist;
}

async function describeEditable(projectDir: string, via: EditableInstall["via"], roots: string[], topLevel: string[]): Promise<EditableInstall> {
  let searchRoots = roots;
  if (searchRoots.length === 0) {
    // No .pth told us: use the two layouts cluster-pack knows, src/ first.
    searchRoots = [];
    for (const r of [path.join(projectDir, "src"), projectDir]) if (await isDirectory(r)) searchRoots.push(r);
  }
  const packages: Record<string, string> = {};
  for (const root of searchRoots) {
    for (const entry of (await fsp.readdir(root, { withFileTypes: true }).catch(() => [])).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (!entry.isDirectory() || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(entry.name) || entry.name in packages) continue;
      if (topLevel.length > 0 && !topLevel.includes(entry.name)) continue;
      // A directory without __init__.py is a namespace package (or not a package): skipped, as cluster-pack does.
      if (await exists(path.join(root, entry.name, "__init__.py"))) packages[entry.name] = path.join(root, entry.name);
    }
  }
  return { projectDir, via, roots: searchRoots, packages };
}

/** `<project>/src` -> `<project>`; any other root is the project itself. */
function projectDirOf(root: string): string {
  return path.basename(root) === "src" ? path.dirname(root) : root;
}

function splitMetadataDirName(stem: string): { name: string; version: string } {
  // "python_dateutil-2.9.0.post0" or "Babel-2.10.3" or "foo-1.0-py3.11"
  const parts = stem.split("-");
  return { name: parts[0] ?? "", version: parts[1] ?? "" };
}

/** RFC 822-style headers of METADATA / PKG-INFO, up to the first blank line (keys lowercased, first wins). */
export function parseHeaders(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    if (line === "") break;
    const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
    if (m && !out.has(m[1]!.toLowerCase())) out.set(m[1]!.toLowerCase(), m[2]!.trim());
  }
  return out;
}

function parseKeyValues(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf("=");
    if (i > 0) out.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return out;
}

function unescapePy(s: string): string {
  return s.replace(/\\(.)/g, "$1");
}

function splitLines(text: string | undefined): string[] {
  return (text ?? "")
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

async function readText(p: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(p, "utf8");
  } catch {
    return undefined;
  }
}

async function exists(p: string): Promise<boolean> {
  return fsp.access(p).then(
    () => true,
    () => false,
  );
}

async function isDirectory(p: string): Promise<boolean> {
  return fsp.stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
}
