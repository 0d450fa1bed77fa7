import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { IntegrityError, InvalidInputError, redactUrl } from "@cluster-pack/errors";
import { canonicalizeName } from "./names";
import { parseSdistFilename, parseWheelFilename, type WheelFilename } from "./tags";
import { Version } from "./version";
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
    return parseProjectPage(page.body, page.contentType, page.url, this.description);
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
        for (const f of (await fs.promises.readdir(dir)).sort()) {
          const d = fileEntry(f, pathToFileURL(path.join(dir, f)).href, {}, null, false, false, this.description);
          if (d) out.push(d);
        }
        return out;
      }
      const d = fileEntry(path.basename(dir), pathToFileURL(dir).href, {}, null, false, false, this.description);
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
 * Links that are not wheels or sdists are ignored; a page that is neither parses to an error.
 */
export function parseProjectPage(body: string, contentType: string, pageUrl: string, source: string): DistributionFile[] {
  if (/json/i.test(contentType) || (/^\s*\{/.test(body) && !/html/i.test(contentType))) {
    let doc: { files?: unknown };
    try {
      doc = JSON.parse(body) as { files?: unknown };
    } catch (err) {
      throw new IntegrityError(`${redactUrl(pageUrl)}: the index sent invalid JSON (${(err as Error).message}). Check the index URL.`, { code: "ERR_INDEX_GARBAGE", cause: err });
    }
    if (!Array.isArray(doc.files)) throw new IntegrityError(`${redactUrl(pageUrl)}: the JSON page has no "files" list; it is not a PEP 691 project page.`, { code: "ERR_INDEX_GARBAGE" });
    const out: DistributionFile[] = [];
    for (const f of doc.files as Array<Record<string, unknown>>) {
      if (typeof f?.filename !== "string" || typeof f.url !== "string") continue;
      const meta = f["core-metadata"] ?? f["dist-info-metadata"];
      const d = fileEntry(
        f.filename,
        new URL(f.url, pageUrl).href,
        lowerHashes(f.hashes),
        typeof f["requires-python"] === "string" ? f["requires-python"] : null,
        f.yanked === true ? "" : typeof f.yanked === "string" ? f.yanked : false,
        meta === true ? true : meta && typeof meta === "object" ? lowerHashes(meta) : false,
        source,
      );
      if (d) {
        if (typeof f.size === "number") d.size = f.size;
        out.push(d);
      }
    }
    return out;
  }
  if (!/<\s*(html|body|a|head|!doctype|meta|pre)\b/i.test(body) && body.trim() !== "") {
    throw new IntegrityError(`${redactUrl(pageUrl)}: the index answered with something that is neither HTML nor PEP 691 JSON. Check the index URL.`, { code: "ERR_INDEX_GARBAGE" });
  }
  let base = pageUrl;
  const baseTag = /<base\s[^>]*href\s*=\s*("([^"]*)"|'([^']*)'|([^\s>]+))/i.exec(body);
  if (baseTag) base = new URL(unescapeHtml(baseTag[2] ?? baseTag[3] ?? baseTag[4] ?? ""), pageUrl).href;
  const out: DistributionFile[] = [];
  // PEP 503 pages are flat lists of anchors; a scanner for <a ...>text</a> is all they need.
  for (const m of body.matchAll(/<a\s([^>]*)>([\s\S]*?)<\/a\s*>/gi)) {
    const attrs = parseAttributes(m[1]!);
    const href = attrs.href;
    if (!href) continue;
    let url: URL;
    try {
      url = new URL(href, base);
    } catch {
      continue;
    }
    const hashes: Record<string, string> = {};
    const frag = /^#?([a-z0-9_]+)=([0-9a-fA-F]+)$/.exec(url.hash);
    if (frag) hashes[frag[1]!.toLowerCase()] = frag[2]!.toLowerCase();
    url.hash = "";
    const filename = decodeURIComponent(url.pathname.split("/").pop() ?? "");
    const metaAttr = attrs["data-core-metadata"] ?? attrs["data-dist-info-metadata"];
    let coreMetadata: DistributionFile["coreMetadata"] = false;
    if (metaAttr !== undefined) {
      const mh = /^([a-z0-9_]+)=([0-9a-fA-F]+)$/.exec(metaAttr);
      coreMetadata = mh ? { [mh[1]!.toLowerCase()]: mh[2]!.toLowerCase() } : metaAttr.toLowerCase() !== "false";
    }
    const d = fileEntry(filename, url.href, hashes, attrs["data-requires-python"] ?? null, attrs["data-yanked"] !== undefined ? attrs["data-yanked"] : false, coreMetadata, source);
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

function fileEntry(
  filename: string,
  url: string,
  hashes: Record<string, string>,
  requiresPython: string | null,
  yanked: false | string,
  coreMetadata: DistributionFile["coreMetadata"],
  source: string,
): DistributionFile | null {
  if (filename.endsWith(".whl")) {
    let wheel: WheelFilename;
    try {
      wheel = parseWheelFilename(filename);
    } catch {
      return null;
    }
    return { filename, url, hashes, requiresPython: requiresPython?.trim() || null, yanked, coreMetadata, source, kind: "wheel", name: wheel.name, version: wheel.version, wheel };
  }
  const sdist = parseSdistFilename(filename);
  if (sdist && /\.(tar\.gz|zip)$/i.test(filename)) {
    return { filename, url, hashes, requiresPython: requiresPython?.trim() || null, yanked, coreMetadata, source, kind: "sdist", name: sdist.name, version: sdist.version };
  }
  return null;
}

function lowerHashes(h: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (h && typeof h === "object") for (const [k, v] of Object.entries(h)) if (typeof v === "string") out[k.toLowerCase()] = v.toLowerCase();
  return out;
}

/** Validates a URL-ish index location early, so a typo fails with a clear message. */
export function checkIndexUrl(url: string, what: string): void {
  if (/^(https?|file):\/\//i.test(url)) return;
  throw new InvalidInputError(`${what} ${JSON.stringify(redactUrl(url))} is not an http(s):// or file:// URL.`, { code: "ERR_INVALID_INDEX_URL" });
}
