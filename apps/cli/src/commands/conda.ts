import { Command, Option } from "commander";
import { InvalidInputError } from "@cluster-pack/errors";
import { ARCHIVE_FORMATS, findCondaEnvironment, packCondaEnvironment, type PackOptionsBase, type PackResult, type PathFilter } from "@cluster-pack/conda";
import type { CommandContext } from "../context";
import { formatBytes } from "../progress";

export function register(program: Command, ctx: CommandContext): void {
  const conda = program.command("conda").description("Conda environments: pack one into a relocatable archive (the conda-pack replacement).");
  const filters: PathFilter[] = [];
  const cmd = conda
    .command("pack")
    .description("Pack a conda (or pixi/rattler) environment into an archive that works wherever it is unpacked.")
    .option("-p, --prefix <dir>", "the environment to pack (default $CONDA_PREFIX)")
    .option("-n, --name <name>", "the environment to pack, by name (as conda activate NAME)")
    .option("-o, --output <file>", "the archive to write (default <env name>.tar.gz)");
  addPackOptions(cmd, filters);
  cmd
    .option("-d, --dest-prefix <dir>", "rewrite prefixes at pack time for this unpack location (no conda-unpack needed)")
    .option("--ignore-missing-files", "pack even when files listed in conda-meta are missing")
    .option("--ignore-editable-packages", "pack even with editable installs (their code stays outside)")
    .option("--package-cache <dir>", "also look for extracted packages here (repeatable)", collect, [] as string[])
    .addHelpText(
      "after",
      `
Unpacking: extract the archive anywhere, then run <dir>/bin/conda-unpack once (it uses the
environment's own python) and ". <dir>/bin/activate". With --dest-prefix the archive is
ready to run at that path and has no conda-unpack.

Examples:
  cluster-pack conda pack -p ~/miniconda3/envs/app -o app.tar.gz -j 2
  cluster-pack conda pack -n app -o app.tar.gz
  cluster-pack conda pack -p .pixi/envs/default -o env.tar.zst --compress-level 10 -j -1
  cluster-pack conda pack -p $CONDA_PREFIX -o env.zip --exclude '*.pyc' --exclude 'lib/python3.11/site-packages/tests/*'
  cluster-pack conda pack -p $CONDA_PREFIX -o /opt/env --format no-archive --dest-prefix /opt/env
  cluster-pack conda pack -p $CONDA_PREFIX -o env.tar.gz --json`,
    )
    .action(async (opts: CondaPackCliOptions) => {
      if (opts.prefix && opts.name) throw new InvalidInputError("pass either --prefix or --name, not both");
      const prefix = opts.prefix ?? (opts.name ? await findCondaEnvironment(opts.name) : process.env.CONDA_PREFIX);
      if (!prefix) throw new InvalidInputError("no environment given: pass --prefix <dir> or --name <name> (or activate the environment so $CONDA_PREFIX is set)");
      const output = opts.output ?? `${prefix.replace(/\/+$/, "").split("/").pop() || "environment"}.tar.gz`;
      const result = await withProgress(ctx, (onProgress) =>
        packCondaEnvironment({
          ...commonOptions(opts, filters, ctx),
          prefix,
          output,
          ...(opts.destPrefix ? { destPrefix: opts.destPrefix } : {}),
          ignoreMissingFiles: Boolean(opts.ignoreMissingFiles),
          ignoreEditablePackages: Boolean(opts.ignoreEditablePackages),
          packageCacheDirs: opts.packageCache,
          onProgress,
        }),
      );
      report(ctx, result, opts.destPrefix ? null : "bin/conda-unpack");
    });
}

// ---------------------------------------------------------------------------------------
// Shared with the venv command.

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

interface CondaPackCliOptions extends PackCliOptions {
  prefix?: string;
  name?: string;
  output?: string;
  destPrefix?: string;
  ignoreMissingFiles?: boolean;
  ignoreEditablePackages?: boolean;
  packageCache: string[];
}

/** The options conda and venv packing share; --exclude/--include go to `filters` in command-line order. */
export function addPackOptions(cmd: Command, filters: PathFilter[]): void {
  cmd
    .addOption(new Option("--format <format>", "archive format (default: from the output's extension, else tar.gz)").choices([...ARCHIVE_FORMATS, "tgz", "tbz2", "txz", "tzst"]))
    .option("--arcroot <dir>", "a directory inside the archive to hold the environment")
    .option("--compress-level <n>", "compression level (default 4; zstd 1-22, others 0-9)", int("--compress-level"))
    .option("-j, --n-threads <n>", "compression threads (default 1; -1 = every CPU)", int("--n-threads"))
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
    .option("--alias <dir>", "the directory the archive is unpacked into on the cluster (default pyenv), for the printed interpreter")
    .option("-f, --force", "replace the output if it exists");
}

export function commonOptions(opts: PackCliOptions, filters: PathFilter[], ctx: CommandContext): Omit<PackOptionsBase, "output"> {
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
    signal: ctx.signal,
  };
}

/** Runs a pack with a progress bar that follows the scan and write phases. */
export async function withProgress(
  ctx: CommandContext,
  run: (onProgress: NonNullable<PackOptionsBase["onProgress"]>) => Promise<PackResult>,
): Promise<PackResult> {
  let bar: ReturnType<CommandContext["progress"]> | null = null;
  let phase = "";
  try {
    return await run((p) => {
      if (p.phase !== phase) {
        bar?.stop();
        phase = p.phase;
        bar = ctx.progress(p.phase === "scan" ? "Scanning" : "Packing", p.total, "items");
      }
      bar?.update(p.done);
    });
  } finally {
    (bar as ReturnType<CommandContext["progress"]> | null)?.stop();
  }
}

export function report(ctx: CommandContext, result: PackResult, unpackScript: string | null): void {
  for (const w of result.warnings) ctx.log(`warning: ${w}`);
  ctx.output(result, (r: PackResult) =>
    [
      `Packed ${r.entries} entries into ${r.output} (${r.format}, ${formatBytes(r.size)})`,
      r.sha256 ? `sha256 ${r.sha256}` : "",
      `${r.relocatedFiles} file(s) carry the prefix${unpackScript ? `: run <dir>/${unpackScript} after unpacking` : ""}`,
      `On the cluster: unpack into ${r.env.dirName}/, interpreter ${r.env.interpreter}`,
    ]
      .filter(Boolean)
      .join("\n"),
  );
}

function int(flag: string) {
  return (v: string): number => {
    if (!/^-?\d+$/.test(v)) throw new InvalidInputError(`${flag} takes a whole number, got "${v}"`);
    return Number(v);
  };
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}
