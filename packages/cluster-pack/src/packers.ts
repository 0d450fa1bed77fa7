import { promises as fsp } from "node:fs";
import path from "node:path";
import { InvalidInputError } from "@cluster-pack/errors";
import { formatFromName, packCondaEnvironment, packVenv, type PackResult } from "@cluster-pack/conda";
import type { EnvironmentKind } from "@cluster-pack/engines";
import { resolveTarget, type TargetEnvironment } from "@cluster-pack/pip";
import type { InstalledDistribution, InstalledEnvironment } from "./environment";
import type { PackageEdits } from "./edits";
import { sha256File } from "./hash";
import type { LockDescription } from "./sidecar";
import type { PackerName, UploadProgress } from "./types";
import { resolvePexLock, type IndexOptions, type PexOptions } from "./pex-packer";
import type { LocalLayer } from "./layers";

export type { IndexOptions, PexOptions };

/** The target the archive is built for (default: the environment's own interpreter). */
export interface TargetOptions {
  /** "3.11" or "3.11.7". */
  python?: string;
  /** A platform tag, e.g. "manylinux_2_28_x86_64". */
  platform?: string;
  /** "cp" (default) or "pp". */
  implementation?: string;
  /** An interpreter to probe instead of an explicit description. */
  interpreter?: string;
}

/** What uploadEnv needs from a packer: the lock that decides "up to date", and a build. */
export interface ArchiveBuild {
  lock: LockDescription;
  /** File extension of the archive ("pex", "tar.gz"...). */
  extension: string;
  kind: EnvironmentKind;
  /** Writes the archive to `output` (atomically) and returns its digest and size. */
  build(output: string): Promise<BuiltArchive>;
}

/** A built archive; a layered PEX also has its layers (in the local layer store). */
export interface BuiltArchive {
  sha256: string;
  size: number;
  layers?: LocalLayer[];
}

export interface PrepareInput {
  packer: PackerName;
  installed: InstalledEnvironment | undefined;
  dists: InstalledDistribution[];
  /** Pins of the installed environment after edits, or the caller's requirements. */
  requirements: string[] | undefined;
  requirementsFile: string | undefined;
  lockFile: string | undefined;
  /** Package edits for requirement sources (applied after resolution). */
  edits: PackageEdits | undefined;
  target: TargetOptions | undefined;
  index: IndexOptions | undefined;
  pex: PexOptions | undefined;
  /** Archive format for conda/venv, from the package path (default tar.gz). */
  packagePath: string | undefined;
  includeEditable: boolean;
  /**
   * PEX only: the installed distributions to pack as installed (wheels rebuilt from their
   * RECORD, no index). Undefined: the pins are resolved against the index.
   */
  asInstalled?: InstalledDistribution[];
  cacheDir: string;
  signal: AbortSignal | undefined;
  onProgress: ((p: UploadProgress) => void) | undefined;
}

/** Plans the build for a packer: computes the lock (cheaply: no download, no build). */
export async function prepareArchiveBuild(input: PrepareInput): Promise<ArchiveBuild> {
  if (input.packer === "pex") {
    const target = await targetFor(input);
    return resolvePexLock({ ...input, target });
  }
  const env = input.installed!;
  const format = input.packagePath ? formatFromName(input.packagePath) : "tar.gz";
  if (!format) {
    throw new InvalidInputError(
      `packagePath ${input.packagePath} has no archive extension the ${input.packer} packer writes: use .tar.gz, .tgz, .zip, .tar, .tar.bz2, .tar.xz or .tar.zst.`,
    );
  }
  const extension = input.packagePath ? archiveExtension(input.packagePath) : "tar.gz";
  // The archive is the environment itself: every installed distribution (and, for conda,
  // every package record) decides whether it changed.
  const requirements = input.dists.map((d) => `${d.normalizedName}==${d.version}${d.editable ? " (editable)" : ""}`);
  const records = env.kind === "conda" ? (await fsp.readdir(path.join(env.prefix, "conda-meta"))).filter((f) => f.endsWith(".json")).sort() : [];
  const lock: LockDescription = {
    requirements,
    platform: `${process.platform}_${process.arch}`,
    pythonVersion: env.pythonVersion,
    packer: input.packer,
    extra: { format, prefix: env.prefix, condaRecords: records },
  };
  return {
    lock,
    extension,
    kind: input.packer === "conda" ? "conda" : "venv",
    async build(output) {
      const onProgress = (p: { phase: "scan" | "write"; done: number; total: number }) =>
        input.onProgress?.({ phase: "build", done: p.done, total: p.total, unit: "items", detail: p.phase });
      const common = { output, format, signal: input.signal, onProgress, force: true };
      const result: PackResult =
        input.packer === "conda"
          ? await packCondaEnvironment({ ...common, prefix: env.prefix })
          : await packVenv({ ...common, prefix: env.prefix, ignoreEditablePackages: input.includeEditable });
      const sha256 = result.sha256 ?? (await sha256File(output));
      return { sha256, size: result.size };
    },
  };
}

async function targetFor(input: PrepareInput): Promise<TargetEnvironment> {
  const t = input.target ?? {};
  if (t.python || t.platform) return resolveTarget({ python: t.python, platform: t.platform, implementation: t.implementation }, { signal: input.signal, cacheDir: input.cacheDir });
  // Default: the interpreter of the environment being packed, else python3 on PATH.
  return resolveTarget({ interpreter: t.interpreter ?? input.installed?.python ?? "python3" }, { signal: input.signal, cacheDir: input.cacheDir });
}

function archiveExtension(file: string): string {
  const m = /\.(tar\.gz|tgz|tar\.bz2|tbz2|tar\.xz|txz|tar\.zst|tzst|tar|zip)$/i.exec(file);
  return m ? m[1]!.toLowerCase() : "tar.gz";
}
