import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type * as JestGlobals from "@jest/globals";
import { SYSTEM_PYTHON, pipIndexArgs, pythonInterpreter } from "@cluster-pack/io/test-kit";
import type { ShippedResource } from "../environment";

/**
 * The kit's Python job modules (`cp_engines_marker`, `dask_client.py`): beside this file in
 * the sources, and shipped as sources (`src/test-kit/python`) when built.
 */
export const KIT_PYTHON = [path.join(__dirname, "python"), path.join(__dirname, "..", "..", "src", "test-kit", "python")].find((d) => fs.existsSync(d)) ?? path.join(__dirname, "python");

/** Debian's interpreter, where python3-distributed and python3-torch are installed (the shared finder's system Python). */
export const DEBIAN_PYTHON = SYSTEM_PYTHON;

/**
 * `describe` when `why` is undefined; otherwise the block is skipped and a skipped test
 * says exactly why, so a run on a machine without the engine shows the reason.
 */
export function describeUnless(why: string | undefined, title: string, fn: () => void): void {
  // Jest's own, required only here so the rest of the kit loads outside jest.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer (@jest/globals), loaded on use
  const { describe, it } = require("@jest/globals") as typeof JestGlobals;
  if (why) {
    it.skip(`${title}: skipped, ${why}`, () => undefined);
    describe.skip(title, fn);
  } else {
    describe(title, fn);
  }
}

/**
 * The interpreter the Ray tests build for (the mirror's Ray wheel is cp311), or why they
 * cannot run here.
 */
export function rayPython(): { python: string; why?: undefined } | { python?: undefined; why: string } {
  const python = pythonInterpreter("3.11")?.python;
  if (!python) return { why: "no pyenv Python 3.11 under ~/.pyenv/versions (the mirror's Ray wheel is cp311)" };
  if (!pipIndexArgs(python)) return { why: "pip has no index or find-links configured (pip config list), so Ray cannot be resolved" };
  return { python };
}

/** Why the end-to-end tests cannot run here, or `undefined` when they can. */
export function missingEngine(modules: string[]): string | undefined {
  if (!fs.existsSync(DEBIAN_PYTHON)) return `${DEBIAN_PYTHON} is absent`;
  const r = spawnSync(DEBIAN_PYTHON, ["-c", modules.map((m) => `import ${m}`).join("; ")], { encoding: "utf8" });
  if (r.status !== 0) return `${DEBIAN_PYTHON} cannot import ${modules.join(", ")} (apt-get install python3-distributed python3-torch python3-venv): ${r.stderr.trim().split("\n").pop()}`;
  const venv = spawnSync(DEBIAN_PYTHON, ["-c", "import ensurepip, venv"], { encoding: "utf8" });
  if (venv.status !== 0) return `${DEBIAN_PYTHON} has no venv module (apt-get install python3-venv)`;
  const tar = spawnSync("tar", ["--version"], { encoding: "utf8" });
  if (tar.status !== 0 || !/GNU tar/.test(tar.stdout)) return "GNU tar is needed to pack the test environment";
  return undefined;
}

export interface BuiltEnvironment {
  /** Deterministic tar.gz of the venv. */
  archive: string;
  /** Zip of the code under development (package `cp_engines_code`). */
  codeZip: string;
  workDir: string;
}

export interface MarkedVenvOptions {
  /** Base interpreter (default Debian's python3, whose torch and distributed the venv sees). */
  python?: string;
  /** See the base interpreter's site-packages (default true). */
  systemSitePackages?: boolean;
  /** Requirements pip installs into the venv from the configured index (`pipIndexArgs`). */
  pipInstall?: string[];
  pipIndexArgs?: string[];
  /** gzip the tar (default true); large environments ship faster as a plain tar here. */
  gzip?: boolean;
}

/**
 * Builds the environment the end-to-end tests ship: a venv (by default of Debian's
 * python3 with `--system-site-packages`, so torch and distributed come from Debian) plus
 * the marker package `cp_engines_marker`, which only this environment has and which holds
 * the job modules; packed as a deterministic tar (sorted, fixed mtime and owners, gzip -n).
 * `@cluster-pack/conda` exports no venv packer yet, so GNU tar does it here.
 */
export function buildMarkedVenv(options: MarkedVenvOptions = {}): BuiltEnvironment {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "cp-engines-e2e-"));
  const venv = path.join(workDir, "venv");
  const pip = Boolean(options.pipInstall?.length);
  run(options.python ?? DEBIAN_PYTHON, [
    "-m",
    "venv",
    ...(options.systemSitePackages === false ? [] : ["--system-site-packages"]),
    ...(pip ? [] : ["--without-pip"]),
    venv,
  ]);
  const venvPython = path.join(venv, "bin", "python");
  if (pip) {
    run(venvPython, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", ...(options.pipIndexArgs ?? []), ...(options.pipInstall ?? [])]);
  }
  const site = run(venvPython, ["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).trim();
  fs.cpSync(path.join(KIT_PYTHON, "cp_engines_marker"), path.join(site, "cp_engines_marker"), { recursive: true });
  const gzip = options.gzip ?? true;
  const archive = path.join(workDir, gzip ? "env.tar.gz" : "env.tar");
  run("tar", [
    "--sort=name",
    "--mtime=@315532800",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    ...(gzip ? ["--use-compress-program=gzip -n"] : []),
    "-C",
    venv,
    "-cf",
    archive,
    ".",
  ]);
  const codeSrc = path.join(workDir, "code");
  fs.mkdirSync(path.join(codeSrc, "cp_engines_code"), { recursive: true });
  fs.writeFileSync(path.join(codeSrc, "cp_engines_code", "__init__.py"), "VERSION = 'dev-code'\n");
  const codeZip = path.join(workDir, "cp_engines_code.zip");
  run(DEBIAN_PYTHON, ["-c", "import shutil, sys; shutil.make_archive(sys.argv[1][:-4], 'zip', sys.argv[2])", codeZip, codeSrc]);
  fs.rmSync(venv, { recursive: true, force: true });
  return { archive, codeZip, workDir };
}

/**
 * Localises resources into a fresh container working directory the way YARN does:
 * archives are unpacked into a directory named by the link name, files are copied under
 * it, executable.
 */
export async function localise(
  containerDir: string,
  resources: ShippedResource[],
  fetch: (url: string, dest: string) => Promise<void>,
): Promise<void> {
  fs.mkdirSync(containerDir, { recursive: true });
  for (const r of resources) {
    const dest = path.join(containerDir, r.alias);
    if (r.type === "file") {
      await fetch(r.url, dest);
      fs.chmodSync(dest, 0o755);
    } else {
      const tmp = path.join(containerDir, `.download-${r.alias}`);
      await fetch(r.url, tmp);
      fs.mkdirSync(dest);
      run("tar", ["-xf", tmp, "-C", dest]); // GNU tar detects the compression
      fs.rmSync(tmp);
    }
  }
}

/**
 * Localises like YARN's node cache (the NodeManager's filecache): a file resource is
 * fetched into `nodeCache` once per (URL, version) and symlinked into each container's
 * working directory; archives are unpacked per container as `localise` does. `version`
 * says what YARN checks (the file's modification time): a changed object at the same URL
 * is fetched again. Returns the URLs fetched from the store (not served by the cache).
 */
export async function localiseCached(
  containerDir: string,
  resources: ShippedResource[],
  fetch: (url: string, dest: string) => Promise<void>,
  version: (url: string) => Promise<string>,
  nodeCache: string,
): Promise<string[]> {
  fs.mkdirSync(containerDir, { recursive: true });
  fs.mkdirSync(nodeCache, { recursive: true });
  const fetched: string[] = [];
  for (const r of resources) {
    if (r.type !== "file") {
      await localise(containerDir, [r], fetch);
      fetched.push(r.url);
      continue;
    }
    const key = crypto.createHash("sha256").update(`${r.url}\0${await version(r.url)}`).digest("hex");
    const cached = path.join(nodeCache, key, r.alias);
    if (!fs.existsSync(cached)) {
      fs.mkdirSync(path.dirname(cached), { recursive: true });
      const tmp = `${cached}.download`;
      await fetch(r.url, tmp);
      fs.chmodSync(tmp, 0o755);
      fs.renameSync(tmp, cached);
      fetched.push(r.url);
    }
    fs.symlinkSync(cached, path.join(containerDir, r.alias));
  }
  return fetched;
}

/** A started process with its output collected. */
export interface Started {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/**
 * Starts argv in `cwd` with exactly `env` (plus PATH/HOME/LANG so the OS basics work):
 * argv[0] is the generated interpreter, relative to the working directory.
 */
export function startIn(cwd: string, argv: string[], env: Record<string, string>): Started {
  const base = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: cwd, LANG: "C.UTF-8" };
  // Own process group, so stop() also ends what the process spawned (Ray's raylets).
  const child = spawn(argv[0] as string, argv.slice(1), { cwd, env: { ...base, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let out = "";
  child.stdout?.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr?.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code) => resolve(code));
  });
  return { child, output: () => out, exited };
}

/** Ends a started process and its process group (SIGTERM, then SIGKILL after a grace period). */
export async function stop(p: Started | undefined): Promise<void> {
  if (!p || p.child.pid === undefined) return;
  const pgid = p.child.pid;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pgid, sig);
    } catch {
      // The group is gone already.
    }
  };
  signal("SIGTERM");
  await new Promise((r) => setTimeout(r, 200));
  if (groupAlive(pgid)) {
    const deadline = Date.now() + 5000;
    while (groupAlive(pgid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    signal("SIGKILL");
  }
  await p.exited.catch(() => undefined);
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits for a process to exit within `ms`, failing with its output otherwise. */
export async function exitWithin(p: Started, ms: number, what: string): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000}s; output:\n${p.output()}`)), ms);
  });
  try {
    return await Promise.race([p.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until `ok()` holds (a started server printed its banner), failing with the output when `p` exits first or `ms` pass. */
export async function waitFor(ok: () => boolean, ms: number, what: string, p: Started): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (p.child.exitCode !== null) throw new Error(`${what} exited (${p.child.exitCode}):\n${p.output()}`);
    if (Date.now() > deadline) throw new Error(`${what} did not start within ${ms / 1000}s:\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The last line of output that parses as JSON (job modules print their result so). */
export function lastJson<T>(output: string): T {
  const lines = output.trim().split("\n").reverse();
  for (const l of lines) {
    if (l.startsWith("{")) {
      try {
        return JSON.parse(l) as T;
      } catch {
        continue;
      }
    }
  }
  throw new Error(`no JSON result in output:\n${output}`);
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
