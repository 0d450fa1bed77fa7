import type { Incompatibility } from "./incompatibility";
import type { PendingPackage, SolutionView } from "./provider";
import { disjoint, intersect, satisfies, versionSet, type Term } from "./term";

/** One step of the partial solution: a decision (cause null) or a derivation. */
export interface Assignment<P, M> {
  readonly term: Term<P>;
  readonly level: number;
  readonly cause: Incompatibility<P, M> | null;
}

export type Relation<P> = { kind: "satisfied" } | { kind: "almost"; term: Term<P> } | { kind: "none" };

/**
 * The assignments made so far, in order, with their decision levels (pubgrub-rs's
 * `partial_solution.rs`): what each package is known to be (the intersection of its
 * assignments), which packages are decided, and the order in which packages were met
 * (ties in prioritisation go to the earliest).
 */
export class PartialSolution<P, M> implements SolutionView<P> {
  private readonly assignments: Assignment<P, M>[] = [];
  private readonly accumulated = new Map<P, Term<P>>();
  private readonly decided = new Map<P, number>();
  private readonly order: P[] = [];
  private readonly met = new Set<P>();
  private currentLevel = 0;

  constructor(private readonly universe: (pkg: P) => bigint) {}

  decision(pkg: P): number | undefined {
    return this.decided.get(pkg);
  }

  /** Every decided package and its version, in decision order. */
  decisions(): ReadonlyMap<P, number> {
    return this.decided;
  }

  /** Undecided packages that must be selected, in the order they were met. */
  pending(): PendingPackage<P>[] {
    const out: PendingPackage<P>[] = [];
    for (const pkg of this.order) {
      if (this.decided.has(pkg)) continue;
      const acc = this.accumulated.get(pkg);
      if (acc?.positive) out.push({ pkg, versions: acc.set });
    }
    return out;
  }

  /** Opens a new decision level with `pkg` at `version`. */
  decide(pkg: P, version: number): void {
    this.currentLevel++;
    this.decided.set(pkg, version);
    this.assign({ pkg, positive: true, set: versionSet(version) }, null);
  }

  /** Records what `cause` implies at the current level. */
  derive(term: Term<P>, cause: Incompatibility<P, M>): void {
    this.assign(term, cause);
  }

  private assign(term: Term<P>, cause: Incompatibility<P, M> | null): void {
    this.assignments.push({ term, level: this.currentLevel, cause });
    const prev = this.accumulated.get(term.pkg);
    this.accumulated.set(term.pkg, prev ? intersect(prev, term, this.universe(term.pkg)) : term);
    if (!this.met.has(term.pkg)) {
      this.met.add(term.pkg);
      this.order.push(term.pkg);
    }
  }

  /** Whether the assignments satisfy `inc`, leave exactly one term open, or contradict it. */
  relation(inc: Incompatibility<P, M>): Relation<P> {
    let unsatisfied: Term<P> | null = null;
    for (const t of inc.terms) {
      const acc = this.accumulated.get(t.pkg);
      if (acc) {
        const u = this.universe(t.pkg);
        if (satisfies(acc, t, u)) continue;
        if (disjoint(acc, t, u)) return { kind: "none" };
      }
      if (unsatisfied) return { kind: "none" };
      unsatisfied = t;
    }
    return unsatisfied ? { kind: "almost", term: unsatisfied } : { kind: "satisfied" };
  }

  /** True when the assignments satisfy `t`. */
  satisfiesTerm(t: Term<P>): boolean {
    const acc = this.accumulated.get(t.pkg);
    return acc !== undefined && satisfies(acc, t, this.universe(t.pkg));
  }

  /**
   * For a satisfied `inc`: the earliest assignment after which it is satisfied (the
   * satisfier), the term of `inc` it completes, and the highest decision level at which
   * the rest of `inc` was already satisfied (where to backtrack to).
   */
  satisfier(inc: Incompatibility<P, M>): { satisfier: Assignment<P, M>; term: Term<P>; previousLevel: number } {
    const acc = new Map<P, Term<P>>();
    const termOf = new Map(inc.terms.map((t) => [t.pkg, t]));
    const satisfiedAt = new Map<P, number>();
    let satisfierIdx = -1;
    let satisfierTerm: Term<P> | null = null;
    for (let i = 0; i < this.assignments.length; i++) {
      const a = this.assignments[i]!;
      const t = termOf.get(a.term.pkg);
      if (!t) continue;
      const u = this.universe(t.pkg);
      const prev = acc.get(a.term.pkg);
      const now = prev ? intersect(prev, a.term, u) : a.term;
      acc.set(a.term.pkg, now);
      if (!satisfiedAt.has(t.pkg) && satisfies(now, t, u)) {
        satisfiedAt.set(t.pkg, i);
        if (satisfiedAt.size === termOf.size) {
          satisfierIdx = i;
          satisfierTerm = t;
          break;
        }
      }
    }
    if (satisfierIdx < 0 || !satisfierTerm) throw new Error("internal: conflict without satisfier");
    const satisfier = this.assignments[satisfierIdx]!;
    let previousLevel = 1;
    for (const [pkg, idx] of satisfiedAt) if (pkg !== satisfierTerm.pkg) previousLevel = Math.max(previousLevel, this.assignments[idx]!.level);
    // If the satisfier alone does not satisfy its term, earlier assignments to the same package contribute.
    const u = this.universe(satisfierTerm.pkg);
    if (!satisfies(satisfier.term, satisfierTerm, u)) {
      let earlier: Term<P> | null = null;
      for (let i = 0; i < satisfierIdx; i++) {
        const a = this.assignments[i]!;
        if (a.term.pkg !== satisfierTerm.pkg) continue;
        earlier = earlier ? intersect(earlier, a.term, u) : a.term;
        if (satisfies(intersect(earlier, satisfier.term, u), satisfierTerm, u)) {
          previousLevel = Math.max(previousLevel, a.level);
          break;
        }
      }
    }
    return { satisfier, term: satisfierTerm, previousLevel };
  }

  /** Drops every assignment above `level`. */
  backtrack(level: number): void {
    while (this.assignments.length && this.assignments[this.assignments.length - 1]!.level > level) {
      const a = this.assignments.pop()!;
      if (a.cause === null) this.decided.delete(a.term.pkg);
    }
    this.currentLevel = level;
    this.accumulated.clear();
    for (const a of this.assignments) {
      const prev = this.accumulated.get(a.term.pkg);
      this.accumulated.set(a.term.pkg, prev ? intersect(prev, a.term, this.universe(a.term.pkg)) : a.term);
    }
  }
}
