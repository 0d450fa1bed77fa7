import { InvalidInputError } from "@cluster-pack/errors";

/** PEP 503: runs of `-`, `_`, `.` become one `-`, lower-cased. Also PEP 685 for extras. */
export function canonicalizeName(name: string): string {
  return name.replace(/[-_.]+/g, "-").toLowerCase();
}

/** PEP 685: extras compare by their PEP 503 normalised form. */
export const canonicalizeExtra = canonicalizeName;

const VALID_NAME = /^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$/i;

/** True for a valid PEP 508 distribution name (`numpy`, `zope.interface`), false for `-x`, `a b`. */
export function isValidName(name: string): boolean {
  return VALID_NAME.test(name);
}

/** Canonical name, or an InvalidInputError naming `what` when `name` is not a valid project name. */
export function requireValidName(name: string, what = "project name"): string {
  if (!isValidName(name)) {
    throw new InvalidInputError(`Invalid ${what} ${JSON.stringify(name)}: use letters, digits, '.', '_' and '-', starting and ending with a letter or digit.`);
  }
  return canonicalizeName(name);
}
