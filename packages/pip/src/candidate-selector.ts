import type { Candidate } from "./finder";

export type PrereleasePolicy = "if-necessary" | "allow" | "disallow";
export type ResolutionStrategy = "highest" | "lowest" | "lowest-direct";

/**
 * Which version of a project to try among those still allowed (uv's candidate_selector.rs):
 * a preferred version first when it is allowed (an extra follows its base), then the
 * highest (or, by strategy, the lowest) final release, and a pre-release only when no final
 * release is allowed, unless pre-releases compete ("allow") or never do ("disallow").
 */
export class CandidateSelector {
  constructor(
    private readonly prereleases: PrereleasePolicy,
    private readonly strategy: ResolutionStrategy,
    /** Projects named by a root requirement (for "lowest-direct"). */
    private readonly direct: ReadonlySet<string>,
  ) {}

  /**
   * The index in `candidates` (newest first; bit i of `allowed` is candidates[i]) of the
   * version to try, or null when none of the allowed versions may be chosen.
   */
  select(project: string, candidates: readonly Candidate[], allowed: bigint, preferred?: Candidate): number | null {
    if (preferred) {
      const i = candidates.indexOf(preferred);
      if (i >= 0 && allowed & (1n << BigInt(i))) return i;
    }
    const lowest = this.strategy === "lowest" || (this.strategy === "lowest-direct" && this.direct.has(project));
    let firstPre = -1;
    const n = candidates.length;
    for (let k = 0; k < n; k++) {
      const i = lowest ? n - 1 - k : k;
      if (!(allowed & (1n << BigInt(i)))) continue;
      if (!candidates[i]!.version.isPrerelease || this.prereleases === "allow") return i;
      if (firstPre < 0) firstPre = i;
    }
    return this.prereleases === "disallow" || firstPre < 0 ? null : firstPre;
  }
}
