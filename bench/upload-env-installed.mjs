#!/usr/bin/env node
// `cluster-pack upload-env --env <venv>` for one real venv (python -m venv + pip install of
// a ~30-package data-science set from the configured mirror), packed two ways in one run:
//   as installed   wheels rebuilt from each RECORD (no index), the default
//   --from-index   the same pins resolved and downloaded from the index (the baseline)
// each with a cold cache (fresh cache directory) and a warm one (--force, same cache).
// Time is the CLI's wall clock (node start included) and the CPU time of its process tree
// (load-independent on this shared machine); bytes are the PEX's. The physical floor of
// packing as installed is measured in the same run: deflating the same installed files at
// the same level (zlib 6, Python's zlib: the same library), one core, then divided by the
// cores. From the index there is nothing to deflate (the wheels are compressed already).
// Usage: npm run bench -- upload-env-installed [--requirements=a,b,c] [--venv=<existing venv>]
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { measure, python311 } from "./lib/measure.mjs";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const reqArg = process.argv.slice(2).find((a) => a.startsWith("--requirements="));
const REQUIREMENTS = reqArg
  ? reqArg.slice("--requirements=".length).split(",")
  : ["pandas", "scikit-learn", "matplotlib", "requests", "seaborn", "statsmodels", "sympy", "tqdm", "pyyaml"];
const PYTHON = python311();
const venvArg = process.argv.slice(2).find((a) => a.startsWith("--venv="));
const MIRROR = "file:///opt/pypi/simple";

// Deflates every installed file (bytecode caches left out, as the rebuild leaves them out)
// at level 6 in memory, one at a time: the work packing as installed cannot avoid.
const FLOOR = `
import json, os, sys, zlib
raw = out = n = 0
for dp, dns, fns in os.walk(sys.argv[1]):
    dns[:] = [d for d in dns if d != "__pycache__"]
    for f in fns:
        p = os.path.join(dp, f)
        if os.path.islink(p) or not os.path.isfile(p): continue
        with open(p, "rb") as fh: d = fh.read()
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        out += len(c.compress(d)) + len(c.flush()); raw += len(d); n += 1
print(json.dumps({"files": n, "raw": raw, "deflated": out}))
`;

const build = spawnSync("npx", ["turbo", "run", "build", "--filter=@cluster-pack/cli...", "--output-logs=errors-only"], { cwd: root, stdio: "inherit" });
if (build.status !== 0) {
  console.error("bench upload-env-installed: build failed");
  process.exit(1);
}
const CLI = path.join(root, "apps/cli/bin/cluster-pack.js");

const work = fs.mkdtempSync(path.join(os.tmpdir(), "cp-bench-installed-"));
try {
  const venv = venvArg ? path.resolve(venvArg.slice("--venv=".length)) : path.join(work, "ds-venv");
  const t0 = performance.now();
  if (!venvArg) {
    must(spawnSync(PYTHON, ["-m", "venv", venv], { encoding: "utf8" }), "python -m venv");
    must(
      spawnSync(path.join(venv, "bin", "python"), ["-m", "pip", "install", "-q", "--index-url", MIRROR, "--retries", "0", "--timeout", "5", ...REQUIREMENTS], { encoding: "utf8" }),
      "pip install",
    );
  }
  const setup = (performance.now() - t0) / 1000;
  const env = { ...process.env, C_PACK_USER: "bench", PIP_INDEX_URL: MIRROR };
  delete env.VIRTUAL_ENV;
  delete env.PEX;

  const rows = [];
  for (const [label, flags] of [
    ["as installed", []],
    ["--from-index", ["--from-index"]],
  ]) {
    const cache = path.join(work, `cache-${flags.length ? "index" : "installed"}`);
    const out = path.join(work, "store", `${flags.length ? "index" : "installed"}.pex`);
    for (const [temp, extra] of [
      ["cold", []],
      ["warm", ["--force"]],
    ]) {
      const r = measure(process.execPath, [CLI, "--json", "upload-env", "--env", venv, "-o", out, "--cache-dir", cache, ...flags, ...extra], { env });
      const result = JSON.parse(r.stdout);
      rows.push({ case: `${label}, ${temp} cache`, seconds: r.wallMs / 1000, cpuSeconds: r.cpuMs / 1000, packages: result.requirements.length, bytes: fs.statSync(out).size });
    }
  }
  const site = spawnSync(path.join(venv, "bin", "python"), ["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], { encoding: "utf8" }).stdout.trim();
  const f = measure(PYTHON, ["-c", FLOOR, site]);
  const floor = JSON.parse(f.stdout);
  const cores = os.availableParallelism();
  rows.push({ case: "floor: deflate-6, one core", seconds: f.wallMs / 1000, cpuSeconds: f.cpuMs / 1000, packages: floor.files, bytes: floor.deflated });
  rows.push({ case: `floor ÷ ${cores} cores`, seconds: f.wallMs / 1000 / cores, cpuSeconds: f.cpuMs / 1000, packages: floor.files, bytes: floor.deflated });
  console.log(`\nupload-env --env <venv>: ${REQUIREMENTS.join(" ")} (${rows[0].packages} packages; venv made in ${setup.toFixed(1)} s, not timed), ${os.cpus().length} CPUs`);
  console.log(`${"case".padEnd(30)} ${"seconds".padStart(8)} ${"CPU s".padStart(7)} ${"pkgs".padStart(5)} ${"MiB".padStart(8)}`);
  for (const r of rows) console.log(`${r.case.padEnd(30)} ${r.seconds.toFixed(2).padStart(8)} ${r.cpuSeconds.toFixed(2).padStart(7)} ${String(r.packages).padStart(5)} ${(r.bytes / 1048576).toFixed(1).padStart(8)}`);
  const cold = rows[0].seconds / rows[2].seconds;
  const warm = rows[1].seconds / rows[3].seconds;
  const overFloor = rows[0].seconds / rows[5].seconds;
  const cpuOverFloor = rows[0].cpuSeconds / rows[4].cpuSeconds;
  console.log(`as installed / from index: cold ${cold.toFixed(2)}x, warm ${warm.toFixed(2)}x; bytes ${(rows[0].bytes / rows[2].bytes).toFixed(3)}x`);
  console.log(`as installed, cold / floor (${floor.files} files, ${(floor.raw / 1048576).toFixed(0)} MiB): wall ${overFloor.toFixed(2)}x (floor ÷ cores), CPU ${cpuOverFloor.toFixed(2)}x`);
  console.log(JSON.stringify({ bench: "upload-env-installed", requirements: REQUIREMENTS, packages: rows[0].packages, rows, installedOverIndex: { cold, warm }, installedColdOverFloor: { wall: overFloor, cpu: cpuOverFloor } }));
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}

function must(r, what) {
  if (r.status !== 0) {
    console.error(`bench upload-env-installed: ${what} failed: ${(r.stderr || r.error?.message || "").trim().split("\n").slice(-3).join(" | ")}`);
    process.exit(1);
  }
}
