import type { Candidate, CandidateFinder } from "./finder";
import { type Requirement, type Version } from "@cluster-pack/packaging";
import type { TargetEnvironment } from "./target";

/** One pinned package of a resolution. */
export interface ResolvedPackage {
  name: string;
  version: Version;
  candidate: Candidate;
  /** Extras that were requested for it anywhere in the graph. */
  extras: string[];
  /** Names of the packages it depends on in this resolution (sorted). */
  dependencies: string[];
  /** True when a root requirement named it. */
  direct: boolean;
}

export interface Resolution {
  /** Sorted by name. */
  packages: ResolvedPackage[];
  target: TargetEnvironment;
  /** Non-fatal problems, e.g. an unreachable extra index. */
  warnings: string[];
}

export interface ResolveOptions {
  /** Where candidates and metadata come from: a PackageFinder over indexes, or any CandidateFinder. */
  finder: CandidateFinder;
  target: TargetEnvironment;
  /** Constraints (-c): limit versions, never add packages. */
  constraints?: Requirement[];
  /**
   * Pre-release policy. "if-necessary" (default): pre-releases are in every range a
   * specifier allows, but a final release in the allowed range is always preferred; a
   * pre-release is chosen only when no final release is left (so `a>=1.0a1` still picks a
   * stable 1.2 over 2.0b1; pip would pick 2.0b1). "allow" (--pre): pre-releases compete
   * like finals. "disallow": never.
   */
  prereleases?: "if-necessary" | "allow" | "disallow";
  signal?: AbortSignal;
  /** "highest" (default), "lowest" (every package), "lowest-direct" (root requirements only). */
  resolution?: "highest" | "lowest" | "lowest-direct";
  /** Packages whose metadata is prefetched ahead of decisions. Default 32. */
  prefetch?: number;
}
