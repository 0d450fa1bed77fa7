import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { ClusterPackError, InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { fileIdentity, writeFileAtomic } from "@cluster-pack/io";
import { type MarkerEnvironment, parseTagSet, platformTags, type Tag, TagRanking, targetTags, Version } from "@cluster-pack/packaging";

/**
 * Everything the resolver needs to know about where the environment will run: marker
 * values (PEP 508), supported tags best first (PEP 425), and the Python version for
 * `Requires-Python`. Built by probing an interpreter or from an explicit description.
 */
export interface TargetEnvironment {
  /** For messages: "cp311 manylinux_2_28_x86_64" or the interpreter path. */
  description: string;
  markers: MarkerEnvironment;
  /** Supported tags, most preferred first. */
  tags: Tag[];
  /** python_full_version as a Version, checked against Requires-Python. */
  pythonVersion: Version;
  /** Path of the probed interpreter, when the target came from one. */
  interpreter?: string;
}

/** An explicit target, e.g. `{ python: "3.11", platform: "manylinux_2_28_x86_64" }`. */
export interface ExplicitTargetOptions {
  /** "3.11" or "3.11.7" (a missing micro version counts as 0). */
  python: string;
  /** One platform tag; expanded to everything such a machine accepts (see platformTags). Default manylinux_2_28_x86_64. */
  platform?: string;
  /** "cp" (default) or "pp". */
  implementation?: string;
  /** ABI tags, best first; default cp<ver> for CPython. */
  abis?: string[];
}

/** Builds a target from a description, without any interpreter: resolving for linux cp311 works from any OS. */
export function explicitTarget(options: ExplicitTargetOptions): TargetEnvironment {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?$/.exec(options.python.trim());
  if (!m) throw new InvalidInputError(`Invalid target Python version ${JSON.stringify(options.python)}.`, { code: "ERR_INVALID_TARGET", hint: "use major.minor or major.minor.micro, for example 3.11 or 3.11.7." });
  const major = Number(m[1]);
  const minor = Number(m[2]);
  const full = `${major}.${minor}.${m[3] ?? "0"}`;
  const impl = (options.implementation ?? "cp").toLowerCase();
  if (impl !== "cp" && impl !== "pp") throw new InvalidInputError(`Unsupported implementation ${JSON.stringify(options.implementation)}.`, { code: "ERR_INVALID_TARGET", hint: `use "cp" (CPython) or "pp" (PyPy).` });
  const platform = (options.platform ?? "manylinux_2_28_x86_64").toLowerCase().replace(/[-.]/g, "_");
  const platforms = platformTags(platform);
  const os = platformMarkers(platform);
  const implName = impl === "cp" ? "cpython" : "pypy";
  const tags = targetTags({ implementation: impl, pythonVersion: [major, minor], abis: options.abis ?? (impl === "cp" ? [`cp${major}${minor}`] : [`pypy${major}${minor}_pp73`]), platforms });
  return {
    description: `${impl}${major}${minor} ${platform}`,
    markers: {
      implementation_name: implName,
      implementation_version: full,
      os_name: os.os_name,
      platform_machine: os.platform_machine,
      platform_release: "",
      platform_system: os.platform_system,
      platform_version: "",
      python_full_version: full,
      platform_python_implementation: impl === "cp" ? "CPython" : "PyPy",
      python_version: `${major}.${minor}`,
      sys_platform: os.sys_platform,
    },
    tags,
    pythonVersion: Version.parse(full),
  };
}

/** Options of `probeInterpreter`. */
export interface ProbeOptions {
  signal?: AbortSignal;
  /** Directory for the probe cache (keyed by the interpreter file's identity). */
  cacheDir?: string;
}

/**
 * Describes a real interpreter by running python/probe.py with it: exact marker values and
 * its own ordered tag list (from its packaging or pip's vendored copy; computed here when
 * neither is importable). The answer is cached per interpreter file.
 */
export async function probeInterpreter(python = "python3", options: ProbeOptions = {}): Promise<TargetEnvironment> {
  throwIfAborted(options.signal);
  const resolved = await resolveExecutable(python);
  let cacheFile: string | undefined;
  let racy = false;
  if (options.cacheDir && resolved) {
    // Keyed by the interpreter file's identity (inode, size, mtime, ctime): an interpreter
    // replaced in place, even with its old mtime restored, is probed again.
    const id = await fileIdentity(resolved).catch(() => null);
    if (id) {
      racy = id.racy;
      cacheFile = path.join(options.cacheDir, "probes-v2", `${id.key}-${PROBE_VERSION}.json`);
      const cached = await fs.promises.readFile(cacheFile, "utf8").catch(() => null);
      if (cached) {
        try {
          return fromProbe(JSON.parse(cached) as ProbeResult, python);
        } catch {
          /* a corrupt cache entry is re-probed */
        }
      }
    }
  }
  const out = await new Promise<string>((resolve, reject) => {
    execFile(python, ["-sS", PROBE_SCRIPT], { signal: options.signal, maxBuffer: 16 << 20, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        reject(
          code === "ENOENT"
            ? new InvalidInputError(`Python interpreter ${JSON.stringify(python)} was not found.`, {
                code: "ERR_INTERPRETER_NOT_FOUND",
                cause: err,
                hint: "pass the path of an existing interpreter, or an explicit target (`python` 3.11 with `platform` manylinux_2_28_x86_64).",
                optionNames: ["python", "platform"],
              })
            : new ClusterPackError("ERR_INTERPRETER_PROBE", `Probing ${python} failed: ${String(stderr).trim() || err.message}`, { cause: err }),
        );
      } else resolve(stdout);
    });
  });
  const probe = JSON.parse(out) as ProbeResult;
  // An interpreter changed in the last 2 s may change again unseen (the racy rule): not recorded.
  if (cacheFile && !racy) await writeFileAtomic(cacheFile, out);
  return fromProbe(probe, python);
}

/** Parses a CLI-style target: `{python?, platform?, implementation?, interpreter?}` -> a target. */
export async function resolveTarget(spec: { python?: string; platform?: string; implementation?: string; abis?: string[]; interpreter?: string }, options: ProbeOptions = {}): Promise<TargetEnvironment> {
  if (spec.python || spec.platform) {
    if (spec.interpreter) throw new InvalidInputError("Both an interpreter to probe (`interpreter`) and an explicit target (`python`/`platform`) were given.", {
        code: "ERR_INVALID_TARGET",
        optionNames: ["interpreter", "python", "platform"],
        hint: "give one of them, not both.",
      });
    return explicitTarget({ python: spec.python ?? "3.11", platform: spec.platform, implementation: spec.implementation, abis: spec.abis });
  }
  return probeInterpreter(spec.interpreter ?? "python3", options);
}

/** A ranking of the target's tags (cached per target object). */
export function rankingFor(target: TargetEnvironment): TagRanking {
  let r = RANKINGS.get(target);
  if (!r) {
    r = new TagRanking(target.tags);
    RANKINGS.set(target, r);
  }
  return r;
}

// ---------------------------------------------------------------------------------------

const PROBE_VERSION = 1;
// python/ sits beside src/ and dist/, so this works from sources (jest) and from the build.
const PROBE_SCRIPT = path.join(__dirname, "..", "python", "probe.py");
const RANKINGS = new WeakMap<TargetEnvironment, TagRanking>();

interface ProbeResult {
  markers: MarkerEnvironment;
  executable: string;
  implementation: string;
  version: [number, number, number];
  soabi: string | null;
  gil_disabled: boolean;
  platform: string;
  glibc: string | null;
  mac_version: string | null;
  supported: { source: string; tags: string[] } | null;
}

function fromProbe(p: ProbeResult, python: string): TargetEnvironment {
  let tags: Tag[];
  if (p.supported && p.supported.tags.length) {
    tags = p.supported.tags.flatMap(parseTagSet);
  } else {
    const impl = p.implementation === "cpython" ? "cp" : p.implementation === "pypy" ? "pp" : p.implementation;
    const plat = p.platform.replace(/[-.]/g, "_");
    let platform = plat;
    if (plat.startsWith("linux_") && p.glibc) platform = `manylinux_${p.glibc.replace(".", "_")}_${plat.slice(6)}`;
    if (plat.startsWith("macosx_") && p.mac_version) {
      const [maj, min] = p.mac_version.split(".");
      platform = `macosx_${maj}_${Number(maj) >= 11 ? 0 : min}_${plat.split("_").slice(3).join("_")}`;
    }
    const abi = impl === "cp" ? `cp${p.version[0]}${p.version[1]}${p.gil_disabled ? "t" : ""}` : p.soabi?.split("-").slice(0, 2).join("_");
    tags = targetTags({ implementation: impl, pythonVersion: [p.version[0], p.version[1]], abis: abi ? [abi] : [], platforms: platformTags(platform) });
  }
  return { description: `${p.executable} (${p.markers.python_full_version})`, markers: p.markers, tags, pythonVersion: Version.parse(p.markers.python_full_version.replace(/\+$/, "+local")), interpreter: python };
}

function platformMarkers(platform: string): Pick<MarkerEnvironment, "os_name" | "sys_platform" | "platform_system" | "platform_machine"> {
  let m: RegExpExecArray | null;
  if ((m = /^(?:manylinux_\d+_\d+|manylinux2014|manylinux2010|manylinux1|musllinux_\d+_\d+|linux)_(.+)$/.exec(platform))) {
    return { os_name: "posix", sys_platform: "linux", platform_system: "Linux", platform_machine: m[1] === "armv7l" ? "armv7l" : m[1]! };
  }
  if ((m = /^macosx_\d+_\d+_(.+)$/.exec(platform))) {
    const arch = m[1] === "universal2" || m[1] === "arm64" ? "arm64" : "x86_64";
    return { os_name: "posix", sys_platform: "darwin", platform_system: "Darwin", platform_machine: arch };
  }
  if (platform === "win_amd64") return { os_name: "nt", sys_platform: "win32", platform_system: "Windows", platform_machine: "AMD64" };
  if (platform === "win32") return { os_name: "nt", sys_platform: "win32", platform_system: "Windows", platform_machine: "x86" };
  if (platform === "win_arm64") return { os_name: "nt", sys_platform: "win32", platform_system: "Windows", platform_machine: "ARM64" };
  throw new InvalidInputError(
    `Unsupported target platform ${JSON.stringify(platform)}.`,
    { code: "ERR_INVALID_TARGET", hint: "use a wheel platform tag such as manylinux_2_28_x86_64, manylinux2014_aarch64, musllinux_1_2_x86_64, macosx_11_0_arm64, win_amd64, or probe a real interpreter instead." },
  );
}

async function resolveExecutable(python: string): Promise<string | null> {
  if (python.includes("/")) return fs.promises.realpath(python).catch(() => null);
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, python);
    try {
      await fs.promises.access(candidate, fs.constants.X_OK);
      // Shims (pyenv) pick the real interpreter at run time; never cache through them.
      if (/shims/.test(dir)) return null;
      return await fs.promises.realpath(candidate);
    } catch {
      /* next */
    }
  }
  return null;
}
