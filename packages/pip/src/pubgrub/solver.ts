import { throwIfAborted } from "@cluster-pack/errors";
import { incompatibility, type Cause, type Incompatibility } from "./incompatibility";
import { PartialSolution } from "./partial-solution";
import type { Dependencies, DependencyProvider } from "./provider";
import { fullSet, intersect, negate, satisfies, versionSet, type Term } from "./term";

export type SolveResult<P, M> =
  /** Every selected package and its version (the root included). */
  | { solved: true; decisions: ReadonlyMap<P, number> }
  /** No solution: `conclusion` is the root of the derivation tree that says why (report.ts). */
  | { solved: false; conclusion: Incompatibility<P, M> };

export interface SolveOptions {
  signal?: AbortSignal;
}

/**
 * PubGrub (Weizenbaum's algorithm, as in Dart's pub, pubgrub-rs and uv): unit propagation
 * over incompatibilities, conflict-driven clause learning and non-chronological
 * backtracking. The provider says which versions exist, which to try and what they need;
 * this loop decides, propagates and learns.
 */
export async function solve<P, M>(provider: DependencyProvider<P, M>, options: SolveOptions = {}): Promise<SolveResult<P, M>> {
  const solver = new Solver(provider, options.signal);
  try {
    return { solved: true, decisions: await solver.run() };
  } catch (err) {
    if (err instanceof Unsatisfiable) return { solved: false, conclusion: err.conclusion as Incompatibility<P, M> };
    throw err;
  }
}

class Unsatisfiable extends Error {
  constructor(readonly conclusion: Incompatibility<unknown, unknown>) {
    super("no solution");
  }
}

class Solver<P, M> {
  private readonly universes = new Map<P, bigint>();
  private readonly incompats = new Map<P, Incompatibility<P, M>[]>();
  private readonly solution: PartialSolution<P, M>;
  private readonly universe = (pkg: P): bigint => {
    let u = this.universes.get(pkg);
    if (u === undefined) {
      u = fullSet(this.provider.versionCount(pkg));
      this.universes.set(pkg, u);
    }
    return u;
  };

  constructor(
    private readonly provider: DependencyProvider<P, M>,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.solution = new PartialSolution(this.universe);
  }

  async run(): Promise<ReadonlyMap<P, number>> {
    const { root } = this.provider;
    const self: Term<P> = { pkg: root, positive: true, set: versionSet(0) };
    const deps = await this.provider.getDependencies(root, 0, this.signal);
    throwIfAborted(this.signal);
    if (deps.kind === "unavailable") throw new Unsatisfiable(this.incompat([self], { kind: "unavailable", reason: deps.reason }));
    this.addDependencies(self, deps);
    // The root is decided at level 1.
    this.solution.decide(root, 0);
    let next: P | null = root;
    while (next !== null) {
      throwIfAborted(this.signal);
      this.propagate(next);
      next = await this.decideNext();
    }
    return this.solution.decisions();
  }

  private incompat(terms: Term<P>[], cause: Cause<P, M>): Incompatibility<P, M> {
    return incompatibility(terms, cause, this.universe);
  }

  private addIncompat(inc: Incompatibility<P, M>): void {
    for (const t of inc.terms) {
      let list = this.incompats.get(t.pkg);
      if (!list) this.incompats.set(t.pkg, (list = []));
      list.push(inc);
    }
  }

  /** Adds constraints, then "self depends on ..." for each dependency; returns the latter. */
  private addDependencies(self: Term<P>, deps: Extract<Dependencies<P, M>, { kind: "available" }>): Incompatibility<P, M>[] {
    const rootTerm: Term<P> = { pkg: this.provider.root, positive: true, set: versionSet(0) };
    for (const c of deps.constraints ?? []) {
      this.addIncompat(this.incompat([rootTerm, { pkg: c.pkg, positive: true, set: this.universe(c.pkg) & ~c.versions }], { kind: "constraint", reason: c.reason }));
    }
    const added: Incompatibility<P, M>[] = [];
    for (const d of deps.dependencies) {
      const inc = this.incompat([self, { pkg: d.pkg, positive: false, set: d.versions }], { kind: "dependency" });
      this.addIncompat(inc);
      added.push(inc);
    }
    return added;
  }

  private propagate(start: P): void {
    const changed = [start];
    while (changed.length) {
      const pkg = changed.pop()!;
      const list = this.incompats.get(pkg) ?? [];
      for (let i = list.length - 1; i >= 0; i--) {
        const inc = list[i]!;
        const rel = this.solution.relation(inc);
        if (rel.kind === "satisfied") {
          const learned = this.resolveConflict(inc);
          const after = this.solution.relation(learned);
          if (after.kind !== "almost") throw new Error("internal: learned clause is not almost satisfied after backtracking");
          this.solution.derive(negate(after.term), learned);
          changed.length = 0;
          changed.push(after.term.pkg);
          break;
        }
        if (rel.kind === "almost") {
          this.solution.derive(negate(rel.term), inc);
          if (!changed.includes(rel.term.pkg)) changed.push(rel.term.pkg);
        }
      }
    }
  }

  /** Learns from a satisfied incompatibility until one backtrack makes it almost satisfied. */
  private resolveConflict(start: Incompatibility<P, M>): Incompatibility<P, M> {
    let inc = start;
    for (;;) {
      if (this.isTerminal(inc)) throw new Unsatisfiable(inc);
      const { satisfier, term, previousLevel } = this.solution.satisfier(inc);
      if (satisfier.cause === null || previousLevel < satisfier.level) {
        if (inc !== start) this.addIncompat(inc);
        this.solution.backtrack(previousLevel);
        return inc;
      }
      // Resolve: inc ∪ cause, minus the satisfier's package (plus what the satisfier left over).
      const terms = [...inc.terms.filter((t) => t.pkg !== term.pkg), ...satisfier.cause.terms.filter((t) => t.pkg !== term.pkg)];
      const u = this.universe(term.pkg);
      if (!satisfies(satisfier.term, term, u)) terms.push(negate(intersect(satisfier.term, negate(term), u)));
      inc = this.incompat(terms, { kind: "derived", left: inc, right: satisfier.cause });
    }
  }

  private isTerminal(inc: Incompatibility<P, M>): boolean {
    return inc.terms.length === 0 || (inc.terms.length === 1 && inc.terms[0]!.pkg === this.provider.root && inc.terms[0]!.positive);
  }

  private async decideNext(): Promise<P | null> {
    const pending = this.solution.pending();
    if (pending.length === 0) return null;
    this.provider.prefetch?.(pending, this.solution);
    let pick = pending[0]!;
    let best = -Infinity;
    for (const p of pending) {
      const priority = this.provider.prioritize(p.pkg, p.versions, this.solution);
      if (priority > best) {
        best = priority;
        pick = p;
      }
    }
    const version = this.provider.chooseVersion(pick.pkg, pick.versions, this.solution);
    if (version === null) {
      this.addIncompat(this.incompat([{ pkg: pick.pkg, positive: true, set: pick.versions }], { kind: "no-versions" }));
      return pick.pkg;
    }
    const deps = await this.provider.getDependencies(pick.pkg, version, this.signal);
    throwIfAborted(this.signal);
    const self: Term<P> = { pkg: pick.pkg, positive: true, set: versionSet(version) };
    if (deps.kind === "unavailable") {
      this.addIncompat(this.incompat([self], { kind: "unavailable", reason: deps.reason }));
      return pick.pkg;
    }
    const added = this.addDependencies(self, deps);
    // Decide only if no new dependency already conflicts; otherwise propagation backtracks.
    const conflict = added.some((inc) => inc.terms.every((t) => t.pkg === pick.pkg || this.solution.satisfiesTerm(t)));
    if (!conflict) this.solution.decide(pick.pkg, version);
    return pick.pkg;
  }
}
