import { InvalidInputError } from "@cluster-pack/errors";
import { canonicalizeName, isValidName } from "./names";
import { InvalidTagError, parseTagSet, type Tag } from "./tags";
import { Version } from "./version";

/**
 * The parts of a wheel file name (binary distribution format, PEP 427/491):
 * `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`.
 */
export interface WheelFilename {
  readonly kind: "wheel";
  /** The file name as given. */
  readonly filename: string;
  /** PEP 503 normalised project name, e.g. `typing-extensions`. */
  readonly name: string;
  readonly version: Version;
  /** Build tag as [number, rest], null when absent; it breaks ties between equal versions. */
  readonly build: readonly [number, string] | null;
  /** Every triple of the compressed tag set (PEP 425), lower-cased. */
  readonly tags: readonly Tag[];
}

/** The parts of an sdist file name (PEP 625 `{name}-{version}.tar.gz`, or legacy `.zip`). */
export interface SdistFilename {
  readonly kind: "sdist";
  readonly filename: string;
  /** PEP 503 normalised project name. */
  readonly name: string;
  readonly version: Version;
  readonly format: "tar.gz" | "zip";
}

export type DistributionFilename = WheelFilename | SdistFilename;

/** What the caller asked for, checked by checkDistributionFilename. */
export interface ExpectedDistribution {
  /** The project (any spelling; compared normalised). */
  name?: string;
  /** The version (compared by PEP 440 equality: `1.0` is `1.0.0`). */
  version?: Version | string;
  kind?: "wheel" | "sdist";
}

/**
 * THE check for a distribution file name that comes from outside: a PEP 691 `filename`,
 * the percent-decoded last path segment of an HTML anchor, a pylock.toml `name` or URL,
 * a PEX-INFO `distributions` key, a name printed by a build backend. Call it before any
 * path is built from the name. It must be
 * 1. a single path component: no `/`, `\`, NUL or other control character, not `.`/`..`,
 *    no leading dot, at most 255 bytes (reason "unsafe": an attack or a broken source);
 * 2. a wheel or sdist name whose every part obeys its grammar (reason "invalid");
 * 3. for the project, version and kind the caller asked for, when given (reason "mismatch").
 * Throws DistributionFilenameError; callers decide whether a reason is fatal (unsafe
 * names from an index are) or means "skip this link" (an index page's foreign files).
 */
export function checkDistributionFilename(filename: string, expected: ExpectedDistribution = {}): DistributionFilename {
  const unsafe = unsafeComponentReason(filename);
  if (unsafe) {
    throw new DistributionFilenameError("unsafe", filename, `Unsafe distribution file name ${show(filename)}: it ${unsafe}; a wheel or sdist file name is a single path component.`);
  }
  const kind = filename.endsWith(".whl") ? "wheel" : SDIST_EXTENSION.test(filename) ? "sdist" : null;
  if (kind === null) {
    throw new DistributionFilenameError("invalid", filename, `${show(filename)} is not a distribution file name: it must end in .whl (wheel), .tar.gz or .zip (sdist).`, "ERR_INVALID_DISTRIBUTION_NAME");
  }
  if (expected.kind !== undefined && expected.kind !== kind) {
    throw new DistributionFilenameError("mismatch", filename, `${show(filename)} is ${kind === "wheel" ? "a wheel" : "an sdist"}, not ${expected.kind === "wheel" ? "a wheel" : "an sdist"} as expected.`);
  }
  const parsed = kind === "wheel" ? parseWheelFilename(filename) : parseSdistFilename(filename, expected.name);
  if (expected.name !== undefined && parsed.name !== canonicalizeName(expected.name)) {
    throw new DistributionFilenameError("mismatch", filename, `${show(filename)} is a file of project ${parsed.name}, not of ${canonicalizeName(expected.name)}.`);
  }
  if (expected.version !== undefined) {
    const want = typeof expected.version === "string" ? Version.tryParse(expected.version) : expected.version;
    if (want === null || !want.equals(parsed.version)) {
      throw new DistributionFilenameError("mismatch", filename, `${show(filename)} is version ${parsed.version}, not ${String(expected.version)}.`);
    }
  }
  return parsed;
}

/**
 * Parses a wheel file name; every part must obey its grammar: the name a PEP 508 name
 * without `-` (`foo__bar` is accepted, `_private` is not: the spec's name rule, as uv
 * applies it), a PEP 440 version, a build tag starting with a digit, tags of
 * `[A-Za-z0-9_]`. Throws DistributionFilenameError naming the file.
 */
export function parseWheelFilename(filename: string): WheelFilename {
  const bad = (why: string): never => {
    throw new DistributionFilenameError("invalid", filename, `Invalid wheel file name ${show(filename)}: ${why}. Wheel names look like name-1.0-py3-none-any.whl (PEP 427).`, "ERR_INVALID_WHEEL_NAME");
  };
  if (!filename.endsWith(".whl")) bad("it does not end in .whl");
  const parts = filename.slice(0, -4).split("-");
  if (parts.length !== 5 && parts.length !== 6) bad(`expected 5 or 6 '-'-separated parts, found ${parts.length}`);
  const [namePart, versionPart] = parts as [string, string];
  if (!isValidName(namePart)) bad(`invalid project name ${show(namePart)}`);
  const version = parseVersionPart(versionPart);
  if (!version) bad(`invalid version ${show(versionPart)}`);
  let build: [number, string] | null = null;
  if (parts.length === 6) {
    const m = BUILD_TAG.exec(parts[2]!);
    if (!m) bad(`invalid build tag ${show(parts[2]!)}: it must start with a digit, then letters, digits or '_'`);
    build = [Number(m![1]), m![2]!];
  }
  const tagText = parts.slice(-3).join("-");
  let tags: Tag[];
  try {
    tags = parseTagSet(tagText);
  } catch (err) {
    if (!(err instanceof InvalidTagError)) throw err;
    return bad(`invalid compatibility tags ${show(tagText)}: each tag is letters, digits and '_'`);
  }
  return { kind: "wheel", filename, name: canonicalizeName(namePart), version: version!, build, tags };
}

/**
 * Parses an sdist file name: `{name}-{version}.tar.gz` or `.zip`. Legacy names may hold
 * `-` in the project name (`python-dateutil-2.8.2.tar.gz`) and the version in a few
 * spellings (`1.0-1`), so the split is ambiguous: with `project` the name part is the
 * prefix that normalises to it (uv's rule), otherwise the last `-` (packaging's rule).
 * Throws DistributionFilenameError naming the file.
 */
export function parseSdistFilename(filename: string, project?: string): SdistFilename {
  const bad = (why: string): never => {
    throw new DistributionFilenameError("invalid", filename, `Invalid sdist file name ${show(filename)}: ${why}. Sdist names look like name-1.0.tar.gz (PEP 625).`, "ERR_INVALID_SDIST_NAME");
  };
  const ext = SDIST_EXTENSION.exec(filename);
  if (!ext) bad("it does not end in .tar.gz or .zip");
  const stem = filename.slice(0, -ext![0].length);
  let split = stem.lastIndexOf("-");
  if (project !== undefined) {
    const want = canonicalizeName(project);
    for (let i = stem.indexOf("-"); i > 0; i = stem.indexOf("-", i + 1)) {
      if (canonicalizeName(stem.slice(0, i)) === want && parseVersionPart(stem.slice(i + 1))) {
        split = i;
        break;
      }
    }
  }
  if (split <= 0) bad("expected name-version");
  const namePart = stem.slice(0, split);
  const versionPart = stem.slice(split + 1);
  if (!isValidName(namePart)) bad(`invalid project name ${show(namePart)}`);
  const version = parseVersionPart(versionPart);
  if (!version) bad(`invalid version ${show(versionPart)}`);
  return { kind: "sdist", filename, name: canonicalizeName(namePart), version: version!, format: ext![1] === ".zip" ? "zip" : "tar.gz" };
}

/**
 * Why `name` is not one safe path component, or null: the part of the choke point that
 * keeps any later `path.join(dir, name)` inside `dir` on every platform.
 */
export function unsafeComponentReason(name: string): string | null {
  if (name === "") return "is empty";
  if (name === "." || name === "..") return "is a dot segment";
  if (name.includes("/")) return "contains '/'";
  if (name.includes("\\")) return "contains '\\'";
  // eslint-disable-next-line no-control-regex -- control characters are what this looks for
  if (/[\u0000-\u001f\u007f]/.test(name)) return "contains a control character";
  if (name.startsWith(".")) return "starts with '.'";
  // A UTF-16 code unit is at most 3 UTF-8 bytes: only long names need counting.
  if (name.length > 85 && utf8Length(name) > 255) return "is longer than 255 bytes";
  return null;
}

/** A distribution file name refused by the checks above; `problem` says which one. */
export class DistributionFilenameError extends InvalidInputError {
  constructor(
    readonly problem: "unsafe" | "invalid" | "mismatch",
    readonly filename: string,
    message: string,
    code = problem === "unsafe" ? "ERR_UNSAFE_FILENAME" : problem === "mismatch" ? "ERR_FILENAME_MISMATCH" : "ERR_INVALID_DISTRIBUTION_NAME",
  ) {
    super(message, { code });
  }
}

// ---------------------------------------------------------------------------------------

const SDIST_EXTENSION = /(\.tar\.gz|\.zip)$/;
const BUILD_TAG = /^([0-9]+)([A-Za-z0-9_]*)$/;
// The characters of a PEP 440 version (the parser itself tolerates surrounding spaces).
const VERSION_CHARS = /^[A-Za-z0-9.!+_-]+$/;

function parseVersionPart(text: string): Version | null {
  return VERSION_CHARS.test(text) ? Version.tryParse(text) : null;
}

/** The name for a message: quoted with control characters escaped, and bounded. */
function show(name: string): string {
  return JSON.stringify(name.length > 200 ? `${name.slice(0, 200)}...` : name);
}

function utf8Length(s: string): number {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}
