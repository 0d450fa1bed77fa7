import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { ShippedResource } from "../environment";

/** Debian's interpreter, where python3-distributed and python3-torch are installed. */
export const DEBIAN_PYTHON = "/usr/bin/python3";

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

/**
 * Builds the environment the end-to-end tests ship: a venv of Debian's python3 with
 * `--system-site-packages` (so torch and distributed come from Debian) plus the marker
 * package `cp_engines_marker`, which only this environment has and which holds the job
 * modules; packed as a deterministic tar.gz (sorted, fixed mtime and owners, gzip -n).
 * `@cluster-pack/conda` exports no venv packer yet, so GNU tar does it here.
 */
export function buildMarkedVenv(): BuiltEnvironment {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "cp-engines-e2e-"));
  const venv = path.join(workDir, "venv");
  run(DEBIAN_PYTHON, ["-m", "venv", "--system-site-packages", "--without-pip", venv]);
  const site = run(path.join(venv, "bin", "python"), ["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).trim();
  const pkg = path.join(site, "cp_engines_marker");
  fs.mkdirSync(pkg, { recursive: true });
  for (const f of fs.readdirSync(path.join(__dirname, "python", "cp_engines_marker"))) {
    fs.copyFileSync(path.join(__dirname, "python", "cp_engines_marker", f), path.join(pkg, f));
  }
  const archive = path.join(workDir, "env.tar.gz");
  run("tar", [
    "--sort=name",
    "--mtime=@315532800",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    "--use-compress-program=gzip -n",
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
      run("tar", ["-xzf", tmp, "-C", dest]);
      fs.rmSync(tmp);
    }
  }
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
  const child = spawn(argv[0] as string, argv.slice(1), { cwd, env: { ...base, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr?.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code) => resolve(code));
  });
  return { child, output: () => out, exited };
}

/** Ends a started process (SIGTERM, then SIGKILL after a grace period). */
export async function stop(p: Started | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill("SIGTERM");
  const timer = setTimeout(() => p.child.kill("SIGKILL"), 5000);
  await p.exited.catch(() => undefined);
  clearTimeout(timer);
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
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
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
