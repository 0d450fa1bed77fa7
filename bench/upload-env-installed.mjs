#!/usr/bin/env node
// `cluster-pack upload-env --env <venv>` for one real venv (python -m venv + pip install of
// a ~30-package data-science set from the configured mirror), packed two ways in one run:
//   as installed   wheels rebuilt from each RECORD (no index), the default
//   --from-index   the same pins resolved and downloaded from the index (the baseline)
// each with a cold cache (fresh cache directory) and a warm one (--force, same cache).
// Time is the CLI's wall clock (node start included); bytes are the PEX's.
// Usage: npm run bench -- upload-env-installed [--requirements=a,b,c]
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const reqArg = process.argv.slice(2).find((a) => a.startsWith("--requirements="));
const REQUIREMENTS = reqArg
  ? reqArg.slice("--requirements=".length).split(",")
  : ["pandas", "scikit-learn", "matplotlib", "requests", "seaborn", "statsmodels", "sympy", "tqdm", "pyyaml"];
const PYTHON = "/root/.pyenv/versions/3.11.7/bin/python3";
const MIRROR = "file:///opt/pypi/simple";

const build = spawnSync("npx", ["turbo", "run", "build", "--filter=@cluster-pack/cli...", "--output-logs=errors-only"], { cwd: root, stdio: "inherit" });
if (build.status !== 0) {
  console.error("bench upload-env-installed: build failed");
  process.exit(1);
}
const CLI = path.join(root, "apps/cli/bin/cluster-pack.js");

const work = fs.mkdtempSync(path.join(os.tmpdir(), "cp-bench-installed-"));
try {
  const venv = path.join(work, "ds-venv");
  const t0 = performance.now();
  must(spawnSync(PYTHON, ["-m", "venv", venv], { encoding: "utf8" }), "python -m venv");
  must(
    spawnSync(path.join(venv, "bin", "python"), ["-m", "pip", "install", "-q", "--index-url", MIRROR, "--retries", "0", "--timeout", "5", ...REQUIREMENTS], { encoding: "utf8" }),
    "pip install",
  );
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
      const t = performance.now();
      const r = spawnSync(process.execPath, [CLI, "--json", "upload-env", "--env", venv, "-o", out, "--cache-dir", cache, ...flags, ...extra], { encoding: "utf8", env });
      const seconds = (performance.now() - t) / 1000;
      must(r, `upload-env ${label} ${temp}`);
      const result = JSON.parse(r.stdout);
      rows.push({ case: `${label}, ${temp} cache`, seconds, packages: result.requirements.length, bytes: fs.statSync(out).size });
    }
  }
  console.log(`\nupload-env --env <venv>: ${REQUIREMENTS.join(" ")} (${rows[0].packages} packages; venv made in ${setup.toFixed(1)} s, not timed), ${os.cpus().length} CPUs`);
  console.log(`${"case".padEnd(30)} ${"seconds".padStart(8)} ${"pkgs".padStart(5)} ${"PEX MiB".padStart(8)}`);
  for (const r of rows) console.log(`${r.case.padEnd(30)} ${r.seconds.toFixed(2).padStart(8)} ${String(r.packages).padStart(5)} ${(r.bytes / 1048576).toFixed(1).padStart(8)}`);
  const cold = rows[0].seconds / rows[2].seconds;
  const warm = rows[1].seconds / rows[3].seconds;
  console.log(`as installed / from index: cold ${cold.toFixed(2)}x, warm ${warm.toFixed(2)}x; bytes ${(rows[0].bytes / rows[2].bytes).toFixed(3)}x`);
  console.log(JSON.stringify({ bench: "upload-env-installed", requirements: REQUIREMENTS, packages: rows[0].packages, rows, installedOverIndex: { cold, warm } }));
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}

function must(r, what) {
  if (r.status !== 0) {
    console.error(`bench upload-env-installed: ${what} failed: ${(r.stderr || r.error?.message || "").trim().split("\n").slice(-3).join(" | ")}`);
    process.exit(1);
  }
}
