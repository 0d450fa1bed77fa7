// Helpers shared by benchmarks (a directory, so bench/run.mjs does not run it): the
// reference interpreter, built packages, and one way to measure a process tree.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..");

/** CPython 3.11 from pyenv (the mirror's wheels are cp311), else python3. */
export function python311() {
  const versions = path.join(os.homedir(), ".pyenv", "versions");
  const v = fs.existsSync(versions) ? fs.readdirSync(versions).find((x) => /^3\.11\.\d+$/.test(x)) : undefined;
  return v ? path.join(versions, v, "bin", "python3") : "python3";
}

/** Builds the workspace packages `filter` needs (turbo's cache makes it cheap when built). */
export function buildPackages(filter) {
  const r = spawnSync("npx", ["turbo", "run", "build", `--filter=${filter}`, "--output-logs=errors-only"], { cwd: ROOT, stdio: "inherit" });
  if (r.status !== 0) throw new Error(`build of ${filter} failed`);
}

// Runs a command under a small Python harness and reports what the whole process tree
// used: wall time, CPU time (user + sys of every descendant reaped) and peak RSS (of the
// largest process). On a shared machine CPU time is the load-independent figure.
const HARNESS = `
import json, resource, subprocess, sys, time
t = time.perf_counter()
r = subprocess.run(sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=sys.argv[1] or None)
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stderr.buffer.write(r.stderr)
sys.stdout.write(json.dumps({"status": r.returncode, "wallMs": wall * 1000, "cpuMs": (ru.ru_utime + ru.ru_stime) * 1000,
                             "userMs": ru.ru_utime * 1000, "sysMs": ru.ru_stime * 1000,
                             "maxRssMb": ru.ru_maxrss / 1024, "stdout": r.stdout.decode("utf-8", "replace")}))
`;

/** `{ wallMs, cpuMs, userMs, sysMs, maxRssMb, stdout }` of `cmd args` (throws with its stderr when it fails). */
export function measure(cmd, args, { env = process.env, cwd = "", allowFailure = false } = {}) {
  const r = spawnSync(python311(), ["-c", HARNESS, cwd, cmd, ...args], { env, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`measuring ${cmd} failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout);
  if (out.status !== 0 && !allowFailure) throw new Error(`${cmd} ${args.join(" ")} exited ${out.status}: ${r.stderr.slice(-2000)}`);
  out.stderr = r.stderr;
  return out;
}

/**
 * Writes every dirty page back (sync) before a cold measurement, so that the writeback of
 * what the previous one extracted or removed does not run inside the next one's window.
 */
export function settleDisk() {
  spawnSync("sync");
}

// Evicts files from the page cache (after a sync, so every page is clean): what a node
// that ran something yesterday has. posix_fadvise(DONTNEED) needs no privilege, unlike
// /proc/sys/vm/drop_caches; Node has no fadvise, so Python does it.
const EVICT = `
import os, sys
os.sync()
n = 0
for top in sys.argv[1:]:
    for base, dirs, files in os.walk(top):
        for f in files:
            try:
                fd = os.open(os.path.join(base, f), os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                n += 1
            finally:
                os.close(fd)
print(n)
`;

/** Evicts every file under `dirs` from the page cache; returns how many files. */
export function evictPageCache(...dirs) {
  const r = spawnSync(python311(), ["-c", EVICT, ...dirs], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`evicting ${dirs.join(", ")} from the page cache failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

/**
 * A venv of `python` at `venv` with `wheels` installed by our installer (packages/wheel,
 * built): the "installed normally" baseline. Returns the venv's python and site-packages.
 */
export async function installedVenv(python, venv, wheels) {
  const { installWheel } = createRequire(import.meta.url)(path.join(ROOT, "packages/wheel/dist/index.js"));
  const vpy = emptyVenv(python, venv);
  const site = spawnSync(vpy, ["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], { encoding: "utf8" }).stdout.trim();
  const scheme = { purelib: site, platlib: site, scripts: path.join(venv, "bin"), headers: path.join(venv, "include"), data: venv };
  for (const w of wheels) await installWheel(w, { scheme, interpreter: vpy });
  return { python: vpy, site };
}

/**
 * An empty venv of `python` at `venv` (no pip); returns its python. PEX files under test
 * run on one, so they start the same interpreter as the installed venv, without the base
 * installation's site-packages.
 */
export function emptyVenv(python, venv) {
  const made = spawnSync(python, ["-m", "venv", "--without-pip", venv], { stdio: "inherit" });
  if (made.status !== 0) throw new Error(`${python} -m venv ${venv} failed`);
  return path.join(venv, "bin", "python");
}

/** The median of `xs` (the upper one of an even count), by `key` when given (the item itself is returned). */
export const median = (xs, key = (x) => x) => [...xs].sort((a, b) => key(a) - key(b))[Math.floor(xs.length / 2)];

/** Free bytes on the filesystem holding `dir`. */
export function freeBytes(dir) {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

/** Prints rows `[label, value]` as an aligned table. */
export function printTable(rows) {
  const w = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
}
