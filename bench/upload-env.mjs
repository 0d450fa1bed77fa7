#!/usr/bin/env node
// uploadEnv for a ~30-package data-science environment, from requirements resolved
// against the configured pip index, published to a local store directory:
//   cold      nothing cached (fresh wheel cache, fresh store): resolve + download + build + upload
//   warm      wheels cached, forceUpload: resolve + build + upload
//   no-op     nothing changed: the skip rule's one round trip
// then with --compile (bytecode shipped), cold from fresh caches and warm;
// Baselines in the same run: the I/O limit (read every wheel byte once and write as many,
// then copy the archive to the store), and `pip download` of the same set (the first
// step of the pip + pex + upload pipeline; pex itself is not installed here).
// Usage: npm run bench -- upload-env [--requirements=a,b,c]
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const reqArg = process.argv.slice(2).find((a) => a.startsWith("--requirements="));
const REQUIREMENTS = reqArg
  ? reqArg.slice("--requirements=".length).split(",")
  : ["pandas", "scikit-learn", "matplotlib", "requests", "seaborn", "statsmodels", "sympy", "tqdm", "pyyaml"];
const PYTHON = "/root/.pyenv/versions/3.11.7/bin/python3";

const build = spawnSync("npx", ["turbo", "run", "build", "--filter=cluster-pack...", "--output-logs=errors-only"], { cwd: root, stdio: "inherit" });
if (build.status !== 0) {
  console.error("bench upload-env: build failed");
  process.exit(1);
}
const require = createRequire(path.join(root, "package.json"));
const { uploadEnv } = require(path.join(root, "packages/cluster-pack/dist/index.js"));

const work = fs.mkdtempSync(path.join(os.tmpdir(), "cp-bench-upload-env-"));
const env = { ...process.env, C_PACK_USER: "bench" };
const rows = [];
try {
  const cacheDir = path.join(work, "cache");
  const packagePath = `file://${work}/store/user/bench/envs/ds.pex`;
  // Phase times from the progress events: first event of a phase to the first of the next.
  let phases = {};
  const call = (extra = {}) => {
    phases = {};
    const t0 = performance.now();
    return uploadEnv({
      requirements: REQUIREMENTS, target: { interpreter: PYTHON }, packagePath, cacheDir, environ: env, ...extra,
      onProgress: (p) => {
        const t = (performance.now() - t0) / 1000;
        phases[p.phase] ??= { start: t };
        phases[p.phase].end = t;
      },
    });
  };
  const phaseText = () => Object.entries(phases).map(([k, v]) => `${k} ${v.start.toFixed(2)}-${v.end.toFixed(2)}s`).join(", ");

  const cold = await timed(() => call());
  const pex = new URL(packagePath).pathname;
  const pexBytes = fs.statSync(pex).size;
  rows.push({ case: "cold (resolve+download+build+upload)", seconds: cold.s, packages: cold.value.requirements.length, bytes: pexBytes });
  const warm = await timed(() => call({ forceUpload: true }));
  rows.push({ case: "warm-cache rebuild (forceUpload)", seconds: warm.s, packages: warm.value.requirements.length, bytes: pexBytes });
  const warmPhases = phaseText();
  const noop = await timed(() => call());
  if (noop.value.uploaded) throw new Error("the no-op call rebuilt: the skip rule failed");
  rows.push({ case: "no-op (up to date)", seconds: noop.s, packages: noop.value.requirements.length, bytes: 0 });

  // --compile (bytecode compiled by the target interpreter and shipped), from a fresh cache
  // and store: the first build pays each wheel's compile once, the warm one none.
  const compiled = { cacheDir: path.join(work, "cache-bytecode"), packagePath: `file://${work}/store-bytecode/user/bench/envs/ds.pex`, pex: { compile: true } };
  const coldBc = await timed(() => call(compiled));
  const pexBytesBc = fs.statSync(new URL(compiled.packagePath).pathname).size;
  rows.push({ case: "cold, --compile (bytecode shipped)", seconds: coldBc.s, packages: coldBc.value.requirements.length, bytes: pexBytesBc });
  const warmBc = await timed(() => call({ ...compiled, forceUpload: true }));
  rows.push({ case: "warm-cache rebuild, --compile", seconds: warmBc.s, packages: warmBc.value.requirements.length, bytes: pexBytesBc });

  // Baseline 1: the I/O limit of a warm rebuild: read every cached wheel once, write as
  // many bytes, then copy the archive to the store.
  const wheels = listFiles(cacheDir).filter((f) => f.endsWith(".whl"));
  const wheelBytes = wheels.reduce((n, f) => n + fs.statSync(f).size, 0);
  const io = await timed(async () => {
    const out = fs.openSync(path.join(work, "io.bin"), "w");
    for (const w of wheels) fs.writeSync(out, fs.readFileSync(w));
    fs.closeSync(out);
    fs.copyFileSync(pex, path.join(work, "io-copy.pex"));
  });
  rows.push({ case: "baseline: I/O limit (read wheels, write, copy archive)", seconds: io.s, packages: wheels.length, bytes: wheelBytes + pexBytes });

  // Baseline 2: pip download of the same set into an empty directory (pip's own cache off).
  const dl = path.join(work, "pip-download");
  const pip = await timed(async () => {
    const r = spawnSync(PYTHON, ["-m", "pip", "download", "-q", "--no-cache-dir", "--only-binary=:all:", "--index-url", "file:///opt/pypi/simple", "--retries", "0", "-d", dl, ...REQUIREMENTS], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`pip download failed: ${r.stderr.trim().split("\n").pop()}`);
  }).catch((err) => ({ s: NaN, error: err.message }));
  rows.push({ case: "baseline: pip download (same set, no cache)", seconds: pip.s, packages: fs.existsSync(dl) ? fs.readdirSync(dl).length : 0, bytes: fs.existsSync(dl) ? listFiles(dl).reduce((n, f) => n + fs.statSync(f).size, 0) : 0, ...(pip.error ? { error: pip.error } : {}) });
  rows.push({ case: "baseline: pex CLI", seconds: NaN, packages: 0, bytes: 0, error: hasPex() ? "present but not measured" : "pex is not installed on this machine" });

  console.log(`\nuploadEnv: ${REQUIREMENTS.join(" ")} (${cold.value.requirements.length} packages, PEX ${(pexBytes / 1048576).toFixed(1)} MiB), ${os.cpus().length} CPUs`);
  console.log(`${"case".padEnd(58)} ${"seconds".padStart(8)} ${"pkgs".padStart(5)} ${"MiB".padStart(8)}`);
  for (const r of rows) {
    console.log(`${r.case.padEnd(58)} ${(Number.isNaN(r.seconds) ? "n/a" : r.seconds.toFixed(3)).padStart(8)} ${String(r.packages).padStart(5)} ${(r.bytes / 1048576).toFixed(1).padStart(8)}${r.error ? `  (${r.error})` : ""}`);
  }
  console.log(`warm rebuild phases (from progress events): ${warmPhases}`);
  const ratio = warm.s / io.s;
  console.log(`warm rebuild / I/O limit: ${ratio.toFixed(2)}x; cold / pip download alone: ${(cold.s / pip.s).toFixed(2)}x; --compile: cold +${(coldBc.s - cold.s).toFixed(2)} s, warm ${(warmBc.s / warm.s).toFixed(2)}x, PEX ${(pexBytesBc / pexBytes).toFixed(2)}x`);
  console.log(JSON.stringify({ bench: "upload-env", requirements: REQUIREMENTS, packages: cold.value.requirements.length, pexBytes, pexBytesWithBytecode: pexBytesBc, rows, warmOverIoLimit: ratio }));
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}

async function timed(fn) {
  const t0 = performance.now();
  const value = await fn();
  return { s: (performance.now() - t0) / 1000, value };
}

function listFiles(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

function hasPex() {
  try {
    execFileSync(PYTHON, ["-m", "pex", "--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
