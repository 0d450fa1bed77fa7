import type { Command } from "commander";
import { InvalidInputError } from "@cluster-pack/errors";
import type { PathFilter } from "@cluster-pack/conda";
import type { CommandContext } from "../context";
import { OUTPUT_RULE, helpText } from "../help";
import { lib } from "../lib";
import { addPackOptions, checkOutput, packOptions, repeatable, type PackCliOptions } from "../options";
import { reportPack, withPackProgress } from "../packing";

export function register(program: Command, ctx: CommandContext): void {
  const conda = program
    .command("conda")
    .description("Conda environments: pack one into a relocatable archive (the conda-pack replacement).")
    .addHelpText("after", helpText({ examples: ["cluster-pack conda pack -n app -o app.tar.gz", "cluster-pack conda pack --help"] }));
  const filters: PathFilter[] = [];
  const cmd = conda
    .command("pack")
    .description("Pack a conda (or pixi/rattler) environment into an archive that works wherever it is unpacked.")
    .option("-p, --prefix <dir>", "the environment to pack (default $CONDA_PREFIX)")
    .option("-n, --name <name>", "the environment to pack, by name (as conda activate NAME)")
    .option("-o, --output <file>", "the archive to write (default <env name>.tar.gz)");
  addPackOptions(cmd, filters)
    .option("-d, --dest-prefix <dir>", "rewrite prefixes at pack time for this unpack location (no conda-unpack needed)")
    .option("--ignore-missing-files", "pack even when files listed in conda-meta are missing")
    .option("--ignore-editable-packages", "pack even with editable installs (their code stays outside)")
    .addOption(repeatable("--package-cache <dir>", "also look for extracted packages here"))
    .addHelpText(
      "after",
      helpText({
        notes: `Unpacking: extract the archive anywhere, then run <dir>/bin/conda-unpack once (it uses the
environment's own python) and ". <dir>/bin/activate". With --dest-prefix the archive is
ready to run at that path and has no conda-unpack. ${OUTPUT_RULE}`,
        examples: [
          "cluster-pack conda pack -p ~/miniconda3/envs/app -o app.tar.gz -j 2",
          "cluster-pack conda pack -n app -o app.tar.gz --force",
          "cluster-pack conda pack -p .pixi/envs/default -o env.tar.zst --compress-level 10 -j -1",
          "cluster-pack conda pack -p $CONDA_PREFIX -o env.zip --exclude '*.pyc' \\",
          "    --exclude 'lib/python3.11/site-packages/tests/*'",
          "cluster-pack conda pack -p $CONDA_PREFIX -o /opt/env --format no-archive --dest-prefix /opt/env",
          "cluster-pack conda pack -p $CONDA_PREFIX -o env.tar.gz --json",
        ],
      }),
    )
    .action(async (opts: CondaPackCliOptions) => {
      if (opts.prefix && opts.name) throw new InvalidInputError("both --prefix and --name were given", { hint: "pass either --prefix or --name, not both." });
      const conda = lib.conda();
      const prefix = opts.prefix ?? (opts.name ? await conda.findCondaEnvironment(opts.name) : process.env.CONDA_PREFIX);
      if (!prefix) throw new InvalidInputError("no environment given", { hint: "pass --prefix <dir> or --name <name> (or activate the environment so $CONDA_PREFIX is set)." });
      const output = opts.output ?? `${prefix.replace(/\/+$/, "").split("/").pop() || "environment"}.tar.gz`;
      checkOutput(output, opts.force, opts.format === "no-archive" || opts.format === "directory" ? "directory" : "file");
      const result = await withPackProgress(ctx, (onProgress) =>
        conda.packCondaEnvironment({
          ...packOptions(opts, filters, ctx.signal),
          prefix,
          output,
          ...(opts.destPrefix ? { destPrefix: opts.destPrefix } : {}),
          ignoreMissingFiles: Boolean(opts.ignoreMissingFiles),
          ignoreEditablePackages: Boolean(opts.ignoreEditablePackages),
          packageCacheDirs: opts.packageCache ?? [],
          onProgress,
        }),
      );
      reportPack(ctx, result, opts.destPrefix ? null : "bin/conda-unpack");
    });
}

interface CondaPackCliOptions extends PackCliOptions {
  prefix?: string;
  name?: string;
  output?: string;
  destPrefix?: string;
  ignoreMissingFiles?: boolean;
  ignoreEditablePackages?: boolean;
  packageCache?: string[];
}
