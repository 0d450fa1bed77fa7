import { IntegrityError, InvalidInputError } from "@cluster-pack/errors";
import { canonicalizeName, escapeName, parseTagSet, parseWheelFilename, sameVersion, tagToString, type WheelFilename } from "@cluster-pack/packaging";
import type { ZipReader } from "@cluster-pack/zip";

/** Core metadata (METADATA / PKG-INFO): headers, multi-valued ones as arrays, the body. */
export interface CoreMetadata {
  name: string;
  version: string;
  requiresPython?: string;
  requiresDist: string[];
  providesExtra: string[];
  /** Every header, lower-cased keys, in file order. */
  headers: Record<string, string[]>;
  description?: string;
}

/** The WHEEL file. */
export interface WheelInfo {
  wheelVersion: [number, number];
  rootIsPurelib: boolean;
  tags: string[];
  build?: string;
  generator?: string;
}

/** entry_points.txt: group -> name -> `module:attr [extras]`. */
export type EntryPoints = Record<string, Record<string, string>>;

export interface WheelMetadata {
  filename: WheelFilename;
  /** `<name>-<version>.dist-info`, as found in the archive. */
  distInfoDir: string;
  /** `<name>-<version>.data` (may be absent from the archive). */
  dataDir: string;
  metadata: CoreMetadata;
  wheel: WheelInfo;
  entryPoints: EntryPoints;
}

/** Parses RFC 822-style core metadata (continuation lines, repeated headers, body). */
export function parseCoreMetadata(text: string, source = "METADATA"): CoreMetadata {
  const headers: Record<string, string[]> = {};
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  let last: string | undefined;
  for (; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === "") {
      i++;
      break;
    }
    if (/^[ \t]/.test(line) && last) {
      const values = headers[last]!;
      values[values.length - 1] += `\n${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) throw new IntegrityError(`${source}: malformed header line ${i + 1}: ${JSON.stringify(line.slice(0, 80))}`);
    last = line.slice(0, colon).trim().toLowerCase();
    (headers[last] ??= []).push(line.slice(colon + 1).trim());
  }
  const body = lines.slice(i).join("\n");
  const name = headers.name?.[0];
  const version = headers.version?.[0];
  if (!name || !version) throw new IntegrityError(`${source}: core metadata lacks Name or Version; the wheel is malformed.`);
  const out: CoreMetadata = {
    name,
    version,
    requiresDist: headers["requires-dist"] ?? [],
    providesExtra: headers["provides-extra"] ?? [],
    headers,
  };
  if (headers["requires-python"]?.[0]) out.requiresPython = headers["requires-python"][0];
  const description = headers.description?.[0] ?? (body.trim() ? body : undefined);
  if (description !== undefined) out.description = description;
  return out;
}

/** Parses the WHEEL file; throws when the major Wheel-Version is not 1 (PEP 427). */
export function parseWheelInfo(text: string, source = "WHEEL"): WheelInfo {
  const h = parseCoreHeaders(text);
  const versionText = h["wheel-version"]?.[0];
  const m = versionText ? /^(\d+)\.(\d+)$/.exec(versionText) : null;
  if (!m) throw new IntegrityError(`${source}: WHEEL has no valid Wheel-Version; the wheel is malformed.`);
  const wheelVersion: [number, number] = [Number(m[1]), Number(m[2])];
  if (wheelVersion[0] !== 1) {
    throw new InvalidInputError(`${source}: Wheel-Version ${versionText} is not supported (only 1.x).`, { hint: "install it with a newer installer or rebuild the wheel." });
  }
  const out: WheelInfo = {
    wheelVersion,
    rootIsPurelib: (h["root-is-purelib"]?.[0] ?? "true").toLowerCase() === "true",
    tags: h.tag ?? [],
  };
  if (h.build?.[0]) out.build = h.build[0];
  if (h.generator?.[0]) out.generator = h.generator[0];
  return out;
}

/** Parses entry_points.txt (an INI file; keys keep their case, values are trimmed). */
export function parseEntryPoints(text: string): EntryPoints {
  const out: EntryPoints = {};
  let section: Record<string, string> | undefined;
  for (const raw of text.replace(/\r\n?/g, "\n").split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      section = out[sec[1]!.trim()] ??= {};
      continue;
    }
    const eq = line.indexOf("=");
    if (eq <= 0 || !section) continue;
    section[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

/** A parsed `module:attr.attr [extras]` entry point value. */
export interface EntryPointTarget {
  module: string;
  attr?: string;
  extras: string[];
}

export function parseEntryPointValue(value: string, source = "entry point"): EntryPointTarget {
  const m = /^\s*([\w.]+)\s*(?::\s*([\w.]+))?\s*(?:\[([^\]]*)\])?\s*$/.exec(value);
  if (!m) throw new InvalidInputError(`${source}: "${value}" is not an entry point (module or module:function).`);
  const out: EntryPointTarget = { module: m[1]!, extras: m[3] ? m[3].split(",").map((s) => s.trim()).filter(Boolean) : [] };
  if (m[2]) out.attr = m[2];
  return out;
}

/**
 * Reads METADATA, WHEEL and entry_points.txt from an open wheel, and refuses a wheel whose
 * content disagrees with its file name (the name every resolver and installer selects it
 * by): exactly one `.dist-info` directory, named for the file's project and version (pip
 * refuses several); METADATA's Name and Version equal to the file name's (normalised: PEP
 * 503 names, PEP 440 versions); every tag of the file name covered by a WHEEL `Tag`.
 * Errors (IntegrityError) name the wheel and the entry.
 */
export async function readWheelMetadata(reader: ZipReader, wheelName: string, options: { signal?: AbortSignal } = {}): Promise<WheelMetadata> {
  const filename = parseWheelFilename(wheelName);
  const file = filename.filename;
  const distInfoDir = findDistInfoDir(reader, filename);
  const read = async (rel: string, required: boolean): Promise<string | undefined> => {
    const entry = reader.getEntry(`${distInfoDir}/${rel}`);
    if (!entry) {
      if (required) throw new IntegrityError(`${file}: ${distInfoDir}/${rel} is missing; the wheel is malformed.`);
      return undefined;
    }
    return (await reader.readEntry(entry, { maxBytes: 64 * 1024 * 1024, signal: options.signal })).toString("utf8");
  };
  const metadataText = (await read("METADATA", true))!;
  const wheelText = (await read("WHEEL", true))!;
  const epText = await read("entry_points.txt", false);
  const metadata = parseCoreMetadata(metadataText, `${file}: METADATA`);
  if (canonicalizeName(metadata.name) !== filename.name) {
    throw new IntegrityError(`${file}: ${distInfoDir}/METADATA names "${metadata.name}" but the file name says "${filename.name}"; the wheel is mislabelled.`, { code: "ERR_WHEEL_MISLABELLED" });
  }
  if (!sameVersion(metadata.version, filename.version.toString())) {
    throw new IntegrityError(`${file}: ${distInfoDir}/METADATA says version ${metadata.version} but the file name says ${filename.version}; the wheel is mislabelled (pip refuses it too).`, { code: "ERR_WHEEL_MISLABELLED", hint: "use the wheel under its own name." });
  }
  const wheel = parseWheelInfo(wheelText, `${file}: WHEEL`);
  checkWheelTags(filename, wheel, distInfoDir);
  return {
    filename,
    distInfoDir,
    dataDir: distInfoDir.replace(/\.dist-info$/, ".data"),
    metadata,
    wheel,
    entryPoints: epText ? parseEntryPoints(epText) : {},
  };
}

/** The wheel's one `.dist-info` directory, as pip finds it: any top-level name ending so. */
function findDistInfoDir(reader: ZipReader, filename: WheelFilename): string {
  const file = filename.filename;
  const dirs = new Set<string>();
  for (const e of reader.entries) {
    const top = e.name.split("/", 1)[0]!;
    if (top.endsWith(".dist-info")) dirs.add(top);
  }
  const expected = `${escapeName(filename.name)}-${filename.version}.dist-info`;
  if (dirs.size === 0) throw new IntegrityError(`${file}: no ${expected} directory in the wheel; it is not a valid wheel.`, { code: "ERR_WHEEL_MISLABELLED" });
  if (dirs.size > 1) {
    throw new IntegrityError(
      `${file}: the wheel has ${dirs.size} .dist-info directories (${[...dirs].sort().join(", ")}); a wheel holds exactly one (pip refuses it too), the others would install a foreign distribution's metadata.`,
      { code: "ERR_WHEEL_MISLABELLED", hint: "rebuild the wheel." },
    );
  }
  const dir = [...dirs][0]!;
  const stem = dir.slice(0, -".dist-info".length);
  const dash = stem.indexOf("-");
  if (dash <= 0 || canonicalizeName(stem.slice(0, dash)) !== filename.name || !sameVersion(stem.slice(dash + 1), filename.version.toString())) {
    throw new IntegrityError(`${file}: its metadata directory is ${dir}, not ${expected} as the file name says; the wheel is mislabelled.`, { code: "ERR_WHEEL_MISLABELLED" });
  }
  return dir;
}

/**
 * Every tag the file name claims must be covered by a WHEEL `Tag` (tags expanded; WHEEL's
 * `any` platform covers every platform and `linux_<arch>` the manylinux/musllinux tags of
 * that arch, which is how auditwheel-repaired wheels that kept their WHEEL are labelled).
 * A file name claiming more than the build (a binary wheel renamed `py3-none-any`) would
 * be selected where it cannot run. Python 2 tags are not checked: no interpreter a PEX or
 * environment of ours runs can select them. A WHEEL without `Tag` lines claims nothing.
 */
function checkWheelTags(filename: WheelFilename, info: WheelInfo, distInfoDir: string): void {
  if (info.tags.length === 0) return;
  const declared = info.tags.flatMap(expandTag);
  const uncovered = filename.tags.map(tagToString).filter((t) => !/^(py|cp|pp|ip|jy)2/.test(t) && !declared.some((d) => covers(d, t)));
  if (uncovered.length) {
    throw new IntegrityError(
      `${filename.filename}: the file name claims the tag${uncovered.length > 1 ? "s" : ""} ${uncovered.join(", ")}, which ${distInfoDir}/WHEEL does not (it lists ${info.tags.join(", ")}); the wheel is mislabelled and could be installed where it cannot work.`,
      { code: "ERR_WHEEL_MISLABELLED", hint: "use the wheel under the name it was built with." },
    );
  }
}

/** `py2.py3-none-any` -> its python-abi-platform triples, lower-cased (a WHEEL line that is not a tag set claims nothing). */
function expandTag(tag: string): string[] {
  try {
    return parseTagSet(tag.toLowerCase()).map(tagToString);
  } catch {
    return [];
  }
}

function covers(declared: string, claimed: string): boolean {
  if (declared === claimed) return true;
  const [dp, da, dplat] = declared.split("-");
  const [cp, ca, cplat = ""] = claimed.split("-");
  if (dp !== cp || da !== ca) return false;
  if (dplat === "any") return true;
  const linux = /^linux_(.+)$/.exec(dplat ?? "");
  return !!linux && /^(manylinux\d+|manylinux_\d+_\d+|musllinux_\d+_\d+)_(.+)$/.exec(cplat)?.[2] === linux[1];
}

function parseCoreHeaders(text: string): Record<string, string[]> {
  const h: Record<string, string[]> = {};
  for (const line of text.replace(/\r\n?/g, "\n").split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    (h[line.slice(0, colon).trim().toLowerCase()] ??= []).push(line.slice(colon + 1).trim());
  }
  return h;
}
