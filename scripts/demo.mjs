#!/usr/bin/env node
// The main job on an embedded default (`npm run demo` after `npm ci`): builds the
// workspace, then `uploadEnv` resolves a small real set of requirements from the
// configured pip index, builds a PEX, publishes it to a local directory standing in for
// HDFS/S3, prints the Spark conf that uses it, runs the PEX the way a Spark executor
// would (copied into a working directory, `./env.pex -m module`), and shows that a second
// call is a no-op. Options: --keep (keep the demo directory), --requirements a,b,c.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const args = process.argv.slice(2);
const keep = args.includes("--keep");
const reqArg = args.find((a) => a.startsWith("--requirements="));
const requirements = reqArg ? reqArg.slice("--requirements=".length).split(",") : ["six", "python-dateutil"];
const PYTHON = ["/root/.pyenv/versions/3.11.7/bin/python3", "python3.11", "python3"].find(isRunnable);

step("building the workspace (turbo)");
const build = spawnSync("npx", ["turbo", "run", "build", "--output-logs=errors-only"], { cwd: root, stdio: "inherit" });
if (build.status !== 0) fail("the build failed (see above)");
if (!PYTHON) fail("no python3 interpreter found: install Python 3 (3.8-3.13) to run the PEX");

const require = createRequire(path.join(root, "package.json"));
const clusterPack = require(path.join(root, "packages/cluster-pack/dist/index.js"));

const demo = fs.mkdtempSync(path.join(os.tmpdir(), "cluster-pack-demo-"));
const store = path.join(demo, "store"); // stands in for hdfs:// or s3://
const packagePath = `file://${store}/user/demo/envs/demo.pex`;
const cacheDir = path.join(demo, "cache");
const env = { ...process.env, C_PACK_USER: "demo" };

try {
  step(`uploadEnv: ${requirements.join(" ")} for ${PYTHON}`);
  const t0 = performance.now();
  const phases = new Map();
  const first = await clusterPack.uploadEnv({
    requirements,
    target: { interpreter: PYTHON },
    packagePath,
    cacheDir,
    environ: env,
    onProgress: (p) => phases.set(p.phase, p),
    onLog: (m) => console.log(`  ${m}`),
  });
  const t1 = performance.now();
  console.log(`  ${first.uploaded ? "built and uploaded" : "already up to date"} in ${((t1 - t0) / 1000).toFixed(2)} s: ${first.packagePath}`);
  console.log(`  pins: ${first.requirements.join(" ")}`);
  console.log(`  phases seen: ${[...phases.keys()].join(", ")}`);

  step("the Spark conf that ships it (YARN, client mode)");
  const conf = clusterPack.addPackagedEnvironment({}, first, { master: "yarn" });
  for (const [k, v] of Object.entries(conf)) console.log(`  --conf ${k}=${v}`);

  step("an executor-style launch: copy into a working dir, run ./demo.pex -m <module>");
  const work = path.join(demo, "executor");
  fs.mkdirSync(path.join(work, "job"), { recursive: true });
  const archive = new URL(first.packagePath).pathname;
  fs.copyFileSync(archive, path.join(work, path.basename(archive)));
  fs.chmodSync(path.join(work, path.basename(archive)), 0o755);
  fs.writeFileSync(
    path.join(work, "job", "demo_job.py"),
    "import sys, dateutil, six\nfrom dateutil.parser import parse\nprint('executor ok:', parse('2024-02-29T12:00:00').isoformat(), 'dateutil', dateutil.__version__, 'six', six.__version__, 'on', sys.version.split()[0])\n",
  );
  const interpreter = conf["spark.pyspark.python"]; // ./demo.pex
  const out = execFileSync(PYTHON, [path.join(work, interpreter), "-m", "demo_job"], {
    cwd: work,
    env: { ...process.env, PEX_ROOT: conf["spark.executorEnv.PEX_ROOT"] ?? "./.pex", PYTHONPATH: path.join(work, "job") },
    encoding: "utf8",
  });
  console.log(`  ${out.trim()}`);

  step("uploadEnv again: nothing changed, so no build and no upload");
  const t2 = performance.now();
  const second = await clusterPack.uploadEnv({ requirements, target: { interpreter: PYTHON }, packagePath, cacheDir, environ: env });
  const t3 = performance.now();
  console.log(`  ${second.uploaded ? "rebuilt (unexpected)" : "up to date"} in ${((t3 - t2) / 1000).toFixed(2)} s (lock ${second.lockHash.slice(0, 19)})`);
  const sidecar = archive.replace(/\.pex$/, ".json");
  console.log(`  sidecar ${path.basename(sidecar)}: ${fs.readFileSync(sidecar, "utf8").replace(/\s+/g, " ").slice(0, 160)}...`);
  if (second.uploaded) process.exitCode = 1;
  console.log(`\ndemo: ok${keep ? ` (kept in ${demo})` : ""}`);
} catch (err) {
  console.error(`\ndemo failed: ${err?.message ?? err}`);
  if (process.env.CLUSTER_PACK_DEBUG && err?.stack) console.error(err.stack);
  process.exitCode = 1;
} finally {
  if (!keep) fs.rmSync(demo, { recursive: true, force: true });
}

function step(message) {
  console.log(`\n== ${message}`);
}

function fail(message) {
  console.error(`demo: ${message}`);
  process.exit(1);
}

function isRunnable(p) {
  try {
    execFileSync(p, ["-c", "pass"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
