import path from "node:path";
import type { Command } from "commander";
import type { CommandContext } from "../context";
import { OUTPUT_RULE, helpText } from "../help";
import { lib } from "../lib";
import { addForceOption, addResolverOptions, checkOutput, type ResolverCliOptions } from "../options";
import { plural } from "../format";
import { openSession } from "../resolver";

export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command("lock")
    .description("Resolve requirements and write a PEP 751 lock file (pylock.toml) pinning every file by hash.")
    .argument("[requirements...]", "PEP 508 requirements, or paths/URLs of wheels and sdists")
    .option("-o, --output <file>", "the lock file to write", "pylock.toml");
  addForceOption(cmd, "the lock file");
  addResolverOptions(cmd)
    .addHelpText(
      "after",
      helpText({
        notes: `The lock is for one target (recorded in its "environments"); install from it with
"cluster-pack download --from-lock pylock.toml -d wheels/", which does no resolution and
fails if any file's hash differs. ${OUTPUT_RULE}`,
        examples: [
          "cluster-pack lock pandas pyarrow -o pylock.toml",
          "cluster-pack lock -r requirements.txt --python-version 3.11 --platform manylinux_2_28_x86_64 \\",
          "    -o cluster.pylock.toml",
          "cluster-pack lock 'ray[default]' --force --json",
        ],
      }),
    )
    .action(async (requirements: string[], opts: ResolverCliOptions & { output: string; force?: boolean }) => {
      const output = path.resolve(opts.output);
      checkOutput(output, opts.force);
      const { session, input } = await openSession(requirements, opts, ctx);
      const resolution = await session.resolve(input);
      for (const w of resolution.warnings) ctx.log(`warning: ${w}`);
      const pip = lib.pip();
      const lock = await pip.lockFromResolution(resolution, session.cache, { signal: ctx.signal });
      await pip.writePyLock(output, lock, { overwrite: Boolean(opts.force) });
      ctx.output(
        { lock: output, packages: lock.packages.map((p) => ({ name: p.name, version: p.version, files: p.wheels.length + (p.sdist ? 1 : 0) })) },
        () => `wrote ${output} (${plural(lock.packages.length, "package")})`,
      );
    });
}
