#!/usr/bin/env node
// Layered environments (issue 14, "Benchmark"), in one run against a local S3 server
// (s3rver, the tests' one), for the torch 2.14.1 + CUDA wheel set (default) or, with
// --set=data-science, the smaller set (bench/lib/sets.mjs, shared with cold.mjs; the
// wheels are locked as downloaded, no resolution):
//   upload-env cold, fat vs layered (fresh caches each): seconds and bytes written;
//   one small package added, layered upload again: bytes written and seconds
//     (goals: < 1% of the fat bytes, < 2 s);
//   a worker's first start (`./env.pex -c <import>`; layers fetched with fetchLayers):
//     on a fresh node (empty layer directory and PEX_ROOT), on a node that ran the
//     previous version (its layers and PEX_ROOT kept: fetches and extracts only the new
//     layer; goal: within 1.5x of the warm start), and warm (the baseline).
//     The page cache decides most of a torch start (reading its 1-2 GB of libraries), so
//     each start is compared with a warm start in the same cache state: a node that just
//     ran v1 (pages hot) and a node that ran it long ago (the node's files evicted with
//     posix_fadvise before the start and before its warm baseline).
// Wall times on this shared 2-core machine depend on the neighbours; CPU times are
// printed beside them. Prints a table and one JSON line.
// Usage: npm run bench -- layered [--set=data-science]
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { buildPackages, evictPageCache, freeBytes, measure, printTable, python311, ROOT } from "./lib/measure.mjs";
import { SETS, downloadSet } from "./lib/sets.mjs";

const setName = (process.argv.find((a) => a.startsWith("--set=")) ?? "--set=torch-cuda").slice("--set=".length);
const set = SETS.find((s) => s.name === setName);
if (!set) {
  console.error(`bench layered: no set "${setName}" (have: ${SETS.map((s) => s.name).join(", ")}); pass --set=<name>`);
  process.exit(2);
}
// The package added for the second version: small, pure, not in either set.
const ADDED = "idna";
const python = python311();
buildPackages("cluster-pack...");
const require = createRequire(path.join(ROOT, "package.json"));
const cp = require(path.join(ROOT, "packages/cluster-pack/dist/index.js"));
const { pythonEnvironment } = require(path.join(ROOT, "packages/engines/dist/index.js"));
const { startS3Server } = require(path.join(ROOT, "packages/fs/dist/test-kit/index.js"));
const { resolveFileSystem } = require(path.join(ROOT, "packages/fs/dist/index.js"));
const { parseWheelFilename, canonicalizeName } = require(path.join(ROOT, "packages/packaging/dist/index.js"));
const { sha256File } = require(path.join(ROOT, "packages/io/dist/index.js"));
const { formatPyLock } = require(path.join(ROOT, "packages/pip/dist/index.js"));

const work = fs.mkdtempSync(path.join(os.tmpdir(), "cp-bench-layered-"));
let s3;
const cleanup = () => fs.rmSync(work, { recursive: true, force: true });
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));

const free = freeBytes(work) / 1024 ** 3;
// Wheels, two caches, the S3 server's copies (fat and layered) and four nodes' extractions.
const need = set.needGiB * 1.9;
if (free < need) skip(`only ${free.toFixed(1)} GiB free in ${os.tmpdir()}; the ${set.name} set needs about ${need.toFixed(0)} GiB here`);
const wheelsDir = path.join(work, "wheels");
const dl = downloadSet(python, { ...set, requirements: [...set.requirements, ADDED] }, wheelsDir);
if (dl.skipped) skip(dl.skipped);
const added = dl.files.filter((f) => canonicalizeName(parseWheelFilename(path.basename(f)).name) === ADDED);
const base = dl.files.filter((f) => !added.includes(f));

s3 = await startS3Server({ buckets: ["envs"] });
const store = { s3: s3.clientOptions };
const s3fs = (await resolveFileSystem("s3://envs/", store)).fs;
const putBytes = () => s3.requests.filter((q) => q.method === "PUT").reduce((a, q) => a + q.bytesIn, 0);
const rows = [];
const out = { set: set.name, python, load: os.loadavg().map((x) => +x.toFixed(2)) };

try {
  const v1Lock = await lockOf(base, "v1");
  const v2Lock = await lockOf([...base, ...added], "v2");
  // 1. Cold uploads, fat then layered, each with fresh caches.
  const fat = await upload({ lockFile: v1Lock, packagePath: "s3://envs/fat/env.pex" }, "fat");
  const layered1 = await upload({ lockFile: v1Lock, packagePath: "s3://envs/layered/env.pex", layout: "layered" }, "layered");
  rows.push(["upload-env cold, fat", `${fat.s.toFixed(1)} s, ${mb(fat.bytes)} written`]);
  rows.push(["upload-env cold, layered", `${layered1.s.toFixed(1)} s, ${mb(layered1.bytes)} written (${layered1.result.layers.length} layers)`]);
  // 3. Worker starts (the first here, the rest after the next upload). Each node: the top
  // PEX localised beside the job, the layers in the node's directory.
  // `again`: the job directory of an earlier start, run again as it is (the store's PEX
  // may be a later version by then).
  const start = async (node, result, label, { evict = false, again } = {}) => {
    const env = pythonEnvironment(result.packagePath, { layers: result.layers.map((l) => l.url), layersDir: path.join(node, "layers") });
    fs.mkdirSync(node, { recursive: true });
    const job = again ?? fs.mkdtempSync(path.join(node, "job-"));
    if (!again) await s3fs.get(result.packagePath.replace(/^s3:\/\//, "/"), path.join(job, "env.pex"));
    s3.requests.length = 0;
    const t = performance.now();
    const fetched = await cp.fetchLayers(env, { store });
    const fetchS = (performance.now() - t) / 1000;
    if (evict) evictPageCache(node);
    const vars = { ...baseEnv(), ...env.env, PEX_ROOT: path.join(node, "pex-root"), PEX_VERBOSE: "1" };
    const r = measure(path.join(job, "env.pex"), ["-c", set.code], { env: vars, cwd: job });
    const extracted = r.stderr.split("\n").filter((l) => l.startsWith("pex: extracted layer")).length;
    const row = { job, fetchSeconds: fetchS, fetchedLayers: fetched.layers.filter((l) => l.fetched).length, fetchedBytes: fetched.bytesFetched, startSeconds: r.wallMs / 1000, cpuSeconds: r.cpuMs / 1000, extractedLayers: extracted };
    rows.push([label, `fetch ${row.fetchedLayers} layers (${mb(row.fetchedBytes)}) ${fetchS.toFixed(1)} s; start ${row.startSeconds.toFixed(2)} s wall, ${row.cpuSeconds.toFixed(2)} s CPU, ${extracted} layers extracted`]);
    return row;
  };
  // The nodes that ran the previous version ran it before the next upload: one runs it
  // again just before v2 (its pages hot), the other's pages are evicted before v2.
  const prevNode = path.join(work, "node-prev");
  const oldNode = path.join(work, "node-prev-evicted");
  const v1Start = await start(prevNode, layered1.result, "  (node-prev starts v1, before v2 is uploaded)");
  await start(oldNode, layered1.result, "  (node-prev-evicted starts v1, before v2 is uploaded)");

  // 2. One small package added: the layered upload again (warm caches, as a user's next upload).
  const layered2 = await upload({ lockFile: v2Lock, packagePath: "s3://envs/layered/env.pex", layout: "layered" }, "layered");
  const newLayers = layered2.result.layers.filter((l) => l.uploaded);
  rows.push([`+${ADDED}, layered upload`, `${layered2.s.toFixed(2)} s, ${(layered2.bytes / 1024).toFixed(1)} KiB written (${newLayers.length} new layer)`]);
  out.upload = {
    fat: { seconds: fat.s, bytes: fat.bytes },
    layeredCold: { seconds: layered1.s, bytes: layered1.bytes, layers: layered1.result.layers.length },
    layeredAdded: { seconds: layered2.s, bytes: layered2.bytes, newLayers: newLayers.length },
  };

  await start(prevNode, layered1.result, "  (node-prev runs v1 again: its pages hot)", { again: v1Start.job });
  const previous = await start(prevNode, layered2.result, "first start, node that just ran v1 (v2)");
  const warm = await start(prevNode, layered2.result, "baseline: warm start (v2)");
  const previousEvicted = await start(oldNode, layered2.result, "first start, node that ran v1, pages evicted (v2)", { evict: true });
  const warmEvicted = await start(oldNode, layered2.result, "baseline: warm start, pages evicted (v2)", { evict: true });
  const fresh = await start(path.join(work, "node-fresh"), layered2.result, "first start, fresh node (v2)");
  const noJob = ({ job, ...row }) => row;
  out.start = Object.fromEntries(Object.entries({ fresh, v1: v1Start, previous, warm, previousEvicted, warmEvicted }).map(([k, v]) => [k, noJob(v)]));

  out.goals = {
    addedBytesPercentOfFat: (100 * layered2.bytes) / fat.bytes,
    addedUploadSeconds: layered2.s,
    previousOverWarm: previous.startSeconds / warm.startSeconds,
    previousOverWarmEvicted: previousEvicted.startSeconds / warmEvicted.startSeconds,
    previousExtractedOnlyNew: previous.extractedLayers === newLayers.length && previousEvicted.extractedLayers === newLayers.length,
  };
  rows.push(["goal: added bytes / fat bytes (< 1%)", `${out.goals.addedBytesPercentOfFat.toFixed(3)} %`]);
  rows.push(["goal: added upload (< 2 s)", `${layered2.s.toFixed(2)} s`]);
  rows.push(["goal: previous-version start / warm (<= 1.5), pages hot", `${out.goals.previousOverWarm.toFixed(2)} x, extracted ${previous.extractedLayers} layer(s) (new: ${newLayers.length})`]);
  rows.push(["goal: previous-version start / warm (<= 1.5), pages evicted", `${out.goals.previousOverWarmEvicted.toFixed(2)} x, extracted ${previousEvicted.extractedLayers} layer(s) (new: ${newLayers.length})`]);
  printTable(rows);
  console.log(JSON.stringify(out));
} finally {
  await s3.close();
}

/** uploadEnv with caches of its own (`fresh`: a new cache for this call). */
async function upload(options, cacheName) {
  const cacheDir = path.join(work, `cache-${cacheName}`);
  process.env.CLUSTER_PACK_CACHE = cacheDir; // the verified-wheel and local layer stores too
  s3.requests.length = 0;
  const t = performance.now();
  const result = await cp.uploadEnv({
    ...options,
    target: { interpreter: python },
    pex: { pythonShebang: python },
    cacheDir,
    environ: { C_PACK_USER: "bench", PATH: process.env.PATH, HOME: process.env.HOME },
    store,
  });
  return { s: (performance.now() - t) / 1000, bytes: putBytes(), result };
}

/** A pylock.toml of exactly these wheels (no resolution, as the set is stated). */
async function lockOf(files, name) {
  const packages = [];
  for (const f of files) {
    const w = parseWheelFilename(path.basename(f));
    packages.push({ name: canonicalizeName(w.name), version: String(w.version), dependencies: [], wheels: [{ name: path.basename(f), path: f, size: fs.statSync(f).size, hashes: { sha256: await sha256File(f) } }] });
  }
  packages.sort((a, b) => (a.name < b.name ? -1 : 1));
  const file = path.join(work, `pylock.${name}.toml`);
  fs.writeFileSync(file, formatPyLock({ lockVersion: "1.0", environments: [], createdBy: "bench/layered.mjs", packages }));
  return file;
}

function baseEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PEX") && !k.startsWith("PYTHON") && k !== "CLUSTER_PACK_CACHE"));
}

function mb(n) {
  return `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

function skip(why) {
  console.log(`bench layered: skipped: ${why}`);
  console.log(JSON.stringify({ set: set.name, skipped: why }));
  process.exit(0);
}
