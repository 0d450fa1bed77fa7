import { InvalidInputError } from "@cluster-pack/errors";
import { CandidateSelector } from "./candidate-selector";
import { requiresPythonOk, type Candidate, type CandidateReport } from "./finder";
import { formatRequirement, type Requirement, SpecifierSet, type Version } from "@cluster-pack/packaging";
import type { Incompatibility } from "./pubgrub/incompatibility";
import type { Constraint, Dependencies, Dependency, DependencyProvider, PendingPackage, SolutionView } from "./pubgrub/provider";
import type { DerivationWords } from "./pubgrub/report";
import { fullSet, versionSet, type Term } from "./pubgrub/term";
import type { ResolvedPackage, Resolution, ResolveOptions } from "./resolution";
import { AllowedYanks } from "./yanks";

const ROOT = "<root>";

/**
 * The PubGrub provider over package indexes, and the home of Python's resolution policy:
 * a package is a project (`name`) or one of its extras (`name[extra]`, a virtual package
 * pinned to the base's version); its versions are the finder's candidates, newest first,
 * without yanked ones unless pinned (PEP 592); dependencies come from METADATA, filtered by
 * the target's markers, and a version whose Requires-Python excludes the target, or that
 * has only an sdist that cannot be built, is unavailable; constraints limit versions once
 * their project is in the graph. Version choice is the CandidateSelector's.
 *
 * It also schedules the I/O: root projects load in parallel, every requirement seen starts
 * a speculative fetch of its likely metadata, and the metadata of the versions about to be
 * decided is prefetched, so a conflict-free graph downloads in parallel, not level by level.
 */
export class IndexProvider implements DependencyProvider<string, string>, DerivationWords<string, string> {
  readonly root = ROOT;
  private readonly packages = new Map<string, PackageInfo>();
  private readonly deps = new Map<string, Promise<DepResult>>();
  private readonly warnings = new Set<string>();
  private readonly rootRequirements: Requirement[];
  private readonly directNames = new Set<string>();
  private readonly constraints = new Map<string, Requirement[]>();
  private readonly yanks: AllowedYanks;
  private readonly selector: CandidateSelector;
  private readonly speculated = new Set<string>();
  private readonly inflight = new Set<Promise<unknown>>();
  private stopped = false;

  constructor(
    requirements: readonly Requirement[],
    private readonly options: ResolveOptions,
  ) {
    const { target } = options;
    // Root requirements and constraints whose markers apply to the target.
    this.rootRequirements = requirements.filter((r) => !r.marker || r.marker.evaluate(target.markers, "requirement"));
    for (const r of this.rootRequirements) this.directNames.add(r.key);
    const constraints = (options.constraints ?? []).filter((r) => !r.marker || r.marker.evaluate(target.markers, "requirement"));
    for (const c of constraints) {
      if (c.url) throw new InvalidInputError(`Constraint ${formatRequirement(c)} uses a URL; constraints may only limit versions (name and specifier).`, { code: "ERR_INVALID_CONSTRAINT" });
    }
    this.yanks = new AllowedYanks([...this.rootRequirements, ...constraints]);
    for (const c of constraints) (this.constraints.get(c.key) ?? this.constraints.set(c.key, []).get(c.key)!).push(c);
    this.selector = new CandidateSelector(options.prereleases ?? "if-necessary", options.resolution ?? "highest", this.directNames);
    this.packages.set(ROOT, { name: ROOT, base: ROOT, extra: null, candidates: [], labels: new Map(), report: null });
  }

  // --- the DependencyProvider contract ------------------------------------------------

  versionCount(pkg: string): number {
    return pkg === ROOT ? 1 : this.info(pkg).candidates.length;
  }

  /** Singletons first, then extras whose base is decided (they have one choice), then in order met. */
  prioritize(pkg: string, versions: bigint, solution: SolutionView<string>): number {
    if ((versions & (versions - 1n)) === 0n) return 2;
    const info = this.info(pkg);
    return info.extra !== null && solution.decision(info.base) !== undefined ? 1 : 0;
  }

  chooseVersion(pkg: string, versions: bigint, solution: SolutionView<string>): number | null {
    const info = this.info(pkg);
    // An extra always follows its base's version.
    const baseIndex = info.extra ? solution.decision(info.base) : undefined;
    const preferred = baseIndex === undefined ? undefined : this.info(info.base).candidates[baseIndex];
    return this.selector.select(info.base, info.candidates, versions, preferred);
  }

  async getDependencies(pkg: string, version: number): Promise<Dependencies<string, string>> {
    if (pkg === ROOT) return this.rootDependencies();
    const info = this.info(pkg);
    const cand = info.candidates[version]!;
    const result = await this.dependenciesOf(info, cand);
    if (result.kind === "unavailable") return result;
    const dependencies: Dependency<string>[] = [];
    const constraints: Constraint<string, string>[] = [];
    for (const r of result.requirements) {
      constraints.push(...(await this.ensurePackage(r.key, null)));
      await Promise.all(r.extras.map((e) => this.ensurePackage(r.key, e)));
      dependencies.push(...this.requirementDependencies(r));
    }
    if (info.extra) {
      const base = this.info(info.base);
      const set = versionSet(base.candidates.indexOf(cand));
      base.labels.set(set, `==${cand.version}`);
      dependencies.push({ pkg: base.name, versions: set });
    }
    return { kind: "available", dependencies, constraints };
  }

  /** Starts loading best-version metadata for packages about to be decided. */
  prefetch(pending: readonly PendingPackage<string>[], solution: SolutionView<string>): void {
    const limit = this.options.prefetch ?? 32;
    for (const { pkg, versions } of pending.slice(0, limit)) {
      if (pkg === ROOT) continue;
      const idx = this.chooseVersion(pkg, versions, solution);
      const info = this.info(pkg);
      if (idx !== null) this.dependenciesOf(info, info.candidates[idx]!).catch(() => undefined);
    }
  }

  // --- results ------------------------------------------------------------------------

  /** The resolution for the solver's decisions (their dependencies are loaded already). */
  async resolution(decisions: ReadonlyMap<string, number>): Promise<Resolution> {
    const byBase = new Map<string, ResolvedPackage>();
    for (const [pkg, index] of decisions) {
      if (pkg === ROOT) continue;
      const info = this.info(pkg);
      if (info.extra) continue;
      const cand = info.candidates[index]!;
      byBase.set(info.base, { name: info.base, version: cand.version, candidate: cand, extras: [], dependencies: [], direct: this.directNames.has(info.base) });
    }
    for (const [pkg] of decisions) {
      const info = this.packages.get(pkg);
      if (info?.extra) byBase.get(info.base)?.extras.push(info.extra);
    }
    // Dependency edges of the chosen versions.
    for (const [pkg, index] of decisions) {
      if (pkg === ROOT) continue;
      const info = this.info(pkg);
      const r = await this.deps.get(depKey(info, info.candidates[index]!));
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

  /** Stops speculative and prefetched fetches and waits for them: nothing runs once resolve() settles. */
  async stop(): Promise<void> {
    this.stopped = true;
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
    await Promise.allSettled([...this.deps.values()]);
  }

  // --- packages and their versions ------------------------------------------------------

  private info(pkg: string): PackageInfo {
    const info = this.packages.get(pkg);
    if (!info) throw new Error(`internal: package ${pkg} was never loaded`);
    return info;
  }

  private async rootDependencies(): Promise<Dependencies<string, string>> {
    const reqs = this.rootRequirements;
    for (const r of reqs) this.speculate(r);
    // Every root project loads up front, in parallel.
    const constraints = (await Promise.all(reqs.map((r) => this.ensurePackage(r.key, null)))).flat();
    for (const r of reqs) await Promise.all(r.extras.map((e) => this.ensurePackage(r.key, e)));
    return { kind: "available", dependencies: reqs.flatMap((r) => this.requirementDependencies(r)), constraints };
  }

  /** Loads a package's candidates once; returns the constraints that apply to it when it is new. */
  private async ensurePackage(base: string, extra: string | null): Promise<Constraint<string, string>[]> {
    const key = extra ? `${base}[${extra}]` : base;
    if (this.packages.has(key)) return [];
    const report = await this.options.finder.candidates(base, this.options.signal);
    if (this.packages.has(key)) return [];
    for (const f of report.failures) this.warnings.add(f);
    const candidates = report.candidates.filter((c) => !c.yanked || this.yanks.allows(base, c.version));
    const info: PackageInfo = { name: key, base, extra, candidates, labels: new Map(), report };
    this.packages.set(key, info);
    // Constraints apply once their package enters the graph (they never add it).
    if (extra) return [];
    return (this.constraints.get(base) ?? []).map((c) => ({ pkg: key, versions: this.setFor(info, new SpecifierSet(c.specifier), c.specifier), reason: `${c.key}${c.specifier}` }));
  }

  private setFor(info: PackageInfo, spec: SpecifierSet, label: string): bigint {
    const set = matchingSet(spec, info.candidates.map((c) => c.version));
    if (label && !info.labels.has(set)) info.labels.set(set, label);
    return set;
  }

  /** A requirement as dependencies: one on the base, one per extra. */
  private requirementDependencies(r: Requirement): Dependency<string>[] {
    const spec = new SpecifierSet(r.specifier);
    return [null, ...r.extras].map((extra) => {
      const info = this.info(extra ? `${r.key}[${extra}]` : r.key);
      return { pkg: info.name, versions: this.setFor(info, spec, r.specifier) };
    });
  }

  // --- metadata and I/O scheduling ------------------------------------------------------

  private dependenciesOf(info: PackageInfo, cand: Candidate): Promise<DepResult> {
    const key = depKey(info, cand);
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

  // --- explanations (DerivationWords) ---------------------------------------------------

  packageName(pkg: string): string {
    return pkg;
  }

  versions(pkg: string, set: bigint): string {
    return this.range(this.info(pkg), set).trim();
  }

  reason(reason: string): string {
    return reason;
  }

  describe(inc: Incompatibility<string, string>): string {
    const terms = inc.terms.filter((t) => t.pkg !== ROOT);
    const hasRoot = inc.terms.some((t) => t.pkg === ROOT);
    const c = inc.cause;
    if (terms.length === 0) return "the requirements are unsatisfiable";
    if (c.kind === "no-versions") {
      const t = terms[0]!;
      const info = this.info(t.pkg);
      if (info.candidates.length === 0) return `${t.pkg} was not found${this.notFoundDetail(info)}`;
      return `no version of ${this.show(t)} is available${this.notFoundDetail(info)}`;
    }
    if (c.kind === "unavailable") return `${this.show(terms[0]!)} cannot be used: it ${c.reason}`;
    if (c.kind === "constraint") return `the constraint ${c.reason} forbids ${this.show(terms[0]!)}`;
    if (terms.length === 1) {
      const t = terms[0]!;
      if (hasRoot) return t.positive ? `${this.show(t)} is forbidden` : `you require ${this.show(t, true)}${this.noMatch(t, inc)}`;
      return t.positive ? `${this.show(t)} cannot be used` : `${this.show(t, true)} is required`;
    }
    if (terms.length === 2) {
      const pos = terms.filter((t) => t.positive);
      const neg = terms.filter((t) => !t.positive);
      if (pos.length === 1 && neg.length === 1) return `${this.show(pos[0]!)} depends on ${this.show(neg[0]!, true)}${this.noMatch(neg[0]!, inc)}`;
      if (pos.length === 2) return `${this.show(pos[0]!)} is incompatible with ${this.show(pos[1]!)}`;
    }
    const pos = terms.filter((t) => t.positive).map((t) => this.show(t));
    const neg = terms.filter((t) => !t.positive).map((t) => this.show(t, true));
    return neg.length ? `if ${pos.join(" and ")} then ${neg.join(" or ")}` : `one of ${pos.join(", ")} must be false`;
  }

  /** For a requirement whose range holds no usable version: say so, with why. */
  private noMatch(t: Term<string>, inc: Incompatibility<string, string>): string {
    if (t.positive || t.set !== 0n || inc.cause.kind === "derived") return "";
    const info = this.info(t.pkg);
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

  /** "name<spec>" for a term; a negative term shows the versions it allows. */
  private show(t: Term<string>, asRequirement = false): string {
    const info = this.info(t.pkg);
    const set = t.positive || asRequirement ? t.set : fullSet(info.candidates.length) & ~t.set;
    return `${t.pkg}${this.range(info, set)}`;
  }

  private range(info: PackageInfo, set: bigint): string {
    const label = info.labels.get(set);
    if (label !== undefined) return label;
    if (set === fullSet(info.candidates.length)) return "";
    const n = info.candidates.length;
    const runs: Array<[number, number]> = [];
    for (let i = 0; i < n; i++) {
      if (!(set & versionSet(i))) continue;
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
  /** `name`, or `name[extra]` for an extra. */
  name: string;
  base: string;
  extra: string | null;
  /** Allowed candidates, newest first; bit i of a version set is candidates[i]. */
  candidates: Candidate[];
  /** Specifier text that produced a set, for explanations. */
  labels: Map<bigint, string>;
  report: CandidateReport | null;
}

type DepResult = { kind: "ok"; requirements: Requirement[] } | { kind: "unavailable"; reason: string };

/** The version set (bit i: versions[i]) that a specifier allows. */
export function matchingSet(spec: SpecifierSet, versions: readonly Version[]): bigint {
  let set = 0n;
  versions.forEach((v, i) => {
    if (spec.contains(v)) set |= versionSet(i);
  });
  return set;
}

function depKey(info: PackageInfo, cand: Candidate): string {
  return `${info.name}@${cand.version}`;
}
