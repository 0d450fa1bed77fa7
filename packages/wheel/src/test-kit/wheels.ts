import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** Where downloaded wheels are kept across test runs (gitignored `.cache/`). */
export const WHEEL_CACHE = path.join(__dirname, "..", "..", "..", "..", ".cache", "test-wheels");

/** Why real wheels are unavailable (pip has no index or find-links configured), or undefined. */
export function pipUnavailableReason(): string | undefined {
  const r = spawnSync("python3", ["-m", "pip", "config", "list"], { encoding: "utf8" });
  if (r.status !== 0) return "python3 -m pip is not available";
  if (!/index-url|find-links/.test(r.stdout) && !process.env.PIP_INDEX_URL && !process.env.PIP_FIND_LINKS) {
    return "pip has no index or find-links configured (python3 -m pip config list shows none)";
  }
  return undefined;
}

/**
 * Downloads wheels (no dependencies unless `deps`) with pip from the configured index and
 * returns their paths. Cached: a second call with the same arguments reuses the files.
 */
export function downloadWheels(requirements: string[], options: { deps?: boolean; python?: string; pythonVersion?: string } = {}): string[] {
  const key = [...requirements, options.deps ? "deps" : "nodeps", options.pythonVersion ?? ""].join("_").replace(/[^\w.=-]+/g, "_");
  const dir = path.join(WHEEL_CACHE, key);
  const done = path.join(dir, ".done");
  if (!fs.existsSync(done)) {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-wheels-"));
    const args = ["-m", "pip", "download", "-q", "--only-binary=:all:", "-d", tmp];
    if (!options.deps) args.push("--no-deps");
    if (options.pythonVersion) args.push("--python-version", options.pythonVersion);
    const r = spawnSync(options.python ?? "python3", [...args, ...requirements], { encoding: "utf8", env: { ...process.env, PIP_RETRIES: "0", PIP_TIMEOUT: "5" } });
    if (r.status !== 0) throw new Error(`pip download ${requirements.join(" ")} failed: ${r.stderr}`);
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
    fs.writeFileSync(done, "");
  }
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".whl"))
    .sort()
    .map((f) => path.join(dir, f));
}

/**
 * The interpreters a slow per-Python test runs on: the oldest and newest pyenv Python and
 * 3.11 (the mirror's binary wheels are cp311), or every one with `CP_ALL_PYTHONS=1`. Keeps
 * a default `npm test` well inside CI's budget; the full matrix stays one variable away.
 */
export function pyenvMatrix(pythons = pyenvPythons()): { version: string; python: string }[] {
  if (process.env.CP_ALL_PYTHONS === "1" || pythons.length <= 2) return pythons;
  return pythons.filter((p, i) => i === 0 || i === pythons.length - 1 || p.version.startsWith("3.11."));
}

/** Every pyenv interpreter 3.8+ here (`~/.pyenv/versions/X/bin/python3`), sorted by version. */
export function pyenvPythons(): { version: string; python: string }[] {
  const root = path.join(os.homedir(), ".pyenv", "versions");
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .filter((v) => /^3\.\d+\.\d+$/.test(v) && Number(v.split(".")[1]) >= 8 && fs.existsSync(path.join(root, v, "bin", "python3")))
    .sort((a, b) => Number(a.split(".")[1]) - Number(b.split(".")[1]))
    .map((version) => ({ version, python: path.join(root, version, "bin", "python3") }));
}
