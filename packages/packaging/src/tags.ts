import { InvalidInputError } from "@cluster-pack/errors";

/** One PEP 425 tag triple. */
export interface Tag {
  interpreter: string;
  abi: string;
  platform: string;
}

/** `cp311-cp311-manylinux_2_17_x86_64` */
export function tagToString(t: Tag): string {
  return `${t.interpreter}-${t.abi}-${t.platform}`;
}

/**
 * Expands a compressed tag set (`py2.py3-none-any`,
 * `cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64`) into its triples, lower-cased.
 * Each tag is letters, digits and `_` (the spec replaces every other character with `_`),
 * so a tag can never carry a path separator or a dot segment.
 */
export function parseTagSet(text: string): Tag[] {
  const parts = text.split("-");
  if (parts.length !== 3 || !parts.every((p) => TAG_LIST.test(p))) {
    throw new InvalidTagError(text);
  }
  const out: Tag[] = [];
  for (const interpreter of parts[0]!.toLowerCase().split("."))
    for (const abi of parts[1]!.toLowerCase().split("."))
      for (const platform of parts[2]!.toLowerCase().split(".")) out.push({ interpreter, abi, platform });
  return out;
}

/** A compatibility tag that is not `interpreter-abi-platform` made of `[A-Za-z0-9_]` tags. */
export class InvalidTagError extends InvalidInputError {
  constructor(text: string) {
    super(`Invalid compatibility tag ${JSON.stringify(text)}: expected interpreter-abi-platform of letters, digits and '_', for example cp311-cp311-manylinux_2_17_x86_64.`, {
      code: "ERR_INVALID_TAG",
    });
  }
}

const TAG_LIST = /^[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*$/;

/** Description of a target interpreter used to compute its supported tags. */
export interface TagTarget {
  /** "cp", "pp", "graalpy", ... */
  implementation: string;
  /** [major, minor] */
  pythonVersion: [number, number];
  /** ABIs in preference order, e.g. ["cp311"] or ["cp313t"]; default from implementation + version. */
  abis?: string[];
  /** Platform tags in preference order (use platformTags to expand one platform). */
  platforms: string[];
}

/**
 * The ordered tags a target supports, best first, as packaging's `sys_tags`: the
 * interpreter-specific tags, abi3 for this and older CPython versions, then `py3x-none-*`.
 */
export function targetTags(t: TagTarget): Tag[] {
  const out: Tag[] = [];
  const [major, minor] = t.pythonVersion;
  const nodot = `${major}${minor}`;
  const impl = t.implementation;
  if (impl === "cp") {
    const interp = `cp${nodot}`;
    const abis = (t.abis ?? [`cp${nodot}`]).filter((a) => a !== "abi3" && a !== "none");
    for (const abi of abis) for (const p of t.platforms) out.push({ interpreter: interp, abi, platform: p });
    // Free-threaded builds (cp313t) cannot load abi3; PEP 803's abi3t takes its place.
    const threaded = /^cp\d+[a-z]*t/.test(abis[0] ?? "");
    const stable = major === 3 && minor >= 2 ? (threaded ? "abi3t" : "abi3") : null;
    if (stable) for (const p of t.platforms) out.push({ interpreter: interp, abi: stable, platform: p });
    for (const p of t.platforms) out.push({ interpreter: interp, abi: "none", platform: p });
    if (stable) {
      for (let m = minor - 1; m > 1; m--) for (const p of t.platforms) out.push({ interpreter: `cp${major}${m}`, abi: stable, platform: p });
    }
  } else {
    const interp = `${impl}${nodot}`;
    const abis = [...(t.abis ?? [])];
    if (!abis.includes("none")) abis.push("none");
    for (const abi of abis) for (const p of t.platforms) out.push({ interpreter: interp, abi, platform: p });
  }
  const pyRange = [`py${nodot}`, `py${major}`];
  for (let m = minor - 1; m >= 0; m--) pyRange.push(`py${major}${m}`);
  for (const v of pyRange) for (const p of t.platforms) out.push({ interpreter: v, abi: "none", platform: p });
  const compatInterp = impl === "cp" ? `cp${nodot}` : impl === "pp" ? "pp3" : null;
  if (compatInterp) out.push({ interpreter: compatInterp, abi: "none", platform: "any" });
  for (const v of pyRange) out.push({ interpreter: v, abi: "none", platform: "any" });
  return out;
}

const LEGACY_MANYLINUX: Record<string, string> = { "2_17": "manylinux2014", "2_12": "manylinux2010", "2_5": "manylinux1" };
const LEGACY_TO_GLIBC: Record<string, [number, number]> = { manylinux2014: [2, 17], manylinux2010: [2, 12], manylinux1: [2, 5] };

/**
 * Expands one platform into the ordered list a machine of that platform accepts:
 * `manylinux_2_28_x86_64` -> manylinux 2.28 down to 2.5 with the PEP 600 legacy aliases,
 * then `linux_x86_64`; `musllinux_1_2_aarch64` -> 1.2..1.0, `linux_aarch64`;
 * `macosx_11_0_arm64` -> macOS 11 down to 10.4-era universal2 tags; `win_amd64` as is.
 */
export function platformTags(platform: string): string[] {
  const p = platform.toLowerCase().replace(/[-.]/g, "_");
  let m = /^manylinux_(\d+)_(\d+)_(.+)$/.exec(p);
  let glibc: [number, number] | null = null;
  let arch = "";
  if (m) {
    glibc = [Number(m[1]), Number(m[2])];
    arch = m[3]!;
  } else if ((m = /^(manylinux2014|manylinux2010|manylinux1)_(.+)$/.exec(p))) {
    glibc = LEGACY_TO_GLIBC[m[1]!]!;
    arch = m[2]!;
  }
  if (glibc) return [...manylinuxPlatforms(glibc, arch), `linux_${arch}`];
  if ((m = /^musllinux_(\d+)_(\d+)_(.+)$/.exec(p))) return [...musllinuxPlatforms([Number(m[1]), Number(m[2])], m[3]!), `linux_${m[3]}`];
  if ((m = /^macosx_(\d+)_(\d+)_(.+)$/.exec(p))) return macPlatforms([Number(m[1]), Number(m[2])], m[3]!);
  return [p];
}

/** `manylinux_2_X_arch` for X from glibc's minor down to the oldest, legacy aliases right after their version. */
export function manylinuxPlatforms(glibc: [number, number], arch: string): string[] {
  const out: string[] = [];
  // PEP 600: x86_64/i686 go back to glibc 2.5 (manylinux1); other arches start at 2.17.
  const tooOldMinor = arch === "x86_64" || arch === "i686" ? 4 : 16;
  const minMinor = glibc[0] === 2 ? tooOldMinor : -1;
  for (let minor = glibc[1]; minor > minMinor; minor--) {
    out.push(`manylinux_${glibc[0]}_${minor}_${arch}`);
    const legacy = glibc[0] === 2 ? LEGACY_MANYLINUX[`2_${minor}`] : undefined;
    if (legacy) out.push(`${legacy}_${arch}`);
  }
  return out;
}

/** PEP 656: `musllinux_X_Y_arch` for Y from musl's minor down to 0. */
export function musllinuxPlatforms(musl: [number, number], arch: string): string[] {
  const out: string[] = [];
  for (let minor = musl[1]; minor >= 0; minor--) out.push(`musllinux_${musl[0]}_${minor}_${arch}`);
  return out;
}

/** packaging's `mac_platforms(version, arch)`. */
export function macPlatforms(version: [number, number], arch: string): string[] {
  const out: string[] = [];
  const ge = (a: [number, number], b: [number, number]) => a[0] > b[0] || (a[0] === b[0] && a[1] >= b[1]);
  if (ge(version, [10, 0]) && !ge(version, [11, 0])) {
    for (let minor = version[1]; minor >= 0; minor--) for (const f of macBinaryFormats([10, minor], arch)) out.push(`macosx_10_${minor}_${f}`);
  }
  if (ge(version, [11, 0])) {
    for (let major = version[0]; major > 10; major--) for (const f of macBinaryFormats([major, 0], arch)) out.push(`macosx_${major}_0_${f}`);
    for (let minor = 16; minor > 3; minor--) {
      if (arch === "x86_64") for (const f of macBinaryFormats([10, minor], arch)) out.push(`macosx_10_${minor}_${f}`);
      else out.push(`macosx_10_${minor}_universal2`);
    }
  }
  return out;
}

function macBinaryFormats(version: [number, number], arch: string): string[] {
  const lt = (a: [number, number], b: [number, number]) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
  const gt = (a: [number, number], b: [number, number]) => lt(b, a);
  const formats = [arch];
  if (arch === "x86_64") {
    if (lt(version, [10, 4])) return [];
    formats.push("intel", "fat64", "fat32");
  } else if (arch === "i386") {
    if (lt(version, [10, 4])) return [];
    formats.push("intel", "fat32", "fat");
  } else if (arch === "ppc64") {
    if (gt(version, [10, 5]) || lt(version, [10, 4])) return [];
    formats.push("fat64");
  } else if (arch === "ppc") {
    if (gt(version, [10, 6])) return [];
    formats.push("fat32", "fat");
  }
  if (arch === "arm64" || arch === "x86_64") formats.push("universal2");
  if (["x86_64", "i386", "ppc64", "ppc", "intel"].includes(arch)) formats.push("universal");
  return formats;
}

/**
 * Ranks tags for fast lookup: `rank(tag)` is its index in the target's ordered list
 * (lower is better), or -1 when unsupported.
 */
export class TagRanking {
  private readonly index = new Map<string, number>();
  constructor(readonly tags: readonly Tag[]) {
    tags.forEach((t, i) => {
      const k = tagToString(t);
      if (!this.index.has(k)) this.index.set(k, i);
    });
  }
  rank(t: Tag): number {
    return this.index.get(tagToString(t)) ?? -1;
  }
  /** Best rank among a wheel's tags, or -1 when none is supported. */
  bestRank(tags: readonly Tag[]): number {
    let best = -1;
    for (const t of tags) {
      const r = this.rank(t);
      if (r >= 0 && (best < 0 || r < best)) best = r;
    }
    return best;
  }
}
