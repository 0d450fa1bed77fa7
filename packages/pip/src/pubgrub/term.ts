/**
 * Terms over bit-set version sets. A package's versions are numbered by its provider
 * (0..n-1) and a version set is a bigint whose bit i stands for version i, so every set
 * operation is exact and costs a few machine words, where pubgrub-rs's generic ranges need
 * interval algebra. A complement needs the package's universe (all n bits), passed in.
 */

/** "pkg is selected with a version in set" (positive), or "pkg is not selected with a version in set" (negative). */
export interface Term<P> {
  readonly pkg: P;
  readonly positive: boolean;
  readonly set: bigint;
}

/** The universe of a package with `count` versions: every bit set. */
export function fullSet(count: number): bigint {
  return (1n << BigInt(count)) - 1n;
}

/** The set holding only version `index`. */
export function versionSet(index: number): bigint {
  return 1n << BigInt(index);
}

/** How many versions a set holds. */
export function countVersions(set: bigint): number {
  let n = 0;
  while (set) {
    set &= set - 1n;
    n++;
  }
  return n;
}

/** Both terms at once (same package); `universe` is the package's full set. */
export function intersect<P>(a: Term<P>, b: Term<P>, universe: bigint): Term<P> {
  if (a.positive && b.positive) return { pkg: a.pkg, positive: true, set: a.set & b.set };
  if (a.positive) return { pkg: a.pkg, positive: true, set: a.set & ~b.set & universe };
  if (b.positive) return { pkg: a.pkg, positive: true, set: b.set & ~a.set & universe };
  return { pkg: a.pkg, positive: false, set: (a.set | b.set) & universe };
}

export function negate<P>(t: Term<P>): Term<P> {
  return { pkg: t.pkg, positive: !t.positive, set: t.set };
}

/** "a ⊆ b": every way to satisfy a satisfies b. */
export function satisfies<P>(a: Term<P>, b: Term<P>, universe: bigint): boolean {
  const i = intersect(a, b, universe);
  return i.positive === a.positive && i.set === (a.set & universe);
}

/** No way to satisfy both. */
export function disjoint<P>(a: Term<P>, b: Term<P>, universe: bigint): boolean {
  const i = intersect(a, b, universe);
  return i.positive && i.set === 0n;
}
