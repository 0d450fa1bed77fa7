import { InvalidInputError } from "@cluster-pack/errors";

/**
 * A PEP 440 version, parsed and normalised the way Python's `packaging.version.Version`
 * does. Hand-written (not @renovatebot/pep440) because the resolver compares versions
 * millions of times: the comparison key is computed once, numbers are kept as
 * digit strings so arbitrarily large components compare exactly.
 */
export class Version {
  readonly epoch: string;
  readonly release: readonly string[];
  readonly pre: readonly [string, string] | null;
  readonly post: string | null;
  readonly dev: string | null;
  /** Local segments, lower-cased and `.`-joined form split into parts. */
  readonly local: readonly string[] | null;
  private _str: string | undefined;
  private readonly trimmed: readonly string[];

  private constructor(epoch: string, release: string[], pre: [string, string] | null, post: string | null, dev: string | null, local: string[] | null) {
    this.epoch = epoch;
    this.release = release;
    this.pre = pre;
    this.post = post;
    this.dev = dev;
    this.local = local;
    let end = release.length;
    while (end > 1 && release[end - 1] === "0") end--;
    this.trimmed = end === release.length ? release : release.slice(0, end);
  }

  /** Parses `text`; throws InvalidVersionError when it is not a PEP 440 version. */
  static parse(text: string): Version {
    const v = Version.tryParse(text);
    if (!v) throw new InvalidVersionError(text);
    return v;
  }

  /** Parses `text`, or returns null when it is not a PEP 440 version. */
  static tryParse(text: string): Version | null {
    const cached = CACHE.get(text);
    if (cached !== undefined) return cached;
    const m = VERSION_RE.exec(text);
    let v: Version | null = null;
    if (m) {
      const g = m.groups!;
      const pre: [string, string] | null = g.pre_l ? [normalizePre(g.pre_l.toLowerCase()), num(g.pre_n)] : null;
      const post = g.post_n1 !== undefined ? num(g.post_n1) : g.post_l ? num(g.post_n2) : null;
      const dev = g.dev_l ? num(g.dev_n) : null;
      const local = g.local ? g.local.toLowerCase().split(/[-_.]/).map((s) => (/^[0-9]+$/.test(s) ? num(s) : s)) : null;
      v = new Version(num(g.epoch), g.release!.split(".").map(num), pre, post, dev, local);
    }
    if (CACHE.size > 100_000) CACHE.clear();
    CACHE.set(text, v);
    return v;
  }

  /** Builds a version from parts (the resolver uses it for bounds such as `1.2.dev0`). */
  static fromParts(parts: { epoch?: string; release: readonly string[]; pre?: readonly [string, string] | null; post?: string | null; dev?: string | null; local?: readonly string[] | null }): Version {
    return new Version(parts.epoch ?? "0", [...parts.release], parts.pre ? [parts.pre[0], parts.pre[1]] : null, parts.post ?? null, parts.dev ?? null, parts.local ? [...parts.local] : null);
  }

  get isPrerelease(): boolean {
    return this.pre !== null || this.dev !== null;
  }

  get isPostrelease(): boolean {
    return this.post !== null;
  }

  get isDevrelease(): boolean {
    return this.dev !== null;
  }

  /** The version without its local segment (`1.0+cpu` -> `1.0`). */
  get public(): Version {
    return this.local === null ? this : new Version(this.epoch, [...this.release], this.pre ? [...this.pre] : null, this.post, this.dev, null);
  }

  /** `1.2rc1.post2.dev3` -> `1.2`. */
  get baseVersion(): Version {
    return new Version(this.epoch, [...this.release], null, null, null, null);
  }

  /** Normalised string form, as `str(packaging.version.Version(...))`. */
  toString(): string {
    if (this._str !== undefined) return this._str;
    let s = this.epoch !== "0" ? `${this.epoch}!` : "";
    s += this.release.join(".");
    if (this.pre) s += this.pre[0] + this.pre[1];
    if (this.post !== null) s += `.post${this.post}`;
    if (this.dev !== null) s += `.dev${this.dev}`;
    if (this.local !== null) s += `+${this.local.join(".")}`;
    this._str = s;
    return s;
  }

  equals(other: Version): boolean {
    return compareVersions(this, other) === 0;
  }

  compare(other: Version): number {
    return compareVersions(this, other);
  }

  /** @internal trailing-zero-trimmed release, for comparisons. */
  get trimmedRelease(): readonly string[] {
    return this.trimmed;
  }
}

/** A string that is not a PEP 440 version. */
export class InvalidVersionError extends InvalidInputError {
  constructor(text: string) {
    super(`Invalid version ${JSON.stringify(text)}: it is not a PEP 440 version (for example 1.2, 1.2.3rc1, 2!1.0.post1+local).`, { code: "ERR_INVALID_VERSION" });
  }
}

/** Parses a PEP 440 version (throws InvalidVersionError). */
export function parseVersion(text: string): Version {
  return Version.parse(text);
}

/**
 * PEP 440 equality of two version strings (`1.0` == `1.0.0`, `1.0-dev` == `1.0.dev0`), or
 * string equality when either is not a PEP 440 version (what a wheel's METADATA may hold).
 */
export function sameVersion(a: string, b: string): boolean {
  if (a === b) return true;
  const va = Version.tryParse(a);
  const vb = Version.tryParse(b);
  return va !== null && vb !== null && va.equals(vb);
}

/**
 * Total order of PEP 440 (packaging's `_cmpkey`): epoch, release without trailing zeros,
 * then dev-only releases before pre-releases before finals, post, dev, local.
 */
export function compareVersions(a: Version, b: Version): number {
  if (a === b) return 0;
  let c = cmpNum(a.epoch, b.epoch);
  if (c) return c;
  c = cmpRelease(a.trimmedRelease, b.trimmedRelease);
  if (c) return c;
  c = cmpPre(a, b);
  if (c) return c;
  // post: absent sorts lowest.
  c = a.post === b.post ? 0 : a.post === null ? -1 : b.post === null ? 1 : cmpNum(a.post, b.post);
  if (c) return c;
  // dev: absent sorts highest.
  c = a.dev === b.dev ? 0 : a.dev === null ? 1 : b.dev === null ? -1 : cmpNum(a.dev, b.dev);
  if (c) return c;
  return cmpLocal(a.local, b.local);
}

/** Compares two non-negative integers written as digit strings without leading zeros. */
export function cmpNum(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function cmpRelease(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = cmpNum(a[i]!, b[i]!);
    if (c) return c;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

const PRE_ORDER: Record<string, number> = { a: 0, b: 1, rc: 2 };

function cmpPre(a: Version, b: Version): number {
  // A dev release of a final (1.0.dev0) sorts before any pre-release of it (1.0a0).
  const ka = a.pre === null && a.post === null && a.dev !== null ? -1 : a.pre === null ? 1 : 0;
  const kb = b.pre === null && b.post === null && b.dev !== null ? -1 : b.pre === null ? 1 : 0;
  if (ka !== kb) return ka < kb ? -1 : 1;
  if (ka !== 0) return 0;
  const la = PRE_ORDER[a.pre![0]]!;
  const lb = PRE_ORDER[b.pre![0]]!;
  if (la !== lb) return la < lb ? -1 : 1;
  return cmpNum(a.pre![1], b.pre![1]);
}

function cmpLocal(a: readonly string[] | null, b: readonly string[] | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    const xn = isDigits(x);
    const yn = isDigits(y);
    // Numeric segments sort above alphanumeric ones; numbers numerically, strings lexically.
    if (xn && yn) {
      const c = cmpNum(x, y);
      if (c) return c;
    } else if (xn !== yn) {
      return xn ? 1 : -1;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

function isDigits(s: string): boolean {
  const c = s.charCodeAt(0);
  return c >= 48 && c <= 57 && /^[0-9]+$/.test(s);
}

function num(s: string | undefined): string {
  if (s === undefined || s === "") return "0";
  const t = s.replace(/^0+/, "");
  return t === "" ? "0" : t;
}

function normalizePre(l: string): string {
  return l === "alpha" ? "a" : l === "beta" ? "b" : l === "c" || l === "pre" || l === "preview" ? "rc" : l;
}

const CACHE = new Map<string, Version | null>();

// packaging.version.VERSION_PATTERN, anchored, with surrounding whitespace allowed.
const VERSION_RE = new RegExp(
  "^\\s*v?(?:(?:(?<epoch>[0-9]+)!)?(?<release>[0-9]+(?:\\.[0-9]+)*)" +
    "(?<pre>[-_.]?(?<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?<pre_n>[0-9]+)?)?" +
    "(?<post>(?:-(?<post_n1>[0-9]+))|(?:[-_.]?(?<post_l>post|rev|r)[-_.]?(?<post_n2>[0-9]+)?))?" +
    "(?<dev>[-_.]?(?<dev_l>dev)[-_.]?(?<dev_n>[0-9]+)?)?)" +
    "(?:\\+(?<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?\\s*$",
  "i",
);
