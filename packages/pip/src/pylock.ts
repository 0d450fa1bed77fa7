import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { IntegrityError, InvalidInputError, redactUrl } from "@cluster-pack/errors";
import { canonicalizeName, checkDistributionFilename, checkHashes, DistributionFilenameError, HASH_HEX_LENGTHS, isValidName, Marker, Version, type WheelFilename } from "@cluster-pack/packaging";
import type { DistributionCache } from "./cache";
import { placeFile } from "./cache";
import { unreadableFile, writeFileAtomic } from "@cluster-pack/io";
import type { Resolution } from "./resolver";
import { urlFilename, type DistributionFile } from "./simple-index";
import { rankingFor, type TargetEnvironment } from "./target";
import { parseToml, stringifyToml } from "./toml";

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

/** Writes pylock.toml atomically; with `overwrite: false` an existing file is ERR_OUTPUT_EXISTS. */
export async function writePyLock(file: string, lock: PyLock, options: { overwrite?: boolean } = {}): Promise<void> {
  await writeFileAtomic(file, formatPyLock(lock), options.overwrite === false ? { overwrite: false } : {});
}

/** Reads and validates a pylock.toml; errors name the file and the entry. */
export async function readPyLock(file: string): Promise<PyLock> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, "utf8");
  } catch (err) {
    throw unreadableFile(file, err, { what: "lock file", code: "ERR_LOCK_INVALID" });
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text);
  } catch (err) {
    throw new InvalidInputError(`${file} is not a valid TOML lock file: ${(err as Error).message}`, { code: "ERR_LOCK_INVALID", cause: err });
  }
  const bad = (why: string, hint?: string): never => {
    throw new InvalidInputError(`${file}: ${why}`, { code: "ERR_LOCK_INVALID", ...(hint === undefined ? {} : { hint }) });
  };
  const lv = doc["lock-version"];
  if (typeof lv !== "string" || !/^1\.\d+$/.test(lv)) bad(`lock-version ${JSON.stringify(lv)} is not supported; this reader understands 1.x (PEP 751).`);
  const pkgs = doc.packages;
  if (!Array.isArray(pkgs)) bad("no [[packages]] array");
  // Every file name, URL and hash is checked here, before selectFromLock/fetchLocked make
  // cache and destination paths of them: a lock is input from whoever wrote it.
  const fileOf = (f: unknown, where: string, pkg: { name: string; version: string }, kind: "wheel" | "sdist"): LockedFile => {
    const o = f as Record<string, unknown>;
    if (!o || typeof o !== "object" || Array.isArray(o)) bad(`${where} is not a table`);
    let hashes: Record<string, string>;
    try {
      hashes = checkHashes(o.hashes, `${where} hashes`);
    } catch (err) {
      return bad((err as Error).message);
    }
    if (Object.keys(hashes).length === 0) bad(`${where} has no hashes (${Object.keys(HASH_HEX_LENGTHS).join(", ")}); locks must pin every file by hash.`);
    const url = typeof o.url === "string" ? o.url : undefined;
    const p = typeof o.path === "string" ? o.path : undefined;
    if (!url && !p) bad(`${where} has neither url nor path`);
    let parsedUrl: URL | undefined;
    if (url) {
      parsedUrl = URL.canParse(url) ? new URL(url) : undefined;
      if (!parsedUrl || !/^(https?|file):$/.test(parsedUrl.protocol)) bad(`${where} url ${JSON.stringify(redactUrl(url))} is not an http(s):// or file:// URL.`);
    }
    // PEP 751: `name` is the file name; without it, the URL's (or path's) last component is.
    const name = typeof o.name === "string" ? o.name : parsedUrl ? urlFilename(parsedUrl) : path.basename(p!);
    if (name === null) bad(`${where} url ${JSON.stringify(redactUrl(url!))} does not end in a valid percent-encoded file name.`, `add name = "<file name>".`);
    try {
      checkDistributionFilename(name!, { name: pkg.name, version: pkg.version, kind });
    } catch (err) {
      if (!(err instanceof DistributionFilenameError)) throw err;
      bad(`${where}: ${err.message}`, "lock again, or fix the entry.");
    }
    const out: LockedFile = { name: name!, hashes };
    if (url) out.url = url;
    if (p) out.path = path.resolve(path.dirname(file), p);
    if (o.size !== undefined) {
      if (typeof o.size !== "number" || !Number.isSafeInteger(o.size) || o.size < 0) bad(`${where} size ${JSON.stringify(o.size)} is not a byte count.`);
      out.size = o.size as number;
    }
    return out;
  };
  const packages = (pkgs as Array<Record<string, unknown>>).map((p, i): LockedPackage => {
    let where = `packages[${i}]`;
    if (!p || typeof p !== "object" || typeof p.name !== "string" || typeof p.version !== "string") bad(`${where} needs name and version`);
    if (!isValidName(p.name as string)) bad(`${where} name ${JSON.stringify(p.name)} is not a valid project name.`);
    if (!Version.tryParse(p.version as string)) bad(`${where} (${p.name}) version ${JSON.stringify(p.version)} is not a PEP 440 version.`);
    where = `${where} (${p.name})`;
    const pkg = { name: canonicalizeName(p.name as string), version: p.version as string };
    const out: LockedPackage = {
      ...pkg,
      dependencies: Array.isArray(p.dependencies) ? (p.dependencies as Array<{ name?: string }>).map((d) => String(d.name)) : [],
      wheels: Array.isArray(p.wheels) ? (p.wheels as unknown[]).map((w, j) => fileOf(w, `${where} wheels[${j}]`, pkg, "wheel")) : [],
    };
    if (p.sdist) out.sdist = fileOf(p.sdist, `${where} sdist`, pkg, "sdist");
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
    throw new InvalidInputError(`${lockName} is for ${lock.environments.join(" or ")}, which does not match the target ${target.description}.`, { code: "ERR_LOCK_TARGET", hint: "lock again for this target." });
  }
  const ranking = rankingFor(target);
  return lock.packages.map((p) => {
    // Parsed through the same check readPyLock applied, so a PyLock built in memory is held to it too.
    const parse = (f: LockedFile, kind: "wheel" | "sdist") => {
      try {
        return checkDistributionFilename(f.name, { name: p.name, version: p.version, kind });
      } catch (err) {
        if (!(err instanceof DistributionFilenameError)) throw err;
        throw new InvalidInputError(`${lockName}: ${p.name} ${p.version}: ${err.message}`, { code: "ERR_LOCK_INVALID", cause: err });
      }
    };
    const wheels = p.wheels
      .map((w) => {
        const parsed = parse(w, "wheel") as WheelFilename;
        return { w, parsed, rank: ranking.bestRank(parsed.tags) };
      })
      .filter((x) => x.rank >= 0)
      .sort((a, b) => a.rank - b.rank);
    const best = wheels[0];
    const chosen = best?.w ?? p.sdist;
    if (!chosen) throw new InvalidInputError(`${lockName}: ${p.name} ${p.version} has no wheel for ${target.description} and no sdist.`, { code: "ERR_LOCK_TARGET" });
    const parsed = best?.parsed ?? parse(chosen, "sdist");
    const url = chosen.url ?? pathToFileURL(chosen.path!).href;
    const file: DistributionFile = {
      filename: chosen.name,
      url,
      hashes: chosen.hashes,
      requiresPython: null,
      yanked: false,
      coreMetadata: false,
      source: `${lockName} (${redactUrl(url)})`,
      kind: parsed.kind,
      name: p.name,
      version: parsed.version,
    };
    if (parsed.kind === "wheel") file.wheel = parsed;
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
        throw new IntegrityError(`The locked file ${fileURLToPath(s.file.url)} of ${s.name} ${s.version} does not exist.`, { code: "ERR_LOCK_FILE_MISSING", hint: "restore it or lock again." });
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
