import { type Requirement, SpecifierSet, type Version } from "@cluster-pack/packaging";
import type { DistributionFile } from "./simple-index";

/**
 * PEP 592 yanks, both rules in one place (uv's yanks.rs): a version is yanked when every one
 * of its files is, and a yanked version is used only when a root requirement or constraint
 * pins it with `==` or `===` (pip does the same).
 */
export function versionYank(files: readonly DistributionFile[]): { yanked: boolean; reason?: string } {
  const yanked = files.length > 0 && files.every((f) => f.yanked !== false);
  const reason = files[0]?.yanked;
  return yanked && typeof reason === "string" && reason ? { yanked, reason } : { yanked };
}

/** The yanked versions that requirements pin, per project. */
export class AllowedYanks {
  private readonly pins = new Map<string, SpecifierSet[]>();

  /** From the root requirements and constraints (already filtered by their markers). */
  constructor(requirements: readonly Requirement[]) {
    for (const r of requirements) {
      for (const s of new SpecifierSet(r.specifier).specifiers) {
        if (s.operator !== "==" && s.operator !== "===") continue;
        let list = this.pins.get(r.key);
        if (!list) this.pins.set(r.key, (list = []));
        list.push(new SpecifierSet([s]));
      }
    }
  }

  /** True when a yanked `version` of `project` may be used. */
  allows(project: string, version: Version): boolean {
    return this.pins.get(project)?.some((p) => p.contains(version)) ?? false;
  }
}
