import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { IntegrityError, InvalidInputError, redactUrl } from "@cluster-pack/errors";
import { canonicalizeName, checkDistributionFilename, checkHash, checkHashes, DistributionFilenameError, isHashAlgorithm, InvalidHashError, type Version, type WheelFilename } from "@cluster-pack/packaging";
import type { HttpClient } from "./http";

/** One file of a project, as an index or a find-links location lists it. */
export interface DistributionFile {
  filename: string;
  /** Absolute URL (http(s) or file:), credentials removed. */
  url: string;
  /** Hashes from the index (URL fragment, PEP 691 `hashes`), lower-case hex. */
  hashes: Record<string, string>;
  requiresPython: string | null;
  /** false, or the yank reason ("" when none given). */
  yanked: false | string;
  /** PEP 658/714: false, true, or the hashes of the metadata file. */
  coreMetadata: false | true | Record<string, string>;
  size?: number;
  /** The index or find-links location it came from (redacted, for messages). */
  source: string;
  kind: "wheel" | "sdist";
  name: string;
  version: Version;
  wheel?: WheelFilename;
}

/** A source of project files: a PEP 503/691 index or a flat find-links location. */
export interface PackageSource {
  readonly description: string;
  /** The files of one project (by PEP 503 name); empty when the source does not have it. */
  projectFiles(name: string, signal?: AbortSignal): Promise<DistributionFile[]>;
}

const ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/** A PEP 503 (HTML) / PEP 691 (JSON) simple index at `baseUrl` (http, https or file). */
export class SimpleIndex implements PackageSource {
  readonly description: string;
  private readonly base: string;
  constructor(
    baseUrl: string,
    private readonly http: HttpClient,
  ) {
    const clean = http.registerUrl(baseUrl);
    this.base = clean.endsWith("/") ? clean : `${clean}/`;
    this.description = redactUrl(this.base);
  }

  async projectFiles(name: string, signal?: AbortSignal): Promise<DistributionFile[]> {
    const url = `${this.base}${canonicalizeName(name)}/`;
    const page = await this.http.getText(url, { accept: ACCEPT, signal });
    if (page.status === 404 || page.status === 410) return [];
    if (page.status !== 200) throw new IntegrityError(`${redactUrl(url)}: HTTP ${page.status} for the project page.`, { code: "ERR_INDEX" });
    return parseProjectPage(page.body, page.contentType, page.url, this.description, name);
  }
}

/** A pip `--find-links` location: a local directory of files, or an HTML page of links. */
export class FindLinks implements PackageSource {
  readonly description: string;
  private all: Promise<DistributionFile[]> | undefined;
  constructor(
    private readonly location: string,
    private readonly http: HttpClient,
  ) {
    this.description = redactUrl(location);
  }

  async projectFiles(name: string, signal?: AbortSignal): Promise<DistributionFile[]> {
    this.all ??= this.load(signal);
    const key = canonicalizeName(name);
    return (await this.all).filter((f) => f.name === key);
  }

  private async load(signal?: AbortSignal): Promise<DistributionFile[]> {
    const loc = this.location;
    const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(loc);
    const dir = isUrl ? (loc.startsWith("file:") ? fileURLToPath(loc) : null) : path.resolve(loc);
    if (dir !== null) {
      const st = await fs.promises.stat(dir).catch(() => null);
      if (!st) return [];
      if (st.isDirectory()) {
        const out: DistributionFile[] = [];
        // Names from readdir are real single components; any that is not a distribution (README, .DS_Store) is skipped.
        for (const f of (await fs.promises.readdir(dir)).sort()) {
          const d = localEntry(f, pathToFileURL(path.join(dir, f)).href, this.description);
          if (d) out.push(d);
        }
        return out;
      }
      const d = localEntry(path.basename(dir), pathToFileURL(dir).href, this.description);
      if (d) return [d];
      return parseProjectPage(await fs.promises.readFile(dir, "utf8"), "text/html", pathToFileURL(dir).href, this.description);
    }
    const page = await this.http.getText(loc, { accept: "text/html", signal });
    if (page.status !== 200) throw new IntegrityError(`find-links location ${this.description}: HTTP ${page.status}.`, { code: "ERR_INDEX" });
    return parseProjectPage(page.body, page.contentType, page.url, this.description);
  }
}

/**
 * Parses a project page, JSON (PEP 691) or HTML (PEP 503), into the files it lists.
 * Every file name goes through checkDistributionFilename: links that are not wheels or
 * sdists, or (with `project`) are files of another project, are skipped, as pip does; a
 * name that is not a single path component, or a malformed hash, is an IntegrityError
 * naming the file and the page (an index that sends those is broken or hostile).
 * A page that is neither JSON nor HTML is an error.
 */
export function parseProjectPage(body: string, contentType: string, pageUrl: string, source: string, project?: string): DistributionFile[] {
  const page = { url: pageUrl, source, project };
  if (/json/i.test(contentType) || (/^\s*\{/.test(body) && !/html/i.test(contentType))) {
    let doc: { files?: unknown };
    try {
      doc = JSON.parse(body) as { files?: unknown };
    } catch (err) {
      throw new IntegrityError(`${redactUrl(pageUrl)}: the index sent invalid JSON (${(err as Error).message}).`, { code: "ERR_INDEX_GARBAGE", cause: err, hint: "check the index URL." });
    }
    if (!Array.isArray(doc.files)) throw new IntegrityError(`${redactUrl(pageUrl)}: the JSON page has no "files" list; it is not a PEP 691 project page.`, { code: "ERR_INDEX_GARBAGE" });
    const out: DistributionFile[] = [];
    for (const f of doc.files as Array<Record<string, unknown>>) {
      if (typeof f?.filename !== "string" || f.filename === "" || typeof f.url !== "string") continue;
      const url = resolveUrl(f.url, pageUrl);
      if (url === null) continue;
      const meta = f["core-metadata"] ?? f["dist-info-metadata"];
      const d = pageEntry(page, f.filename, url.href, () => ({
        hashes: checkHashes(f.hashes, `the file ${JSON.stringify(f.filename)}`),
        requiresPython: typeof f["requires-python"] === "string" ? f["requires-python"] : null,
        yanked: f.yanked === true ? "" : typeof f.yanked === "string" ? f.yanked : false,
        coreMetadata: meta === true ? true : meta && typeof meta === "object" ? checkHashes(meta, `the core metadata of the file ${JSON.stringify(f.filename)}`) : false,
      }));
      if (d) {
        if (typeof f.size === "number" && Number.isSafeInteger(f.size) && f.size >= 0) d.size = f.size;
        out.push(d);
      }
    }
    return out;
  }
  if (!/<\s*(html|body|a|head|!doctype|meta|pre)\b/i.test(body) && body.trim() !== "") {
    throw new IntegrityError(`${redactUrl(pageUrl)}: the index answered with something that is neither HTML nor PEP 691 JSON.`, { code: "ERR_INDEX_GARBAGE", hint: "check the index URL." });
  }
  let base = pageUrl;
  const baseTag = /<base\s[^>]*href\s*=\s*("([^"]*)"|'([^']*)'|([^\s>]+))/i.exec(body);
  if (baseTag) base = resolveUrl(unescapeHtml(baseTag[2] ?? baseTag[3] ?? baseTag[4] ?? ""), pageUrl)?.href ?? pageUrl;
  const out: DistributionFile[] = [];
  // PEP 503 pages are flat lists of anchors; a scanner for <a ...>text</a> is all they need.
  for (const m of body.matchAll(/<a\s([^>]*)>([\s\S]*?)<\/a\s*>/gi)) {
    const attrs = parseAttributes(m[1]!);
    const href = attrs.href;
    if (!href) continue;
    const url = resolveUrl(href, base);
    if (url === null) continue;
    const fragment = url.hash.replace(/^#/, "");
    url.hash = "";
    // The file name is the last path segment, percent-decoded: "%2F" becomes a "/" here, and is refused below.
    const filename = urlFilename(url);
    // No name (a directory link such as "../", or malformed percent-encoding): not a file.
    if (!filename) continue;
    const d = pageEntry(page, filename, url.href, () => ({
      hashes: fragmentHashes(fragment, `the file ${JSON.stringify(filename)}`),
      requiresPython: attrs["data-requires-python"] ?? null,
      yanked: attrs["data-yanked"] !== undefined ? attrs["data-yanked"] : false,
      coreMetadata: metadataAttribute(attrs["data-core-metadata"] ?? attrs["data-dist-info-metadata"], filename),
    }));
    if (d) out.push(d);
  }
  return out;
}

/** Parses HTML attributes (quoted, unquoted, bare), entity-decoded; names lower-cased. */
export function parseAttributes(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/([^\s=/>"']+)(?:\s*=\s*("([^"]*)"|'([^']*)'|([^\s>]+)))?/g)) {
    const name = m[1]!.toLowerCase();
    if (name in out) continue;
    out[name] = unescapeHtml(m[3] ?? m[4] ?? m[5] ?? "");
  }
  return out;
}

export function unescapeHtml(s: string): string {
  if (!s.includes("&")) return s;
  const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0" };
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === "#") {
      const cp = e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(cp) && cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
    }
    return named[e.toLowerCase()] ?? m;
  });
}

interface PageFacts {
  hashes: Record<string, string>;
  requiresPython: string | null;
  yanked: false | string;
  coreMetadata: DistributionFile["coreMetadata"];
}

/**
 * One listed file through the choke point: skipped (null) when it is not a distribution of
 * the page's project, refused when its name or hashes could not be safe. `facts` runs
 * after the name check, so hash errors name a file that is known to be a distribution.
 */
function pageEntry(page: { url: string; source: string; project?: string }, filename: string, url: string, facts: () => PageFacts): DistributionFile | null {
  let parsed;
  try {
    parsed = checkDistributionFilename(filename, page.project !== undefined ? { name: page.project } : {});
  } catch (err) {
    if (err instanceof DistributionFilenameError && err.problem !== "unsafe") return null;
    throw new IntegrityError(`Refusing the index page ${redactUrl(page.url)}: ${(err as Error).message} The index is broken or malicious; nothing was downloaded from this page.`, { code: "ERR_UNSAFE_FILENAME", cause: err });
  }
  let f: PageFacts;
  try {
    f = facts();
  } catch (err) {
    if (!(err instanceof InvalidHashError)) throw err;
    throw new IntegrityError(`Refusing the index page ${redactUrl(page.url)}: ${err.message} The index is broken or malicious; nothing was downloaded from this page.`, { code: "ERR_INVALID_HASH", cause: err });
  }
  const d: DistributionFile = { filename, url, hashes: f.hashes, requiresPython: f.requiresPython?.trim() || null, yanked: f.yanked, coreMetadata: f.coreMetadata, source: page.source, kind: parsed.kind, name: parsed.name, version: parsed.version };
  if (parsed.kind === "wheel") d.wheel = parsed;
  return d;
}

/** A file found in a local find-links directory (or given as one): a distribution, or skipped. */
function localEntry(filename: string, url: string, source: string): DistributionFile | null {
  let parsed;
  try {
    parsed = checkDistributionFilename(filename);
  } catch (err) {
    if (err instanceof DistributionFilenameError) return null;
    throw err;
  }
  const d: DistributionFile = { filename, url, hashes: {}, requiresPython: null, yanked: false, coreMetadata: false, source, kind: parsed.kind, name: parsed.name, version: parsed.version };
  if (parsed.kind === "wheel") d.wheel = parsed;
  return d;
}

/**
 * The hashes of a URL fragment (`#sha256=<hex>`, PEP 503; `#egg=x&sha256=<hex>` in direct
 * URLs): a known algorithm must carry a valid digest (else InvalidHashError naming
 * `what`); other parameters (`egg=`, `subdirectory=`) are not hashes.
 */
export function fragmentHashes(fragment: string, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const param of fragment.replace(/^#/, "").split("&")) {
    const eq = param.indexOf("=");
    if (eq <= 0 || !isHashAlgorithm(param.slice(0, eq).toLowerCase())) continue;
    const h = checkHash(param.slice(0, eq), param.slice(eq + 1), what);
    out[h.algorithm] = h.hex;
  }
  return out;
}

/** `data-core-metadata` (PEP 714 / 658): "true", a hash "sha256=<hex>", or absent/"false". */
function metadataAttribute(value: string | undefined, filename: string): DistributionFile["coreMetadata"] {
  if (value === undefined) return false;
  const m = /^([A-Za-z0-9_]+)=(.*)$/.exec(value);
  if (m && isHashAlgorithm(m[1]!.toLowerCase())) {
    const h = checkHash(m[1]!, m[2]!, `the core metadata of the file ${JSON.stringify(filename)}`);
    return { [h.algorithm]: h.hex };
  }
  return value.toLowerCase() !== "false";
}

function resolveUrl(href: string, base: string): URL | null {
  try {
    return new URL(href, base);
  } catch {
    return null;
  }
}

/**
 * The file name a URL points at: its last path segment, percent-decoded (so `%2F` yields a
 * `/`, which checkDistributionFilename then refuses). Null when the encoding is malformed.
 */
export function urlFilename(url: URL): string | null {
  try {
    return decodeURIComponent(url.pathname.slice(url.pathname.lastIndexOf("/") + 1));
  } catch {
    return null;
  }
}

/** Validates a URL-ish index location early, so a typo fails with a clear message. */
export function checkIndexUrl(url: string, what: string): void {
  if (!/^(https?|file):\/\//i.test(url)) throw new InvalidInputError(`${what} ${JSON.stringify(redactUrl(url))} is not an http(s):// or file:// URL.`, { code: "ERR_INVALID_INDEX_URL" });
  // A URL that does not parse is the user's typo (exit 2), not an index that failed (exit 1).
  if (!URL.canParse(url)) throw new InvalidInputError(`${what} ${JSON.stringify(redactUrl(url))} is not a valid URL.`, { code: "ERR_INVALID_INDEX_URL", hint: "check it for typos." });
}
