import type { Command } from "commander";
import type { CommandContext } from "../context";
import { helpText } from "../help";
import { addResolverOptions, type ResolverCliOptions } from "../options";
import { openSession, resolutionJson } from "../resolver";

export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command("resolve")
    .description("Resolve Python requirements for a target environment and print the pinned set (no pip needed).")
    .argument("[requirements...]", "PEP 508 requirements ('pandas>=2', 'ray[default]'), or paths/URLs of wheels and sdists");
  addResolverOptions(cmd)
    .addHelpText(
      "after",
      helpText({
        notes: `Indexes, find-links and constraints come from your pip configuration (pip.conf, PIP_*),
overridden by the options here; --isolated ignores it.`,
        examples: [
          "cluster-pack resolve pandas pyarrow 'pyspark==3.5.1'",
          "cluster-pack resolve -r requirements.txt --python-version 3.11 --platform manylinux_2_28_x86_64",
          "cluster-pack resolve 'ray[default]' --python /opt/venv/bin/python --json",
          "cluster-pack resolve torch -i https://download.pytorch.org/whl/cpu --pre",
        ],
      }),
    )
    .action(async (requirements: string[], opts: ResolverCliOptions) => {
      const { session, input } = await openSession(requirements, opts, ctx);
      const resolution = await session.resolve(input);
      for (const w of resolution.warnings) ctx.log(`warning: ${w}`);
      ctx.output(resolutionJson(resolution), () => resolution.packages.map((p) => `${p.name}==${p.version}`).join("\n"));
    });
}
