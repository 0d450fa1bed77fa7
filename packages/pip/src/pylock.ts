import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { IntegrityError, InvalidInputError, redactUrl } from "@cluster-pack/errors";
import type { DistributionCache } from "./cache";
import { placeFile } from "./cache";
import { writeFileAtomic } from "@cluster-pack/io";
import { Marker } from "./markers";
import { canonicalizeName } from "./names";
import type { Resolution } from "./resolver";
import type { DistributionFile } from "./simple-index";
import { parseSdistFilename, parseWheelFilename } from "./tags";
import { rankingFor, type TargetEnvironment } from "./target";
import { parseToml, stringifyToml } from "./toml";
import { Version } from "./version";

/** One artifact in a lock: a wheel or an sdist, by URL or local path, with its hashes. */
export interface LockedFile {
  name: string;
  url?: string;
  path?: string;
  size?: number;
  hashes: Record<string, string>;
}

/** One `[[packages]]` entry of a PEP 751 lock. */
export interface LockedPackage {
  name: string;
  version: string;
  index?: string;
  dependencies: string[];
  wheels: LockedFile[];
  sdist?: LockedFile;
}

/** A PEP 751 lock file for one target environment. */
export interface PyLock {
  lockVersion: string;
  /** Marker expressions of the environments the lock is valid for. */
  environments: string[];
  createdBy: string;
  packages: LockedPackage[];
}

/**
 * Builds a lock from a resolution: every file of each chosen version usable on the target,
 * each with a sha256 (computed through the cache when the index gave none). Deterministic:
 * packages and files sorted, no timestamps.
 */
export async function lockFromResolution(resolution: Resolution, cache: DistributionCache, options: { signal?: AbortSignal } = {}): Promise<PyLock> {
  const packages: LockedPackage[] = [];
  for (const p of resolution.packages) {
    const files = await Promise.all(
      p.candidate.files.map(async (f): Promise<LockedFile> => {
        let sha = f.hashes.sha256;
        if (!sha) sha = (await cache.fetch(f, { signal: options.signal })).sha256;
        const out: LockedFile = { name: f.filename, hashes: { sha256: sha } };
        if (f.url.startsWith("file:")) out.path = fileURLToPath(f.url);
        else out.url = redactUrl(f.url);
        if (f.size !== undefined) out.size = f.size;
        return out;
      }),
    );
    const pkg: LockedPackage = {
      name: p.name,
      version: p.version.toString(),
      dependencies: [...p.dependencies],
      wheels: files.filter((f) => f.name.endsWith(".whl")).sort((a, b) => (a.name < b.name ? -1 : 1)),
    };
    const sdist = files.find((f) => !f.name.endsWith(".whl"));
    if (sdist) pkg.sdist = sdist;
    const src = p.candidate.file.source;
    if (/^https?:/.test(src)) pkg.index = src;
    packages.push(pkg);
  }
  return { lockVersion: "1.0", environments: [targetMarker(resolution.target)], createdBy: "cluster-pack", packages };
}

/** Serialises a lock to pylock.toml text. */
export function formatPyLock(lock: PyLock): string {
  const doc: Record<string, unknown> = {
    "lock-version": lock.lockVersion,
    environments: lock.environments,
    "created-by": lock.createdBy,
    packages: lock.packages.map((p) => {
      const out: Record<string, unknown> = { name: p.name, version: p.version };
      if (p.index) out.index = p.index;
      if (p.dependencies.length) out.dependencies = p.dependencies.map((d) => ({ name: d }));
      const file = (f: LockedFile) => {
        const o: Record<string, unknown> = { name: f.name };
        if (f.url) o.url = f.url;
        if (f.path) o.path = f.path;
        if (f.size !== undefined) o.size = f.size;
        o.hashes = f.hashes;
        return o;
      };
      if (p.sdist) out.sdist = file(p.sdist);
      if (p.wheels.length) out.wheels = p.wheels.map(file);
      return out;
    }),
  };
  return stringifyToml(doc) + "\n";
}

/** Writes pylock.toml atomically. */
export async function writePyLock(file: string, lock: PyLock): Promise<void> {
  await writeFileAtomic(file, formatPyLock(lock));
}

/** Reads and validates a pylock.toml; errors name the file and the entry. */
export async function readPyLock(file: string): Promise<PyLock> {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(await fs.promises.readFile(file, "utf8"));
  } catch (err) {
    throw new InvalidInputError(`Cannot read lock file ${file}: ${(err as Error).message}`, { code: "ERR_LOCK_INVALID", cause: err });
  }
  const bad = (why: string): never => {
    throw new InvalidInputError(`${file}: ${why}`, { code: "ERR_LOCK_INVALID" });
  };
  const lv = doc["lock-version"];
  if (typeof lv !== "string" || !/^1\.\d+$/.test(lv)) bad(`lock-version ${JSON.stringify(lv)} is not supported; this reader understands 1.x (PEP 751).`);
  const pkgs = doc.packages;
  if (!Array.isArray(pkgs)) bad("no [[packages]] array");
  const fileOf = (f: unknown, where: string): LockedFile => {
    const o = f as Record<string, unknown>;
    if (!o || typeof o !== "object") bad(`${where} is not a table`);
    const hashes = o.hashes as Record<string, string> | undefined;
    if (!hashes || typeof hashes !== "object" || Object.keys(hashes).length === 0) bad(`${where} has no hashes; locks must pin every file by hash.`);
    const url = typeof o.url === "string" ? o.url : undefined;
    const p = typeof o.path === "string" ? o.path : undefined;
    if (!url && !p) bad(`${where} has neither url nor path`);
    let name = typeof o.name === "string" ? o.name : undefined;
    name ??= decodeURIComponent(new URL(url ?? pathToFileURL(p!).href).pathname.split("/").pop() ?? "");
    const out: LockedFile = { name, hashes: Object.fromEntries(Object.entries(hashes!).map(([k, v]) => [k.toLowerCase(), String(v).toLowerCase()])) };
    if (url) out.url = url;
    if (p) out.path = path.resolve(path.dirname(file), p);
    if (typeof o.size === "number") out.size = o.size;
    return out;
  };
  const packages = (pkgs as Array<Record<string, unknown>>).map((p, i): LockedPackage => {
    const where = `packages[${i}]`;
    if (typeof p.name !== "string" || typeof p.version !== "string") bad(`${where} needs name and version`);
    const out: LockedPackage = {
      name: canonicalizeName(p.name as string),
      version: p.version as string,
      dependencies: Array.isArray(p.dependencies) ? (p.dependencies as Array<{ name?: string }>).map((d) => String(d.name)) : [],
      wheels: Array.isArray(p.wheels) ? (p.wheels as unknown[]).map((w, j) => fileOf(w, `${where} (${p.name}) wheels[${j}]`)) : [],
    };
    if (p.sdist) out.sdist = fileOf(p.sdist, `${where} (${p.name}) sdist`);
    if (typeof p.index === "string") out.index = p.index;
    return out;
  });
  return { lockVersion: lv as string, environments: Array.isArray(doc.environments) ? (doc.environments as string[]) : [], createdBy: String(doc["created-by"] ?? ""), packages };
}

/** A locked file chosen for a target, ready to fetch. */
export interface LockedSelection {
  name: string;
  version: string;
  file: DistributionFile;
}

/**
 * Picks, without any resolution, the best locked file of every package for `target`: the
 * best-ranked wheel, else the sdist. Fails when the lock's environments exclude the target
 * or a package has no usable file.
 */
export function selectFromLock(lock: PyLock, target: TargetEnvironment, lockName = "pylock.toml"): LockedSelection[] {
  if (lock.environments.length && !lock.environments.some((e) => new Marker(e).evaluate(target.markers, "lock_file"))) {
    throw new InvalidInputError(`${lockName} is for ${lock.environments.join(" or ")}, which does not match the target ${target.description}; lock again for this target.`, { code: "ERR_LOCK_TARGET" });
  }
  const ranking = rankingFor(target);
  return lock.packages.map((p) => {
    const wheels = p.wheels
      .map((w) => ({ w, rank: ranking.bestRank(parseWheelFilename(w.name).tags) }))
      .filter((x) => x.rank >= 0)
      .sort((a, b) => a.rank - b.rank);
    const chosen = wheels[0]?.w ?? p.sdist;
    if (!chosen) throw new InvalidInputError(`${lockName}: ${p.name} ${p.version} has no wheel for ${target.description} and no sdist.`, { code: "ERR_LOCK_TARGET" });
    const url = chosen.url ?? pathToFileURL(chosen.path!).href;
    const version = Version.parse(p.version);
    const isWheel = chosen.name.endsWith(".whl");
    const parsed = isWheel ? parseWheelFilename(chosen.name) : null;
    if (!isWheel && !parseSdistFilename(chosen.name)) throw new InvalidInputError(`${lockName}: ${p.name}: ${chosen.name} is neither a wheel nor an sdist.`, { code: "ERR_LOCK_INVALID" });
    const file: DistributionFile = {
      filename: chosen.name,
      url,
      hashes: chosen.hashes,
      requiresPython: null,
      yanked: false,
      coreMetadata: false,
      source: redactUrl(url),
      kind: isWheel ? "wheel" : "sdist",
      name: p.name,
      version,
    };
    if (parsed) file.wheel = parsed;
    if (chosen.size !== undefined) file.size = chosen.size;
    return { name: p.name, version: p.version, file };
  });
}

/**
 * Installs from a lock with no resolution: fetches each selected file through the cache,
 * verifying the locked hash (a mismatch or a missing file is an IntegrityError naming it),
 * and copies the files into `dest` when given. Returns the local paths.
 */
export async function fetchLocked(selection: LockedSelection[], cache: DistributionCache, options: { dest?: string; signal?: AbortSignal } = {}): Promise<Array<LockedSelection & { path: string; sha256: string }>> {
  return Promise.all(
    selection.map(async (s) => {
      const allowed = Object.entries(s.file.hashes).map(([a, h]) => `${a}:${h}`);
      if (s.file.url.startsWith("file:") && !fs.existsSync(fileURLToPath(s.file.url))) {
        throw new IntegrityError(`The locked file ${fileURLToPath(s.file.url)} of ${s.name} ${s.version} does not exist; restore it or lock again.`, { code: "ERR_LOCK_FILE_MISSING" });
      }
      // The lock's hashes are the only truth here: the cache verifies the bytes against them.
      const got = await cache.fetch(s.file, { allowed, signal: options.signal });
      let out = got.path;
      if (options.dest) {
        out = path.join(options.dest, s.file.filename);
        await placeFile(got.path, out);
      }
      return { ...s, path: out, sha256: got.sha256 };
    }),
  );
}

/** A marker expression describing one target, for `environments`. */
export function targetMarker(t: TargetEnvironment): string {
  const m = t.markers;
  return `sys_platform == "${m.sys_platform}" and platform_machine == "${m.platform_machine}" and implementation_name == "${m.implementation_name}" and python_version == "${m.python_version}"`;
}
