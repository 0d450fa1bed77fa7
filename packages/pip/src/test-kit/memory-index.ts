import { setTimeout as sleep } from "node:timers/promises";
import { IntegrityError } from "@cluster-pack/errors";
import type { MetadataSource } from "../finder";
import { toDistributionMetadata, type DistributionMetadata } from "../metadata";
import { canonicalizeName } from "@cluster-pack/packaging";
import { parseProjectPage, type DistributionFile, type PackageSource } from "../simple-index";
import { metadataText, sdistFilename, wheelFilename, type FakeDist } from "./wheels";

/** One file of a MemoryIndex: a FakeDist and what an index says about it. */
export interface MemoryDist extends FakeDist {
  /** An sdist (name-version.tar.gz) instead of a wheel. */
  sdist?: boolean;
  /** An sdist whose metadata is only known after a build (no static PKG-INFO). */
  dynamic?: boolean;
  /** PEP 592: yanked, with this reason ("" for none). */
  yanked?: string;
}

export interface MemoryIndexOptions {
  /** Milliseconds each listing and metadata request takes, so requests overlap as over a network. */
  latency?: number;
  /** Every listing fails as an unreachable index does. */
  unreachable?: boolean;
}

/**
 * A package index held in memory, for solver tests that need no wheels: a PackageSource
 * and a MetadataSource, so the real PackageFinder, index provider and PubGrub core run on
 * it (tags, Requires-Python, yanks, extras, markers, constraints). Listings go through the
 * real PEP 691 page parser and METADATA through the real metadata parser.
 */
export class MemoryIndex implements PackageSource, MetadataSource {
  readonly description: string;
  /** Requests in progress, and the most there ever were at once. */
  active = 0;
  peak = 0;
  private readonly projects = new Map<string, MemoryDist[]>();
  private readonly byFilename = new Map<string, MemoryDist>();

  constructor(
    dists: MemoryDist[],
    private readonly options: MemoryIndexOptions & { name?: string } = {},
  ) {
    this.description = `memory://${options.name ?? "index"}/`;
    for (const d of dists) {
      const key = canonicalizeName(d.name);
      this.projects.set(key, [...(this.projects.get(key) ?? []), d]);
      this.byFilename.set(filenameOf(d), d);
    }
  }

  async projectFiles(name: string, signal?: AbortSignal): Promise<DistributionFile[]> {
    await this.request(signal);
    if (this.options.unreachable) throw new Error(`connection refused (${this.description})`);
    const files = (this.projects.get(canonicalizeName(name)) ?? []).map((d) => ({
      filename: filenameOf(d),
      url: `${this.description}${filenameOf(d)}`,
      hashes: {},
      "requires-python": d.requiresPython,
      yanked: d.yanked ?? false,
    }));
    return parseProjectPage(JSON.stringify({ meta: { "api-version": "1.1" }, name, files }), "application/vnd.pypi.simple.v1+json", `${this.description}${name}/`, this.description);
  }

  async get(file: DistributionFile, signal?: AbortSignal): Promise<DistributionMetadata> {
    await this.request(signal);
    const d = this.byFilename.get(file.filename);
    if (!d) throw new Error(`${file.filename} is not in ${this.description}`);
    if (d.dynamic) throw new IntegrityError(`${file.filename} is a source distribution without static metadata.`, { code: "ERR_SDIST_METADATA" });
    return toDistributionMetadata(metadataText(d), file);
  }

  private async request(signal?: AbortSignal): Promise<void> {
    this.peak = Math.max(this.peak, ++this.active);
    try {
      if (this.options.latency) await sleep(this.options.latency, undefined, { signal });
    } finally {
      this.active--;
    }
  }
}

function filenameOf(d: MemoryDist): string {
  return d.sdist || d.dynamic ? sdistFilename(d) : wheelFilename(d);
}
