import fs from "node:fs";
import { Option, type Command } from "commander";
import { InvalidInputError } from "@cluster-pack/errors";
import type { PathFilter, PackOptionsBase } from "@cluster-pack/conda";
import type { EnvironmentKind, PythonEnvironment } from "@cluster-pack/engines";
import type { StoreOptions } from "cluster-pack";
import { lib } from "./lib";

/**
 * The option groups commands share (index, resolver, target, store, output, environment
 * archive, packing), each as an `add...` that declares it and a reader that turns parsed
 * values into the library's options; and the value parsers every option uses. A flag
 * means the same thing in every command that has it.
 */

// ---------------------------------------------------------------------------------------
// Values.

/** A repeatable option: every use adds a value (no `(default: [])` in --help; read with `?? []`). */
export function repeatable(flags: string, description: string): Option {
  return new Option(flags, `${description} (repeatable)`).argParser(collect);
}

function collect(value: string, previous: unknown): string[] {
  // `--no-binary <names>` starts as `true` (commander's default for a --no- option).
  return [...(Array.isArray(previous) ? (previous as string[]) : []), value];
}

/** A parser for a whole-number option, refusing anything else with the flag named. */
export function integer(flag: string, range: { min?: number; max?: number } = {}): (value: string) => number {
  return (value) => {
    const n = /^-?\d+$/.test(value.trim()) ? Number(value) : NaN;
    const { min, max } = range;
    if (!Number.isSafeInteger(n) || (min !== undefined && n < min) || (max !== undefined && n > max)) {
      const bounds = min !== undefined && max !== undefined ? ` from ${min} to ${max}` : min !== undefined ? ` of at least ${min}` : max !== undefined ? ` of at most ${max}` : "";
      throw new InvalidInputError(`${flag} takes a whole number${bounds}, got ${JSON.stringify(value)}.`, { code: "ERR_INVALID_OPTION" });
    }
    return n;
  };
}

/** A parser for a positive number of seconds (a timeout). */
export function seconds(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n <= 0) throw new InvalidInputError(`${flag} takes a positive number of seconds, got ${JSON.stringify(value)}.`, { code: "ERR_INVALID_OPTION" });
    return n;
  };
}

/** NAME=value items to a record, refusing items without "=". */
export function keyValues(items: readonly string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items ?? []) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new InvalidInputError(`${flag} ${JSON.stringify(item)} is not NAME=value.`, { code: "ERR_INVALID_OPTION", hint: `write it as ${flag} NAME=value.` });
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// How library option names are spelled on the command line.

const spellings = new WeakMap<Command, Record<string, string>>();

/**
 * Says how the library options an error may name (`overwrite`, `kind`, `additionalPackages`)
 * are set in this command, where the flag's own name does not say it (commander's
 * attribute name of a flag, `packagePath` for `--package-path`, is matched without this).
 */
export function libraryOptions(cmd: Command, names: Record<string, string>): Command {
  spellings.set(cmd, { ...spellings.get(cmd), ...names });
  return cmd;
}

/** The CLI spelling of a library option in `cmd` (its own table, its options, then its parents'). */
export function spellOption(cmd: Command | undefined, name: string): string | undefined {
  for (let c: Command | null | undefined = cmd; c; c = c.parent) {
    const explicit = spellings.get(c)?.[name];
    if (explicit !== undefined) return explicit;
    const option = c.options.find((o) => o.attributeName() === name && !o.negate);
    if (option?.long) return option.long;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Index: where packages come from (resolve, lock, download, pex build, upload-env).

export interface IndexCliOptions {
  indexUrl?: string;
  extraIndexUrl?: string[];
  findLinks?: string[];
  /** commander files `--no-index` under `index` (false when given). */
  index?: boolean;
  pre?: boolean;
  cacheDir?: string;
}

export function addIndexOptions(cmd: Command): Command {
  cmd
    .option("-i, --index-url <url>", "the primary package index (PEP 503/691), replacing pip's")
    .addOption(repeatable("--extra-index-url <url>", "another index to search"))
    .addOption(repeatable("-f, --find-links <location>", "a directory or page of wheels and sdists to search"))
    .option("--no-index", "ignore indexes; only --find-links and direct references")
    .option("--pre", "let pre-releases compete with final releases")
    .option("--cache-dir <dir>", "cache of index pages, metadata and files (default: $CLUSTER_PACK_CACHE, else ~/.cache/cluster-pack)");
  return libraryOptions(cmd, { noIndex: "--no-index", extraIndexUrls: "--extra-index-url" });
}

/** The index settings given (unset ones come from pip's configuration). */
export function indexOptions(o: IndexCliOptions): { indexUrl?: string; extraIndexUrls?: string[]; findLinks?: string[]; noIndex?: boolean; pre?: boolean } {
  return {
    ...(o.indexUrl ? { indexUrl: o.indexUrl } : {}),
    ...(o.extraIndexUrl?.length ? { extraIndexUrls: o.extraIndexUrl } : {}),
    ...(o.findLinks?.length ? { findLinks: o.findLinks } : {}),
    ...(o.index === false ? { noIndex: true } : {}),
    ...(o.pre ? { pre: true } : {}),
  };
}

// ---------------------------------------------------------------------------------------
// Target: the machine the packages are for. `--python` is always an interpreter on this
// machine; a target version is `--python-version` (as pip download spells it).

export interface TargetCliOptions {
  pythonVersion?: string;
  platform?: string;
  implementation?: string;
}

export function addTargetOptions(cmd: Command, defaultNote: string): Command {
  cmd
    .option("--python-version <version>", `target Python version, e.g. 3.11 (default: ${defaultNote})`)
    .option("--platform <tag>", "target platform tag, e.g. manylinux_2_28_x86_64, macosx_11_0_arm64, win_amd64")
    .option("--implementation <name>", "target implementation: cp (default) or pp");
  // The target spec's `python` is a version; an interpreter to probe is --python.
  return libraryOptions(cmd, { python: "--python-version", interpreter: "--python" });
}

/** The explicit target given, or undefined (then the interpreter decides). */
export function targetSpec(o: TargetCliOptions): { python?: string; platform?: string; implementation?: string } | undefined {
  if (!o.pythonVersion && !o.platform && !o.implementation) return undefined;
  return { ...(o.pythonVersion ? { python: o.pythonVersion } : {}), ...(o.platform ? { platform: o.platform } : {}), ...(o.implementation ? { implementation: o.implementation } : {}) };
}

/** `--python <interpreter>`: a path or a name on PATH; a bare version is refused with the flag it meant. */
export function pythonOption(description: string): Option {
  return new Option("--python <interpreter>", description).argParser((value: string) => {
    if (/^\d+(\.\d+)*$/.test(value.trim())) {
      throw new InvalidInputError(`--python takes an interpreter (a path, or a name on PATH such as python${value}), not a version.`, {
        code: "ERR_INVALID_OPTION",
        hint: `for a target version, use --python-version ${value}.`,
      });
    }
    return value;
  });
}

// ---------------------------------------------------------------------------------------
// Resolver: requirements and pip's resolver switches (resolve, lock, download).

export interface ResolverCliOptions extends IndexCliOptions, TargetCliOptions {
  requirement?: string[];
  constraint?: string[];
  onlyBinary?: string[];
  /** commander files `--no-binary <names>` under `binary` (true when not given). */
  binary?: string[] | true;
  requireHashes?: boolean;
  python?: string;
  timeout?: number;
  resolution?: "highest" | "lowest" | "lowest-direct";
  isolated?: boolean;
}

export function addResolverOptions(cmd: Command): Command {
  cmd.addOption(repeatable("-r, --requirement <file>", "read requirements from this file")).addOption(repeatable("-c, --constraint <file>", "constrain versions with this file"));
  addIndexOptions(cmd);
  cmd
    .addOption(repeatable("--only-binary <names>", "wheels only for these packages (:all: for every package)"))
    .addOption(repeatable("--no-binary <names>", "sdists only for these packages (:all:)"))
    .option("--require-hashes", "hash-checking mode: every package pinned with == and --hash");
  addTargetOptions(cmd, "the --python interpreter's");
  cmd
    .addOption(pythonOption("probe this interpreter for the target (default: python3 on PATH)"))
    .option("--timeout <seconds>", "per-request network timeout", seconds("--timeout"))
    .addOption(new Option("--resolution <strategy>", "which versions to prefer").choices(["highest", "lowest", "lowest-direct"]).default("highest"))
    .option("--isolated", "ignore pip's configuration files and PIP_* variables");
  return libraryOptions(cmd, { requirementFiles: "-r", constraintFiles: "-c", requireHashes: "--require-hashes" });
}

// ---------------------------------------------------------------------------------------
// Store: where archives are uploaded (upload-env, upload-zip, fs).

export interface StoreCliOptions {
  s3Endpoint?: string;
  hadoopConfDir?: string;
}

export function addStoreOptions(cmd: Command): Command {
  return cmd
    .option("--s3-endpoint <url>", "S3-compatible endpoint, path-style (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL)")
    .option("--hadoop-conf-dir <dir>", "Hadoop configuration for hdfs:// and viewfs:// (default: $HADOOP_CONF_DIR)");
}

export function storeOptions(o: StoreCliOptions): StoreOptions {
  return {
    ...(o.s3Endpoint ? { s3: { endpoint: o.s3Endpoint, forcePathStyle: true } } : {}),
    ...(o.hadoopConfDir ? { hdfs: { hadoopConfDir: o.hadoopConfDir } } : {}),
  };
}

/** A store URL or local path given on the command line, checked for shape before anything runs (`s3:/x` is refused). */
export function storeLocation(location: string): string {
  lib.io().locationScheme(location);
  return location;
}

// ---------------------------------------------------------------------------------------
// Output: one rule for every command that writes a file (see OUTPUT_RULE in ./help).

/**
 * `--force`: replace an existing output. Its short form `-f` is conda-pack's and
 * venv-pack's (`conda pack`, `venv pack` replace them); elsewhere `-f` is pip's
 * `--find-links`, so `--force` has no short form there.
 */
export function addForceOption(cmd: Command, what = "the output", short = false): Command {
  cmd.option(`${short ? "-f, " : ""}--force`, `replace ${what} if it exists`);
  return libraryOptions(cmd, { force: "--force", overwrite: "--force" });
}

/**
 * Refuses an existing output unless `force`, before any work is done (the library's
 * atomic publish then replaces it, or, without force, refuses one that appeared since).
 * An existing empty directory is not an output in the way for a directory output.
 */
export function checkOutput(target: string, force: boolean | undefined, kind: "file" | "directory" = "file"): void {
  if (force) return;
  const st = fs.lstatSync(target, { throwIfNoEntry: false });
  if (!st) return;
  if (kind === "directory" && st.isDirectory() && fs.readdirSync(target).length === 0) return;
  throw outputExists(target);
}

/** io's output-exists error, its fix naming --force. */
export function outputExists(target: string): InvalidInputError {
  return lib.io().outputExistsError(target, "force");
}

// ---------------------------------------------------------------------------------------
// Environment archive: what spark-conf and skein-spec ship.

export interface EnvironmentCliOptions {
  kind?: EnvironmentKind;
  alias?: string;
  env?: string[];
  code?: string[];
}

export function addEnvironmentOptions(cmd: Command): Command {
  cmd
    .addOption(new Option("--kind <kind>", "environment kind (guessed from the name; venv archives need it)").choices(["pex", "pex-large", "conda", "venv"]))
    .option("--alias <name>", "name in the working directory (default: the PEX file name, else pyenv)")
    .addOption(repeatable("--env <NAME=value>", "extra environment variable for every interpreter start"))
    .addOption(repeatable("--code <url>", "code archive (.zip/.py/.egg) shipped beside the environment, on PYTHONPATH"));
  return libraryOptions(cmd, { codeArchives: "--code" });
}

/**
 * The PythonEnvironment described by the shared options. The archive and code archives are
 * URLs or local paths; a local one is shipped from this machine, so it must exist here.
 */
export function environmentFromOptions(archive: string, opts: EnvironmentCliOptions): PythonEnvironment {
  for (const [what, location] of [["environment", archive], ...(opts.code ?? []).map((c) => ["--code", c])] as const) {
    const scheme = lib.io().locationScheme(location);
    if (scheme !== undefined && scheme !== "file") continue;
    const local = scheme === "file" ? new URL(location).pathname : location;
    if (!fs.existsSync(local)) {
      throw new InvalidInputError(`${what === "environment" ? "The environment archive" : "The --code archive"} ${location} does not exist.`, { code: "ERR_FILE_NOT_FOUND", hint: "build or upload it first, or pass its URL." });
    }
  }
  return lib.engines().pythonEnvironment(archive, { kind: opts.kind, alias: opts.alias, env: keyValues(opts.env, "--env"), codeArchives: opts.code ?? [] });
}

// ---------------------------------------------------------------------------------------
// Packing an environment into an archive (conda pack, venv pack).

export interface PackCliOptions {
  format?: string;
  arcroot?: string;
  compressLevel?: number;
  nThreads?: number;
  dereferenceSymlinks?: boolean;
  followExternalSymlinks?: boolean;
  force?: boolean;
  alias?: string;
}

/** The options conda and venv packing share; --exclude/--include go to `filters` in command-line order. */
export function addPackOptions(cmd: Command, filters: PathFilter[]): Command {
  cmd
    // Checked by @cluster-pack/conda (parseFormat), whose message lists the formats: not
    // declared as choices here, which would load the library for --help.
    .option("--format <format>", "tar.gz, tgz, tar.bz2, tar.xz, tar.zst, tar, zip or no-archive (default: from the output's extension, else tar.gz)")
    .option("--arcroot <dir>", "a directory inside the archive to hold the environment")
    .option("--compress-level <n>", "compression level (default 4; zstd 1-22, others 0-9)", integer("--compress-level"))
    .option("-j, --n-threads <n>", "compression threads (default 1; -1 = every CPU)", integer("--n-threads"))
    .option("--exclude <pattern>", "leave out files matching this fnmatch pattern (repeatable, applied in order with --include)", (v: string) => {
      filters.push({ exclude: v });
      return v;
    })
    .option("--include <pattern>", "bring back files matching this pattern after an --exclude (repeatable)", (v: string) => {
      filters.push({ include: v });
      return v;
    })
    .option("--dereference-symlinks", "store what symlinks to files inside the environment point to instead of the links")
    .option("--follow-external-symlinks", "also store the files that symlinks leading outside the environment point to (otherwise they stay links)")
    .option("--alias <dir>", "the directory the archive is unpacked into on the cluster (default pyenv), for the printed interpreter");
  addForceOption(cmd, "the output", true);
  return libraryOptions(cmd, { threads: "--n-threads", filters: "--exclude/--include" });
}

export function packOptions(opts: PackCliOptions, filters: PathFilter[], signal: AbortSignal): Omit<PackOptionsBase, "output"> {
  return {
    ...(opts.format ? { format: opts.format } : {}),
    ...(opts.arcroot ? { arcroot: opts.arcroot } : {}),
    ...(opts.compressLevel !== undefined ? { compressLevel: opts.compressLevel } : {}),
    ...(opts.nThreads !== undefined ? { threads: opts.nThreads } : {}),
    ...(opts.alias ? { alias: opts.alias } : {}),
    dereferenceSymlinks: Boolean(opts.dereferenceSymlinks),
    followExternalSymlinks: Boolean(opts.followExternalSymlinks),
    force: Boolean(opts.force),
    filters: [...filters],
    signal,
  };
}
