import { InvalidInputError } from "@cluster-pack/errors";
import { canonicalizeName, isValidName } from "@cluster-pack/packaging";

/** cluster-pack's package edits, applied to the installed set before packing. */
export interface PackageEdits {
  /**
   * Packages to add or replace: name -> version ("1.2.3" pins `==`, a specifier such as
   * ">=1.2" is kept, "" leaves it unpinned). An installed package is replaced when its
   * PEP 503 normalised name is equal (cluster-pack replaced by substring, so adding
   * `torch` also dropped `torchvision`).
   */
  additionalPackages?: Record<string, string>;
  /** Installed packages to leave out, by name (normalised). */
  ignoredPackages?: string[];
  /** When set, only these installed packages are packed (plus additionalPackages). */
  onlyPackages?: string[];
}

export interface EditedPackages {
  /** PEP 508 requirement strings, sorted by normalised name. */
  requirements: string[];
  /** Names in ignoredPackages/onlyPackages that matched nothing installed (for a warning). */
  unmatched: string[];
}

/** Applies onlyPackages, then ignoredPackages, then additionalPackages to `installed` (name -> version). */
export function applyPackageEdits(installed: Record<string, string>, edits: PackageEdits = {}): EditedPackages {
  const current = new Map<string, { name: string; spec: string }>();
  for (const [name, version] of Object.entries(installed)) current.set(canonicalizeName(name), { name, spec: pinOf(name, version) });
  const unmatched: string[] = [];
  const additional = new Map<string, { name: string; spec: string }>();
  for (const [name, version] of Object.entries(edits.additionalPackages ?? {})) {
    checkName(name, "additionalPackages");
    additional.set(canonicalizeName(name), { name, spec: pinOf(name, version) });
  }
  if (edits.onlyPackages) {
    const keep = new Set(edits.onlyPackages.map((n) => (checkName(n, "onlyPackages"), canonicalizeName(n))));
    for (const n of keep) if (!current.has(n) && !additional.has(n)) unmatched.push(n);
    for (const n of [...current.keys()]) if (!keep.has(n)) current.delete(n);
  }
  for (const raw of edits.ignoredPackages ?? []) {
    checkName(raw, "ignoredPackages");
    const n = canonicalizeName(raw);
    if (additional.has(n)) {
      throw new InvalidInputError(`Package "${raw}" is both in ignoredPackages and additionalPackages.`, { hint: "remove it from one of them." });
    }
    if (!current.delete(n)) unmatched.push(raw);
  }
  for (const [n, entry] of additional) current.set(n, entry);
  const requirements = [...current.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e.spec);
  return { requirements, unmatched };
}

/** A requirement from cluster-pack's name -> version form: "1.2" pins ==, a specifier is kept, "" is unpinned. */
export function pinOf(name: string, version: string): string {
  const v = version.trim();
  if (v === "") return name;
  if (/^[<>=!~]/.test(v)) return `${name}${v}`;
  return `${name}==${v}`;
}

function checkName(name: string, option: string): void {
  // Anything but a PEP 508 name is a typo or an injection.
  if (!isValidName(name)) {
    throw new InvalidInputError(`Invalid package name "${name}" in ${option}.`, { hint: `use a PEP 508 project name such as "scikit-learn".` });
  }
}
