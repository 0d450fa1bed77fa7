import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { ClusterPackError, InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { canonicalizeName, tagToString } from "@cluster-pack/packaging";
import { forEachLimit, sha256File } from "@cluster-pack/io";
import os from "node:os";
import { PexBuilder, layerStoreIn, validateBytecodeOptions, type InheritPath } from "@cluster-pack/pex";
import { PipSession, fetchLocked, readPyLock, resolveTarget, selectFromLock, type LockedSelection, type Resolution, type RequirementsInput, type TargetEnvironment } from "@cluster-pack/pip";
import { ERR_NOT_REBUILDABLE, rebuildInstalledWheel, verifiedWheelsDirIn, type InstalledLayout } from "@cluster-pack/wheel";
import { pinOf } from "../edits";
import type { InstalledDistribution, InstalledEnvironment } from "../environment";
import type { LockDescription } from "../sidecar";
import { zipPath } from "../zip-path";
import type { ArchiveBuild, BuiltArchive, Packer, PexOptions, PrepareInput } from "./packer";

/** A PEX built from wheels: packed as installed, or resolved against the index. */
export const pexPacker: Packer = {
  name: "pex",
  // Anything can become a PEX: an installed environment, requirements, a lock; edits apply.
  check() {},
  async prepare(input) {
    return resolvePexLock({ ...input, target: await targetFor(input) });
  },
};

async function targetFor(input: PrepareInput): Promise<TargetEnvironment> {
  const t = input.target ?? {};
  if (t.python || t.platform) return resolveTarget({ python: t.python, platform: t.platform, implementation: t.implementation }, { signal: input.signal, cacheDir: input.cacheDir });
  // Default: the interpreter of the environment being packed, else python3 on PATH.
  return resolveTarget({ interpreter: t.interpreter ?? input.installed?.python ?? "python3" }, { signal: input.signal, cacheDir: input.cacheDir });
}

/**
 * Plans a PEX build. From an installed environment the lock is its pins (no network: the
 * no-op path costs nothing but the store's one round trip); from requirements, the
 * resolution's pins. When the target is the environment's own interpreter, the build
 * packs the distributions as installed (wheels rebuilt from each RECORD, no index);
 * otherwise (or with `fromIndex`) it resolves the pins against the index (so every
 * wheel is the target's), downloads them through the content-addressed cache and builds.
 */
async function resolvePexLock(input: PrepareInput & { target: TargetEnvironment }): Promise<ArchiveBuild> {
  const { target, signal } = input;
  const pex = { compress: true, inheritPath: "fallback" as InheritPath, ...input.pex };
  // Before the lock is written (a lock of a build the builder would refuse is never kept).
  validateBytecodeOptions(pex);
  const extension = pex.allowLargePex ? "pex.zip" : "pex";
  const kind = pex.allowLargePex ? "pex-large" : "pex";
  if (input.asInstalled && input.installed) return asInstalledBuild(input, input.installed, input.asInstalled, pex, extension, kind);
  const session = new PipSession({
    ...input.index,
    target,
    signal,
    cacheDir: input.cacheDir,
  });
  const progress = (phase: "resolve" | "download", done: number) => input.onProgress?.({ phase, done, total: 1, unit: "items" });

  let resolved: { resolution: Resolution; input: RequirementsInput } | undefined;
  let locked: LockedSelection[] | undefined;
  let pins: string[];
  if (input.lockFile) {
    // A PEP 751 lock is packed exactly: no resolution, the lock's files and hashes.
    if (Object.keys(input.edits?.additionalPackages ?? {}).length) {
      throw new InvalidInputError(`${input.lockFile} is packed exactly as locked: \`additionalPackages\` cannot be added to it.`, { optionNames: ["additionalPackages"], hint: "add them to the project and lock again." });
    }
    const selection = selectFromLock(await readPyLock(input.lockFile), target, input.lockFile);
    locked = filterEdited(selection, input.edits ?? {});
    pins = locked.map((s) => `${s.name}==${s.version}`);
  } else if (input.installed) {
    pins = input.requirements ?? [];
  } else {
    const edits = input.edits ?? {};
    const extra = Object.entries(edits.additionalPackages ?? {}).map(([n, v]) => pinOf(n, v));
    progress("resolve", 0);
    const reqInput = await session.readInput({ requirements: [...(input.requirements ?? []), ...extra], files: input.requirementsFile ? [input.requirementsFile] : [] });
    const resolution = await session.resolve(reqInput);
    progress("resolve", 1);
    resolution.packages = filterEdited(resolution.packages, edits);
    resolved = { resolution, input: reqInput };
    pins = resolution.packages.map((p) => `${p.name}==${p.version.toString()}`);
  }
  if (pins.length === 0) {
    throw new InvalidInputError("Nothing to pack: the environment has no installed packages left after the package edits.", { optionNames: ["onlyPackages", "ignoredPackages"], hint: "install packages or relax `onlyPackages`/`ignoredPackages`." });
  }
  const lock: LockDescription = {
    requirements: pins,
    platform: target.tags[0] ? tagToString(target.tags[0]) : target.description,
    pythonVersion: target.markers.python_full_version,
    packer: "pex",
    // A lock's file hashes are part of it: a re-published file with the same version rebuilds.
    extra: { pex, implementation: target.markers.implementation_name, ...(locked ? { files: locked.map((l) => l.file.hashes) } : {}) },
  };
  return {
    lock,
    extension,
    kind,
    async build(output) {
      if (locked) {
        throwIfAborted(signal);
        progress("download", 0);
        const fetched = await fetchLocked(locked, session.cache, { signal });
        input.onProgress?.({ phase: "download", done: fetched.length, total: fetched.length, unit: "items" });
        return buildPexArchive(fetched.map((f) => ({ filename: f.file.filename, path: f.path, sha256: f.sha256 })), output, { pex, pins, target, signal, onProgress: input.onProgress, cacheDir: input.cacheDir });
      }
      if (!resolved) {
        progress("resolve", 0);
        const reqInput = await session.readInput({ requirements: pins });
        resolved = { resolution: await session.resolve(reqInput), input: reqInput };
        progress("resolve", 1);
      }
      throwIfAborted(signal);
      progress("download", 0);
      const files = await session.download(resolved.resolution, resolved.input);
      input.onProgress?.({ phase: "download", done: files.length, total: files.length, unit: "items" });
      return buildPexArchive(files, output, { pex, pins, target, signal, onProgress: input.onProgress, cacheDir: input.cacheDir });
    },
  };
}

/** The directory rebuilt wheels are cached in (by the RECORD they were rebuilt from). */
const REBUILT_WHEELS_DIR = "rebuilt-wheels-v1";

/**
 * The installed distributions packed as they are: the lock is their pins plus a digest of
 * each RECORD (a local build reinstalled under the same version rebuilds), the build
 * rebuilds each wheel from its RECORD (checked against the installed files) and builds
 * the PEX from those. No index is contacted.
 */
async function asInstalledBuild(
  input: PrepareInput & { target: TargetEnvironment },
  env: InstalledEnvironment,
  dists: InstalledDistribution[],
  pex: PexSettings,
  extension: string,
  kind: "pex" | "pex-large",
): Promise<ArchiveBuild> {
  const { target, signal } = input;
  if (dists.length === 0) {
    throw new InvalidInputError("Nothing to pack: the environment has no installed packages left after the package edits.", { optionNames: ["onlyPackages", "ignoredPackages"], hint: "install packages or relax `onlyPackages`/`ignoredPackages`." });
  }
  const records: Record<string, string> = {};
  for (const d of dists) {
    const text = await fsp.readFile(path.join(d.metadataPath, "RECORD")).catch(() => undefined);
    records[d.normalizedName] = text ? createHash("sha256").update(text).digest("hex") : "missing";
  }
  const pins = dists.map((d) => `${d.name}==${d.version}`);
  const lock: LockDescription = {
    requirements: pins,
    platform: target.tags[0] ? tagToString(target.tags[0]) : target.description,
    pythonVersion: target.markers.python_full_version,
    packer: "pex",
    extra: { pex, implementation: target.markers.implementation_name, source: "installed", records },
  };
  const layout = installedLayout(env);
  return {
    lock,
    extension,
    kind,
    async build(output) {
      const wheels: { filename: string; path: string }[] = new Array(dists.length);
      let done = 0;
      input.onProgress?.({ phase: "rebuild", done, total: dists.length, unit: "items" });
      for (const d of dists) {
        if (d.format !== "dist-info") {
          throw new ClusterPackError(
            ERR_NOT_REBUILDABLE,
            `${d.name} ${d.version} (${d.metadataPath}) cannot be packed as installed: it is an .egg-info installation, which lists no files with hashes.`,
            { optionNames: ["fromIndex"], hint: `reinstall it with pip (pip install --force-reinstall --no-deps "${d.name}==${d.version}"), or pack from the index (\`fromIndex\`).` },
          );
        }
      }
      // Distributions rebuilt side by side: one wheel's deflate is mostly one file at a time
      // (a large extension module is one stream), so one rebuild at a time left cores idle.
      await forEachLimit(
        dists,
        REBUILD_CONCURRENCY,
        async (d, i) => {
          const wheel = await rebuildInstalledWheel(d.metadataPath, { layout, cacheDir: path.join(input.cacheDir, REBUILT_WHEELS_DIR), compress: pex.compress, signal });
          wheels[i] = { filename: wheel.filename, path: wheel.path };
          input.onProgress?.({ phase: "rebuild", done: ++done, total: dists.length, unit: "items", detail: wheel.filename });
        },
        { signal },
      );
      return buildPexArchive(wheels, output, { pex, pins, target, signal, onProgress: input.onProgress, cacheDir: input.cacheDir });
    },
  };
}

/** Rebuilds at a time: the usable cores, at most 4 (each holds up to 32 entries in flight). */
const REBUILD_CONCURRENCY = Math.min(4, Math.max(1, os.availableParallelism()));

/** Where pip put each part of a wheel in this environment (venv and conda layouts). */
function installedLayout(env: InstalledEnvironment): InstalledLayout {
  const [major, minor] = env.pythonVersion.split(".");
  return {
    prefix: env.prefix,
    sitePackages: env.sitePackages,
    scripts: path.join(env.prefix, "bin"),
    headers: path.join(env.prefix, "include", "site", `python${major}.${minor}`),
    data: env.prefix,
  };
}

type PexSettings = PexOptions & { compress: boolean; inheritPath: InheritPath };

interface PexBuildContext {
  pex: PexSettings;
  pins: string[];
  target: TargetEnvironment;
  signal: AbortSignal | undefined;
  onProgress: PrepareInput["onProgress"];
  cacheDir: string;
}

/** PexBuilder's bytecode options: compiled by `python` when known, else by the shebang's interpreter. */
function compileOptions(python: string | undefined): { compile: true; compilePython?: string } {
  return python ? { compile: true, compilePython: python } : { compile: true };
}

/** Builds the PEX (or, with allowLargePex, the zipped packed layout) from wheel files. */
async function buildPexArchive(files: { filename: string; path: string; sha256?: string }[], output: string, ctx: PexBuildContext): Promise<BuiltArchive> {
  const { pex, signal } = ctx;
  const sdists = files.filter((f) => !f.filename.endsWith(".whl"));
  if (sdists.length) {
    throw new InvalidInputError(
      `No wheel for ${ctx.target.description} of ${sdists.map((f) => f.filename).join(", ")}: a PEX needs wheels.`,
      { code: "ERR_NO_WHEEL", hint: "build the wheels for the target, or choose a target these packages publish wheels for." },
    );
  }
  const builder = new PexBuilder({
    // A download cache verified each file's sha256: passing it lets the builder skip
    // re-hashing wheels whose RECORD it has already verified (rebuilt wheels are identified by the builder).
    wheels: files.map((f) => (f.sha256 ? { path: f.path, sha256: f.sha256 } : { path: f.path })),
    requirements: ctx.pins,
    compress: pex.compress,
    inheritPath: pex.inheritPath,
    ...(pex.venv ? { venv: true } : {}),
    ...(pex.includeTools ? { includeTools: true } : {}),
    ...(pex.allowLargePex ? { layout: "packed" as const } : {}),
    // Every local cache of the build under the one cache directory (the caller's `cacheDir`):
    // the verified-wheel records, install plans and bytecode, and the layer store.
    verifiedWheelsCache: verifiedWheelsDirIn(ctx.cacheDir),
    ...(pex.layout === "layered" ? { layout: "layered" as const, layerStore: layerStoreIn(ctx.cacheDir) } : {}),
    ...(pex.pythonShebang ? { pythonShebang: pex.pythonShebang } : {}),
    ...(pex.compile || pex.compilePython ? compileOptions(pex.compilePython ?? ctx.target.interpreter) : {}),
    ...(pex.entryPoint ? { entryPoint: pex.entryPoint } : {}),
    ...(pex.interpreterConstraints ? { interpreterConstraints: pex.interpreterConstraints } : {}),
  });
  const onProgress = (done: number, total: number) => ctx.onProgress?.({ phase: "build", done, total, unit: "items" });
  if (!pex.allowLargePex) {
    const result = await builder.build(output, { signal, onProgress });
    const layers = result.layers?.map((l) => ({ file: l.file, sha256: l.sha256, size: l.size, path: l.path }));
    return { sha256: await sha256File(result.path), size: result.size, ...(layers ? { layers } : {}) };
  }
  // cluster-pack zips pex's packed directory: `__main__.py`, PEX-INFO, `.bootstrap` and one
  // zip per wheel under `.deps/`, stored (they are compressed already).
  const dir = `${output}.packed`;
  try {
    await builder.build(dir, { signal, onProgress });
    const zipped = await zipPath(dir, { includeBaseName: false, compress: false, output, signal });
    return { sha256: zipped.sha256, size: zipped.size };
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

/** ignoredPackages / onlyPackages applied to a resolved or locked set (by normalised name). */
function filterEdited<T extends { name: string }>(items: T[], edits: { ignoredPackages?: string[]; onlyPackages?: string[] }): T[] {
  const ignored = new Set((edits.ignoredPackages ?? []).map(canonicalizeName));
  const only = edits.onlyPackages ? new Set(edits.onlyPackages.map(canonicalizeName)) : undefined;
  return items.filter((p) => !ignored.has(canonicalizeName(p.name)) && (!only || only.has(canonicalizeName(p.name))));
}
