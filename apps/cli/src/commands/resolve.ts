import { Command, Option } from "commander";
import { InvalidInputError } from "@cluster-pack/errors";
import { explicitTarget, PipSession, probeInterpreter, defaultCacheDir, type PipSessionOptions, type Resolution, type TargetEnvironment } from "@cluster-pack/pip";
import type { CommandContext } from "../context";

export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command("resolve")
    .description("Resolve Python requirements for a target environment and print the pinned set (no pip needed).")
    .argument("[requirements...]", "PEP 508 requirements ('pandas>=2', 'ray[default]'), or paths/URLs of wheels and sdists");
  addResolverOptions(cmd);
  cmd
    .addHelpText(
      "after",
      `
Indexes, find-links and constraints come from your pip configuration (pip.conf, PIP_*),
overridden by the options here; --isolated ignores it.

Examples:
  cluster-pack resolve pandas pyarrow 'pyspark==3.5.1'
  cluster-pack resolve -r requirements.txt --python 3.11 --platform manylinux_2_28_x86_64
  cluster-pack resolve 'ray[default]' --interpreter /opt/venv/bin/python --json
  cluster-pack resolve torch -i https://download.pytorch.org/whl/cpu --pre`,
    )
    .action(async (requirements: string[], opts: ResolverCliOptions) => {
      const { session, input } = await openSession(requirements, opts, ctx);
      const resolution = await session.resolve(input);
      for (const w of resolution.warnings) ctx.log(`warning: ${w}`);
      ctx.output(resolutionJson(resolution), () => resolution.packages.map((p) => `${p.name}==${p.version}`).join("\n"));
    });
}

// ---------------------------------------------------------------------------------------
// Shared with the lock and download commands.

export interface ResolverCliOptions {
  requirement: string[];
  constraint: string[];
  indexUrl?: string;
  extraIndexUrl: string[];
  findLinks: string[];
  index?: boolean;
  pre?: boolean;
  onlyBinary: string[];
  /** commander files "--no-binary <names>" under `binary` (its --no- prefix convention). */
  binary: string[];
  requireHashes?: boolean;
  python?: string;
  platform?: string;
  implementation?: string;
  interpreter?: string;
  cacheDir?: string;
  timeout?: string;
  resolution?: "highest" | "lowest" | "lowest-direct";
  isolated?: boolean;
}

export function addResolverOptions(cmd: Command): Command {
  return cmd
    .option("-r, --requirement <file>", "read requirements from this file (repeatable)", collect, [] as string[])
    .option("-c, --constraint <file>", "constrain versions with this file (repeatable)", collect, [] as string[])
    .option("-i, --index-url <url>", "the primary index (PEP 503/691), replacing pip's")
    .option("--extra-index-url <url>", "another index to search (repeatable)", collect, [] as string[])
    .option("-f, --find-links <location>", "a directory or page of files to search (repeatable)", collect, [] as string[])
    .option("--no-index", "ignore indexes; only --find-links and direct references")
    .option("--pre", "let pre-releases compete with final releases")
    .option("--only-binary <names>", "wheels only for these packages (:all: for every package)", collect, [] as string[])
    .option("--no-binary <names>", "sdists only for these packages (:all:)", collect, [] as string[])
    .option("--require-hashes", "hash-checking mode: every package pinned with == and --hash")
    .option("--python <version>", "target Python version, e.g. 3.11 (resolve for another machine)")
    .option("--platform <tag>", "target platform tag, e.g. manylinux_2_28_x86_64, macosx_11_0_arm64, win_amd64")
    .option("--implementation <name>", "target implementation: cp (default) or pp")
    .option("--interpreter <path>", "probe this Python for the target (default: python3 on PATH)")
    .option("--cache-dir <dir>", `cache for index pages, metadata and files (default ${defaultCacheDir()})`)
    .option("--timeout <seconds>", "per-request network timeout")
    .addOption(new Option("--resolution <strategy>", "which versions to prefer").choices(["highest", "lowest", "lowest-direct"]).default("highest"))
    .option("--isolated", "ignore pip's configuration files and PIP_* variables");
}

export async function openSession(requirements: string[], opts: ResolverCliOptions, ctx: CommandContext): Promise<{ session: PipSession; input: Awaited<ReturnType<PipSession["readInput"]>>; target: TargetEnvironment }> {
  if (requirements.length === 0 && opts.requirement.length === 0) {
    throw new InvalidInputError("Nothing to resolve: give requirements (e.g. 'pandas>=2') or -r requirements.txt.");
  }
  const target = await targetFromOptions(opts, ctx);
  const sessionOptions: PipSessionOptions = {
    pipConfig: !opts.isolated,
    constraintFiles: opts.constraint,
    onlyBinary: opts.onlyBinary.length ? opts.onlyBinary.flatMap((s) => s.split(",")) : undefined,
    noBinary: opts.binary.length ? opts.binary.flatMap((s) => s.split(",")) : undefined,
    target,
    signal: ctx.signal,
    resolution: opts.resolution,
  };
  if (opts.indexUrl) sessionOptions.indexUrl = opts.indexUrl;
  if (opts.extraIndexUrl.length) sessionOptions.extraIndexUrls = opts.extraIndexUrl;
  if (opts.findLinks.length) sessionOptions.findLinks = opts.findLinks;
  if (opts.index === false) sessionOptions.noIndex = true;
  if (opts.pre) sessionOptions.pre = true;
  if (opts.requireHashes) sessionOptions.requireHashes = true;
  if (opts.cacheDir) sessionOptions.cacheDir = opts.cacheDir;
  if (opts.timeout !== undefined) {
    const t = Number(opts.timeout);
    if (!Number.isFinite(t) || t <= 0) throw new InvalidInputError(`--timeout ${JSON.stringify(opts.timeout)} is not a positive number of seconds.`);
    sessionOptions.timeout = t;
  }
  const session = new PipSession(sessionOptions);
  const input = await session.readInput({ requirements, files: opts.requirement });
  return { session, input, target };
}

export async function targetFromOptions(opts: Pick<ResolverCliOptions, "python" | "platform" | "implementation" | "interpreter" | "cacheDir">, ctx: CommandContext): Promise<TargetEnvironment> {
  if (opts.python || opts.platform || opts.implementation) {
    if (opts.interpreter) throw new InvalidInputError("Give either --interpreter or --python/--platform, not both.");
    return explicitTarget({ python: opts.python ?? "3.11", platform: opts.platform, implementation: opts.implementation });
  }
  return probeInterpreter(opts.interpreter ?? "python3", { signal: ctx.signal, cacheDir: opts.cacheDir ?? defaultCacheDir() });
}

export function resolutionJson(r: Resolution): unknown {
  return {
    target: { description: r.target.description, python: r.target.pythonVersion.toString(), markers: r.target.markers },
    packages: r.packages.map((p) => ({
      name: p.name,
      version: p.version.toString(),
      extras: p.extras,
      direct: p.direct,
      dependencies: p.dependencies,
      file: p.candidate.file.filename,
      url: p.candidate.file.source.startsWith("direct URL") ? p.candidate.file.source.slice("direct URL ".length) : redacted(p.candidate.file.url),
      sha256: p.candidate.file.hashes.sha256 ?? null,
    })),
    warnings: r.warnings,
  };
}

function redacted(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = "***";
      u.password = "";
    }
    return u.toString();
  } catch {
    return url;
  }
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
