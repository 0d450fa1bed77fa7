import { ClusterPackError } from "@cluster-pack/errors";
import type { Requirement } from "@cluster-pack/packaging";
import { IndexProvider } from "./index-provider";
import { buildDerivation, explainDerivation, type Derivation } from "./pubgrub/report";
import { solve } from "./pubgrub/solver";
import type { Resolution, ResolveOptions } from "./resolution";

export type { Resolution, ResolvedPackage, ResolveOptions } from "./resolution";

/**
 * Resolves requirements for one target: the PubGrub core (pubgrub/) over the index
 * provider, which holds Python's policy (extras as virtual packages `name[extra]` pinned to
 * their base's version; yanked versions only when pinned with `==`/`===`; pre-releases only
 * when necessary unless allowed; Requires-Python; constraints) and schedules the I/O.
 */
export async function resolve(requirements: Requirement[], options: ResolveOptions): Promise<Resolution> {
  const provider = new IndexProvider(requirements, options);
  try {
    const result = await solve(provider, { signal: options.signal });
    if (!result.solved) throw new ResolutionImpossibleError(buildDerivation(result.conclusion, provider.root, provider));
    return await provider.resolution(result.decisions);
  } finally {
    // Nothing keeps working once resolve() has settled: speculative and prefetched
    // fetches are stopped and awaited.
    await provider.stop();
  }
}

/**
 * No set of versions satisfies the requirements. `derivation` is why, as data (facts and
 * the conclusions drawn from them); `explanation` the same as numbered sentences.
 */
export class ResolutionImpossibleError extends ClusterPackError {
  /** One step per line, numbered from 1 ("1. Because ..."); "(2)" cites line 2. */
  readonly explanation: string;

  constructor(readonly derivation: Derivation) {
    const explanation = numberLines(explainDerivation(derivation)).join("\n");
    super("ERR_RESOLUTION_IMPOSSIBLE", `No solution satisfies the requirements:\n${explanation}`);
    this.explanation = explanation;
  }
}

/** "1. ...", "2. ...": how explanation lines are shown (their citations are line numbers). */
export function numberLines(lines: readonly string[]): string[] {
  const width = String(lines.length).length;
  return lines.map((l, i) => `${String(i + 1).padStart(width)}. ${l}`);
}
