// The one place tests find Python interpreters: pyenv's (`$PYENV_ROOT/versions`, default
// `~/.pyenv/versions`) and the system's (`/usr/bin/python3`, then `python3` on PATH).
// Nothing else in a test names an interpreter path: a machine with other versions, another
// home or no pyenv gets the same tests, which skip saying what they missed.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface PythonInterpreter {
  /** `<prefix>/bin/python3`. */
  python: string;
  /** Full version, "3.11.7". */
  version: string;
  /** "3.11". */
  minor: string;
  /** The installation prefix (`sys.base_prefix`): `<prefix>/lib/python3.11` is its stdlib. */
  prefix: string;
}

/** Debian's interpreter, the one Spark-style executors and the engines tests run. */
export const SYSTEM_PYTHON = "/usr/bin/python3";

/**
 * Every CPython 3 installed by pyenv here, oldest first (by version, not by name), from
 * `minimum` on (default 3.8, the oldest the PEX runtime supports). Read from the directory
 * names: no interpreter is started.
 */
export function pythonInterpreters(options: { minimum?: string } = {}): PythonInterpreter[] {
  const root = path.join(process.env.PYENV_ROOT || path.join(os.homedir(), ".pyenv"), "versions");
  const minimum = versionKey(options.minimum ?? "3.8");
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return [];
  }
  return names
    .filter((v) => /^3\.\d+\.\d+$/.test(v) && compareKeys(versionKey(v), minimum) >= 0)
    .map((version) => {
      const prefix = path.join(root, version);
      return { python: path.join(prefix, "bin", "python3"), version, minor: version.split(".").slice(0, 2).join("."), prefix };
    })
    .filter((p) => fs.existsSync(p.python))
    .sort((a, b) => compareKeys(versionKey(a.version), versionKey(b.version)));
}

/**
 * The interpreters a per-interpreter suite runs on by default: the oldest, 3.11 (the only
 * one the mirror has every wheel for, coverage's included) and the newest; all of them with
 * CP_ALL_PYTHONS=1. Keeps the default run short while both ends of the range are tested.
 */
export function pythonMatrix(pythons: PythonInterpreter[] = pythonInterpreters()): PythonInterpreter[] {
  if (process.env.CP_ALL_PYTHONS === "1" || pythons.length <= 2) return pythons;
  return pythons.filter((p, i) => i === 0 || i === pythons.length - 1 || p.minor === "3.11");
}

/** The newest pyenv interpreter of a minor version ("3.11"), or undefined. */
export function pythonInterpreter(minor: string): PythonInterpreter | undefined {
  return pythonInterpreters({ minimum: "3.0" })
    .filter((p) => p.minor === minor)
    .pop();
}

/**
 * The first usable interpreter among `CP_TEST_PYTHON`, pyenv's (newest of `prefer`, default
 * 3.11, whose wheels the local mirror holds, then every other newest first), `/usr/bin/python3`
 * and `python3` on PATH; `accept` can demand more (a module, a version). Undefined when none.
 */
export function findPython(options: { prefer?: string; accept?: (python: string) => boolean } = {}): string | undefined {
  const pyenv = pythonInterpreters({ minimum: "3.0" }).reverse();
  const preferred = pyenv.filter((p) => p.minor === (options.prefer ?? "3.11"));
  const candidates = [process.env.CP_TEST_PYTHON, ...preferred.map((p) => p.python), ...pyenv.map((p) => p.python), SYSTEM_PYTHON, which("python3")];
  const seen = new Set<string>();
  for (const python of candidates) {
    if (!python || seen.has(python)) continue;
    seen.add(python);
    if (!fs.existsSync(python)) continue;
    if (!options.accept || options.accept(python)) return python;
  }
  return undefined;
}

/** Whether `python -c code` exits 0 (a module is importable, a version is new enough). */
export function pythonRuns(python: string, code: string): boolean {
  return spawnSync(python, ["-c", code], { stdio: "ignore", timeout: 60_000 }).status === 0;
}

/** Absolute path of a command on PATH, or undefined. */
export function which(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, command);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

function versionKey(v: string): number[] {
  return v.split(".").map(Number);
}

function compareKeys(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d) return d;
  }
  return 0;
}
