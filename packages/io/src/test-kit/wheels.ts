// Real wheels for tests, from the pip index configured on this machine (`pip download`, so
// pip's own configuration decides where they come from: here a local mirror of real wheels).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { findPython } from "./pythons";

/** Where downloaded wheels are kept across runs: `CP_TEST_WHEEL_CACHE`, else under the OS temp dir. */
export function wheelCacheDir(): string {
  return process.env.CP_TEST_WHEEL_CACHE || path.join(os.tmpdir(), "cp-test-wheels-1");
}

/**
 * Downloads wheels (no dependencies unless `deps`) with `python -m pip` (default: the
 * finder's interpreter) and returns their paths, sorted. Cached per arguments: a second call
 * reuses the files. Throws with pip's message when pip fails; check `pipIndexUnavailable()`
 * first to skip where no index is configured.
 */
export function downloadWheels(requirements: string[], options: { deps?: boolean; python?: string; pythonVersion?: string } = {}): string[] {
  const python = options.python ?? findPython();
  if (!python) throw new Error("downloadWheels: no Python interpreter found to run pip");
  const key = [...requirements, options.deps ? "deps" : "nodeps", options.pythonVersion ?? "", python].join("_").replace(/[^\w.=-]+/g, "_");
  const root = wheelCacheDir();
  const dir = path.join(root, key);
  if (!fs.existsSync(path.join(dir, ".done"))) {
    fs.mkdirSync(root, { recursive: true });
    // The temporary sits beside its target (one rename, same filesystem); `.done` is inside
    // before the rename, so a directory without it is never trusted.
    const tmp = fs.mkdtempSync(path.join(root, `.${key.slice(0, 64)}.tmp-`));
    try {
      const args = ["-m", "pip", "download", "-q", "--disable-pip-version-check", "--only-binary=:all:", "-d", tmp];
      if (!options.deps) args.push("--no-deps");
      if (options.pythonVersion) args.push("--python-version", options.pythonVersion);
      const r = spawnSync(python, [...args, ...requirements], { encoding: "utf8", env: { ...process.env, PIP_RETRIES: "0", PIP_TIMEOUT: "5" } });
      if (r.status !== 0) throw new Error(`pip download ${requirements.join(" ")} failed: ${r.stderr.trim().split("\n").pop()}`);
      // A fixed past mtime, as wheels a user has are rarely seconds old: a file whose mtime
      // and ctime are both under 2 s old is "racy" (io's identity.ts), never remembered by
      // file identity, so a test building right after a fresh download (a new machine, CI)
      // would see no cached sha256 or install plan in its second build, depending on timing.
      const past = new Date(Date.UTC(2020, 0, 1));
      for (const f of fs.readdirSync(tmp)) fs.utimesSync(path.join(tmp, f), past, past);
      fs.writeFileSync(path.join(tmp, ".done"), "");
      // A complete download published meanwhile by another test process stays: removing it
      // would pull its wheels from under a build of that process (new inodes, files gone).
      // Only a directory left without `.done` (never published by this code) is replaced.
      if (fs.existsSync(dir) && !fs.existsSync(path.join(dir, ".done"))) fs.rmSync(dir, { recursive: true, force: true });
      try {
        fs.renameSync(tmp, dir);
      } catch (err) {
        // Another process published the same download first: use it.
        if (!fs.existsSync(path.join(dir, ".done"))) throw err;
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".whl"))
    .sort()
    .map((f) => path.join(dir, f));
}

/**
 * Why `python -m pip` cannot fetch real wheels here, or undefined when it can: tests that
 * need wheels from the configured index (a local mirror) skip with this reason.
 */
export function pipIndexUnavailable(python: string | undefined = findPython()): string | undefined {
  if (!python) return "no Python interpreter found (pyenv, /usr/bin/python3, python3 on PATH)";
  if (spawnSync(python, ["-m", "pip", "--version"], { stdio: "ignore", timeout: 60_000 }).status !== 0) return `${python} -m pip is not available`;
  if (!pipIndexArgs(python)) return "pip has no index or find-links configured (python3 -m pip config list shows none)";
  return undefined;
}

/**
 * pip's index arguments from pip's own configuration (`pip config list`), for tests that run
 * `pip install` or `pip download` themselves. When only extra indexes are configured, the
 * first becomes `--index-url`, so pip does not wait on pypi.org, which these machines
 * cannot reach. Undefined when nothing is configured.
 */
export function pipIndexArgs(python: string | undefined = findPython()): string[] | undefined {
  if (!python) return undefined;
  const r = spawnSync(python, ["-m", "pip", "config", "list"], { encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) return undefined;
  const values = (key: string) =>
    r.stdout
      .split("\n")
      .filter((l) => new RegExp(`^[^=]*\\.${key}=`).test(l))
      .flatMap((l) => l.slice(l.indexOf("=") + 1).replace(/^'|'$/g, "").split(/\s+/))
      .filter(Boolean);
  const index = values("index-url");
  const extra = values("extra-index-url");
  const links = values("find-links");
  const [first, ...rest] = index.length ? [...index, ...extra] : extra;
  if (!first && !links.length) return undefined;
  return [...(first ? ["--index-url", first] : ["--no-index"]), ...rest.flatMap((u) => ["--extra-index-url", u]), ...links.flatMap((l) => ["--find-links", l])];
}

/** One real wheel, or why there is none (no index configured, pip failed): for tests that skip. */
export function realWheel(requirement: string, options: { python?: string } = {}): { path: string; reason?: undefined } | { path?: undefined; reason: string } {
  const reason = pipIndexUnavailable(options.python);
  if (reason) return { reason };
  try {
    const [file] = downloadWheels([requirement], options);
    return file ? { path: file } : { reason: `pip downloaded no wheel for ${requirement}` };
  } catch (err) {
    return { reason: `pip could not download ${requirement} from the configured index: ${(err as Error).message}` };
  }
}
