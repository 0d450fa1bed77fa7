import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { InvalidInputError } from "@cluster-pack/errors";
import type { CommandContext } from "../context";
import { OUTPUT_RULE, helpText } from "../help";
import { lib } from "../lib";
import { addForceOption, addResolverOptions, outputExists, type ResolverCliOptions } from "../options";
import { openSession, targetFromOptions } from "../resolver";

export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command("download")
    .description("Resolve requirements (or read a lock) and download every file, hash-verified, into a directory.")
    .argument("[requirements...]", "PEP 508 requirements, or paths/URLs of wheels and sdists")
    .requiredOption("-d, --dest <dir>", "the directory to fill with wheels/sdists")
    .option("--from-lock <pylock.toml>", "take exact files from this lock: no resolution, hashes enforced");
  addForceOption(cmd, "files of the same name in --dest");
  addResolverOptions(cmd)
    .addHelpText(
      "after",
      helpText({
        notes: `Files are fetched once into the content-addressed cache (by sha256), then placed into
--dest; every file is checked against the index's hashes, --hash pins and lock hashes.
A file already in --dest with the expected sha256 is left as it is; ${OUTPUT_RULE.replace(/^An/, "an")}`,
        examples: [
          "cluster-pack download pandas pyarrow -d wheels/",
          "cluster-pack download -r requirements.txt --require-hashes -d wheels/",
          "cluster-pack download --from-lock pylock.toml -d wheels/ --python-version 3.11 \\",
          "    --platform manylinux_2_28_x86_64",
        ],
      }),
    )
    .action(async (requirements: string[], opts: ResolverCliOptions & { dest: string; fromLock?: string; force?: boolean }) => {
      const dest = path.resolve(opts.dest);
      const pip = lib.pip();
      // Into the cache first (verified), then into --dest once the output rule allows every file.
      let fetched: Array<{ name: string; version: string; filename: string; path: string; sha256: string }>;
      if (opts.fromLock) {
        if (requirements.length || opts.requirement?.length) throw new InvalidInputError("--from-lock takes the packages from the lock, and requirements were given too.", { hint: "drop the requirements, or --from-lock." });
        const lock = await pip.readPyLock(opts.fromLock);
        const target = await targetFromOptions(opts, ctx);
        const cacheDir = opts.cacheDir ?? pip.defaultCacheDir();
        const cache = new pip.DistributionCache(cacheDir, new pip.HttpClient({ cacheDir }));
        const selection = pip.selectFromLock(lock, target, opts.fromLock);
        const bar = ctx.progress("downloading", selection.length);
        try {
          fetched = (await pip.fetchLocked(selection, cache, { signal: ctx.signal })).map((f) => ({ ...f, filename: f.file.filename }));
        } finally {
          bar.stop();
        }
      } else {
        const { session, input } = await openSession(requirements, opts, ctx);
        const resolution = await session.resolve(input);
        for (const w of resolution.warnings) ctx.log(`warning: ${w}`);
        const bar = ctx.progress("downloading", resolution.packages.length);
        try {
          fetched = await session.download(resolution, input);
        } finally {
          bar.stop();
        }
      }
      await checkDestination(dest, fetched, opts.force, ctx.signal);
      const files: Array<{ name: string; version: string; path: string; sha256: string }> = [];
      for (const f of fetched) {
        const out = path.join(dest, f.filename);
        await pip.placeFile(f.path, out);
        files.push({ name: f.name, version: f.version, path: out, sha256: f.sha256 });
      }
      ctx.output({ dest, files }, () => files.map((f) => `${path.basename(f.path)}  sha256:${f.sha256}`).join("\n"));
    });
}

/**
 * The output rule for a directory of downloads: a file already there is replaced only
 * with --force, unless it is byte for byte the verified one (same sha256), which is no
 * loss. Checked before anything is placed.
 */
async function checkDestination(dest: string, files: ReadonlyArray<{ filename: string; sha256: string }>, force: boolean | undefined, signal: AbortSignal): Promise<void> {
  if (force) return;
  for (const file of files) {
    const target = path.join(dest, file.filename);
    if (!fs.existsSync(target)) continue;
    if ((await lib.io().sha256File(target, { signal })) === file.sha256) continue;
    throw outputExists(target);
  }
}
