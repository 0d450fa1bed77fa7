import { InvalidInputError } from "@cluster-pack/errors";

/** PEP 503: runs of `-`, `_`, `.` become one `-`, lower-cased (`Zope.Interface` -> `zope-interface`). */
export function canonicalizeName(name: string): string {
  return name.replace(/[-_.]+/g, "-").toLowerCase();
}

/** PEP 685: extras compare by their PEP 503 normalised form. */
export const canonicalizeExtra = canonicalizeName;

/**
 * The escaped form used in wheel and sdist file names and `.dist-info` directories
 * (binary distribution format, PEP 625): runs of `-_.` become `_`.
 */
export function escapeName(name: string): string {
  return name.replace(/[-_.]+/g, "_");
}

/** Versions in wheel file names: `-` separates the fields, so it becomes `_` (binary distribution format). */
export function escapeVersion(version: string): string {
  return version.replace(/-/g, "_");
}

const VALID_NAME = /^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$/i;

/** True for a valid PEP 508 distribution name (`numpy`, `zope.interface`), false for `-x`, `_x`, `a b`. */
export function isValidName(name: string): boolean {
  return VALID_NAME.test(name);
}

/** Canonical name, or an InvalidInputError naming `what` when `name` is not a valid project name. */
export function requireValidName(name: string, what = "project name"): string {
  if (!isValidName(name)) {
    throw new InvalidInputError(`Invalid ${what} ${JSON.stringify(name)}.`, { code: "ERR_INVALID_NAME", hint: "use letters, digits, '.', '_' and '-', starting and ending with a letter or digit." });
  }
  return canonicalizeName(name);
}
