#!/usr/bin/env node
// PEX venv-mode start-up benchmark: warm `./env.pex -c pass` in venv mode (one exec of
// the venv python) against the same PEX in zipapp mode and against plain `python -c pass`
// (the baseline), plus the first (cold) start that extracts and creates the venv. The PEX
// holds six, python-dateutil and tqdm (pure wheels from the configured pip index).
// pex's own venv warm start is 0.13-0.23 s (shared/REFERENCE.md section 2).
// Prints a table and one JSON line. Uses CPython 3.11 (pyenv, else python3).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { buildPackages, median, python311 } from "./lib/measure.mjs";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const require = createRequire(import.meta.url);
buildPackages("@cluster-pack/pex...");
const { buildPex } = require(path.join(root, "packages/pex/dist/index.js"));

const python = python311();
const RUNS = Number(process.env.BENCH_RUNS ?? 20);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-bench-pex-venv-"));
try {
  const wheelDir = path.join(tmp, "wheels");
  const dl = spawnSync(python, ["-m", "pip", "download", "-q", "--only-binary=:all:", "--no-deps", "-d", wheelDir, "six", "python-dateutil", "tqdm"], { encoding: "utf8" });
  if (dl.status !== 0) throw new Error(`pip download failed (is a pip index configured?): ${dl.stderr}`);
  const wheels = fs.readdirSync(wheelDir).map((f) => path.join(wheelDir, f));
  const venvPex = (await buildPex(path.join(tmp, "venv.pex"), { wheels, venv: true, pythonShebang: python })).path;
  const zipPex = (await buildPex(path.join(tmp, "zip.pex"), { wheels, pythonShebang: python })).path;
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, PEX_ROOT: path.join(tmp, "root") };

  const time = (cmd, args) => {
    const t = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { env, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
    return Number(process.hrtime.bigint() - t) / 1e6;
  };
  const cold = { venv: time(venvPex, ["-c", "pass"]), zipapp: time(zipPex, ["-c", "pass"]) };
  const cases = { plain: [python, ["-c", "pass"]], zipapp: [zipPex, ["-c", "pass"]], venv: [venvPex, ["-c", "pass"]] };
  const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let i = 0; i < RUNS; i++) for (const [k, [cmd, args]] of Object.entries(cases)) samples[k].push(time(cmd, args)); // interleaved
  const rows = Object.entries(samples).map(([k, xs]) => ({ mode: k, medianMs: median(xs), minMs: Math.min(...xs), coldMs: cold[k] }));
  console.log(`python ${python}, ${RUNS} interleaved warm runs of '-c pass' each`);
  console.log("mode     warm median   warm min   cold (first start)");
  for (const r of rows) console.log(`${r.mode.padEnd(8)} ${r.medianMs.toFixed(1).padStart(8)} ms ${r.minMs.toFixed(1).padStart(8)} ms ${r.coldMs === undefined ? "" : `${r.coldMs.toFixed(1).padStart(10)} ms`}`);
  const plain = rows[0].medianMs;
  console.log(`venv overhead over plain python: ${(rows[2].medianMs - plain).toFixed(1)} ms; zipapp overhead: ${(rows[1].medianMs - plain).toFixed(1)} ms`);
  console.log(JSON.stringify({ bench: "pex-venv", python, runs: RUNS, rows }));
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
