import { ClusterPackError } from "@cluster-pack/errors";
import { canonicalizeName, compareVersions, SpecifierSet, type Version } from "@cluster-pack/packaging";
import type { DistributionMetadata } from "./metadata";
import type { DistributionFile, PackageSource } from "./simple-index";
import { rankingFor, type TargetEnvironment } from "./target";
import { versionYank } from "./yanks";

/** One version of a project that can be installed on the target, with the file to use. */
export interface Candidate {
  name: string;
  version: Version;
  /** The preferred file: the best-ranked compatible wheel, else the sdist. */
  file: DistributionFile;
  /** Every file of this version usable on the target (for lock files), best first. */
  files: DistributionFile[];
  yanked: boolean;
  yankedReason?: string;
}

/** Why a project has fewer candidates than files (for explanations). */
export interface CandidateReport {
  candidates: Candidate[];
  /** Total files seen, and how many were dropped for each reason. */
  seen: number;
  incompatibleTags: number;
  requiresPython: number;
  binaryPolicy: number;
  /** The sources asked, for "not found" messages. */
  sources: string[];
  /** Sources that could not be read (network errors), with the message. */
  failures: string[];
}

/**
 * What the resolver asks of a finder: a project's candidates for the target, and a
 * candidate's metadata. PackageFinder reads package indexes; tests may hand in their own.
 */
export interface CandidateFinder {
  candidates(name: string, signal?: AbortSignal): Promise<CandidateReport>;
  metadata(candidate: Candidate, signal?: AbortSignal): Promise<DistributionMetadata>;
}

/** Where a finder gets a file's metadata: the MetadataFetcher, or memory in tests. */
export interface MetadataSource {
  get(file: DistributionFile, signal?: AbortSignal): Promise<DistributionMetadata>;
}

export interface FinderOptions {
  sources: PackageSource[];
  target: TargetEnvironment;
  metadata: MetadataSource;
  /** pip's --only-binary / --no-binary: names, ":all:", ":none:". */
  onlyBinary?: string[];
  noBinary?: string[];
  /** Direct references (`name @ url`, local files): the only candidate for that name. */
  direct?: Map<string, DistributionFile>;
}

/**
 * Codes of a source's answer that mean "broken or hostile", not "unreachable": a page
 * listing a file name that is not one path component, or a malformed hash
 * (`@cluster-pack/packaging`'s checks). Such a source stops the run, even when other
 * sources could have answered.
 */
const REFUSALS = new Set(["ERR_UNSAFE_FILENAME", "ERR_INVALID_HASH"]);

/**
 * Turns index listings into candidates for the target: merges every source, keeps files whose
 * tags and Requires-Python fit, picks the best wheel per version (tag rank, then build tag),
 * falls back to an sdist when no wheel fits and the binary policy allows it.
 */
export class PackageFinder implements CandidateFinder {
  private readonly memo = new Map<string, Promise<CandidateReport>>();
  constructor(readonly options: FinderOptions) {}

  candidates(name: string, signal?: AbortSignal): Promise<CandidateReport> {
    const key = canonicalizeName(name);
    let p = this.memo.get(key);
    if (!p) {
      p = this.load(key, signal);
      this.memo.set(key, p);
      p.catch(() => this.memo.delete(key));
    }
    return p;
  }

  metadata(c: Candidate, signal?: AbortSignal): Promise<DistributionMetadata> {
    return this.options.metadata.get(c.file, signal);
  }

  private async load(name: string, signal?: AbortSignal): Promise<CandidateReport> {
    const { target } = this.options;
    const direct = this.options.direct?.get(name);
    const sources: PackageSource[] = direct ? [{ description: direct.source, projectFiles: async () => [direct] }] : this.options.sources;
    const failures: string[] = [];
    const lists = await Promise.all(
      sources.map((s) =>
        s.projectFiles(name, signal).catch((err: Error) => {
          const code = (err as { code?: string }).code;
          // A source that answered with a hostile page is not unreachable: the run stops with it.
          if (code === "ABORT_ERR" || (code !== undefined && REFUSALS.has(code))) throw err;
          // Like pip: one unreachable index is reported, the others still count.
          failures.push(`${s.description} could not be read (${err.message}); resolved from the other sources`);
          return [] as DistributionFile[];
        }),
      ),
    );
    if (failures.length === sources.length && sources.length > 0) {
      // The network or the indexes failed, not the user's input: exit 1, as any failed operation.
      throw new ClusterPackError("ERR_INDEX_UNREACHABLE", `Cannot list ${name}: every package source failed.\n  ${failures.join("\n  ")}`, {
        hint: "check the network and the index URLs (pip's config, PIP_INDEX_URL, `indexUrl`), or add a local `findLinks` directory.",
        optionNames: ["indexUrl", "findLinks"],
      });
    }
    const ranking = rankingFor(target);
    const report: CandidateReport = { candidates: [], seen: 0, incompatibleTags: 0, requiresPython: 0, binaryPolicy: 0, sources: sources.map((s) => s.description), failures };
    const binaryOnly = policyApplies(this.options.onlyBinary, name);
    const sourceOnly = policyApplies(this.options.noBinary, name);
    const byVersion = new Map<string, { version: Version; wheels: Array<{ f: DistributionFile; rank: number }>; sdists: DistributionFile[] }>();
    const seenUrls = new Set<string>();
    for (const f of lists.flat()) {
      if (seenUrls.has(f.url)) continue;
      seenUrls.add(f.url);
      report.seen++;
      if (f.requiresPython && !requiresPythonOk(f.requiresPython, target)) {
        report.requiresPython++;
        continue;
      }
      const k = f.version.toString();
      let slot = byVersion.get(k);
      if (!slot) byVersion.set(k, (slot = { version: f.version, wheels: [], sdists: [] }));
      if (f.kind === "wheel") {
        if (sourceOnly) {
          report.binaryPolicy++;
          continue;
        }
        const rank = ranking.bestRank(f.wheel!.tags);
        if (rank < 0) {
          report.incompatibleTags++;
          continue;
        }
        slot.wheels.push({ f, rank });
      } else {
        if (binaryOnly) {
          report.binaryPolicy++;
          continue;
        }
        slot.sdists.push(f);
      }
    }
    for (const slot of byVersion.values()) {
      slot.wheels.sort((a, b) => a.rank - b.rank || (b.f.wheel!.build?.[0] ?? -1) - (a.f.wheel!.build?.[0] ?? -1));
      const files = [...slot.wheels.map((w) => w.f), ...slot.sdists];
      if (files.length === 0) continue;
      const yank = versionYank(files);
      const c: Candidate = { name, version: slot.version, file: files[0]!, files, yanked: yank.yanked };
      if (yank.reason !== undefined) c.yankedReason = yank.reason;
      report.candidates.push(c);
    }
    report.candidates.sort((a, b) => compareVersions(b.version, a.version));
    return report;
  }
}

/** True when the target's Python satisfies a Requires-Python specifier (invalid specifiers are ignored, as pip does). */
export function requiresPythonOk(spec: string, target: TargetEnvironment): boolean {
  let set: SpecifierSet;
  try {
    set = new SpecifierSet(spec);
  } catch {
    return true;
  }
  return set.contains(target.pythonVersion);
}

function policyApplies(list: string[] | undefined, name: string): boolean {
  if (!list?.length) return false;
  let on = false;
  for (const item of list) {
    if (item === ":all:") on = true;
    else if (item === ":none:") on = false;
    else if (canonicalizeName(item) === name) on = true;
  }
  return on;
}
