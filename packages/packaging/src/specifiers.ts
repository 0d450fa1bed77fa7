import { InvalidInputError } from "@cluster-pack/errors";
import { Version, compareVersions } from "./version";

export type Operator = "~=" | "==" | "!=" | "<=" | ">=" | "<" | ">" | "===";

/**
 * One PEP 440 version specifier (`>=1.2`, `==1.*`, `~=2.2.post3`, `===foo`), with the
 * semantics of `packaging.specifiers.Specifier` (packaging 26): `==1.2` matches
 * `1.2+cpu`, `>1.2` excludes `1.2.post1` and `1.2+local`, `<1.2` excludes `1.2rc1`.
 */
export class Specifier {
  readonly operator: Operator;
  /** The version text as written (after the operator, trimmed). */
  readonly version: string;
  private readonly parsed: Version | null;
  private readonly wildcard: WildcardSplit | null;
  private readonly compatPrefix: WildcardSplit | null;

  constructor(text: string) {
    const m = splitSpecifier(text);
    if (!m) throw new InvalidSpecifierError(text);
    this.operator = m[0] as Operator;
    this.version = m[1].trim();
    this.parsed = null;
    this.wildcard = null;
    this.compatPrefix = null;
    if (this.operator === "===") return;
    if (this.version.endsWith(".*")) {
      Version.parse(this.version.slice(0, -2));
      this.wildcard = wildcardSplit(this.version.slice(0, -2));
    } else {
      this.parsed = Version.parse(this.version);
      if (this.operator === "~=") this.compatPrefix = compatibleSplit(this.version);
    }
  }

  /**
   * Whether this specifier implies pre-releases (packaging's `Specifier.prereleases`):
   * true when its version is a pre-release, except for `!=` and `==X.*`; null for `===`.
   */
  get impliesPrereleases(): boolean | null {
    if (this.operator === "!=") return false;
    if (this.wildcard) return false;
    if (this.operator === "===") {
      const v = Version.tryParse(this.version);
      return v ? v.isPrerelease : null;
    }
    return this.parsed!.isPrerelease;
  }

  /** True when `v` satisfies this specifier, pre-releases allowed (no pre-release policy here). */
  matches(v: Version | string): boolean {
    if (typeof v === "string") {
      if (this.operator === "===") return v.toLowerCase() === this.version.toLowerCase();
      const p = Version.tryParse(v);
      return p !== null && this.matches(p);
    }
    switch (this.operator) {
      case "===":
        return v.toString().toLowerCase() === this.version.toLowerCase();
      case "==":
        return this.equal(v);
      case "!=":
        return !this.equal(v);
      case "~=":
        return compareVersions(v.public, this.parsed!) >= 0 && prefixMatch(v, this.compatPrefix!);
      case "<=":
        return compareVersions(v.public, this.parsed!) <= 0;
      case ">=":
        return compareVersions(v.public, this.parsed!) >= 0;
      case "<": {
        const spec = this.parsed!;
        if (compareVersions(v, spec) >= 0) return false;
        // "<V must not allow a pre-release of V unless V is itself a pre-release."
        if (!spec.isPrerelease && v.isPrerelease && compareVersions(v, earliestPrerelease(spec)) >= 0) return false;
        return true;
      }
      case ">": {
        const spec = this.parsed!;
        if (compareVersions(v, spec) <= 0) return false;
        // ">V must not allow a post-release of V unless V is itself a post-release."
        if (!spec.isPostrelease && v.isPostrelease && compareVersions(postBase(v), spec) === 0) return false;
        // ">V must not match a local version of V."
        if (v.local !== null && compareVersions(v.public, spec) === 0) return false;
        return true;
      }
    }
  }

  /** The parsed version of a non-wildcard, non-`===` specifier. */
  get parsedVersion(): Version | null {
    return this.parsed;
  }

  toString(): string {
    return `${this.operator}${this.version}`;
  }

  private equal(v: Version): boolean {
    if (this.wildcard) return prefixMatch(v, this.wildcard);
    const spec = this.parsed!;
    return compareVersions(spec.local === null ? v.public : v, spec) === 0;
  }
}

/**
 * A comma-separated set of specifiers (`>=1.0,!=1.3.*,<2`), as `packaging.specifiers.SpecifierSet`.
 * `filter` applies PEP 440's pre-release rule; `contains` is the plain conjunction.
 */
export class SpecifierSet {
  readonly specifiers: readonly Specifier[];

  constructor(text: string | readonly Specifier[] = "") {
    if (typeof text === "string") {
      this.specifiers = text
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "")
        .map((s) => new Specifier(s));
    } else {
      this.specifiers = [...text];
    }
  }

  get isEmpty(): boolean {
    return this.specifiers.length === 0;
  }

  /** True when any specifier names a pre-release (so pre-releases are wanted), else null. */
  get impliesPrereleases(): boolean | null {
    if (this.specifiers.length === 0) return null;
    return this.specifiers.some((s) => s.impliesPrereleases) ? true : null;
  }

  /** All specifiers match `v` (pre-releases not filtered out). */
  contains(v: Version | string): boolean {
    for (const s of this.specifiers) if (!s.matches(v)) return false;
    return true;
  }

  /**
   * The versions that match, keeping pre-releases when `prereleases` is true, dropping them
   * when false, and when undefined following PEP 440: pre-releases only when a specifier
   * asks for one or when no final release matches (packaging's `SpecifierSet.filter`).
   */
  filter<T extends Version>(versions: Iterable<T>, prereleases?: boolean): T[] {
    const pre = prereleases ?? this.impliesPrereleases ?? undefined;
    const out: T[] = [];
    for (const v of versions) {
      if (pre === false && v.isPrerelease) continue;
      if (this.contains(v)) out.push(v);
    }
    if (pre !== undefined) return out;
    return out.some((v) => !v.isPrerelease) ? out.filter((v) => !v.isPrerelease) : out;
  }

  /** Intersection: both sets' specifiers. */
  and(other: SpecifierSet): SpecifierSet {
    return new SpecifierSet([...this.specifiers, ...other.specifiers]);
  }

  toString(): string {
    return this.specifiers
      .map((s) => s.toString())
      .sort()
      .join(",");
  }
}

/** A specifier that is not PEP 440. */
export class InvalidSpecifierError extends InvalidInputError {
  constructor(text: string) {
    super(`Invalid version specifier ${JSON.stringify(text)}: expected an operator (~=, ==, !=, <=, >=, <, >, ===) and a PEP 440 version, for example ">=1.2,<2" or "==1.4.*".`, {
      code: "ERR_INVALID_SPECIFIER",
    });
  }
}

/**
 * Prefix matching is done on strings exactly as packaging does it (`_version_split`,
 * `_left_pad`), because its results for unusual spellings (`~=v1.1`, `~=1.0_dev.1`)
 * follow from that string arithmetic rather than from PEP 440's prose.
 */
interface WildcardSplit {
  split: string[];
  numericLen: number;
}

function wildcardSplit(prefix: string): WildcardSplit {
  const normalized = Version.tryParse(prefix)?.toString() ?? prefix;
  const split = versionSplit(normalized);
  return { split, numericLen: numericPrefixLen(split) };
}

/** `~=X.Y.Z[suffixes]` -> the `X.Y.*` prefix, computed from the raw text like packaging. */
function compatibleSplit(spec: string): WildcardSplit {
  const parts = versionSplit(spec);
  const kept: string[] = [];
  for (const p of parts) {
    if (/^(dev|a|b|rc|post)/.test(p)) break;
    kept.push(p);
  }
  kept.pop();
  const [epoch, ...rest] = kept;
  return wildcardSplit(`${epoch ?? ""}!${rest.join(".")}`);
}

function prefixMatch(v: Version, w: WildcardSplit): boolean {
  const prospective = versionSplit(v.public.toString());
  const n = numericPrefixLen(prospective);
  const padded = n < w.numericLen ? [...prospective.slice(0, n), ...Array<string>(w.numericLen - n).fill("0"), ...prospective.slice(n)] : prospective;
  if (padded.length < w.split.length) return false;
  for (let i = 0; i < w.split.length; i++) if (padded[i] !== w.split[i]) return false;
  return true;
}

function versionSplit(version: string): string[] {
  const bang = version.lastIndexOf("!");
  const epoch = bang >= 0 ? version.slice(0, bang) : "";
  const rest = bang >= 0 ? version.slice(bang + 1) : version;
  const out = [epoch || "0"];
  for (const item of rest.split(".")) {
    const m = /^([0-9]+)((?:a|b|c|rc)[0-9]+)$/.exec(item);
    if (m) out.push(m[1]!, m[2]!);
    else out.push(item);
  }
  return out;
}

function numericPrefixLen(split: readonly string[]): number {
  let n = 0;
  while (n < split.length && /^[0-9]+$/.test(split[n]!)) n++;
  return n;
}

function earliestPrerelease(v: Version): Version {
  return Version.fromParts({ epoch: v.epoch, release: v.release, pre: v.pre, post: v.post, dev: "0" });
}

function postBase(v: Version): Version {
  return Version.fromParts({ epoch: v.epoch, release: v.release, pre: v.pre });
}

// packaging's Specifier regex: which operators accept wildcards, locals, suffixes.
const PRE = "(?:[-_.]?(?:alpha|beta|preview|pre|a|b|c|rc)[-_.]?[0-9]*)?";
const POST = "(?:(?:-[0-9]+)|(?:[-_.]?(?:post|rev|r)[-_.]?[0-9]*))?";
const DEV = "(?:[-_.]?dev[-_.]?[0-9]*)?";
const LOCAL = "(?:\\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?";

/**
 * The specifier grammar (operator, optional spaces, version) as a regex source, shared by
 * Specifier and the PEP 508 tokenizer. With `capture`, each alternative captures
 * (operator, version).
 */
export function specifierPattern(capture: boolean): string {
  const g = (x: string) => (capture ? `(${x})` : `(?:${x})`);
  return (
    "(?:" +
    g("===") + "\\s*" + g("[^\\s;)]*") +
    "|" + g("==|!=") + "\\s*" + g("v?(?:[0-9]+!)?[0-9]+(?:\\.[0-9]+)*(?:\\.\\*|" + PRE + POST + DEV + LOCAL + ")") +
    "|" + g("~=") + "\\s*" + g("v?(?:[0-9]+!)?[0-9]+(?:\\.[0-9]+)+" + PRE + POST + DEV) +
    "|" + g("<=|>=|<|>") + "\\s*" + g("v?(?:[0-9]+!)?[0-9]+(?:\\.[0-9]+)*" + PRE + POST + DEV) +
    ")"
  );
}

const SPEC_RE = new RegExp(`^\\s*${specifierPattern(true)}\\s*$`, "i");

/** Matches `text` against the specifier grammar: [operator, version] or null. */
function splitSpecifier(text: string): [string, string] | null {
  const m = SPEC_RE.exec(text);
  if (!m) return null;
  for (let i = 1; i < m.length; i += 2) {
    if (m[i] !== undefined) return [m[i]!, m[i + 1]!];
  }
  return null;
}
