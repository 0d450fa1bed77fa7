import type { PipSession, PipSessionOptions, Resolution, TargetEnvironment } from "@cluster-pack/pip";
import { InvalidInputError, redactUrl } from "@cluster-pack/errors";
import type { CommandContext } from "./context";
import { lib } from "./lib";
import { indexOptions, targetSpec, type ResolverCliOptions } from "./options";

/** What resolve, lock and download share at run time: a PipSession from the resolver options. */
export async function openSession(
  requirements: string[],
  opts: ResolverCliOptions,
  ctx: CommandContext,
): Promise<{ session: PipSession; input: Awaited<ReturnType<PipSession["readInput"]>>; target: TargetEnvironment }> {
  if (requirements.length === 0 && !opts.requirement?.length) {
    throw new InvalidInputError("Nothing to resolve.", { hint: "give requirements (e.g. 'pandas>=2') or -r requirements.txt." });
  }
  const target = await targetFromOptions(opts, ctx);
  const split = (v: string[] | true | undefined) => (Array.isArray(v) && v.length ? v.flatMap((s) => s.split(",")) : undefined);
  const sessionOptions: PipSessionOptions = {
    ...indexOptions(opts),
    pipConfig: !opts.isolated,
    constraintFiles: opts.constraint ?? [],
    onlyBinary: split(opts.onlyBinary),
    noBinary: split(opts.binary),
    target,
    signal: ctx.signal,
    resolution: opts.resolution,
    ...(opts.requireHashes ? { requireHashes: true } : {}),
    ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
    ...(opts.timeout !== undefined ? { timeout: opts.timeout } : {}),
  };
  const session = new (lib.pip().PipSession)(sessionOptions);
  const input = await session.readInput({ requirements, files: opts.requirement ?? [] });
  return { session, input, target };
}

/** The explicit target (--python-version/--platform/--implementation), else the --python interpreter probed. */
export function targetFromOptions(opts: ResolverCliOptions, ctx: CommandContext): Promise<TargetEnvironment> {
  const pip = lib.pip();
  return pip.resolveTarget({ ...targetSpec(opts), ...(opts.python ? { interpreter: opts.python } : {}) }, { signal: ctx.signal, cacheDir: opts.cacheDir ?? pip.defaultCacheDir() });
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
      url: p.candidate.file.source.startsWith("direct URL") ? p.candidate.file.source.slice("direct URL ".length) : redactUrl(p.candidate.file.url),
      sha256: p.candidate.file.hashes.sha256 ?? null,
    })),
    warnings: r.warnings,
  };
}
