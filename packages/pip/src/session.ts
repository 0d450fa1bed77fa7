import fs from "node:fs";
import path from "node:path";
import { InvalidInputError, redactUrl } from "@cluster-pack/errors";
import { checkDistributionFilename, DistributionFilenameError, formatRequirement, SpecifierSet, type DistributionFilename, type Requirement } from "@cluster-pack/packaging";
import { SdistBuilder } from "./build";
import { DistributionCache, defaultCacheDir, placeFile, type CachedFile } from "./cache";
import { loadPipConfig, type PipConfigOptions, type PipSettings } from "./config";
import { PackageFinder } from "./finder";
import { HttpClient, readJson, sha256 } from "./http";
import { MetadataFetcher, type MetadataEntry } from "./metadata";
import { emptyRequirementsInput, parseRequirementArgs, readRequirementsFile, type RequirementsInput, type SourcedRequirement } from "./reqfile";
import { resolve, type Resolution, type ResolveOptions } from "./resolver";
import { FindLinks, SimpleIndex, checkIndexUrl, fragmentHashes, urlFilename, type DistributionFile, type PackageSource } from "./simple-index";
import { resolveTarget, type TargetEnvironment } from "./target";

/** Options shared by resolve, download and lock. Unset values come from pip's configuration. */
export interface PipSessionOptions {
  /** Read pip.conf / PIP_* (default true), with these overrides. */
  pipConfig?: boolean | PipConfigOptions;
  indexUrl?: string;
  extraIndexUrls?: string[];
  findLinks?: string[];
  noIndex?: boolean;
  /** Constraint files (added to pip's `constraint` setting). */
  constraintFiles?: string[];
  pre?: boolean;
  onlyBinary?: string[];
  noBinary?: string[];
  requireHashes?: boolean;
  /** Cache root (default defaultCacheDir()). */
  cacheDir?: string;
  /** Seconds per request (default pip's timeout, 15). */
  timeout?: number;
  retries?: number;
  concurrency?: number;
  resolution?: ResolveOptions["resolution"];
  /** The target; default: probe `python3`. */
  target?: TargetEnvironment;
  /** Build sdists into wheels through PEP 517 when no wheel fits (default true). */
  buildSdists?: boolean;
  /** Interpreter for sdist builds (default: one matching the target's Python version). */
  buildPython?: string;
  signal?: AbortSignal;
}

/** A resolved package with its file downloaded and verified. */
export interface DownloadedDistribution {
  name: string;
  version: string;
  filename: string;
  url: string;
  path: string;
  sha256: string;
  size: number;
}

/**
 * One configured resolver: pip settings merged with options, the package sources, the HTTP
 * client and the caches. Reuse it for resolve -> download -> lock.
 */
export class PipSession {
  readonly settings: PipSettings;
  readonly http: HttpClient;
  readonly cache: DistributionCache;
  readonly metadata: MetadataFetcher;
  readonly cacheDir: string;
  private readonly direct = new Map<string, DistributionFile>();
  /** The pack of the last resolution (a METADATA found lying at download time is dropped from it). */
  private packFile: string | undefined;

  constructor(readonly options: PipSessionOptions = {}) {
    const base: PipSettings =
      options.pipConfig === false
        ? { indexUrl: "https://pypi.org/simple", extraIndexUrls: [], findLinks: [], noIndex: false, constraints: [], pre: false, onlyBinary: [], noBinary: [], timeout: 15, retries: 3, requireHashes: false, files: [] }
        : loadPipConfig(typeof options.pipConfig === "object" ? options.pipConfig : {});
    this.settings = {
      ...base,
      indexUrl: options.indexUrl ?? base.indexUrl,
      extraIndexUrls: options.extraIndexUrls ?? base.extraIndexUrls,
      findLinks: options.findLinks ?? base.findLinks,
      noIndex: options.noIndex ?? base.noIndex,
      constraints: [...base.constraints, ...(options.constraintFiles ?? [])],
      pre: options.pre ?? base.pre,
      onlyBinary: options.onlyBinary ?? base.onlyBinary,
      noBinary: options.noBinary ?? base.noBinary,
      requireHashes: options.requireHashes ?? base.requireHashes,
      timeout: options.timeout ?? base.timeout,
      retries: options.retries ?? Math.min(base.retries, 3),
    };
    this.cacheDir = options.cacheDir ?? defaultCacheDir();
    // Pages and METADATA are cached in the session's pack (see resolve), not one file each.
    this.http = new HttpClient({ timeout: this.settings.timeout, retries: this.settings.retries, concurrency: options.concurrency, cacheDir: this.cacheDir, pageFiles: false });
    this.cache = new DistributionCache(this.cacheDir, this.http);
    this.builder =
      options.buildSdists === false
        ? null
        : new SdistBuilder({
            cacheDir: this.cacheDir,
            ...(options.buildPython ? { python: options.buildPython } : {}),
            // Build requirements are resolved by this package, from the same sources, as wheels only.
            installer: async (requirements, buildTarget, signal) => {
              const nested = new PipSession({ ...this.options, target: buildTarget, onlyBinary: [":all:"], buildSdists: false, signal });
              const { files } = await nested.resolveAndDownloadInput(await nested.readInput({ requirements }));
              return files;
            },
          });
    this.metadata = new MetadataFetcher({
      http: this.http,
      cacheDir: this.cacheDir,
      entryFiles: false,
      download: async (f, signal) => (await this.cache.fetch(f, { signal })).path,
      ...(this.builder ? { build: (f: DistributionFile, local: string, signal?: AbortSignal) => this.buildSdist(f, local, signal) } : {}),
    });
  }

  private builder: SdistBuilder | null;
  private currentTarget: TargetEnvironment | undefined;

  /** Builds a cached sdist into a wheel for the current target (cached by the sdist's sha256). */
  private async buildSdist(file: DistributionFile, local: string, signal?: AbortSignal): Promise<string> {
    const cached = await this.cache.fetch(file, { signal });
    const target = this.currentTarget ?? this.options.target;
    if (!target || !this.builder) throw new InvalidInputError(`Cannot build ${file.filename}: no target environment.`, { code: "ERR_BUILD_FAILED" });
    return (await this.builder.build(local === cached.path ? local : cached.path, cached.sha256, target, signal)).path;
  }

  private async resolveAndDownloadInput(input: RequirementsInput): Promise<{ resolution: Resolution; files: DownloadedDistribution[] }> {
    const resolution = await this.resolve(input);
    return { resolution, files: await this.download(resolution, input) };
  }

  /** Reads requirement strings and files into one input, merging file options with the session's. */
  async readInput(args: { requirements?: string[]; files?: string[] }): Promise<RequirementsInput> {
    const input = emptyRequirementsInput();
    input.requirements.push(...parseRequirementArgs(args.requirements ?? []));
    for (const f of args.files ?? []) await readRequirementsFile(f, { fetchText: async (u) => (await this.http.getText(u)).body }, input);
    for (const c of this.settings.constraints) await readRequirementsFile(c, {}, { ...input, requirements: input.constraints, constraints: input.constraints });
    return input;
  }

  /** Resolves requirements for the target (default: the local python3). */
  async resolve(input: RequirementsInput): Promise<Resolution> {
    const signal = this.options.signal;
    const target = this.options.target ?? (await resolveTarget({}, { signal, cacheDir: this.cacheDir }));
    this.currentTarget = target;
    const sources = this.sources(input);
    for (const r of input.requirements) if (r.requirement.url) this.direct.set(r.requirement.key, directFile(r.requirement));
    const finder = new PackageFinder({
      sources,
      target,
      metadata: this.metadata,
      onlyBinary: [...this.settings.onlyBinary, ...input.onlyBinary],
      noBinary: [...this.settings.noBinary, ...input.noBinary],
      direct: this.direct,
    });
    if (this.settings.requireHashes || input.requireHashes) checkHashMode(input);
    // One "pack" file per set of sources is the cache of its pages and METADATA: a warm run
    // reads one file instead of one per page and per distribution, and a cold run writes
    // one. Runs merge what they used into it (bounded, most recently used first).
    const packFile = path.join(this.cacheDir, PACKS, `${sha256(JSON.stringify(sources.map((s) => s.description)))}.json`);
    this.packFile = packFile;
    const pack = await readJson<Pack>(packFile);
    if (pack) {
      this.http.preload(pack.pages ?? {});
      this.metadata.preload(pack.metadata ?? {});
    }
    let resolution: Resolution | undefined;
    let failure: unknown;
    try {
      resolution = await resolve(
        input.requirements.map((r) => r.requirement),
        {
          finder,
          target,
          constraints: input.constraints.map((c) => c.requirement),
          prereleases: this.settings.pre || input.pre ? "allow" : "if-necessary",
          resolution: this.options.resolution,
          signal,
        },
      );
    } catch (err) {
      failure = err;
    } finally {
      // Cache writes run in the background; never leave one running after we return or throw.
      await this.http.flush();
    }
    if (!resolution) throw failure;
    const pages = this.http.savedPages();
    const metadata = this.metadata.savedEntries();
    // Entries reused from the pack are the very objects it held: unchanged means identical, no serialising to compare.
    if (!pack || !usedUnchanged(pack.pages ?? {}, pages) || !usedUnchanged(pack.metadata ?? {}, metadata)) {
      // Merge with the pack as it is now (a nested build session or another process may have written it since).
      const current = (await readJson<Pack>(packFile)) ?? pack;
      this.http.cacheWrite(packFile, JSON.stringify({ pages: mergeEntries(pages, current?.pages), metadata: mergeEntries(metadata, current?.metadata) }));
    }
    await this.http.flush();
    return resolution;
  }

  /** Downloads (or finds in the cache) every resolved file, verified; copies them into `dest` when given. */
  async download(resolution: Resolution, input: RequirementsInput, dest?: string): Promise<DownloadedDistribution[]> {
    const pins = hashPins(input);
    const hashMode = this.settings.requireHashes || input.requireHashes;
    if (hashMode) {
      const missing = resolution.packages.filter((p) => !pins.has(p.name));
      if (missing.length) {
        throw new InvalidInputError(
          `Hash-checking mode: ${missing.map((p) => `${p.name}==${p.version}`).join(", ")} ${missing.length === 1 ? "is" : "are"} not pinned with --hash in the requirements. Every package, dependencies included, needs "name==version --hash=sha256:...".`,
          { code: "ERR_HASHES_REQUIRED" },
        );
      }
    }
    const signal = this.options.signal;
    const results = await Promise.all(
      resolution.packages.map(async (p): Promise<DownloadedDistribution> => {
        const file = p.candidate.file;
        const cached: CachedFile = await this.cache.fetch(file, { signal, allowed: pins.get(p.name) });
        let local = cached.path;
        let filename = file.filename;
        let sha = cached.sha256;
        let size = cached.size;
        if (file.kind === "sdist" && this.builder) {
          // Only an sdist fits: build it (once per sdist hash) and ship the wheel.
          const built = await this.builder.build(cached.path, cached.sha256, resolution.target, signal);
          local = built.path;
          filename = path.basename(local);
          sha = built.sha256;
          size = built.size;
        } else {
          await this.checkMetadata(file, cached);
        }
        let out = local;
        if (dest) {
          out = path.join(dest, filename);
          await placeFile(local, out);
        }
        return { name: p.name, version: p.version.toString(), filename, url: redactUrl(file.url), path: out, sha256: sha, size };
      }),
    );
    return results;
  }

  /** The wheel's own METADATA against what resolution used; a mismatch also drops the claim from the pack. */
  private async checkMetadata(file: DistributionFile, cached: CachedFile): Promise<void> {
    try {
      await this.metadata.checkWheel(file, cached.path, cached.sha256, this.options.signal);
    } catch (err) {
      if (this.packFile && this.metadata.evicted.size) {
        const pack = await readJson<Pack>(this.packFile);
        if (pack?.metadata) {
          for (const k of this.metadata.evicted) delete pack.metadata[k];
          this.http.cacheWrite(this.packFile, JSON.stringify(pack));
          await this.http.flush();
        }
      }
      throw err;
    }
  }

  private sources(input: RequirementsInput): PackageSource[] {
    const noIndex = this.settings.noIndex || input.noIndex;
    const out: PackageSource[] = [];
    if (!noIndex) {
      const primary = input.indexUrl ?? this.settings.indexUrl;
      for (const u of [primary, ...this.settings.extraIndexUrls, ...input.extraIndexUrls]) {
        checkIndexUrl(u, "Index URL");
        out.push(new SimpleIndex(u, this.http));
      }
    }
    const seen = new Set<string>();
    for (const f of [...this.settings.findLinks, ...input.findLinks]) {
      if (seen.has(f)) continue;
      seen.add(f);
      // A configured http(s) location: its credentials and (for http) its origin are the user's choice.
      if (/^https?:/i.test(f)) this.http.registerUrl(f);
      out.push(new FindLinks(f, this.http));
    }
    if (out.length === 0 && this.direct.size === 0) {
      throw new InvalidInputError("No package source: `noIndex` is set and no `findLinks` location is given.", { code: "ERR_NO_SOURCES", optionNames: ["noIndex", "findLinks"], hint: "add a find-links location, or drop `noIndex`." });
    }
    return out;
  }
}

/** Resolves requirement strings (and requirements files) in one call; see PipSession for options. */
export async function resolveRequirements(requirements: string[], options: PipSessionOptions & { requirementFiles?: string[] } = {}): Promise<Resolution> {
  const session = new PipSession(options);
  const input = await session.readInput({ requirements, files: options.requirementFiles });
  return session.resolve(input);
}

/**
 * Resolves and downloads: the wheel paths (in the content-addressed cache, or copied into
 * `dest`) for `requirements`. This is the hook for `pex build <requirements>`.
 */
export async function resolveAndDownload(requirements: string[], options: PipSessionOptions & { requirementFiles?: string[]; dest?: string } = {}): Promise<{ resolution: Resolution; files: DownloadedDistribution[] }> {
  const session = new PipSession(options);
  const input = await session.readInput({ requirements, files: options.requirementFiles });
  const resolution = await session.resolve(input);
  const files = await session.download(resolution, input, options.dest);
  return { resolution, files };
}

// ---------------------------------------------------------------------------------------

/** The file of a `name @ url` requirement, through the same checks as an index's files (it is user input: errors exit 2). */
function directFile(r: Requirement): DistributionFile {
  const what = formatRequirement(r);
  const hashAt = r.url!.indexOf("#");
  const clean = hashAt >= 0 ? r.url!.slice(0, hashAt) : r.url!;
  if (!clean.startsWith("file:") && !/^https?:/.test(clean)) throw new InvalidInputError(`${what}: only http(s) and file URLs are supported (no VCS URLs).`, { code: "ERR_INVALID_REQUIREMENT" });
  let url: URL;
  try {
    url = new URL(clean);
  } catch {
    throw new InvalidInputError(`${what}: ${JSON.stringify(redactUrl(clean))} is not a valid URL.`, { code: "ERR_INVALID_REQUIREMENT" });
  }
  const filename = urlFilename(url);
  if (filename === null) throw new InvalidInputError(`${what}: the file name in the URL is not valid percent-encoding.`, { code: "ERR_INVALID_REQUIREMENT" });
  let parsed: DistributionFilename;
  try {
    parsed = checkDistributionFilename(filename, { name: r.key });
  } catch (err) {
    if (!(err instanceof DistributionFilenameError)) throw err;
    throw new InvalidInputError(`${what}: ${err.message}`, {
      code: "ERR_INVALID_REQUIREMENT",
      cause: err,
      hint: `give the URL of a wheel or sdist of ${r.key} (name-version-tags.whl or name-version.tar.gz).`,
    });
  }
  const hashes = fragmentHashes(hashAt >= 0 ? r.url!.slice(hashAt + 1) : "", `${what}: the URL fragment hash`);
  if (url.protocol === "file:" && !fs.existsSync(url)) throw new InvalidInputError(`${what}: ${filename} does not exist.`, { code: "ERR_INVALID_REQUIREMENT" });
  const file: DistributionFile = { filename, url: url.href, hashes, requiresPython: null, yanked: false, coreMetadata: false, source: `direct URL ${redactUrl(clean)}`, kind: parsed.kind, name: parsed.name, version: parsed.version };
  if (parsed.kind === "wheel") file.wheel = parsed;
  return file;
}

/** The pack layout version: v2 pages and METADATA entries carry the sha256 of their text. */
const PACKS = "packs-v2";

interface Pack {
  pages: Record<string, unknown>;
  metadata: Record<string, MetadataEntry>;
}

/** Bounds a pack (JSON characters per part): used entries always stay, older ones fill the rest. */
const MAX_PACK_PART = 64 * 1024 * 1024;

/** True when every entry this run used is the pack's own (nothing new, nothing refreshed). */
function usedUnchanged(pack: Record<string, unknown>, used: Record<string, unknown>): boolean {
  for (const k in used) if (pack[k] !== used[k]) return false;
  return true;
}

/** About the JSON size of a pack entry (a METADATA text, or a page: the text or body is most of it). */
function entrySize(key: string, value: unknown): number {
  const v = value as { body?: unknown; text?: unknown } | null;
  return key.length + 256 + String(v?.body ?? v?.text ?? "").length;
}

/** This run's entries first, then earlier ones not used this time, up to MAX_PACK_PART. */
function mergeEntries<T>(used: Record<string, T>, earlier: Record<string, T> | undefined): Record<string, T> {
  const out: Record<string, T> = { ...used };
  let size = 0;
  for (const k in used) size += entrySize(k, used[k]);
  for (const k in earlier ?? {}) {
    if (k in out) continue;
    size += entrySize(k, earlier![k]);
    if (size > MAX_PACK_PART) break;
    out[k] = earlier![k]!;
  }
  return out;
}

function hashPins(input: RequirementsInput): Map<string, string[]> {
  const pins = new Map<string, string[]>();
  for (const r of [...input.requirements, ...input.constraints]) if (r.hashes.length) pins.set(r.requirement.key, [...(pins.get(r.requirement.key) ?? []), ...r.hashes]);
  return pins;
}

/** pip's hash-checking mode: every top-level requirement pinned with == and hashed. */
function checkHashMode(input: RequirementsInput): void {
  const bad = input.requirements.filter((r: SourcedRequirement) => {
    if (r.requirement.url) return r.hashes.length === 0 && !/#sha256=/.test(r.requirement.url);
    const specs = new SpecifierSet(r.requirement.specifier).specifiers;
    const pinned = specs.length === 1 && (specs[0]!.operator === "===" || (specs[0]!.operator === "==" && !specs[0]!.version.endsWith(".*")));
    return !pinned || r.hashes.length === 0;
  });
  if (bad.length) {
    throw new InvalidInputError(
      `Hash-checking mode needs every requirement pinned with == and at least one --hash; not so for: ${bad.map((r) => `${formatRequirement(r.requirement)} (${r.origin})`).join(", ")}.`,
      { code: "ERR_HASHES_REQUIRED" },
    );
  }
}


