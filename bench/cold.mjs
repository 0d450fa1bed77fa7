#!/usr/bin/env node
// Cold paths (issues 16.3 and 17.7), in one process tree, for two sets of wheels from the
// configured pip index: the data-science set (numpy pandas pyarrow python-dateutil six
// tzdata) and, opt-in with BENCH_COLD_TORCH=1 (about 2.6 GB of wheels, 4.3 GB extracted,
// ~10 minutes here), torch 2.14.1 with its nvidia-* CUDA wheels and pure dependencies.
// For each set, in the same run:
//   first build (wheels never seen: every RECORD verified) vs the inflate+sha256 floor of
//     the same wheels on the same cores (lib/floor.mjs: Node and CPython, the faster), vs
//     pex when installed;
//   first start (empty PEX_ROOT; as users run it, under PYTHONDONTWRITEBYTECODE=1 with the
//     background bytecode compiler beside it, and on one core) vs single-threaded
//     zipfile.extractall of the PEX's bulk archive vs the warm start; the goal:
//     first <= warm + 1.1 x (extractall / cores);
//     decomposed: extraction alone (`-c pass`) against 1.1 x extractall / cores, and the
//     import on those files with no .pyc anywhere minus the warm start (compiling), as
//     rows of their own;
//   --compile (build-time bytecode): its first and warm builds, its first start against
//     the same goal computed for its own file (its warm start, its extractall);
//   bytecode: the compile itself (PEX_BYTECODE=wait), and warm starts under
//     PYTHONDONTWRITEBYTECODE=1 with and without it, against a venv of the same wheels
//     compiled as pip compiles at install;
//   peak RSS of every row (the largest process of its tree).
// Wall times on this shared 2-core machine depend on the neighbours (the load average is
// printed); CPU times do not. Prints a table and one JSON line.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { measureFloor } from "./lib/floor.mjs";
import { buildPackages, freeBytes, installedVenv, measure, median, printTable, python311, ROOT, settleDisk } from "./lib/measure.mjs";
import { SETS, downloadSet } from "./lib/sets.mjs";

const TORCH = process.env.BENCH_COLD_TORCH === "1";
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
// Rounds of the cold rows (each a first start or an extraction on an empty PEX_ROOT).
const COLD_RUNS = Number(process.env.BENCH_COLD_RUNS ?? 3);
const python = python311();
buildPackages("@cluster-pack/pex...");


const work = fs.mkdtempSync(path.join(os.tmpdir(), "cp-bench-cold-"));
const cleanup = () => fs.rmSync(work, { recursive: true, force: true });
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));

const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PEX") && !k.startsWith("PYTHON")));
const runtime = path.join(ROOT, "packages/pex/python");
const probe = spawnSync(python, ["-c", `import sys; sys.path.insert(0, ${JSON.stringify(runtime)}); from _cluster_pack_pex import unpack; print(unpack.usable_cpus(), unpack.pool_size(0))`], { encoding: "utf8" });
const [cores, threads] = probe.stdout.trim().split(" ").map(Number);
const loadStart = os.loadavg();

// Build in a child process, so its peak RSS is its own. It also times the build alone
// (after node started and loaded the package) as the floor times its work (after its
// imports): the ratio compares the same span of both; the process's figures include
// node's start and the loading of the code.
const BUILD = `
const fs = require("fs"), path = require("path");
const { buildPex } = require(${JSON.stringify(path.join(ROOT, "packages/pex/dist/index.js"))});
const [out, dir, memo, shebang, compilePython] = process.argv.slice(2);
const wheels = fs.readdirSync(dir).filter((f) => f.endsWith(".whl")).sort().map((f) => path.join(dir, f));
const t = performance.now(), c = process.cpuUsage();
buildPex(out, { wheels, verifiedWheelsCache: memo, pythonShebang: shebang, ...(compilePython ? { compilePython } : {}) }).then((r) => {
  const cpu = process.cpuUsage(c);
  console.log(JSON.stringify({ size: r.size, entries: r.entries, workMs: performance.now() - t, workCpuMs: (cpu.user + cpu.system) / 1000, compiled: r.bytecode?.compiled }));
}, (e) => { console.error(e); process.exit(1); });
`;

// The extraction floor: zipfile.extractall of the PEX's bulk archive (the first
// cluster_pack.deps_archive.length bytes), one thread.
const EXTRACT_FLOOR = `
import io, json, os, sys, zipfile
pex, dest = sys.argv[1], sys.argv[2]
info = json.loads(zipfile.ZipFile(pex).read("PEX-INFO"))
length = info["cluster_pack"]["deps_archive"]["length"]

class Bulk(io.RawIOBase):
    def __init__(self):
        self.fd, self.pos = os.open(pex, os.O_RDONLY), 0
    def readable(self):
        return True
    def seekable(self):
        return True
    def seek(self, offset, whence=0):
        self.pos = offset if whence == 0 else self.pos + offset if whence == 1 else length + offset
        return self.pos
    def tell(self):
        return self.pos
    def readinto(self, buf):
        data = os.pread(self.fd, max(0, min(len(buf), length - self.pos)), self.pos)
        buf[: len(data)] = data
        self.pos += len(data)
        return len(data)

with zipfile.ZipFile(io.BufferedReader(Bulk(), 1 << 20)) as z:
    z.extractall(dest)
    print(len(z.infolist()))
`;

const TORCHRUN = "import os, sys, torch; print('rank', os.environ['LOCAL_RANK'], torch.__file__, sys.executable)";

function pexAvailable() {
  const r = spawnSync("pex", ["--version"], { encoding: "utf8" });
  return r.error ? undefined : r.stdout.trim();
}

async function runSet(set) {
  const free = freeBytes(work) / 1024 ** 3;
  if (free < set.needGiB) return { skipped: `only ${free.toFixed(1)} GiB free in ${os.tmpdir()}; the ${set.name} set needs ${set.needGiB} GiB` };
  const dir = path.join(work, set.name);
  const wheels = path.join(dir, "wheels");
  const dl = downloadSet(python, set, wheels);
  if (dl.skipped) return { skipped: dl.skipped };
  const { files } = dl;
  const wheelBytes = files.reduce((n, f) => n + fs.statSync(f).size, 0);
  for (const f of files) fs.readFileSync(f); // page cache warm for every contender
  const out = { wheels: files.length, wheelBytes };

  // First build against its floor (and pex's first build where pex is installed), in
  // COLD_RUNS rounds, build and floor in alternating order, medians kept (a single pair
  // measured the machine of that minute: 1.18x and 1.39x for the same code, an hour apart).
  // Each build starts with nothing memoised; the last one's PEX is the one started below.
  const pexFile = path.join(dir, "env.pex");
  const buildScript = path.join(dir, "build.cjs");
  const memo = path.join(dir, "memo");
  fs.writeFileSync(buildScript, BUILD);
  const builds = [];
  const floors = [];
  const steps = [
    () => {
      fs.rmSync(memo, { recursive: true, force: true });
      fs.rmSync(pexFile, { force: true });
      settleDisk();
      const build = measure(process.execPath, [buildScript, pexFile, wheels, memo, python]);
      builds.push({ process: pick(build), built: JSON.parse(build.stdout) });
    },
    async () => {
      settleDisk();
      floors.push(await measureFloor(files, { threads: cores, python }));
    },
  ];
  for (let round = 0; round < COLD_RUNS; round++) for (const step of round % 2 ? [...steps].reverse() : steps) await step();
  Object.assign(out, { size: builds[0].built.size, entries: builds[0].built.entries });
  out.firstBuild = medianOf(builds.map((b) => b.process));
  out.firstBuildWork = { wallMs: median(builds.map((b) => b.built.workMs)), cpuMs: median(builds.map((b) => b.built.workCpuMs)), maxRssMb: out.firstBuild.maxRssMb };
  const floor = median(floors, (f) => f.ms);
  out.buildFloor = { wallMs: floor.ms, cpuMs: median(floors.map((f) => f.cpuMs)), maxRssMb: Math.max(...floors.map((f) => f.maxRssMB)), kind: floor.kind, node: floor.node, python: floor.python };
  const pexVersion = pexAvailable();
  out.pex = pexVersion
    ? { version: pexVersion, firstBuild: pick(measure("pex", ["--disable-cache", "--no-pypi", "-f", wheels, "--intransitive", "-o", path.join(dir, "pex-made.pex"), ...set.requirements])) }
    : { skipped: "pex is not installed here (no `pex` on PATH): no pex row" };
  fs.rmSync(path.join(dir, "pex-made.pex"), { force: true });
  // The same wheels with build-time bytecode (--compile): its first build (nothing
  // memoised, every module compiled), then its warm build (the bytecode from the cache).
  const compiledPex = path.join(dir, "env-compiled.pex");
  const compiledMemo = path.join(dir, "memo-compiled");
  settleDisk();
  const compiledBuild = measure(process.execPath, [buildScript, compiledPex, wheels, compiledMemo, python, python]);
  out.compiledFirstBuild = { ...pick(compiledBuild), ...JSON.parse(compiledBuild.stdout) };
  const compiledWarm = measure(process.execPath, [buildScript, compiledPex, wheels, compiledMemo, python, python]);
  out.compiledWarmBuild = { ...pick(compiledWarm), ...JSON.parse(compiledWarm.stdout) };
  fs.rmSync(compiledMemo, { recursive: true, force: true });

  // The cold rows, in COLD_RUNS rounds, each round in another order (rotated), medians
  // kept: on this VM the kernel's cost of new page-cache pages (sys time) swings 5x from
  // one minute to the next and depends on what ran just before, so a single cold run of
  // each, always in the same order, compares states of the machine, not programs. Each
  // run starts on an empty PEX_ROOT after a sync (nothing of the previous one still being
  // written back).
  const fresh = (name) => {
    const r = path.join(dir, `root-${name}`);
    fs.rmSync(r, { recursive: true, force: true });
    return r;
  };
  const run = (argv, env) => {
    settleDisk();
    return pick(measure(argv[0], argv.slice(1), { env: { ...baseEnv, ...env } }));
  };
  const noPyc = { PEX_BYTECODE: "0", PYTHONDONTWRITEBYTECODE: "1" };
  const dest = path.join(dir, "extractall");
  const once = (name, f) => () => {
    const root = fresh(name);
    try {
      return f(root);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  };
  const cold = {
    // As users run it (PEX_BYTECODE unset: no background compiler, the importer writes the
    // .pyc of what it imports), under PYTHONDONTWRITEBYTECODE=1 (where the compiler starts
    // beside the program), and on one core.
    firstStart: once("first", (root) => run([python, pexFile, "-c", set.code], { PEX_ROOT: root })),
    firstStartDontWrite: once("nowrite", (root) => run([python, pexFile, "-c", set.code], { PEX_ROOT: root, PYTHONDONTWRITEBYTECODE: "1" })),
    // Built with --compile: the first start imports the shipped .pyc files (compiles nothing).
    firstStartCompiled: once("firstc", (root) => run([python, compiledPex, "-c", set.code], { PEX_ROOT: root })),
    firstStartOneCore: once("one", (root) => run(["taskset", "-c", "0", python, pexFile, "-c", set.code], { PEX_ROOT: root, PEX_BYTECODE: "0" })),
    // The first start decomposed: extraction alone (`-c pass`: boot, extract, nothing
    // imported), then the import on those files with nothing compiled and nothing written
    // (as a first start imports: no .pyc exists yet), against the warm start below.
    extractOnly: once("pass", (root) => {
      const r = run([python, pexFile, "-c", "pass"], { PEX_ROOT: root, ...noPyc });
      r.importNoPyc = run([python, pexFile, "-c", set.code], { PEX_ROOT: root, ...noPyc });
      return r;
    }),
    extractOnlyOneCore: once("pass1", (root) => run(["taskset", "-c", "0", python, pexFile, "-c", "pass"], { PEX_ROOT: root, ...noPyc })),
    // The floor: zipfile.extractall of the same bytes, one thread (and of the compiled PEX's).
    extractAll: () => extractAll(pexFile),
    extractAllCompiled: () => extractAll(compiledPex),
  };
  function extractAll(file) {
    fs.rmSync(dest, { recursive: true, force: true });
    const r = run([python, "-c", EXTRACT_FLOOR, file, dest], {});
    r.extractedBytes = Number(spawnSync("du", ["-sb", dest], { encoding: "utf8" }).stdout.split("\t")[0]);
    fs.rmSync(dest, { recursive: true, force: true });
    return r;
  }
  const names = Object.keys(cold);
  const got = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < COLD_RUNS; round++) {
    for (let i = 0; i < names.length; i++) {
      const n = names[(i + round) % names.length];
      got[n].push(cold[n]());
    }
  }
  for (const n of names) out[n] = medianOf(got[n]);
  out.importNoPyc = medianOf(got.extractOnly.map((r) => r.importNoPyc));
  out.extractedBytes = got.extractAll[0].extractedBytes;
  out.coldRuns = COLD_RUNS;
  out.emptyStart = pick(measure(python, ["-c", "pass"], { env: baseEnv }));
  // The root the warm starts use: one first start, kept.
  const warmRoot = fresh("warm");
  run([python, pexFile, "-c", set.code], { PEX_ROOT: warmRoot, PEX_BYTECODE: "0" });
  const start = (root, extra = {}, file = pexFile) => measure(python, [file, "-c", set.code], { env: { ...baseEnv, PEX_ROOT: root, ...extra } });

  // Bytecode, and warm starts: under PYTHONDONTWRITEBYTECODE=1 nothing is ever written by
  // the importer, so the only .pyc files are the ones compiled for the PEX (or pip's).
  const noWrite = { PYTHONDONTWRITEBYTECODE: "1" };
  const warm = (extra, file = pexFile, root = warmRoot) => {
    const runs = Array.from({ length: RUNS }, () => start(root, extra, file));
    return { wallMs: median(runs.map((r) => r.wallMs)), cpuMs: median(runs.map((r) => r.cpuMs)), maxRssMb: Math.max(...runs.map((r) => r.maxRssMb)) };
  };
  out.warmNotCompiled = warm({ ...noWrite, PEX_BYTECODE: "0" });
  out.compile = pick(measure(python, [pexFile, "-c", "pass"], { env: { ...baseEnv, PEX_ROOT: warmRoot, PEX_BYTECODE: "wait" } }));
  out.warmCompiled = warm(noWrite);
  out.warm = warm({});
  const warmRootCompiled = fresh("warmc");
  run([python, compiledPex, "-c", set.code], { PEX_ROOT: warmRootCompiled });
  out.warmCompiledPex = warm({}, compiledPex, warmRootCompiled);
  const venv = path.join(dir, "venv");
  const { python: vpy, site } = await installedVenv(python, venv, files);
  spawnSync(vpy, ["-m", "compileall", "-q", "-j", "0", site], { stdio: "ignore" }); // as pip compiles at install
  const venvRuns = Array.from({ length: RUNS }, () => measure(vpy, ["-c", set.code], { env: { ...baseEnv, ...noWrite } }));
  out.venvWarm = { wallMs: median(venvRuns.map((r) => r.wallMs)), cpuMs: median(venvRuns.map((r) => r.cpuMs)), maxRssMb: Math.max(...venvRuns.map((r) => r.maxRssMb)) };
  fs.rmSync(venv, { recursive: true, force: true });

  if (set.name === "torch-cuda") {
    // torchrun starts its workers as sys.executable: they must import torch from the PEX.
    const script = path.join(dir, "worker.py");
    fs.writeFileSync(script, TORCHRUN);
    const r = measure(python, [pexFile, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", script], { env: { ...baseEnv, PEX_ROOT: warmRoot }, allowFailure: true });
    const lines = r.stdout.split("\n").filter((l) => l.startsWith("rank "));
    out.torchrun = { status: r.status, workers: lines.length, fromPex: lines.length === 2 && lines.every((l) => l.split(" ")[2]?.startsWith(warmRoot)) };
  }
  fs.rmSync(dir, { recursive: true, force: true });

  // The goal of a first start: warm + 1.1 x (extractall / cores), of the same file.
  const goal = (warmStart, extractAll) => warmStart.wallMs + 1.1 * (extractAll.wallMs / cores);
  out.extractAllPerCoreMs = out.extractAll.wallMs / cores;
  out.firstStartGoalMs = goal(out.warm, out.extractAll);
  out.firstStartVsGoal = out.firstStart.wallMs / out.firstStartGoalMs;
  out.firstStartCompiledGoalMs = goal(out.warmCompiledPex, out.extractAllCompiled);
  out.firstStartCompiledVsGoal = out.firstStartCompiled.wallMs / out.firstStartCompiledGoalMs;
  // Extraction against its own share of the goal (1.1 x extractall / cores), the
  // interpreter's own start taken out of both; and what importing adds once extracted
  // (compiling every imported module: no .pyc exists on a first start, and none is added
  // to the cold path), which extractall never does.
  out.extractVsGoal = (out.extractOnly.wallMs - out.emptyStart.wallMs) / (1.1 * (out.extractAll.wallMs - out.emptyStart.wallMs) / cores);
  out.extractOneCoreVsExtractAll = {
    wall: out.extractOnlyOneCore.wallMs / out.extractAll.wallMs,
    cpu: out.extractOnlyOneCore.cpuMs / out.extractAll.cpuMs,
    user: out.extractOnlyOneCore.userMs / out.extractAll.userMs,
  };
  out.importCompileMs = { wall: out.importNoPyc.wallMs - out.warm.wallMs, cpu: out.importNoPyc.cpuMs - out.warm.cpuMs };
  out.firstBuildVsFloor = out.firstBuildWork.wallMs / out.buildFloor.wallMs;
  return out;
}

function pick(m) {
  return { wallMs: m.wallMs, cpuMs: m.cpuMs, userMs: m.userMs, sysMs: m.sysMs, maxRssMb: m.maxRssMb };
}

/** The median of each figure of `runs` (peak RSS: the largest). */
function medianOf(runs) {
  const m = (k) => median(runs.map((r) => r[k]));
  return { wallMs: m("wallMs"), cpuMs: m("cpuMs"), userMs: m("userMs"), sysMs: m("sysMs"), maxRssMb: Math.max(...runs.map((r) => r.maxRssMb)) };
}

const results = {};
for (const set of SETS) {
  if (set.optIn && !TORCH) {
    results[set.name] = { skipped: "opt-in (several GB, ~10 minutes): set BENCH_COLD_TORCH=1" };
    continue;
  }
  results[set.name] = await runSet(set);
}

const s = (m) =>
  `${(m.wallMs / 1000).toFixed(2)} s wall, ${(m.cpuMs / 1000).toFixed(2)} s CPU${m.sysMs === undefined ? "" : ` (user ${(m.userMs / 1000).toFixed(2)}, sys ${(m.sysMs / 1000).toFixed(2)})`}, ${m.maxRssMb.toFixed(0)} MB peak RSS`;
const rows = [
  ["python", python],
  ["usable cores (affinity, cgroup quota) / extraction threads", `${cores} / ${threads}`],
  ["load average at start, at end", `${loadStart.map((x) => x.toFixed(1)).join(" ")}; ${os.loadavg().map((x) => x.toFixed(1)).join(" ")}`],
];
for (const [name, r] of Object.entries(results)) {
  if (r.skipped) {
    rows.push([`${name}`, `skipped: ${r.skipped}`]);
    continue;
  }
  rows.push(
    [`${name}: first builds, floors and cold rows`, `median of ${r.coldRuns} interleaved rounds each (BENCH_COLD_RUNS)`],
    [`${name}: wheels`, `${r.wheels} files, ${(r.wheelBytes / 2 ** 20).toFixed(0)} MiB; PEX ${(r.size / 2 ** 20).toFixed(0)} MiB, ${r.entries} entries, ${(r.extractedBytes / 2 ** 20).toFixed(0)} MiB extracted`],
    [`${name}: first build (nothing memoised), the process`, s(r.firstBuild)],
    [`${name}: first build, the build alone (timed as the floor is)`, s(r.firstBuildWork)],
    [`${name}: baseline: inflate + sha256 every member on ${cores} cores (${r.buildFloor.kind}, the faster)`, `${s(r.buildFloor)}  (build / floor ${r.firstBuildVsFloor.toFixed(2)}x)`],
    [`${name}: pex first build`, r.pex.skipped ?? `${r.pex.version}: ${s(r.pex.firstBuild)}`],
    [`${name}: first start (empty PEX_ROOT)`, s(r.firstStart)],
    [`${name}: first start, PYTHONDONTWRITEBYTECODE=1 (the compiler beside it)`, s(r.firstStartDontWrite)],
    [`${name}: first start on one core (taskset -c 0)`, `${s(r.firstStartOneCore)}  (vs extractall ${(r.firstStartOneCore.wallMs / r.extractAll.wallMs).toFixed(2)}x)`],
    [`${name}: baseline: zipfile.extractall, one thread`, s(r.extractAll)],
    [`${name}: warm start (median of ${RUNS})`, s(r.warm)],
    [`${name}: goal: warm + 1.1 x extractall / ${cores} cores`, `${(r.firstStartGoalMs / 1000).toFixed(2)} s; first start / goal ${r.firstStartVsGoal.toFixed(2)}x`],
    [`${name}: --compile: first build (${r.compiledFirstBuild.compiled} modules compiled), warm build`, `${s(r.compiledFirstBuild)}; warm ${s(r.compiledWarmBuild)}`],
    [`${name}: --compile: first start (empty PEX_ROOT)`, `${s(r.firstStartCompiled)}  (vs the first start without: ${(r.firstStartCompiled.wallMs / r.firstStart.wallMs).toFixed(2)}x wall, ${(r.firstStartCompiled.cpuMs / r.firstStart.cpuMs).toFixed(2)}x CPU)`],
    [`${name}: --compile: extractall, warm start (median of ${RUNS})`, `${s(r.extractAllCompiled)}; warm ${s(r.warmCompiledPex)}`],
    [`${name}: --compile: goal: warm + 1.1 x extractall / ${cores} cores`, `${(r.firstStartCompiledGoalMs / 1000).toFixed(2)} s; first start / goal ${r.firstStartCompiledVsGoal.toFixed(2)}x`],
    [`${name}: extraction only (-c pass, empty PEX_ROOT, PEX_BYTECODE=0)`, `${s(r.extractOnly)}  (minus an empty python start, / (1.1 x extractall / ${cores} cores): ${r.extractVsGoal.toFixed(2)}x)`],
    [`${name}: extraction only, one core (taskset -c 0)`, `${s(r.extractOnlyOneCore)}  (vs extractall ${r.extractOneCoreVsExtractAll.wall.toFixed(2)}x wall, ${r.extractOneCoreVsExtractAll.cpu.toFixed(2)}x CPU, ${r.extractOneCoreVsExtractAll.user.toFixed(2)}x user)`],
    [`${name}: import once extracted, no .pyc anywhere (as on a first start)`, `${s(r.importNoPyc)}  (minus warm: ${(r.importCompileMs.wall / 1000).toFixed(2)} s wall, ${(r.importCompileMs.cpu / 1000).toFixed(2)} s CPU compiling; extractall compiles nothing)`],
    [`${name}: bytecode compile (PEX_BYTECODE=wait)`, s(r.compile)],
    [`${name}: warm, PYTHONDONTWRITEBYTECODE=1, compiled`, s(r.warmCompiled)],
    [`${name}: warm, PYTHONDONTWRITEBYTECODE=1, not compiled`, s(r.warmNotCompiled)],
    [`${name}: baseline: venv (pip-style compiled), same`, `${s(r.venvWarm)}  (PEX compiled / venv ${(r.warmCompiled.wallMs / r.venvWarm.wallMs).toFixed(2)}x wall, ${(r.warmCompiled.cpuMs / r.venvWarm.cpuMs).toFixed(2)}x CPU)`],
  );
  if (r.torchrun) rows.push([`${name}: torchrun --nproc-per-node 2 from the zipapp PEX`, `exit ${r.torchrun.status}, ${r.torchrun.workers} workers, torch from the PEX: ${r.torchrun.fromPex}`]);
}
printTable(rows);
console.log(JSON.stringify({ bench: "cold", python, cores, threads, load: { start: loadStart, end: os.loadavg() }, sets: results }));
