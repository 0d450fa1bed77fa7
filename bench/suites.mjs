#!/usr/bin/env node
// Package test-suite comparison (issue 17, item 8): the same wheels of numpy, pandas,
// pyarrow, pytest and hypothesis (and their dependencies, from the configured pip index)
// are installed into a venv by our installer (the baseline) and packed into a zipapp PEX by
// @cluster-pack/pex; a fixed, deterministic subset of each package's own installed test
// suite (SUITES below) runs under both with the same pytest arguments and environment.
// Prints a table of passed/failed/skipped/xfailed/xpassed/error counts side by side, the
// test ids whose outcome differs, and one JSON line; exits 1 when any outcome differs.
// The slow tier packages/pex/src/suites.slow.test.ts runs this and asserts no difference.
// Uses CPython 3.11 (pyenv, else python3): the mirror's numpy/pandas/pyarrow are cp311.
// Skips (exit 0, JSON `skipped`) when no index is configured or it lacks a package.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { ROOT, buildPackages, emptyVenv, installedVenv, printTable, python311 } from "./lib/measure.mjs";

// Each subset runs in under 30 s in the venv here (2 cores, shared) and exists in the
// mirror's versions (numpy 2.4, pandas 3.0, pyarrow 25). pyarrow's test_array starts
// `sys.executable` children, which must see the PEX's distributions (issue 17, item 6).
const SUITES = [
  "numpy._core.tests.test_numeric",
  "numpy.lib.tests.test_function_base",
  "pandas.tests.tslibs",
  "pandas.tests.series.methods",
  "pyarrow.tests.test_array",
  "pyarrow.tests.test_table",
];
const REQUIREMENTS = ["numpy", "pandas", "pyarrow", "pytest", "hypothesis"];
// Deterministic: hypothesis' seed fixed (its database lives in the fresh cwd), hash
// randomisation off, no cache directory written anywhere.
const PYTEST_ARGS = ["-q", "-p", "no:cacheprovider", "--hypothesis-seed=0", "--pyargs"];
const OUTCOMES = ["passed", "failed", "skipped", "xfailed", "xpassed", "error"];

const require = createRequire(import.meta.url);
buildPackages("@cluster-pack/pex...");
const { buildPex } = require(path.join(ROOT, "packages/pex/dist/index.js"));
const { downloadWheels, pipIndexUnavailable } = require(path.join(ROOT, "packages/io/dist/test-kit/index.js"));

const python = python311();
const skip = (reason) => {
  console.log(`skipped: ${reason}`);
  console.log(JSON.stringify({ bench: "suites", skipped: reason }));
  process.exit(0);
};
const noIndex = pipIndexUnavailable(python);
if (noIndex) skip(noIndex);
let wheels;
try {
  wheels = downloadWheels(REQUIREMENTS, { deps: true, python });
} catch (err) {
  skip(`the configured index cannot provide ${REQUIREMENTS.join(", ")} for ${python}: ${err.message}`);
}
const pins = wheels.map((w) => path.basename(w).split("-").slice(0, 2).join("=="));

const work = fs.mkdtempSync(path.join(os.tmpdir(), "cp-bench-suites-"));
const cleanup = () => fs.rmSync(work, { recursive: true, force: true });
process.on("exit", cleanup);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(130));

const pex = (await buildPex(path.join(work, "suites.pex"), { wheels, pythonShebang: emptyVenv(python, path.join(work, "bare")) })).path;
const { python: venvPython } = await installedVenv(python, path.join(work, "venv"), wheels);

const runner = path.join(ROOT, "bench", "lib", "pytest_outcomes.py");
// The same environment for both; the PEX also gets its own PEX_ROOT.
const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PEX_"))), PYTHONHASHSEED: "0" };
const contenders = { venv: [venvPython, env], pex: [pex, { ...env, PEX_ROOT: path.join(work, "pex-root") }] };

/** `{ outcomes: {id: outcome}, exitCode, wallMs }` of one suite under one contender, run in a fresh cwd. */
function runSuite(name, [cmd, env], suite) {
  const cwd = fs.mkdtempSync(path.join(work, `${name}-`));
  const out = path.join(cwd, "outcomes.json");
  const t = performance.now();
  const r = spawnSync(cmd, [runner, out, ...PYTEST_ARGS, suite], { cwd, env, encoding: "utf8", maxBuffer: 256 << 20 });
  const wallMs = performance.now() - t;
  if (!fs.existsSync(out)) throw new Error(`${suite} under the ${name} (${cmd}) wrote no outcomes (exit ${r.status}): ${(r.stderr || r.stdout).slice(-2000)}`);
  return { ...JSON.parse(fs.readFileSync(out, "utf8")), wallMs };
}

const count = (outcomes) => Object.fromEntries(OUTCOMES.map((o) => [o, Object.values(outcomes).filter((x) => x === o).length]));
const suites = [];
for (const suite of SUITES) {
  const runs = Object.fromEntries(Object.entries(contenders).map(([name, cmd]) => [name, runSuite(name, cmd, suite)]));
  const ids = [...new Set([...Object.keys(runs.venv.outcomes), ...Object.keys(runs.pex.outcomes)])].sort();
  const differences = ids
    .filter((id) => runs.venv.outcomes[id] !== runs.pex.outcomes[id])
    .map((id) => ({ id, venv: runs.venv.outcomes[id] ?? "absent", pex: runs.pex.outcomes[id] ?? "absent" }));
  suites.push({
    suite,
    venv: { ...count(runs.venv.outcomes), exitCode: runs.venv.exitCode, wallMs: Math.round(runs.venv.wallMs) },
    pex: { ...count(runs.pex.outcomes), exitCode: runs.pex.exitCode, wallMs: Math.round(runs.pex.wallMs) },
    differences,
  });
}

const cell = (c) => `${c.passed}/${c.failed}/${c.skipped}/${c.xfailed}/${c.xpassed}/${c.error}`;
console.log(`python ${python}; ${pins.join(" ")}`);
printTable([
  ["suite (passed/failed/skipped/xfailed/xpassed/error)", "venv | pex | differing ids | pytest exit venv, pex | wall venv, pex"],
  ...suites.map((s) => [
    s.suite,
    `${cell(s.venv)} | ${cell(s.pex)} | ${s.differences.length} | ${s.venv.exitCode}, ${s.pex.exitCode} | ${(s.venv.wallMs / 1000).toFixed(1)} s, ${(s.pex.wallMs / 1000).toFixed(1)} s`,
  ]),
]);
// Test ids are pytest's, relative to the suite's package directory (the same in both).
const differing = suites.flatMap((s) => s.differences.map((d) => ({ suite: s.suite, ...d })));
const exitsDiffer = suites.filter((s) => s.venv.exitCode !== s.pex.exitCode).map((s) => s.suite);
for (const d of differing) console.log(`differs: ${d.suite} ${d.id}: venv ${d.venv}, pex ${d.pex}`);
console.log(JSON.stringify({ bench: "suites", python, pins, pytestArgs: PYTEST_ARGS, suites, identical: differing.length === 0 && exitsDiffer.length === 0 }));
if (differing.length || exitsDiffer.length) {
  console.error(`bench suites: ${differing.length} test outcomes and ${exitsDiffer.length} pytest exit codes differ between the venv and the PEX`);
  process.exitCode = 1;
}
