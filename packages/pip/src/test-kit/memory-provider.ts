import { matchingSet } from "../index-provider";
import type { Incompatibility } from "../pubgrub/incompatibility";
import type { Dependencies, DependencyProvider } from "../pubgrub/provider";
import type { DerivationWords } from "../pubgrub/report";
import { countVersions, fullSet, versionSet, type Term } from "../pubgrub/term";
import { compareVersions, SpecifierSet, Version } from "@cluster-pack/packaging";

/** version -> its dependencies (name -> PEP 440 specifier, "" for any), or a string: why it cannot be used. */
export type MemoryVersions = Record<string, Record<string, string> | string>;

/**
 * pubgrub-rs's OfflineDependencyProvider: packages, versions and dependencies held in
 * memory, for testing the PubGrub core with no index and no Python policy. Versions and
 * ranges use PEP 440 notation because it is at hand; nothing else of Python applies. The
 * newest allowed version is tried first; the package with the fewest allowed versions is
 * decided first (as pub does). Explanations use pubgrub-rs's wording.
 */
export class MemoryDependencyProvider implements DependencyProvider<string, string>, DerivationWords<string, string> {
  readonly root = "root";
  private readonly versionsOf = new Map<string, Version[]>();
  private readonly labels = new Map<string, Map<bigint, string>>();

  /** `requirements`: what the root depends on; `packages`: every other package; `constraints`: limits from the root. */
  constructor(
    private readonly requirements: Record<string, string>,
    private readonly packages: Record<string, MemoryVersions>,
    private readonly constraints: Record<string, string> = {},
  ) {
    for (const [name, versions] of Object.entries(packages)) {
      this.versionsOf.set(name, Object.keys(versions).map((v) => Version.parse(v)).sort((a, b) => compareVersions(b, a)));
    }
  }

  /** The solver's decisions as name -> version, without the root. */
  pins(decisions: ReadonlyMap<string, number>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [pkg, i] of decisions) if (pkg !== this.root) out[pkg] = this.versionsOf.get(pkg)![i]!.toString();
    return out;
  }

  versionCount(pkg: string): number {
    return pkg === this.root ? 1 : (this.versionsOf.get(pkg)?.length ?? 0);
  }

  prioritize(_pkg: string, versions: bigint): number {
    return -countVersions(versions);
  }

  chooseVersion(_pkg: string, versions: bigint): number | null {
    if (versions === 0n) return null;
    let i = 0;
    while (!(versions & versionSet(i))) i++;
    return i;
  }

  async getDependencies(pkg: string, version: number): Promise<Dependencies<string, string>> {
    const deps = pkg === this.root ? this.requirements : this.packages[pkg]![this.versionsOf.get(pkg)![version]!.toString()]!;
    if (typeof deps === "string") return { kind: "unavailable", reason: deps };
    const dependencies = Object.entries(deps).map(([name, spec]) => ({ pkg: name, versions: this.setFor(name, spec) }));
    if (pkg !== this.root) return { kind: "available", dependencies };
    const constraints = Object.entries(this.constraints).map(([name, spec]) => ({ pkg: name, versions: this.setFor(name, spec), reason: `${name}${spec}` }));
    return { kind: "available", dependencies, constraints };
  }

  private setFor(pkg: string, spec: string): bigint {
    const versions = this.versionsOf.get(pkg) ?? [];
    if (!this.versionsOf.has(pkg)) this.versionsOf.set(pkg, versions);
    const set = matchingSet(new SpecifierSet(spec), versions);
    let labels = this.labels.get(pkg);
    if (!labels) this.labels.set(pkg, (labels = new Map()));
    if (spec && !labels.has(set)) labels.set(set, spec);
    return set;
  }

  // --- explanations, in pubgrub-rs's words ----------------------------------------------

  packageName(pkg: string): string {
    return pkg;
  }

  versions(pkg: string, set: bigint): string {
    if (pkg === this.root) return "";
    const label = this.labels.get(pkg)?.get(set);
    if (label) return label;
    const all = this.versionsOf.get(pkg) ?? [];
    if (set === fullSet(all.length)) return "";
    const chosen = all.filter((_, i) => set & versionSet(i)).reverse();
    return chosen.length ? chosen.map((v) => `==${v}`).join(" | ") : "(no versions)";
  }

  reason(reason: string): string {
    return reason;
  }

  describe(inc: Incompatibility<string, string>): string {
    const c = inc.cause;
    const terms = inc.terms.filter((t) => t.pkg !== this.root);
    const [t, u] = terms;
    if (!t) return "version solving failed";
    if (c.kind === "no-versions") return `there is no version of ${this.show(t)}`;
    if (c.kind === "unavailable") return `${this.show(t)} is unavailable (${c.reason})`;
    if (c.kind === "constraint") return `the constraint ${c.reason} forbids ${this.show(t)}`;
    if (c.kind === "dependency" && terms.length < inc.terms.length) return `root depends on ${this.show(t)}`;
    if (!u) return t.positive ? `${this.show(t)} is forbidden` : `${this.show(t)} is mandatory`;
    const pos = terms.filter((x) => x.positive);
    const neg = terms.filter((x) => !x.positive);
    if (terms.length === 2 && pos.length === 1 && neg.length === 1) return `${this.show(pos[0]!)} depends on ${this.show(neg[0]!)}`;
    return `${terms.map((x) => `${x.positive ? "" : "not "}${this.show(x)}`).join(", ")} are incompatible`;
  }

  private show(t: Term<string>): string {
    const v = this.versions(t.pkg, t.set);
    return v ? `${t.pkg} ${v}` : t.pkg;
  }
}
