import { InvalidInputError } from "@cluster-pack/errors";

/** The parts of a wheel file name (PEP 427): `name-version(-build)?-python-abi-platform.whl`. */
export interface WheelFilename {
  /** The file name as given (basename). */
  filename: string;
  /** The distribution name as written in the file name (escaped: `_` for runs of `-_.`). */
  name: string;
  /** PEP 503 normalised name, e.g. `typing-extensions`. */
  normalizedName: string;
  version: string;
  /** Build tag, e.g. `1` or `1abc`; undefined when absent. */
  buildTag?: string;
  pythonTags: string[];
  abiTags: string[];
  platformTags: string[];
  /** Every expanded `python-abi-platform` triple of the compressed tag set (PEP 425). */
  tags: string[];
}

/**
 * Parses a wheel file name. Throws InvalidInputError naming the file when it is not a
 * wheel name, so callers can pass user input straight through.
 */
export function parseWheelFilename(filename: string): WheelFilename {
  const base = filename.split(/[\\/]/).pop() ?? filename;
  if (!base.endsWith(".whl")) {
    throw new InvalidInputError(`${base} is not a wheel file name: it must end with .whl (name-version-python-abi-platform.whl).`);
  }
  const parts = base.slice(0, -4).split("-");
  if (parts.length !== 5 && parts.length !== 6) {
    throw new InvalidInputError(
      `${base} is not a valid wheel file name: expected name-version(-build)?-python-abi-platform.whl (PEP 427), got ${parts.length} dash-separated parts.`,
    );
  }
  const [name, version] = parts as [string, string];
  const buildTag = parts.length === 6 ? parts[2] : undefined;
  const [py, abi, plat] = parts.slice(-3) as [string, string, string];
  if (!/^[A-Za-z0-9](?:[A-Za-z0-9._]*[A-Za-z0-9])?$/.test(name) || !version || !py || !abi || !plat) {
    throw new InvalidInputError(`${base} is not a valid wheel file name: bad name or empty tag.`);
  }
  if (buildTag !== undefined && !/^\d/.test(buildTag)) {
    throw new InvalidInputError(`${base} is not a valid wheel file name: the build tag "${buildTag}" must start with a digit.`);
  }
  const pythonTags = py.split(".");
  const abiTags = abi.split(".");
  const platformTags = plat.split(".");
  const tags: string[] = [];
  for (const p of pythonTags) for (const a of abiTags) for (const t of platformTags) tags.push(`${p}-${a}-${t}`);
  const out: WheelFilename = { filename: base, name, normalizedName: normalizeName(name), version, pythonTags, abiTags, platformTags, tags };
  if (buildTag !== undefined) out.buildTag = buildTag;
  return out;
}

/** PEP 503 name normalisation. */
export function normalizeName(name: string): string {
  return name.replace(/[-_.]+/g, "-").toLowerCase();
}

/** The escaped form used in file names and `.dist-info` directories (PEP 427/491). */
export function escapeName(name: string): string {
  return name.replace(/[-_.]+/g, "_");
}
