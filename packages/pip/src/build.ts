import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { ClusterPackError, IntegrityError, InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { DigestMemo, hashFile, isPathInside, makeTempDir, publishDirectory, removeTemp } from "@cluster-pack/io";
import { checkDistributionFilename, DistributionFilenameError, parseSdistFilename, type Version } from "@cluster-pack/packaging";
import { ZipReader } from "@cluster-pack/zip";
import { installDistributions } from "./install";
import { probeInterpreter, type TargetEnvironment } from "./target";
import { parseToml } from "./toml";

/** A wheel built from an sdist, in the build cache. */
export interface BuiltWheel {
  path: string;
  sha256: string;
  size: number;
}

/** Resolves and downloads build requirements for a build interpreter; returns wheel paths by project. */
export type BuildDependencyInstaller = (requirements: string[], buildTarget: TargetEnvironment, signal?: AbortSignal) => Promise<Array<{ name: string; path: string }>>;

export interface SdistBuilderOptions {
  /** Cache root: built wheels live in built-v2/<sdist sha256>/. */
  cacheDir: string;
  /** Resolves build requirements with this package (the same sources as the main resolution). */
  installer: BuildDependencyInstaller;
  /** Interpreter to build with; default: one matching the target's major.minor (PATH, pyenv). */
  python?: string;
  /** Seconds a build may take (default 600). */
  timeout?: number;
}

/**
 * Builds sdists into wheels through PEP 517, like `pip wheel` with build isolation: the
 * sdist is unpacked (paths checked), a fresh venv without pip is created with a Python that
 * matches the target, the `[build-system]` requirements (and what `get_requires_for_build_wheel`
 * adds) are resolved by this package and installed into it, then `build_wheel` runs. The
 * wheel is cached by the sdist's sha256, so each sdist is built once: read-only, with its
 * own sha256 beside it, and used again only while its bytes are provably those (the
 * identity rule of @cluster-pack/io's DigestMemo, else a hash); a damaged one is rebuilt.
 */
export class SdistBuilder {
  private readonly inflight = new Map<string, Promise<BuiltWheel>>();
  private readonly memo: DigestMemo;
  constructor(private readonly options: SdistBuilderOptions) {
    this.memo = new DigestMemo(path.join(options.cacheDir, BUILT, "stat"));
  }

  build(sdistPath: string, sha256: string, target: TargetEnvironment, signal?: AbortSignal): Promise<BuiltWheel> {
    let p = this.inflight.get(sha256);
    if (!p) {
      p = this.doBuild(sdistPath, sha256, target, signal);
      this.inflight.set(sha256, p);
      p.catch(() => this.inflight.delete(sha256));
    }
    return p;
  }

  /** The cached wheel built from the sdist with this sha256, when it is intact; a damaged one is removed. */
  private async cached(doneDir: string, signal?: AbortSignal): Promise<BuiltWheel | undefined> {
    const record = await fs.promises.readFile(path.join(doneDir, SUM_FILE), "utf8").catch(() => null);
    if (record === null) return undefined;
    const m = /^([0-9a-f]{64}) ([^/\0\n]+\.whl)\n$/.exec(record);
    const wheel = m ? path.join(doneDir, m[2]!) : "";
    const ok = m && (await this.memo.verify(wheel, m[1]!, { signal }).catch(() => false));
    throwIfAborted(signal);
    if (ok) return { path: wheel, sha256: m[1]!, size: (await fs.promises.stat(wheel)).size };
    await fs.promises.rm(doneDir, { recursive: true, force: true });
    return undefined;
  }

  private async doBuild(sdistPath: string, sha256: string, target: TargetEnvironment, signal?: AbortSignal): Promise<BuiltWheel> {
    const doneDir = path.join(this.options.cacheDir, BUILT, sha256);
    const existing = await this.cached(doneDir, signal);
    if (existing) return existing;
    const sdistName = path.basename(sdistPath);
    // What the built wheel must be, when the sdist's own name says (a local file may be named anything).
    const expected = sdistProject(sdistName);
    const python = this.options.python ?? (await findPython(target));
    const work = await makeTempDir("cp-build");
    try {
      const src = await unpackSdist(sdistPath, path.join(work, "src"), signal);
      const pyproject = await fs.promises.readFile(path.join(src, "pyproject.toml"), "utf8").catch(() => null);
      let requires = ["setuptools>=40.8.0"];
      let backend = "setuptools.build_meta:__legacy__";
      let backendPath: string[] = [];
      if (pyproject !== null) {
        let doc: Record<string, unknown>;
        try {
          doc = parseToml(pyproject);
        } catch (err) {
          throw new InvalidInputError(`${sdistName}: pyproject.toml is not valid TOML: ${(err as Error).message}`, { code: "ERR_BUILD_CONFIG", cause: err });
        }
        const bs = doc["build-system"] as { requires?: string[]; "build-backend"?: string; "backend-path"?: string[] } | undefined;
        if (bs?.requires) requires = bs.requires;
        if (bs?.["build-backend"]) {
          backend = bs["build-backend"];
          backendPath = bs["backend-path"] ?? [];
        } else if (bs) backend = "setuptools.build_meta:__legacy__";
      }
      const env = path.join(work, "env");
      await run(python, ["-m", "venv", "--without-pip", env], { signal, what: `creating the build environment for ${sdistName}` });
      const envPython = path.join(env, "bin", "python");
      const buildTarget = await probeInterpreter(envPython, { signal });
      const [maj, min] = buildTarget.markers.python_version.split(".");
      const prefixVersion = `${maj}.${min}`;
      const installed = new Set<string>();
      const install = async (reqs: string[]) => {
        if (!reqs.length) return;
        const wheels = (await this.options.installer(reqs, buildTarget, signal)).filter((w) => !installed.has(w.name));
        await installDistributions(wheels, { prefix: env, pythonVersion: prefixVersion, interpreter: envPython, signal });
        for (const w of wheels) installed.add(w.name);
      };
      await install(requires);
      const hookEnv = { ...process.env, PYTHONNOUSERSITE: "1", PIP_NO_INDEX: "1" };
      const more = JSON.parse(await this.hook(envPython, "get_requires_for_build_wheel", src, work, backend, backendPath, hookEnv, sdistName, signal)) as string[];
      if (more.length) await install([...requires, ...more]);
      const out = path.join(work, "dist");
      await fs.promises.mkdir(out, { recursive: true });
      const wheelName = JSON.parse(await this.hook(envPython, "build_wheel", src, work, backend, backendPath, hookEnv, sdistName, signal, out)) as string;
      // The backend runs the sdist's code: its answer is a name from outside, checked before it becomes a path.
      try {
        checkDistributionFilename(String(wheelName), { ...expected, kind: "wheel" });
      } catch (err) {
        if (!(err instanceof DistributionFilenameError)) throw err;
        throw new IntegrityError(`${sdistName}: the build backend reported ${err.message} The sdist is mislabelled or its backend misbehaves.`, { code: "ERR_BUILD_MISMATCH", cause: err });
      }
      // Publish atomically: the whole directory appears at once (a concurrent builder's result may win).
      await publishDirectory(
        doneDir,
        async (staging) => {
          const built = path.join(staging, wheelName);
          await fs.promises.copyFile(path.join(out, wheelName), built);
          await fs.promises.chmod(built, 0o444);
          const { digests } = await hashFile(built, ["sha256"], { signal });
          await fs.promises.writeFile(path.join(staging, SUM_FILE), `${digests.sha256} ${wheelName}\n`, { mode: 0o444 });
        },
        { overwrite: false, signal },
      ).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ERR_OUTPUT_EXISTS" && err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
      });
      const final = await this.cached(doneDir, signal);
      if (!final) throw new IntegrityError(`The wheel built from ${sdistName} changed in the cache (${doneDir}) as it was stored.`, { code: "ERR_BUILD_FAILED", hint: "build again." });
      return final;
    } finally {
      await removeTemp(work);
    }
  }

  private async hook(python: string, hook: string, src: string, work: string, backend: string, backendPath: string[], env: NodeJS.ProcessEnv, sdistName: string, signal?: AbortSignal, outdir = work): Promise<string> {
    const stdout = await run(python, ["-s", HOOK_SCRIPT, hook, src, outdir, backend, JSON.stringify(backendPath)], { signal, env, what: `${hook} for ${sdistName}`, timeout: (this.options.timeout ?? 600) * 1000 });
    const i = stdout.lastIndexOf("@@CLUSTER-PACK-RESULT@@");
    if (i < 0) throw new ClusterPackError("ERR_BUILD_FAILED", `${hook} for ${sdistName} printed no result.`);
    return stdout.slice(i + "@@CLUSTER-PACK-RESULT@@".length);
  }
}

/** A Python whose major.minor equals the target's: PATH's pythonX.Y, pyenv versions, /usr/bin/python3. */
export async function findPython(target: TargetEnvironment): Promise<string> {
  const want = target.markers.python_version;
  const candidates = [`python${want}`];
  const pyenv = path.join(os.homedir(), ".pyenv", "versions");
  for (const v of (await fs.promises.readdir(pyenv).catch(() => [] as string[])).sort().reverse()) if (v.startsWith(`${want}.`)) candidates.push(path.join(pyenv, v, "bin", "python3"));
  candidates.push("/usr/bin/python3", "python3");
  for (const c of candidates) {
    const out = await run(c, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], { what: "probing" }).catch(() => null);
    if (out?.trim() === want) return c;
  }
  throw new InvalidInputError(`No Python ${want} found to build source distributions for the target.`, { code: "ERR_NO_BUILD_PYTHON", hint: `install one (e.g. pyenv install ${want}) or pass buildPython.` });
}

/** Unpacks a .tar.gz or .zip sdist, refusing unsafe paths and links; returns its top directory. */
export async function unpackSdist(file: string, dest: string, signal?: AbortSignal): Promise<string> {
  await fs.promises.mkdir(dest, { recursive: true });
  const name = path.basename(file);
  if (name.endsWith(".zip")) {
    const reader = await ZipReader.open(file, { signal });
    try {
      await reader.extractTo(dest, { signal });
    } finally {
      await reader.close();
    }
  } else {
    const extract = tar.extract();
    let failure: IntegrityError | null = null;
    extract.on("entry", (header, stream, next) => {
      const rel = header.name.replace(/^\.\//, "");
      const target = path.resolve(dest, rel);
      const unsafe = path.isAbsolute(rel) || rel.split("/").includes("..") || !isPathInside(dest, target) || target === dest;
      if (unsafe || (header.type !== "file" && header.type !== "directory")) {
        stream.resume();
        // Unsafe entries are skipped and fail the unpack once the stream is drained.
        if (unsafe) failure ??= new IntegrityError(`${name}: entry ${JSON.stringify(header.name)} escapes the archive; refusing to unpack.`, { code: "ERR_UNSAFE_PATH" });
        return stream.on("end", () => next());
      }
      if (failure) {
        stream.resume();
        return stream.on("end", () => next());
      }
      if (header.type === "directory") {
        fs.mkdirSync(target, { recursive: true });
        stream.resume();
        return stream.on("end", () => next());
      }
      fs.mkdirSync(path.dirname(target), { recursive: true });
      const out = fs.createWriteStream(target, { mode: (header.mode ?? 0o644) & 0o755 });
      stream.pipe(out);
      out.on("finish", () => next());
      out.on("error", next);
    });
    try {
      await pipeline(fs.createReadStream(file, { signal }), zlib.createGunzip(), extract);
    } catch (err) {
      throwIfAborted(signal);
      if (failure) throw failure;
      if (err instanceof IntegrityError) throw err;
      throw new IntegrityError(`${name}: not a readable .tar.gz sdist (${(err as Error).message}).`, { code: "ERR_SDIST_INVALID", cause: err });
    }
    if (failure) {
      await fs.promises.rm(dest, { recursive: true, force: true });
      throw failure;
    }
  }
  const tops = (await fs.promises.readdir(dest, { withFileTypes: true })).filter((d) => d.isDirectory());
  if (tops.length !== 1) throw new IntegrityError(`${name}: an sdist must hold exactly one top-level directory (found ${tops.length}).`, { code: "ERR_SDIST_INVALID" });
  return path.join(dest, tops[0]!.name);
}

function sdistProject(sdistName: string): { name?: string; version?: Version } {
  try {
    const { name, version } = parseSdistFilename(sdistName);
    return { name, version };
  } catch (err) {
    if (err instanceof DistributionFilenameError) return {};
    throw err;
  }
}

// ---------------------------------------------------------------------------------------

/** Built wheels' layout version (older `built/` entries carry no sha256 and are never read). */
const BUILT = "built-v2";
/** Beside each built wheel: `<sha256> <wheel file name>`. */
const SUM_FILE = "SHA256";

const HOOK_SCRIPT = path.join(__dirname, "..", "python", "pep517_hook.py");

function run(cmd: string, args: string[], o: { signal?: AbortSignal; env?: NodeJS.ProcessEnv; what: string; timeout?: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { signal: o.signal, env: o.env, maxBuffer: 64 << 20, timeout: o.timeout ?? 120_000 }, (err, stdout, stderr) => {
      if (err) {
        const tail = String(stderr).trim().split("\n").slice(-15).join("\n");
        reject(new ClusterPackError("ERR_BUILD_FAILED", `${o.what} failed (${cmd} ${args[0] ?? ""}): ${tail || err.message}`, { cause: err }));
      } else resolve(String(stdout));
    });
  });
}

