import { Option, type Command } from "commander";
import { InvalidInputError } from "@cluster-pack/errors";
import type { PathFilter, VenvInterpreterMode } from "@cluster-pack/conda";
import type { CommandContext } from "../context";
import { OUTPUT_RULE, helpText } from "../help";
import { lib } from "../lib";
import { addPackOptions, checkOutput, packOptions, type PackCliOptions } from "../options";
import { reportPack, withPackProgress } from "../packing";

export function register(program: Command, ctx: CommandContext): void {
  const venv = program
    .command("venv")
    .description("Virtual environments: pack one into a relocatable archive (the venv-pack replacement).")
    .addHelpText("after", helpText({ examples: ["cluster-pack venv pack -p .venv -o venv.tar.gz", "cluster-pack venv pack --help"] }));
  const filters: PathFilter[] = [];
  const cmd = venv
    .command("pack")
    .description("Pack a venv or virtualenv (a directory with pyvenv.cfg) into an archive that works wherever it is unpacked.")
    .option("-p, --prefix <dir>", "the venv to pack (default $VIRTUAL_ENV)")
    .option("-o, --output <file>", "the archive to write (default <venv name>.tar.gz)")
    .addOption(
      new Option(
        "--interpreter <mode>",
        "path: run the target's pythonX.Y from PATH; ship: pack this venv's base interpreter inside; keep: keep links to this machine's interpreter (venv-pack)",
      )
        .choices(["path", "ship", "keep"])
        .default("path"),
    );
  addPackOptions(cmd, filters)
    .option("--ignore-editable-packages", "pack even with editable installs (their code stays outside)")
    .addHelpText(
      "after",
      helpText({
        notes: `The unpacked venv needs no fix-up step: scripts in bin/ run with the venv's own python,
and bin/python runs the pythonX.Y found on the target's PATH (--interpreter path) with the
venv's site-packages. ${OUTPUT_RULE}`,
        examples: [
          "cluster-pack venv pack -p .venv -o venv.tar.gz",
          "cluster-pack venv pack -p .venv -o venv.zip --exclude '*.pyc' -j 2 --json",
          "# no Python needed on the target: the base interpreter goes inside",
          "cluster-pack venv pack -p .venv -o venv.tar.zst --interpreter ship -j 2",
          "cluster-pack venv pack -p $VIRTUAL_ENV -o venv.tar.gz --interpreter keep --force",
        ],
      }),
    )
    .action(async (opts: VenvPackCliOptions) => {
      const prefix = opts.prefix ?? process.env.VIRTUAL_ENV;
      if (!prefix) throw new InvalidInputError("no venv given", { hint: "pass --prefix <dir> (or activate the venv so $VIRTUAL_ENV is set)." });
      const output = opts.output ?? `${prefix.replace(/\/+$/, "").split("/").pop() || "venv"}.tar.gz`;
      checkOutput(output, opts.force, opts.format === "no-archive" || opts.format === "directory" ? "directory" : "file");
      const result = await withPackProgress(ctx, (onProgress) =>
        lib.conda().packVenv({
          ...packOptions(opts, filters, ctx.signal),
          prefix,
          output,
          interpreter: opts.interpreter as VenvInterpreterMode,
          ignoreEditablePackages: Boolean(opts.ignoreEditablePackages),
          onProgress,
        }),
      );
      reportPack(ctx, result, null);
    });
}

interface VenvPackCliOptions extends PackCliOptions {
  prefix?: string;
  output?: string;
  interpreter: string;
  ignoreEditablePackages?: boolean;
}
