#!/usr/bin/env node
// Benchmarks @cluster-pack/engines against baselines measured in the same run:
// 1. configuration generation (every Spark cluster manager x deploy mode x kind, plus
//    TF_CONFIG, torch env and skein YAML) vs copying the same output bytes (JSON round trip);
// 2. merging into a large existing Spark conf (1,000 keys, 2,000-item comma lists) vs
//    building the same Map without conflict checks;
// 3. what the generated launch costs a container: first and warm start of the localised
//    venv interpreter (`pyenv/bin/python -c ...`) and of a PEX (`./app.pex -c ...`) vs
//    Debian's python3 itself.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const require = createRequire(import.meta.url);
execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", path.join(root, "packages/engines/tsconfig.build.json")], { stdio: "inherit" });
const e = require(path.join(root, "packages/engines/dist/index.js"));

function timeIt(fn, minMs = 300) {
  let n = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < minMs * 1e6) {
    fn();
    n++;
    elapsed = Number(process.hrtime.bigint() - t0);
  }
  return elapsed / n / 1e3; // µs per call
}

const rows = [];

// 1. Generation.
const envs = [
  e.pythonEnvironment("s3://b/envs/app.pex", { codeArchives: ["s3://b/code/lib.zip"] }),
  e.pythonEnvironment("s3://b/envs/app.pex.zip"),
  e.pythonEnvironment("s3://b/envs/env.tar.gz"),
  e.pythonEnvironment("s3://b/envs/venv.tar.gz", { kind: "venv" }),
];
const targets = [
  ["yarn", "client"],
  ["yarn", "cluster"],
  ["k8s://https://api:6443", "client"],
  ["k8s://https://api:6443", "cluster"],
  ["spark://m:7077", "client"],
];
const s3 = { endpoint: "http://127.0.0.1:9000", pathStyle: true };
function generateAll() {
  const out = [];
  for (const env of envs) {
    for (const [master, deployMode] of targets) {
      const c = e.sparkConfigFor(env, { master, deployMode, s3 });
      out.push(e.sparkSubmitArgv(c), e.sparkDefaultsLines(c));
    }
    out.push(e.skeinSpecYaml(e.skeinSpecFor(env, { services: { w: { resources: { memory: 1024, vcores: 1 }, instances: 4, module: "m.main" } } }).spec));
  }
  out.push(e.tfConfigsForCluster("parameter-server", { chief: ["c:1"], ps: ["p0:1", "p1:1"], worker: ["w0:1", "w1:1", "w2:1"] }).map(e.tfConfigEnv));
  out.push(e.torchDistributedEnv({ masterAddr: "h", masterPort: 29500, nodes: 8, procsPerNode: 8 }));
  return out;
}
const generated = generateAll();
const genUs = timeIt(generateAll);
const copyUs = timeIt(() => JSON.parse(JSON.stringify(generated)));
rows.push({ case: "generate 20 Spark confs + 4 skein YAML + TF + torch(64)", engines_us: genUs, baseline: "JSON copy of the output", baseline_us: copyUs });

// 2. Merge into a large existing conf.
const existing = [];
for (let i = 0; i < 1000; i++) existing.push([`spark.custom.key${i}`, `value-${i}`]);
existing.push(["spark.yarn.dist.files", Array.from({ length: 2000 }, (_, i) => `hdfs://nn/data/f${i}.txt`).join(",")]);
existing.push(["spark.submit.pyFiles", Array.from({ length: 2000 }, (_, i) => `hdfs://nn/code/m${i}.zip`).join(",")]);
const gen = e.sparkConfigFor(envs[0], { master: "yarn", deployMode: "cluster" }).generated;
const mergeUs = timeIt(() => e.mergeSparkConf(existing, gen));
const mapUs = timeIt(() => {
  const m = new Map(existing);
  for (const [k, v] of gen) m.set(k, m.has(k) ? `${m.get(k)},${v}` : v);
  return [...m.entries()];
});
rows.push({ case: "merge into 1,000 keys + 2x2,000-item lists", engines_us: mergeUs, baseline: "Map copy, no checks", baseline_us: mapUs });

// 3. Launch cost of the generated interpreter commands.
const python = "/usr/bin/python3";
const launch = [];
if (fs.existsSync(python)) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cp-bench-engines-"));
  try {
    execFileSync(python, ["-m", "venv", "--system-site-packages", "--without-pip", path.join(dir, "venv")]);
    execFileSync("tar", ["--sort=name", "--mtime=@315532800", "--owner=0", "--group=0", "--numeric-owner", "-czf", path.join(dir, "env.tar.gz"), "-C", path.join(dir, "venv"), "."]);
    const container = path.join(dir, "container");
    fs.mkdirSync(path.join(container, "pyenv"), { recursive: true });
    const t0 = process.hrtime.bigint();
    execFileSync("tar", ["-xzf", path.join(dir, "env.tar.gz"), "-C", path.join(container, "pyenv")]);
    const unpackMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const venvEnv = e.pythonEnvironment("s3://b/env.tar.gz", { kind: "venv" });
    const run = (argv, env) => {
      const s = process.hrtime.bigint();
      const r = spawnSync(argv[0], argv.slice(1), { cwd: container, env: { PATH: process.env.PATH, ...env } });
      if (r.status !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
      return Number(process.hrtime.bigint() - s) / 1e6;
    };
    const median = (f, n = 7) => {
      const xs = Array.from({ length: n }, f).sort((a, b) => a - b);
      return xs[Math.floor(n / 2)];
    };
    const baseline = median(() => run([python, "-c", "pass"], {}));
    launch.push({ case: "venv archive: unpack (tar.gz)", ms: unpackMs, baseline_ms: null });
    launch.push({ case: `venv: ${venvEnv.interpreter} -c pass (warm)`, ms: median(() => run([venvEnv.interpreter, "-c", "pass"], venvEnv.env)), baseline_ms: baseline });
    const pexDist = path.join(root, "packages/pex/dist/index.js");
    if (fs.existsSync(pexDist)) {
      const { PexBuilder } = require(pexDist);
      const src = path.join(dir, "src", "mod");
      fs.mkdirSync(src, { recursive: true });
      fs.writeFileSync(path.join(src, "__init__.py"), "X = 1\n");
      await new PexBuilder({ sourceDirectories: [path.dirname(src)], pythonShebang: python }).build(path.join(container, "app.pex"));
      const pexEnv = e.pythonEnvironment("s3://b/app.pex");
      const cold = run([pexEnv.interpreter, "-c", "import mod"], pexEnv.env);
      launch.push({ case: `pex: ${pexEnv.interpreter} -c 'import mod' (cold, PEX_ROOT=./.pex)`, ms: cold, baseline_ms: baseline });
      launch.push({ case: `pex: ${pexEnv.interpreter} -c 'import mod' (warm)`, ms: median(() => run([pexEnv.interpreter, "-c", "import mod"], pexEnv.env)), baseline_ms: baseline });
    } else {
      launch.push({ case: "pex: skipped (packages/pex/dist not built)", ms: null, baseline_ms: null });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
} else {
  launch.push({ case: `launch: skipped (${python} absent)`, ms: null, baseline_ms: null });
}

const fmt = (x, d = 1) => (x === null || x === undefined ? "-" : x.toFixed(d));
console.log("\ncase                                                     engines (µs)  baseline (µs)  ratio  baseline");
for (const r of rows) {
  console.log(`${r.case.padEnd(56)} ${fmt(r.engines_us).padStart(12)}  ${fmt(r.baseline_us).padStart(13)}  ${fmt(r.engines_us / r.baseline_us, 2).padStart(5)}  ${r.baseline}`);
}
console.log("\nlaunch                                                          ms   python3 -c pass (ms)");
for (const l of launch) console.log(`${l.case.padEnd(60)} ${fmt(l.ms).padStart(6)}   ${fmt(l.baseline_ms).padStart(8)}`);
console.log(JSON.stringify({ bench: "engines", generation: rows, launch }));
