import { intersect, type Term } from "./term";

/**
 * A set of terms that cannot all hold in one solution, and where that fact comes from:
 * an external cause (a dependency, a constraint, no version left, an unusable version) or
 * two earlier incompatibilities it was derived from during conflict resolution. The
 * derived ones form the derivation tree that explains a failure (report.ts).
 */
export interface Incompatibility<P, M> {
  readonly terms: readonly Term<P>[];
  readonly cause: Cause<P, M>;
}

export type Cause<P, M> =
  /** [depender, not dependency]: the depender's version needs the dependency in a set. */
  | { kind: "dependency" }
  /** [root, pkg outside the allowed set]. */
  | { kind: "constraint"; reason: M }
  /** [pkg in set]: the provider chose no version from the set. */
  | { kind: "no-versions" }
  /** [pkg == version]: the provider cannot use this version. */
  | { kind: "unavailable"; reason: M }
  | { kind: "derived"; left: Incompatibility<P, M>; right: Incompatibility<P, M> };

/** An incompatibility with each package once: terms on the same package are intersected. */
export function incompatibility<P, M>(terms: readonly Term<P>[], cause: Cause<P, M>, universe: (pkg: P) => bigint): Incompatibility<P, M> {
  const byPkg = new Map<P, Term<P>>();
  for (const t of terms) {
    const prev = byPkg.get(t.pkg);
    byPkg.set(t.pkg, prev ? intersect(prev, t, universe(t.pkg)) : t);
  }
  return { terms: [...byPkg.values()], cause };
}
