import path from "node:path";
import type { Command } from "commander";
import { InvalidInputError } from "@cluster-pack/errors";
import { DistributionCache, HttpClient, defaultCacheDir, fetchLocked, readPyLock, selectFromLock } from "@cluster-pack/pip";
import type { CommandContext } from "../context";
import { addResolverOptions, openSession, targetFromOptions, type ResolverCliOptions } from "./resolve";

export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command("download")
    .description("Resolve requirements (or read a lock) and download every file, hash-verified, into a directory.")
    .argument("[requirements...]", "PEP 508 requirements, or paths/URLs of wheels and sdists")
    .requiredOption("-d, --dest <dir>", "the directory to fill with wheels/sdists")
    .option("--from-lock <pylock.toml>", "take exact files from this lock: no resolution, hashes enforced");
  addResolverOptions(cmd);
  cmd
    .addHelpText(
      "after",
      `
Files are fetched once into the content-addressed cache (by sha256) and linked or copied
into --dest; every file is checked against the index's hashes, --hash pins and lock hashes.

Examples:
  cluster-pack download pandas pyarrow -d wheels/
  cluster-pack download -r requirements.txt --require-hashes -d wheels/
  cluster-pack download --from-lock pylock.toml -d wheels/ --python 3.11 --platform manylinux_2_28_x86_64`,
    )
    .action(async (requirements: string[], opts: ResolverCliOptions & { dest: string; fromLock?: string }) => {
      const dest = path.resolve(opts.dest);
      let files: Array<{ name: string; version: string; path: string; sha256: string }>;
      if (opts.fromLock) {
        if (requirements.length || opts.requirement.length) throw new InvalidInputError("--from-lock takes the packages from the lock; do not also give requirements.");
        const lock = await readPyLock(opts.fromLock);
        const target = await targetFromOptions(opts, ctx);
        const cache = new DistributionCache(opts.cacheDir ?? defaultCacheDir(), new HttpClient({ cacheDir: opts.cacheDir ?? defaultCacheDir() }));
        const selection = selectFromLock(lock, target, opts.fromLock);
        const bar = ctx.progress("downloading", selection.length);
        try {
          files = await fetchLocked(selection, cache, { dest, signal: ctx.signal });
        } finally {
          bar.stop();
        }
      } else {
        const { session, input } = await openSession(requirements, opts, ctx);
        const resolution = await session.resolve(input);
        for (const w of resolution.warnings) ctx.log(`warning: ${w}`);
        const bar = ctx.progress("downloading", resolution.packages.length);
        try {
          files = await session.download(resolution, input, dest);
        } finally {
          bar.stop();
        }
      }
      ctx.output(
        { dest, files: files.map((f) => ({ name: f.name, version: f.version, path: f.path, sha256: f.sha256 })) },
        () => files.map((f) => `${path.basename(f.path)}  sha256:${f.sha256}`).join("\n"),
      );
    });
}
