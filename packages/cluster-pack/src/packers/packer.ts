import type { EnvironmentKind } from "@cluster-pack/engines";
import type { InheritPath } from "@cluster-pack/pex";
import type { InstalledDistribution, InstalledEnvironment } from "../environment";
import type { PackageEdits } from "../edits";
import type { LocalLayer } from "../layers";
import type { LockDescription } from "../sidecar";
import type { PackerName, UploadProgress } from "../types";

/**
 * The packer contract: what uploadEnv asks of each way to pack an environment (a PEX, a
 * conda archive, a venv archive). One file per packer beside this one; ./index.ts lists
 * them by name.
 */
export interface Packer {
  readonly name: PackerName;
  /**
   * Refuses, before any work, what this packer cannot pack (a conda packer needs a conda
   * environment; only the pex packer can apply package edits).
   */
  check(source: PackerSource): void;
  /** Plans the build: computes the lock (cheaply: no download, no build). */
  prepare(input: PrepareInput): Promise<ArchiveBuild>;
}

/** What is being packed, as `check` sees it. */
export interface PackerSource {
  installed: InstalledEnvironment | undefined;
  /** True when package edits (additional/ignored/only packages) were asked for. */
  hasEdits: boolean;
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
  /** pex's venv execution mode: the PEX installs itself into a venv on first run and re-executes its python. */
  venv?: boolean;
  /** cluster-pack's `include_pex_tools` (pex --include-tools): `PEX_TOOLS=1 ./env.pex venv DIR` turns the PEX into a venv. */
  includeTools?: boolean;
  /**
   * cluster-pack's `allow_large_pex`: pex's `packed` layout zipped as `<name>.pex.zip`,
   * unpacked by the engine (`pyenv/`) and run as `pyenv/__main__.py`; for environments
   * too large for one file, or engines that want a directory.
   */
  allowLargePex?: boolean;
  /**
   * `layered`: a small PEX whose distributions are layers (one content-addressed zip per
   * distribution, published once under the layer store and shared by every environment
   * that needs it); default `zipapp`, one file.
   */
  layout?: "zipapp" | "layered";
  /**
   * Ship bytecode (pex --compile; @cluster-pack/pex's `compile`): checked-hash .pyc files of
   * every module, so executors compile nothing on their first start. Compiled by
   * `compilePython`, else the target's interpreter when the target is one (the packed
   * environment's python), else the `pythonShebang` interpreter.
   */
  compile?: boolean;
  compilePython?: string;
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
