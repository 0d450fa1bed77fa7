import { InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { hashFile } from "@cluster-pack/io";
import { PexBuilder, type InheritPath } from "@cluster-pack/pex";
import { PipSession, canonicalizeName, fetchLocked, readPyLock, selectFromLock, tagToString, type LockedSelection, type Resolution, type RequirementsInput, type TargetEnvironment } from "@cluster-pack/pip";
import { pinOf } from "./edits";
import type { ArchiveBuild, PrepareInput } from "./packers";
import type { LockDescription } from "./sidecar";

/** Where packages come from; unset values come from pip's own configuration (pip.conf, PIP_*). */
export interface IndexOptions {
  indexUrl?: string;
  extraIndexUrls?: string[];
  findLinks?: string[];
  noIndex?: boolean;
  /** Allow pre-releases (pip's --pre). */
  pre?: boolean;
  constraintFiles?: string[];
}

/** PEX build settings (all part of the lock: changing one rebuilds). */
export interface PexOptions {
  /** Deflate entries (default true). */
  compress?: boolean;
  /** Default "fallback", as cluster-pack builds its PEX files. */
  inheritPath?: InheritPath;
  /** Interpreter on the shebang line (default `/usr/bin/env python3`). */
  pythonShebang?: string;
  /** `module` or `module:function` to run on start (default: none, the PEX behaves like python). */
  entryPoint?: string;
  interpreterConstraints?: string[];
}

/**
 * Plans a PEX build. From an installed environment the lock is its pins (no network: the
 * no-op path costs nothing but the store's one round trip); from requirements, the
 * resolution's pins. The build resolves the pins against the index (so every wheel is
 * the target's), downloads them through the content-addressed cache and builds the PEX.
 */
export async function resolvePexLock(input: PrepareInput & { target: TargetEnvironment }): Promise<ArchiveBuild> {
  const { target, signal } = input;
  const session = new PipSession({
    ...input.index,
    target,
    signal,
    cacheDir: input.cacheDir,
  });
  const pex = { compress: true, inheritPath: "fallback" as InheritPath, ...input.pex };
  const progress = (phase: "resolve" | "download", done: number) => input.onProgress?.({ phase, done, total: 1, unit: "items" });

  let resolved: { resolution: Resolution; input: RequirementsInput } | undefined;
  let locked: LockedSelection[] | undefined;
  let pins: string[];
  if (input.lockFile) {
    // A PEP 751 lock is packed exactly: no resolution, the lock's files and hashes.
    if (Object.keys(input.edits?.additionalPackages ?? {}).length) {
      throw new InvalidInputError(`${input.lockFile} is packed exactly as locked: additionalPackages cannot be added to it. Add them to the project and lock again.`);
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
    throw new InvalidInputError("Nothing to pack: the environment has no installed packages left after the package edits. Install packages or relax onlyPackages/ignoredPackages.");
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
    extension: "pex",
    kind: "pex",
    async build(output) {
      if (locked) {
        throwIfAborted(signal);
        progress("download", 0);
        const fetched = await fetchLocked(locked, session.cache, { signal });
        input.onProgress?.({ phase: "download", done: fetched.length, total: fetched.length, unit: "items" });
        return buildFrom(fetched.map((f) => ({ filename: f.file.filename, path: f.path, sha256: f.sha256 })), output);
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
      return buildFrom(files, output);
    },
  };

  async function buildFrom(files: { filename: string; path: string; sha256: string }[], output: string): Promise<{ sha256: string; size: number }> {
    const sdists = files.filter((f) => !f.filename.endsWith(".whl"));
    if (sdists.length) {
      throw new InvalidInputError(
        `No wheel for ${target.description} of ${sdists.map((f) => f.filename).join(", ")}: a PEX needs wheels. Build the wheels for the target, or choose a target these packages publish wheels for.`,
        { code: "ERR_NO_WHEEL" },
      );
    }
    const builder = new PexBuilder({
      // The cache verified each file's sha256: passing it lets the builder skip re-hashing
      // wheels whose RECORD it has already verified.
      wheels: files.map((f) => ({ path: f.path, sha256: f.sha256 })),
      requirements: pins,
      compress: pex.compress,
      inheritPath: pex.inheritPath,
      ...(pex.pythonShebang ? { pythonShebang: pex.pythonShebang } : {}),
      ...(pex.entryPoint ? { entryPoint: pex.entryPoint } : {}),
      ...(pex.interpreterConstraints ? { interpreterConstraints: pex.interpreterConstraints } : {}),
    });
    const result = await builder.build(output, {
      signal,
      onProgress: (done, total) => input.onProgress?.({ phase: "build", done, total, unit: "items" }),
    });
    return { sha256: (await hashFile(result.path)).digests.sha256!, size: result.size };
  }
}

/** ignoredPackages / onlyPackages applied to a resolved or locked set (by normalised name). */
function filterEdited<T extends { name: string }>(items: T[], edits: { ignoredPackages?: string[]; onlyPackages?: string[] }): T[] {
  const ignored = new Set((edits.ignoredPackages ?? []).map(canonicalizeName));
  const only = edits.onlyPackages ? new Set(edits.onlyPackages.map(canonicalizeName)) : undefined;
  return items.filter((p) => !ignored.has(canonicalizeName(p.name)) && (!only || only.has(canonicalizeName(p.name))));
}
