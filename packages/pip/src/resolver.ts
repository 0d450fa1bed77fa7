import { ClusterPackError, InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { formatRequirement, type Requirement, SpecifierSet, type Version } from "@cluster-pack/packaging";
import type { Candidate, CandidateReport, PackageFinder } from "./finder";
import { requiresPythonOk } from "./finder";
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
  finder: PackageFinder;
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

/** No set of versions satisfies the requirements; `explanation` says why, step by step. */
export class ResolutionImpossibleError extends ClusterPackError {
  constructor(readonly explanation: string) {
    super("ERR_RESOLUTION_IMPOSSIBLE", `No solution satisfies the requirements:\n${explanation}`);
  }
}

/**
 * Resolves requirements with PubGrub (Weizenbaum's algorithm, as in Dart's pub, uv and
 * pubgrub-rs): unit propagation over incompatibilities, conflict-driven clause learning and
 * non-chronological backtracking. Version sets are bit sets over each project's candidate
 * list (the index tells us every version up front), so set algebra is exact and cheap.
 * Extras are virtual packages `name[extra]` pinned to the same version as `name`.
 * Yanked versions (PEP 592) are used only when a root requirement or constraint pins them
 * with `==`/`===`.
 */
export async function resolve(requirements: Requirement[], options: ResolveOptions): Promise<Resolution> {
  const solver = new Solver(requirements, options);
  try {
    return await solver.run();
  } finally {
    // Nothing keeps working once resolve() has settled: speculative and prefetched
    // fetches are stopped and awaited.
    await solver.stop();
  }
}

// ---------------------------------------------------------------------------------------
// Terms and incompatibilities

interface Term {
  pkg: string;
  positive: boolean;
  set: bigint;
}

type Cause =
  | { kind: "root" }
  | { kind: "dependency"; text: string }
  | { kind: "constraint"; text: string }
  | { kind: "noVersions" }
  | { kind: "unavailable"; reason: string }
  | { kind: "derived"; left: Incompat; right: Incompat };

interface Incompat {
  terms: Term[];
  cause: Cause;
  id: number;
}

interface Assignment {
  term: Term;
  level: number;
  cause: Incompat | null;
  /** Decided version index (decisions only). */
  index?: number;
}

const ROOT = "<root>";

class Solver {
  private readonly packages = new Map<string, PackageInfo>();
  private readonly incompats = new Map<string, Incompat[]>();
  private readonly assignments: Assignment[] = [];
  private readonly accumulated = new Map<string, Term>();
  private readonly decided = new Map<string, number>();
  private readonly order: string[] = [];
  private level = 0;
  private nextId = 0;
  private readonly warnings = new Set<string>();
  private readonly deps = new Map<string, Promise<DepResult>>();
  private readonly pinnedYanked = new Map<string, SpecifierSet[]>();
  private readonly extrasOf = new Map<string, Set<string>>();
  private readonly directNames = new Set<string>();
  private readonly constraints = new Map<string, Requirement[]>();
  private readonly speculated = new Set<string>();
  private readonly inflight = new Set<Promise<unknown>>();
  private stopped = false;

  async stop(): Promise<void> {
    this.stopped = true;
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
    await Promise.allSettled([...this.deps.values()]);
  }

  constructor(
    private readonly requirements: Requirement[],
    private readonly options: ResolveOptions,
  ) {}

  async run(): Promise<Resolution> {
    const { target, signal } = this.options;
    this.packages.set(ROOT, { name: ROOT, base: ROOT, extra: null, candidates: [], universe: 1n, labels: new Map(), report: null });
    // Root requirements and constraints whose markers apply to the target.
    const rootReqs = this.requirements.filter((r) => !r.marker || r.marker.evaluate(target.markers, "requirement"));
    for (const r of rootReqs) {
      this.directNames.add(r.key);
      for (const s of new SpecifierSet(r.specifier).specifiers) if (s.operator === "==" || s.operator === "===") (this.pinnedYanked.get(r.key) ?? this.pinnedYanked.set(r.key, []).get(r.key)!).push(new SpecifierSet([s]));
    }
    const constraints = (this.options.constraints ?? []).filter((r) => !r.marker || r.marker.evaluate(target.markers, "requirement"));
    for (const c of constraints) {
      if (c.url) throw new InvalidInputError(`Constraint ${formatRequirement(c)} uses a URL; constraints may only limit versions (name and specifier).`, { code: "ERR_INVALID_CONSTRAINT" });
      for (const s of new SpecifierSet(c.specifier).specifiers) if (s.operator === "==" || s.operator === "===") (this.pinnedYanked.get(c.key) ?? this.pinnedYanked.set(c.key, []).get(c.key)!).push(new SpecifierSet([s]));
    }
    for (const c of constraints) (this.constraints.get(c.key) ?? this.constraints.set(c.key, []).get(c.key)!).push(c);
    for (const r of rootReqs) this.speculate(r);
    // Load every root package up front, in parallel.
    await Promise.all(rootReqs.map((r) => this.ensurePackage(r.key, null)));
    for (const r of rootReqs) await Promise.all(r.extras.map((e) => this.ensurePackage(r.key, e)));

    const rootTerm: Term = { pkg: ROOT, positive: true, set: 1n };
    for (const r of rootReqs) {
      for (const inc of this.dependencyIncompats(rootTerm, r, "you require")) this.addIncompat(inc);
    }
    // Root is decided at level 1.
    this.decide(ROOT, 0);
    let next: string | null = ROOT;
    while (next !== null) {
      throwIfAborted(signal);
      this.propagate(next);
      next = await this.decideNext();
    }
    return await this.buildResult();
  }

  // --- packages and candidate sets -------------------------------------------------------

  private async ensurePackage(base: string, extra: string | null): Promise<PackageInfo> {
    const key = extra ? `${base}[${extra}]` : base;
    const existing = this.packages.get(key);
    if (existing) return existing;
    const report = await this.options.finder.candidates(base, this.options.signal);
    const again = this.packages.get(key);
    if (again) return again;
    for (const f of report.failures) this.warnings.add(f);
    const pins = this.pinnedYanked.get(base);
    const candidates = report.candidates.filter((c) => !c.yanked || (pins?.some((p) => p.contains(c.version)) ?? false));
    const info: PackageInfo = { name: key, base, extra, candidates, universe: (1n << BigInt(candidates.length)) - 1n, labels: new Map(), report };
    this.packages.set(key, info);
    // Constraints apply once their package enters the graph (they never add it):
    // "root and pkg outside S" is incompatible.
    if (!extra) {
      for (const c of this.constraints.get(base) ?? []) {
        const set = this.setFor(info, new SpecifierSet(c.specifier), c.specifier);
        this.addIncompat(this.incompat([{ pkg: ROOT, positive: true, set: 1n }, { pkg: key, positive: true, set: info.universe & ~set }], { kind: "constraint", text: `${c.key}${c.specifier}` }));
      }
    }
    if (extra) (this.extrasOf.get(base) ?? this.extrasOf.set(base, new Set()).get(base)!).add(extra);
    return info;
  }

  private setFor(info: PackageInfo, spec: SpecifierSet, label: string): bigint {
    let set = 0n;
    info.candidates.forEach((c, i) => {
      if (spec.contains(c.version)) set |= 1n << BigInt(i);
    });
    if (label && !info.labels.has(set)) info.labels.set(set, label);
    return set;
  }

  /** Incompatibilities "depender implies requirement": one for the base, one per extra. */
  private dependencyIncompats(depender: Term, r: Requirement, verb: string): Incompat[] {
    const spec = new SpecifierSet(r.specifier);
    const out: Incompat[] = [];
    for (const extra of [null, ...r.extras]) {
      const info = this.packages.get(extra ? `${r.key}[${extra}]` : r.key)!;
      const set = this.setFor(info, spec, r.specifier);
      out.push(this.incompat([depender, { pkg: info.name, positive: false, set }], { kind: "dependency", text: verb }));
    }
    return out;
  }

  // --- PubGrub core ---------------------------------------------------------------------

  private incompat(terms: Term[], cause: Cause): Incompat {
    // Merge terms on the same package (intersection) so each package appears once.
    const byPkg = new Map<string, Term>();
    for (const t of terms) {
      const prev = byPkg.get(t.pkg);
      byPkg.set(t.pkg, prev ? this.intersect(prev, t) : t);
    }
    return { terms: [...byPkg.values()], cause, id: this.nextId++ };
  }

  private addIncompat(inc: Incompat): void {
    for (const t of inc.terms) {
      let list = this.incompats.get(t.pkg);
      if (!list) this.incompats.set(t.pkg, (list = []));
      list.push(inc);
    }
  }

  private universe(pkg: string): bigint {
    return this.packages.get(pkg)!.universe;
  }

  private intersect(a: Term, b: Term): Term {
    const u = this.universe(a.pkg);
    if (a.positive && b.positive) return { pkg: a.pkg, positive: true, set: a.set & b.set };
    if (a.positive) return { pkg: a.pkg, positive: true, set: a.set & ~b.set & u };
    if (b.positive) return { pkg: a.pkg, positive: true, set: b.set & ~a.set & u };
    return { pkg: a.pkg, positive: false, set: (a.set | b.set) & u };
  }

  private negate(t: Term): Term {
    return { pkg: t.pkg, positive: !t.positive, set: t.set };
  }

  /** "a ⊆ b": every way to satisfy a satisfies b. */
  private satisfies(a: Term, b: Term): boolean {
    const i = this.intersect(a, b);
    return i.positive === a.positive && i.set === (a.set & this.universe(a.pkg));
  }

  private disjoint(a: Term, b: Term): boolean {
    const i = this.intersect(a, b);
    return i.positive && i.set === 0n;
  }

  private relation(inc: Incompat): { kind: "satisfied" } | { kind: "almost"; term: Term } | { kind: "none" } {
    let unsatisfied: Term | null = null;
    for (const t of inc.terms) {
      const acc = this.accumulated.get(t.pkg);
      if (acc && this.satisfies(acc, t)) continue;
      if (acc && this.disjoint(acc, t)) return { kind: "none" };
      if (unsatisfied) return { kind: "none" };
      unsatisfied = t;
    }
    return unsatisfied ? { kind: "almost", term: unsatisfied } : { kind: "satisfied" };
  }

  private assign(term: Term, cause: Incompat | null, index?: number): void {
    const a: Assignment = { term, level: this.level, cause };
    if (index !== undefined) a.index = index;
    this.assignments.push(a);
    const prev = this.accumulated.get(term.pkg);
    this.accumulated.set(term.pkg, prev ? this.intersect(prev, term) : term);
    if (!this.order.includes(term.pkg)) this.order.push(term.pkg);
  }

  private decide(pkg: string, index: number): void {
    this.level++;
    this.decided.set(pkg, index);
    this.assign({ pkg, positive: true, set: 1n << BigInt(index) }, null, index);
  }

  private propagate(start: string): void {
    const changed = [start];
    while (changed.length) {
      const pkg = changed.pop()!;
      const list = this.incompats.get(pkg) ?? [];
      for (let i = list.length - 1; i >= 0; i--) {
        const inc = list[i]!;
        const rel = this.relation(inc);
        if (rel.kind === "satisfied") {
          const root = this.resolveConflict(inc);
          const r2 = this.relation(root);
          if (r2.kind !== "almost") throw new Error("internal: learned clause is not almost satisfied after backtracking");
          this.assign(this.negate(r2.term), root);
          changed.length = 0;
          changed.push(r2.term.pkg);
          break;
        }
        if (rel.kind === "almost") {
          this.assign(this.negate(rel.term), inc);
          if (!changed.includes(rel.term.pkg)) changed.push(rel.term.pkg);
        }
      }
    }
  }

  private resolveConflict(start: Incompat): Incompat {
    let inc = start;
    for (;;) {
      if (this.isTerminal(inc)) throw new ResolutionImpossibleError(this.explain(inc));
      // Find the earliest assignment that makes `inc` satisfied (the satisfier), and the
      // decision level at which the rest of `inc` was already satisfied.
      const acc = new Map<string, Term>();
      let satisfierIdx = -1;
      let satisfierTerm: Term | null = null;
      const termOf = new Map(inc.terms.map((t) => [t.pkg, t]));
      const satisfiedAt = new Map<string, number>();
      for (let i = 0; i < this.assignments.length; i++) {
        const a = this.assignments[i]!;
        const t = termOf.get(a.term.pkg);
        if (!t) continue;
        const prev = acc.get(a.term.pkg);
        const now = prev ? this.intersect(prev, a.term) : a.term;
        acc.set(a.term.pkg, now);
        if (!satisfiedAt.has(t.pkg) && this.satisfies(now, t)) {
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
      if (!this.satisfies(satisfier.term, satisfierTerm)) {
        let acc2: Term | null = null;
        for (let i = 0; i < satisfierIdx; i++) {
          const a = this.assignments[i]!;
          if (a.term.pkg !== satisfierTerm.pkg) continue;
          acc2 = acc2 ? this.intersect(acc2, a.term) : a.term;
          if (this.satisfies(this.intersect(acc2, satisfier.term), satisfierTerm)) {
            previousLevel = Math.max(previousLevel, a.level);
            break;
          }
        }
      }
      if (satisfier.cause === null || previousLevel < satisfier.level) {
        if (inc !== start) this.addIncompat(inc);
        this.backtrack(previousLevel);
        return inc;
      }
      // Resolve: inc ∪ cause, minus the satisfier's package (plus what the satisfier left over).
      const terms = [...inc.terms.filter((t) => t.pkg !== satisfierTerm!.pkg), ...satisfier.cause.terms.filter((t) => t.pkg !== satisfierTerm!.pkg)];
      if (!this.satisfies(satisfier.term, satisfierTerm)) {
        terms.push(this.negate(this.intersect(satisfier.term, this.negate(satisfierTerm))));
      }
      inc = this.incompat(terms, { kind: "derived", left: inc, right: satisfier.cause });
    }
  }

  private isTerminal(inc: Incompat): boolean {
    return inc.terms.length === 0 || (inc.terms.length === 1 && inc.terms[0]!.pkg === ROOT && inc.terms[0]!.positive);
  }

  private backtrack(level: number): void {
    while (this.assignments.length && this.assignments[this.assignments.length - 1]!.level > level) {
      const a = this.assignments.pop()!;
      if (a.cause === null) this.decided.delete(a.term.pkg);
    }
    this.level = level;
    this.accumulated.clear();
    for (const a of this.assignments) {
      const prev = this.accumulated.get(a.term.pkg);
      this.accumulated.set(a.term.pkg, prev ? this.intersect(prev, a.term) : a.term);
    }
  }

  // --- decisions ------------------------------------------------------------------------

  private async decideNext(): Promise<string | null> {
    const { signal } = this.options;
    // Undecided packages that must be selected, in discovery order; singletons and extras
    // (whose base is decided) first, which keeps backtracking local.
    const pending: Array<{ pkg: string; set: bigint }> = [];
    for (const pkg of this.order) {
      if (this.decided.has(pkg)) continue;
      const acc = this.accumulated.get(pkg);
      if (!acc || !acc.positive) continue;
      pending.push({ pkg, set: acc.set });
    }
    if (pending.length === 0) return null;
    this.prefetch(pending.map((p) => p.pkg));
    const pick = pending.find((p) => popcount(p.set) <= 1) ?? pending.find((p) => this.packages.get(p.pkg)!.extra !== null && this.decided.has(this.packages.get(p.pkg)!.base)) ?? pending[0]!;
    const info = this.packages.get(pick.pkg)!;
    const index = this.chooseVersion(info, pick.set);
    if (index < 0) {
      this.addIncompat(this.incompat([{ pkg: pick.pkg, positive: true, set: pick.set }], { kind: "noVersions" }));
      return pick.pkg;
    }
    const cand = info.candidates[index]!;
    const depsResult = await this.dependenciesOf(info, cand);
    throwIfAborted(signal);
    const self: Term = { pkg: info.name, positive: true, set: 1n << BigInt(index) };
    if (depsResult.kind === "unavailable") {
      this.addIncompat(this.incompat([self], { kind: "unavailable", reason: depsResult.reason }));
      return pick.pkg;
    }
    const added: Incompat[] = [];
    for (const r of depsResult.requirements) {
      await this.ensurePackage(r.key, null);
      await Promise.all(r.extras.map((e) => this.ensurePackage(r.key, e)));
      for (const inc of this.dependencyIncompats(self, r, "depends on")) {
        this.addIncompat(inc);
        added.push(inc);
      }
    }
    if (info.extra) {
      const base = this.packages.get(info.base)!;
      const baseIdx = base.candidates.indexOf(cand);
      const inc = this.incompat([self, { pkg: base.name, positive: false, set: 1n << BigInt(baseIdx) }], { kind: "dependency", text: "depends on" });
      base.labels.set(1n << BigInt(baseIdx), `==${cand.version}`);
      this.addIncompat(inc);
      added.push(inc);
    }
    // Decide only if no new dependency already conflicts; otherwise propagation backtracks.
    const conflict = added.some((inc) => inc.terms.every((t) => t.pkg === info.name || (this.accumulated.get(t.pkg) && this.satisfies(this.accumulated.get(t.pkg)!, t))));
    if (!conflict) this.decide(info.name, index);
    return pick.pkg;
  }

  private chooseVersion(info: PackageInfo, set: bigint): number {
    const policy = this.options.prereleases ?? "if-necessary";
    if (info.extra) {
      // An extra always follows its base's version.
      const baseIdx = this.decided.get(info.base);
      if (baseIdx !== undefined) {
        const v = this.packages.get(info.base)!.candidates[baseIdx]!;
        const i = info.candidates.indexOf(v);
        if (i >= 0 && set & (1n << BigInt(i))) return i;
      }
    }
    let firstPre = -1;
    const mode = this.options.resolution ?? "highest";
    const lowest = mode === "lowest" || (mode === "lowest-direct" && this.directNames.has(info.base));
    const n = info.candidates.length;
    for (let k = 0; k < n; k++) {
      const i = lowest ? n - 1 - k : k;
      if (!(set & (1n << BigInt(i)))) continue;
      const c = info.candidates[i]!;
      if (!c.version.isPrerelease || policy === "allow") return i;
      if (firstPre < 0) firstPre = i;
    }
    return policy === "disallow" ? -1 : firstPre;
  }

  private dependenciesOf(info: PackageInfo, cand: Candidate): Promise<DepResult> {
    const key = `${info.name}@${cand.version}`;
    let p = this.deps.get(key);
    if (!p) {
      p = this.loadDependencies(info, cand);
      this.deps.set(key, p);
    }
    return p;
  }

  private async loadDependencies(info: PackageInfo, cand: Candidate): Promise<DepResult> {
    const { target, finder, signal } = this.options;
    let meta;
    try {
      meta = await finder.metadata(cand, signal);
    } catch (err) {
      if ((err as { code?: string }).code === "ABORT_ERR") throw err;
      if ((err as { code?: string }).code === "ERR_SDIST_METADATA") return { kind: "unavailable", reason: `only a source distribution is available (${cand.file.filename}), and building sdists is disabled` };
      throw err;
    }
    if (meta.requiresPython && !requiresPythonOk(meta.requiresPython, target)) {
      return { kind: "unavailable", reason: `requires Python ${meta.requiresPython} (the target has ${target.pythonVersion})` };
    }
    if (info.extra && !meta.providesExtra.includes(info.extra)) {
      this.warnings.add(`${info.base} ${cand.version} does not provide the extra "${info.extra}"`);
    }
    const env = { ...target.markers, extra: info.extra ?? "" };
    const reqs = meta.requiresDist.filter((r) => {
      if (!r.marker) return info.extra === null;
      const applies = r.marker.evaluate(env);
      // For an extra package keep only what the extra adds; the base carries the rest.
      return info.extra === null ? applies : applies && !r.marker.evaluate({ ...target.markers, extra: "" });
    });
    return { kind: "ok", requirements: reqs.filter((r) => r.key !== info.base || r.extras.length > 0) };
  }

  /** Starts loading best-version metadata for packages about to be decided. */
  private prefetch(pkgs: string[]): void {
    const limit = this.options.prefetch ?? 32;
    for (const pkg of pkgs.slice(0, limit)) {
      const info = this.packages.get(pkg);
      if (!info || info.name === ROOT) continue;
      const acc = this.accumulated.get(pkg);
      if (!acc) continue;
      const idx = this.chooseVersion(info, acc.set);
      if (idx >= 0) this.dependenciesOf(info, info.candidates[idx]!).catch(() => undefined);
    }
  }

  /**
   * Speculative discovery: as soon as a requirement is seen, fetch its project page and the
   * metadata of the version most likely to be chosen, then do the same for that version's
   * dependencies. In conflict-free graphs this is exactly the data the solver will ask
   * for, so the whole graph downloads in parallel instead of level by level.
   */
  private speculate(r: Requirement, depth = 0): void {
    // One guess per project (and extras set): later specifiers rarely change the best version.
    const key = `${r.key}[${r.extras.join(",")}]`;
    if (this.stopped || this.speculated.has(key) || depth > 12 || this.speculated.size > 2000) return;
    this.speculated.add(key);
    const { finder, target, signal } = this.options;
    let spec: SpecifierSet;
    try {
      spec = new SpecifierSet(r.specifier);
    } catch {
      return;
    }
    const work = finder
      .candidates(r.key, signal)
      .then(async (report) => {
        if (this.stopped) return;
        const matching = report.candidates.filter((c) => !c.yanked && spec.contains(c.version));
        const cand = matching.find((c) => !c.version.isPrerelease) ?? matching[0];
        if (!cand) return;
        const meta = await finder.metadata(cand, signal);
        if (this.stopped) return;
        for (const extra of ["", ...r.extras]) {
          for (const dep of meta.requiresDist) {
            if (dep.marker && !dep.marker.evaluate({ ...target.markers, extra })) continue;
            if (!dep.marker && extra) continue;
            this.speculate(dep, depth + 1);
          }
        }
      })
      .catch(() => undefined)
      .finally(() => this.inflight.delete(work));
    this.inflight.add(work);
  }

  private async buildResult(): Promise<Resolution> {
    const byBase = new Map<string, ResolvedPackage>();
    for (const [pkg, index] of this.decided) {
      if (pkg === ROOT) continue;
      const info = this.packages.get(pkg)!;
      if (info.extra) continue;
      const cand = info.candidates[index]!;
      byBase.set(info.base, { name: info.base, version: cand.version, candidate: cand, extras: [], dependencies: [], direct: this.directNames.has(info.base) });
    }
    for (const [pkg] of this.decided) {
      const info = this.packages.get(pkg);
      if (info?.extra) byBase.get(info.base)?.extras.push(info.extra);
    }
    // Dependency edges of the chosen versions (loaded already).
    for (const [pkg, index] of this.decided) {
      if (pkg === ROOT) continue;
      const info = this.packages.get(pkg)!;
      const r = await this.deps.get(`${info.name}@${info.candidates[index]!.version}`);
      if (r?.kind !== "ok") continue;
      const rp = byBase.get(info.base)!;
      for (const q of r.requirements) if (byBase.has(q.key) && q.key !== rp.name && !rp.dependencies.includes(q.key)) rp.dependencies.push(q.key);
    }
    const packages = [...byBase.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const p of packages) {
      p.extras.sort();
      p.dependencies.sort();
    }
    return { packages, target: this.options.target, warnings: [...this.warnings] };
  }

  // --- explanations ---------------------------------------------------------------------

  private explain(inc: Incompat): string {
    const lines: string[] = [];
    const numbered = new Map<number, number>();
    const counts = new Map<number, number>();
    const count = (i: Incompat) => {
      counts.set(i.id, (counts.get(i.id) ?? 0) + 1);
      if (counts.get(i.id)! > 1) return;
      if (i.cause.kind === "derived") {
        count(i.cause.left);
        count(i.cause.right);
      }
    };
    count(inc);
    const visit = (i: Incompat): string => {
      if (i.cause.kind !== "derived") return this.describe(i);
      if (numbered.has(i.id)) return `${this.describe(i)} (${numbered.get(i.id)})`;
      const { left, right } = i.cause;
      const parts: string[] = [];
      for (const side of [left, right]) {
        if (side.cause.kind === "derived" && !numbered.has(side.id)) {
          visit(side);
          parts.push(numbered.has(side.id) ? `${this.describe(side)} (${numbered.get(side.id)})` : this.describe(side));
        } else parts.push(numbered.has(side.id) ? `${this.describe(side)} (${numbered.get(side.id)})` : this.describe(side));
      }
      let line = left === right || parts[0] === parts[1] ? `Because ${parts[0]}, ${this.describe(i)}.` : `Because ${parts[0]} and ${parts[1]}, ${this.describe(i)}.`;
      if ((counts.get(i.id) ?? 0) > 1) {
        numbered.set(i.id, numbered.size + 1);
        line += ` (${numbered.get(i.id)})`;
      }
      lines.push(line);
      return this.describe(i);
    };
    const top = visit(inc);
    if (lines.length === 0) lines.push(`${capitalize(top)}.`);
    return lines.join("\n");
  }

  private describe(inc: Incompat): string {
    const terms = inc.terms.filter((t) => t.pkg !== ROOT);
    const hasRoot = inc.terms.some((t) => t.pkg === ROOT);
    const c = inc.cause;
    if (terms.length === 0) return "the requirements are unsatisfiable";
    if (c.kind === "noVersions") {
      const t = terms[0]!;
      const info = this.packages.get(t.pkg)!;
      if (info.candidates.length === 0) return `${t.pkg} was not found${this.notFoundDetail(info)}`;
      return `no version of ${this.show(t)} is available${this.notFoundDetail(info)}`;
    }
    if (c.kind === "unavailable") return `${this.show(terms[0]!)} cannot be used: it ${c.reason}`;
    if (c.kind === "constraint") return `the constraint ${c.text} forbids ${this.show(terms[0]!)}`;
    if (terms.length === 1) {
      const t = terms[0]!;
      if (hasRoot) return t.positive ? `${this.show(t)} is forbidden` : `you require ${this.show(t, true)}${this.noMatch(t, c)}`;
      return t.positive ? `${this.show(t)} cannot be used` : `${this.show(t, true)} is required`;
    }
    if (terms.length === 2) {
      const pos = terms.filter((t) => t.positive);
      const neg = terms.filter((t) => !t.positive);
      if (pos.length === 1 && neg.length === 1) return `${this.show(pos[0]!)} depends on ${this.show(neg[0]!, true)}${this.noMatch(neg[0]!, c)}`;
      if (pos.length === 2) return `${this.show(pos[0]!)} is incompatible with ${this.show(pos[1]!)}`;
    }
    const pos = terms.filter((t) => t.positive).map((t) => this.show(t));
    const neg = terms.filter((t) => !t.positive).map((t) => this.show(t, true));
    return neg.length ? `if ${pos.join(" and ")} then ${neg.join(" or ")}` : `one of ${pos.join(", ")} must be false`;
  }

  /** For a requirement whose range holds no usable version: say so, with why. */
  private noMatch(t: Term, cause?: Cause): string {
    if (t.positive || t.set !== 0n || cause?.kind === "derived") return "";
    const info = this.packages.get(t.pkg)!;
    return info.candidates.length === 0 ? `, but ${t.pkg} has no usable version${this.notFoundDetail(info)}` : `, but no version of ${t.pkg} matches${this.notFoundDetail(info)}`;
  }

  private notFoundDetail(info: PackageInfo): string {
    const r = info.report;
    if (!r) return "";
    const bits: string[] = [];
    if (r.seen === 0) bits.push(`searched ${r.sources.join(", ") || "no sources"}`);
    if (r.incompatibleTags) bits.push(`${r.incompatibleTags} file(s) have no wheel tag supported by the target`);
    if (r.requiresPython) bits.push(`${r.requiresPython} file(s) require another Python`);
    if (r.binaryPolicy) bits.push(`${r.binaryPolicy} file(s) excluded by --only-binary/--no-binary`);
    const yanked = r.candidates.length - info.candidates.length;
    if (yanked > 0) bits.push(`${yanked} yanked version(s) ignored (pin one with == to use it)`);
    if (r.failures.length) bits.push(`unreachable: ${r.failures.join("; ")}`);
    return bits.length ? ` (${bits.join("; ")})` : "";
  }

  /** "name<spec>" for a term; a negative term shows the versions it excludes. */
  private show(t: Term, asRequirement = false): string {
    const info = this.packages.get(t.pkg)!;
    const set = t.positive || asRequirement ? t.set : info.universe & ~t.set;
    return `${t.pkg}${this.range(info, set)}`;
  }

  private range(info: PackageInfo, set: bigint): string {
    const label = info.labels.get(set);
    if (label !== undefined) return label ? label : "";
    if (set === info.universe) return "";
    const n = info.candidates.length;
    const runs: Array<[number, number]> = [];
    for (let i = 0; i < n; i++) {
      if (!(set & (1n << BigInt(i)))) continue;
      const last = runs[runs.length - 1];
      if (last && last[1] === i - 1) last[1] = i;
      else runs.push([i, i]);
    }
    if (runs.length === 0) return " (no versions)";
    return runs
      .map(([hi, lo]) => {
        const v = (i: number) => info.candidates[i]!.version.toString();
        if (hi === lo) return `==${v(hi)}`;
        if (hi === 0) return `>=${v(lo)}`;
        if (lo === n - 1) return `<=${v(hi)}`;
        return `>=${v(lo)},<=${v(hi)}`;
      })
      .join(" | ");
  }
}

interface PackageInfo {
  name: string;
  base: string;
  extra: string | null;
  /** Allowed candidates, newest first; bit i of a set is candidates[i]. */
  candidates: Candidate[];
  universe: bigint;
  /** Specifier text that produced a set, for explanations. */
  labels: Map<bigint, string>;
  report: CandidateReport | null;
}

type DepResult = { kind: "ok"; requirements: Requirement[] } | { kind: "unavailable"; reason: string };

function popcount(x: bigint): number {
  let n = 0;
  while (x) {
    x &= x - 1n;
    n++;
  }
  return n;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
