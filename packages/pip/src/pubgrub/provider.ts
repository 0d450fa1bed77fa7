/**
 * The contract between the PubGrub core and the world (pubgrub-rs's `DependencyProvider`):
 * which versions a package has, which one to try, and what each version needs. The core
 * knows nothing of Python or I/O; `index-provider.ts` implements this over package indexes,
 * the test kit's `MemoryDependencyProvider` over a table in memory.
 *
 * Versions are indices: package p has `versionCount(p)` versions, numbered in an order the
 * provider chooses (e.g. newest first), and a version set is a bit set whose bit i stands
 * for version i (see term.ts).
 */
export interface DependencyProvider<P, M = string> {
  /** The package resolution starts from: it has one version (0), decided first. */
  readonly root: P;
  /**
   * How many versions `pkg` has. Asked for the root and for packages the provider has named
   * in a dependency or constraint, so it must be known by then; never changes.
   */
  versionCount(pkg: P): number;
  /**
   * Which undecided package to decide next: the highest priority, ties going to the package
   * the solver met first. Asked before each decision for every package that must be
   * selected and is not yet; deciding near-certain packages first keeps backtracking local.
   */
  prioritize(pkg: P, versions: bigint, solution: SolutionView<P>): number;
  /** The version of `pkg` to try among `versions`, or null when none of them is acceptable. */
  chooseVersion(pkg: P, versions: bigint, solution: SolutionView<P>): number | null;
  /**
   * What `version` of `pkg` depends on. Asked again for the same version after backtracking,
   * so a provider that does I/O keeps the answer. Every package it names must have a known
   * `versionCount` when the promise settles.
   */
  getDependencies(pkg: P, version: number, signal?: AbortSignal): Promise<Dependencies<P, M>>;
  /**
   * A hint before each decision: these packages wait for one, in the order the solver met
   * them. A provider that does I/O may start loading what choosing them will need.
   */
  prefetch?(pending: readonly PendingPackage<P>[], solution: SolutionView<P>): void;
}

/** The answer to `getDependencies`. */
export type Dependencies<P, M> =
  | {
      kind: "available";
      /** "This version needs `pkg` with a version in `versions`." */
      dependencies: Dependency<P>[];
      /** Limits on packages these dependencies bring into the graph (see Constraint). */
      constraints?: Constraint<P, M>[];
    }
  /** This version cannot be used (metadata missing, wrong interpreter...): `reason` says why. */
  | { kind: "unavailable"; reason: M };

export interface Dependency<P> {
  pkg: P;
  versions: bigint;
}

/**
 * "If `pkg` is in the resolution at all, its version is in `versions`": a limit from the
 * root (pip's constraint files) that never adds `pkg` by itself.
 */
export interface Constraint<P, M> {
  pkg: P;
  versions: bigint;
  reason: M;
}

/** An undecided package that must be selected, and the versions still allowed. */
export interface PendingPackage<P> {
  pkg: P;
  versions: bigint;
}

/** What a provider may read of the solver's state. */
export interface SolutionView<P> {
  /** The version decided for `pkg`, or undefined while it is undecided. */
  decision(pkg: P): number | undefined;
}
