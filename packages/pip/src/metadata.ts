import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { hasErrorCode, IntegrityError, redactUrl } from "@cluster-pack/errors";
import { withTempDir, writeFileAtomic, shardedPath } from "@cluster-pack/io";
import { canonicalizeName, parseRequirement, type Requirement } from "@cluster-pack/packaging";
import { parseCoreMetadata, type CoreMetadata } from "@cluster-pack/wheel";
import { fileSource, peekEntries, readPeekedEntry, type RandomAccessSource } from "@cluster-pack/zip";
import { readJson, sha256, type HttpClient } from "./http";
import { readStaticSdistMetadata } from "./sdist";
import type { DistributionFile } from "./simple-index";

/** The parts of core metadata the resolver uses. */
export interface DistributionMetadata {
  name: string;
  version: string;
  requiresPython: string | null;
  requiresDist: Requirement[];
  providesExtra: string[];
}

/** How a file's metadata was obtained (for stats and tests). */
export type MetadataOrigin = "cache" | "pep658" | "local-zip" | "range" | "download" | "sdist" | "build";

export interface MetadataFetcherOptions {
  http: HttpClient;
  /** Cache root; metadata is stored under metadata/ keyed by the file's sha256 (or URL). */
  cacheDir?: string;
  /** Write each METADATA to its own file under cacheDir (default true; a PipSession keeps them in its pack instead). */
  entryFiles?: boolean;
  /** Called when range reads are impossible: downloads the whole file and returns its local path. */
  download?: (file: DistributionFile, signal?: AbortSignal) => Promise<string>;
  /** Builds an sdist (at a local path) into a wheel and returns the wheel's path (PEP 517). */
  build?: (file: DistributionFile, localPath: string, signal?: AbortSignal) => Promise<string>;
}

/**
 * A cached METADATA (headers only): in its own file under `metadata-v2/` or in a session's
 * pack. `sha256` is of `text`, checked on every read (a damaged entry is a miss); `origin`
 * says whether it was read from the file itself or is a claim about it (PEP 658, range).
 */
export interface MetadataEntry {
  text: string;
  sha256: string;
  origin: MetadataOrigin;
}

/**
 * Gets a distribution's METADATA the cheapest way that works: the disk cache, the PEP 658
 * metadata file (hash-checked), the local zip for file: URLs, HTTP range reads of the
 * wheel's central directory and METADATA entry, and finally a full download. Metadata
 * that did not come from the downloaded file is checked against it once the wheel itself
 * is here (`checkWheel`).
 */
export class MetadataFetcher {
  readonly stats: Record<MetadataOrigin, number> = { cache: 0, pep658: 0, "local-zip": 0, range: 0, download: 0, sdist: 0, build: 0 };
  private readonly memo = new Map<string, Promise<DistributionMetadata>>();
  private readonly pack = new Map<string, MetadataEntry>();
  private readonly used = new Map<string, MetadataEntry>();
  /** Keys evicted by `checkWheel` in this run (for the session's pack). */
  readonly evicted = new Set<string>();

  /** Seeds the cache with entries saved by `savedEntries` of an earlier run (each checked against its sha256 when used). */
  preload(entries: Record<string, MetadataEntry>): void {
    for (const [k, v] of Object.entries(entries)) this.pack.set(k, v);
  }

  /** The METADATA entries this run used, keyed by content address. */
  savedEntries(): Record<string, MetadataEntry> {
    return Object.fromEntries(this.used);
  }
  constructor(private readonly options: MetadataFetcherOptions) {}

  get(file: DistributionFile, signal?: AbortSignal): Promise<DistributionMetadata> {
    let p = this.memo.get(file.url);
    if (!p) {
      p = this.fetch(file, signal);
      this.memo.set(file.url, p);
      p.catch(() => this.memo.delete(file.url));
    }
    return p;
  }

  private async fetch(file: DistributionFile, signal?: AbortSignal): Promise<DistributionMetadata> {
    const key = metadataKey(file);
    const cacheFile = this.entryFile(key);
    if (cacheFile) {
      const stored = this.pack.get(key) ?? (await readJson<MetadataEntry>(cacheFile));
      if (stored && intactEntry(stored)) {
        this.used.set(key, stored);
        this.stats.cache++;
        return toDistributionMetadata(stored.text, file);
      }
    }
    const [full, origin] = await this.fetchText(file, signal);
    const text = metadataHeaders(full);
    const meta = toDistributionMetadata(text, file);
    this.stats[origin]++;
    const entry: MetadataEntry = { text, sha256: sha256(text), origin };
    if (cacheFile && this.options.entryFiles !== false) this.options.http.cacheWrite(cacheFile, JSON.stringify(entry));
    this.used.set(key, entry);
    return meta;
  }

  /**
   * PEP 658 says a wheel's `.metadata` file is its METADATA; a range read is the METADATA
   * of the file as it was then. When resolution used such a claim (or a cached one) and the
   * wheel is now on disk (`wheelPath`, verified as `wheelSha256`), its own METADATA headers
   * must be the same text: otherwise the dependencies were resolved from metadata that does
   * not describe the file. A mismatch evicts the cached claim (a fixed index is then read
   * afresh) and is an IntegrityError naming the wheel and the index. An agreement is
   * remembered per (wheel sha256, metadata sha256), so warm runs do not open the wheel.
   */
  async checkWheel(file: DistributionFile, wheelPath: string, wheelSha256: string, signal?: AbortSignal): Promise<void> {
    const key = metadataKey(file);
    const used = this.used.get(key);
    if (!used || file.kind !== "wheel") return;
    // Read from these very bytes (content-addressed by the index's sha256): nothing to compare.
    if ((used.origin === "download" || used.origin === "local-zip") && key.startsWith("sha256-")) return;
    const agreed = this.options.cacheDir ? shardedPath(path.join(this.options.cacheDir, METADATA_DIR, "agrees"), wheelSha256, `${wheelSha256}-${used.sha256}`) : undefined;
    if (agreed && fs.existsSync(agreed)) return;
    const own = metadataHeaders(await readMetadataEntry(await fileSource(wheelPath), file, signal));
    const differs = firstDifference(used.text, own);
    if (differs) {
      this.evict(key);
      const claim = used.origin === "pep658" ? "PEP 658 metadata file" : used.origin === "range" ? "METADATA read by range requests" : "metadata";
      throw new IntegrityError(
        `${file.filename}: the ${claim} served by ${file.source} differs from the wheel's own METADATA (${differs}); the dependencies were resolved from metadata that does not describe this file: the index serves inconsistent data. The cached metadata was dropped.`,
        { code: "ERR_METADATA_MISMATCH", hint: "report it to the index's maintainers, or use another index." },
      );
    }
    if (agreed) await writeFileAtomic(agreed, "").catch(() => undefined);
  }

  /** Forgets a cached METADATA (its entry file; the session drops it from its pack). */
  private evict(key: string): void {
    this.pack.delete(key);
    this.used.delete(key);
    this.evicted.add(key);
    const file = this.entryFile(key);
    if (file) fs.rmSync(file, { force: true });
  }

  private entryFile(key: string): string | undefined {
    return this.options.cacheDir ? path.join(this.options.cacheDir, METADATA_DIR, `${key}.json`) : undefined;
  }

  /**
   * Runs `use` on the whole file on disk: the configured downloader's copy (the wheel cache,
   * kept), else a temporary download, removed once `use` is done.
   */
  private async withDownload<T>(file: DistributionFile, signal: AbortSignal | undefined, use: (local: string) => Promise<T>): Promise<T> {
    if (this.options.download) return use(await this.options.download(file, signal));
    const buf = await this.options.http.getBuffer(file.url, { signal });
    const want = file.hashes.sha256;
    if (want && sha256(buf) !== want) throw new IntegrityError(`${redactUrl(file.url)}: sha256 ${sha256(buf)} does not match the index's ${want}.`, { code: "ERR_HASH_MISMATCH" });
    return withTempDir("cp-dl", async (dir) => {
      const out = path.join(dir, file.filename);
      await fs.promises.writeFile(out, buf);
      return use(out);
    });
  }

  private async fetchText(file: DistributionFile, signal?: AbortSignal): Promise<[string, MetadataOrigin]> {
    const http = this.options.http;
    if (file.coreMetadata) {
      const buf = await http.getBuffer(`${file.url}.metadata`, { signal, maxBytes: 16 << 20 });
      if (typeof file.coreMetadata === "object") {
        const want = file.coreMetadata.sha256;
        if (want && sha256(buf) !== want) {
          throw new IntegrityError(`${redactUrl(file.url)}.metadata: sha256 ${sha256(buf)} does not match the index's ${want}; the index or a proxy serves altered metadata.`, { code: "ERR_HASH_MISMATCH" });
        }
      }
      return [buf.toString("utf8"), "pep658"];
    }
    if (file.kind !== "wheel") {
      // PEP 643: an sdist's PKG-INFO is authoritative when nothing we need is Dynamic.
      const fromSdist = async (local: string): Promise<[string, MetadataOrigin]> => {
        const text = await readStaticSdistMetadata(local, signal);
        if (text !== null) return [text, "sdist"];
        if (this.options.build) {
          const wheel = await this.options.build(file, local, signal);
          return [await readMetadataEntry(await fileSource(wheel), file, signal), "build"];
        }
        throw new IntegrityError(`${file.filename} is a source distribution without static metadata; its dependencies are only known after building it.`, { code: "ERR_SDIST_METADATA" });
      };
      return file.url.startsWith("file:") ? fromSdist(fileURLToPath(file.url)) : this.withDownload(file, signal, fromSdist);
    }
    if (file.url.startsWith("file:")) {
      return [await readMetadataEntry(await fileSource(fileURLToPath(file.url)), file, signal), "local-zip"];
    }
    try {
      // One 256 KiB tail read usually holds the whole central directory and METADATA.
      const source = await http.rangeSource(file.url, { signal, tailSize: 256 * 1024 });
      return [await readMetadataEntry(source, file, signal), "range"];
    } catch (err) {
      if (!hasErrorCode(err, "ERR_HTTP_RANGE_UNSUPPORTED") && !hasErrorCode(err, "ERR_HTTP_RANGE")) throw err;
    }
    return this.withDownload(file, signal, async (local) => [await readMetadataEntry(await fileSource(local), file, signal), "download"]);
  }
}

/** Parses METADATA text into the resolver's view, checking it describes `file`. */
export function toDistributionMetadata(text: string, file: Pick<DistributionFile, "filename" | "name" | "version">): DistributionMetadata {
  const core: CoreMetadata = parseCoreMetadata(text, `${file.filename}: METADATA`);
  if (canonicalizeName(core.name) !== file.name) {
    throw new IntegrityError(`${file.filename}: METADATA names ${JSON.stringify(core.name)}, not ${file.name}; the distribution is mislabelled.`, { code: "ERR_METADATA_MISMATCH" });
  }
  const requiresDist = core.requiresDist.map((r, i) => {
    try {
      return parseRequirement(r);
    } catch (err) {
      throw new IntegrityError(`${file.filename}: METADATA Requires-Dist #${i + 1} ${JSON.stringify(r)} is invalid: ${(err as Error).message}`, { code: "ERR_METADATA_INVALID", cause: err });
    }
  });
  return { name: core.name, version: core.version, requiresPython: core.requiresPython ?? null, requiresDist, providesExtra: core.providesExtra.map(canonicalizeName) };
}

/**
 * The wheel's `<name>-<version>.dist-info/METADATA`, read without opening the whole archive
 * (peekEntries scans the central directory; only this entry is checked and inflated).
 * Closes the source.
 */
async function readMetadataEntry(source: RandomAccessSource, file: DistributionFile, signal?: AbortSignal): Promise<string> {
  try {
    const candidates = await peekEntries(source, (name) => name.endsWith("/METADATA") && METADATA_ENTRY.test(name), { signal });
    const matching = candidates.filter((e) => canonicalizeName(e.name.split("-")[0]!) === file.name);
    const entry = matching.length === 1 ? matching[0] : candidates.length === 1 ? candidates[0] : undefined;
    if (!entry) throw new IntegrityError(`${file.filename}: no single <name>-<version>.dist-info/METADATA in the wheel; it is not a valid wheel.`, { code: "ERR_WHEEL_INVALID" });
    return (await readPeekedEntry(source, entry, { maxBytes: 16 << 20, signal })).toString("utf8");
  } finally {
    await source.close?.();
  }
}

const METADATA_ENTRY = /^[^/]+\.dist-info\/METADATA$/;

/** METADATA cache layout version: v2 entries carry their sha256 and origin. */
const METADATA_DIR = "metadata-v2";

/** Where a file's METADATA is cached: by the file's sha256 when the index gives one, else by URL. */
function metadataKey(file: DistributionFile): string {
  return file.hashes.sha256 ? `sha256-${file.hashes.sha256}` : `url-${sha256(file.url)}`;
}

function intactEntry(e: MetadataEntry): boolean {
  return typeof e === "object" && e !== null && typeof e.text === "string" && e.sha256 === sha256(e.text) && typeof e.origin === "string";
}

/** Where two METADATA texts part (line endings aside), as `line N: index "...", wheel "..."`; null when they agree. */
function firstDifference(claimed: string, own: string): string | null {
  const a = claimed.replace(/\r\n/g, "\n").replace(/\n+$/, "").split("\n");
  const b = own.replace(/\r\n/g, "\n").replace(/\n+$/, "").split("\n");
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] === b[i]) continue;
    const show = (l: string | undefined) => (l === undefined ? "(nothing)" : JSON.stringify(l.length > 160 ? `${l.slice(0, 160)}...` : l));
    return `line ${i + 1}: index ${show(a[i])}, wheel ${show(b[i])}`;
  }
  return null;
}

/**
 * METADATA without its body (the long description, after the first empty line): resolution
 * reads only headers, and the body is most of the text, so caches and packs stay several
 * times smaller and warm runs parse less.
 */
export function metadataHeaders(text: string): string {
  const m = /\r?\n\r?\n/.exec(text);
  return m ? text.slice(0, m.index + 1) : text;
}
