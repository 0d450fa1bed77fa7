#!/usr/bin/env node
// Resolution speed against pip, same run, same index: the configured mirror (pip's
// file:// indexes) served over HTTP on loopback, with pip's find-links and constraints
// given to both. Measures cold cache, warm cache and no-op (lock already satisfied) for
// `ray pandas pyarrow scikit-learn boto3` and a larger set, each next to
// `pip install --dry-run --ignore-installed --report`.
//   node bench/resolve.mjs [--runs N]
import { execFileSync, spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const PY = process.env.CP_BENCH_PYTHON ?? "/root/.pyenv/versions/3.11.7/bin/python3";
const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;
const SETS = {
  "ray+pandas+pyarrow+sklearn+boto3": ["ray", "pandas", "pyarrow", "scikit-learn", "boto3"],
  "larger (10 roots)": ["ray", "pandas", "pyarrow", "scikit-learn", "boto3", "dask", "matplotlib", "fastapi", "transformers", "sqlalchemy"],
};

// pip and every package it loads (errors, io, zip, wheel), in dependency order.
execFileSync("npx", ["turbo", "run", "build", "--filter=@cluster-pack/pip...", "--output-logs=errors-only"], { cwd: root, stdio: "inherit" });
const pip = await import(path.join(root, "packages/pip/dist/index.js"));

// --- the mirror on loopback ---------------------------------------------------------------
const settings = pip.loadPipConfig();
const dirs = settings.extraIndexUrls.filter((u) => u.startsWith("file://")).map((u) => new URL(u).pathname.replace(/\/$/, ""));
if (!dirs.length) {
  console.log("bench resolve: skipped, pip has no file:// index configured (python3 -m pip config list)");
  process.exit(0);
}
const server = await serve(Object.fromEntries(dirs.map((d, i) => [`/m${i}`, path.dirname(d)])));
const urls = dirs.map((d, i) => `${server.origin}/m${i}/${path.basename(d)}`);
const [primary, ...extra] = urls;
const pipArgs = ["--index-url", primary, ...extra.flatMap((u) => ["--extra-index-url", u]), ...settings.findLinks.flatMap((f) => ["--find-links", f]), ...settings.constraints.flatMap((c) => ["-c", c])];
const target = await pip.probeInterpreter(PY);
const work = fs.mkdtempSync(path.join(os.tmpdir(), "cp-bench-resolve-"));

// Ours runs in a child process per measurement so no in-memory state carries over; the
// figure is the library call (resolve, or lock check), not Node's start-up.
const child = path.join(work, "child.mjs");
fs.writeFileSync(
  child,
  `const pip = await import(${JSON.stringify(path.join(root, "packages/pip/dist/index.js"))});
const { Version } = await import(${JSON.stringify(path.join(root, "packages/packaging/dist/index.js"))});
const [mode, cacheDir, lockFile, targetJson, optsJson, ...reqs] = process.argv.slice(2);
const target = JSON.parse(targetJson, (k, v) => (k === "pythonVersion" ? Version.parse(v) : v));
const opts = JSON.parse(optsJson);
const t0 = performance.now();
let n;
if (mode === "noop") {
  const lock = await pip.readPyLock(lockFile);
  const session = new pip.PipSession({ ...opts, cacheDir, target });
  const files = await pip.fetchLocked(pip.selectFromLock(lock, target), session.cache);
  n = files.length;
} else {
  const session = new pip.PipSession({ ...opts, cacheDir, target });
  const input = await session.readInput({ requirements: reqs });
  const res = await session.resolve(input);
  n = res.packages.length;
  if (mode === "lock") await pip.writePyLock(lockFile, await pip.lockFromResolution(res, session.cache));
}
const ms = performance.now() - t0;
process.stdout.write(JSON.stringify({ ms, n }));
`,
);
const ourOpts = { pipConfig: false, indexUrl: primary, extraIndexUrls: extra, findLinks: settings.findLinks, constraintFiles: settings.constraints };
// Children talk to the server in this process, so they must be spawned asynchronously.
function run(cmd, args, options = {}) {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (c) => (stdout += c));
    p.stderr.on("data", (c) => (stderr += c));
    p.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}
async function ours(mode, cacheDir, lockFile, reqs) {
  const r = await run(process.execPath, [child, mode, cacheDir, lockFile, JSON.stringify({ ...target, pythonVersion: target.pythonVersion.toString() }), JSON.stringify(ourOpts), ...reqs]);
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}
async function pipRun(reqs, cacheDir, extraArgs = []) {
  const report = path.join(work, `report-${crypto.randomBytes(4).toString("hex")}.json`);
  const t0 = performance.now();
  const r = await run(PY, ["-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", report, ...(cacheDir ? ["--cache-dir", cacheDir] : ["--no-cache-dir"]), ...pipArgs, ...extraArgs, ...reqs], {
    env: { PATH: process.env.PATH, HOME: work, PIP_CONFIG_FILE: os.devNull },
  });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`pip failed: ${r.stderr}`);
  const n = JSON.parse(fs.readFileSync(report, "utf8")).install.length;
  return { ms, n };
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const rows = [];
const json = { bench: "resolve", runs: RUNS, cold: "best of 2, fresh tool caches", target: target.description, sets: {} };
for (const [label, reqs] of Object.entries(SETS)) {
  const cache = path.join(work, `cache-${rows.length}`);
  const lockFile = path.join(work, `pylock-${rows.length}.toml`);
  const pipCache = path.join(work, `pip-cache-${rows.length}`);
  // Cold: empty tool caches (ours writes the lock, as `cluster-pack lock` would). Each side
  // runs twice with fresh caches and keeps the faster run, so neither benefits from the
  // OS page cache the other one warmed.
  const coldOurs = await ours("lock", `${cache}-throwaway`, `${lockFile}-throwaway`, reqs);
  const coldOurs2 = await ours("lock", cache, lockFile, reqs);
  if (coldOurs2.ms < coldOurs.ms) coldOurs.ms = coldOurs2.ms;
  const coldPip = await pipRun(reqs, `${pipCache}-throwaway`);
  const coldPip2 = await pipRun(reqs, pipCache);
  if (coldPip2.ms < coldPip.ms) coldPip.ms = coldPip2.ms;
  // Warm: caches filled by the cold run.
  const warm = [];
  for (let i = 0; i < RUNS; i++) warm.push((await ours("resolve", cache, lockFile, reqs)).ms);
  const warmOurs = median(warm);
  const warmPip = (await pipRun(reqs, pipCache)).ms;
  // No-op: the lock is already satisfied; ours checks it against the cache, pip re-checks
  // pinned requirements. The lock run does not download, so one run fills the cache first.
  // A cached file is trusted by its identity record only once its timestamps are 2 s old
  // (the racy rule): the run right after the download re-hashes the newest files, a cost
  // shown on its own ("no-op after dl"); the no-op figure is the steady state after that.
  await ours("noop", cache, lockFile, []);
  const noopAfterDownload = (await ours("noop", cache, lockFile, [])).ms;
  await new Promise((r) => setTimeout(r, 2100));
  const noop = [];
  for (let i = 0; i < RUNS; i++) noop.push((await ours("noop", cache, lockFile, [])).ms);
  const noopOurs = median(noop);
  const pinned = fs.readFileSync(lockFile, "utf8").match(/^name = "([^"]+)"\nversion = "([^"]+)"/gm).map((s) => s.replace(/^name = "([^"]+)"\nversion = "([^"]+)"$/, "$1==$2"));
  const noopPip = (await pipRun(pinned, pipCache, ["--no-deps"])).ms;
  if (coldOurs.n !== coldPip.n) console.warn(`warning: ${label}: ${coldOurs.n} packages from us, ${coldPip.n} from pip`);
  rows.push([label, coldOurs.n, coldOurs.ms, coldPip.ms, warmOurs, warmPip, noopOurs, noopPip, noopAfterDownload]);
  json.sets[label] = { packages: coldOurs.n, pipPackages: coldPip.n, coldMs: r1(coldOurs.ms), pipColdMs: r1(coldPip.ms), warmMs: r1(warmOurs), pipWarmMs: r1(warmPip), noopMs: r1(noopOurs), pipNoopMs: r1(noopPip), noopAfterDownloadMs: r1(noopAfterDownload), coldSpeedup: r1(coldPip.ms / coldOurs.ms), warmSpeedup: r1(warmPip / warmOurs) };
}
await server.close();
fs.rmSync(work, { recursive: true, force: true });

const head = ["set", "pkgs", "cold ms", "pip cold ms", "warm ms", "pip warm ms", "no-op ms", "pip no-op ms", "no-op after dl ms", "cold x", "warm x"];
const table = rows.map(([l, n, c, pc, w, pw, no, pno, nodl]) => [l, String(n), f(c), f(pc), f(w), f(pw), f(no), f(pno), f(nodl), `${(pc / c).toFixed(1)}x`, `${(pw / w).toFixed(1)}x`]);
const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
console.log(`target: ${target.description}; cold: best of 2 with fresh tool caches; warm/no-op: median of ${RUNS}; pip ${execFileSync(PY, ["-m", "pip", "--version"], { encoding: "utf8" }).split(" ")[1]}`);
for (const r of [head, ...table]) console.log(r.map((c, i) => c.padStart(widths[i])).join("  "));
console.log(JSON.stringify(json));

function f(x) {
  return x.toFixed(0);
}
function r1(x) {
  return Math.round(x * 10) / 10;
}

/** A static server for the mirror: index.html for directories, ranges, ETag, max-age on pages. */
function serve(mounts) {
  const srv = http.createServer((req, res) => {
    const p = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const m = Object.keys(mounts).find((k) => p === k || p.startsWith(`${k}/`));
    if (!m) return void res.writeHead(404).end();
    let file = path.join(mounts[m], p.slice(m.length));
    let st = fs.statSync(file, { throwIfNoEntry: false });
    if (st?.isDirectory()) st = fs.statSync((file = path.join(file, "index.html")), { throwIfNoEntry: false });
    // Like PyPI, missing project pages are cacheable for a while.
    if (!st?.isFile()) return void res.writeHead(404, { "cache-control": "max-age=600, public" }).end();
    const headers = { etag: `"${st.size}-${st.mtimeMs}"`, "accept-ranges": "bytes" };
    if (file.endsWith(".html")) Object.assign(headers, { "content-type": "text/html", "cache-control": "max-age=600, public" });
    if (req.headers["if-none-match"] === headers.etag) return void res.writeHead(304, headers).end();
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
    if (range) {
      const start = range[1] === "" ? Math.max(0, st.size - Number(range[2])) : Number(range[1]);
      const end = range[1] !== "" && range[2] ? Math.min(Number(range[2]), st.size - 1) : st.size - 1;
      res.writeHead(206, { ...headers, "content-range": `bytes ${start}-${end}/${st.size}`, "content-length": end - start + 1 });
      return void fs.createReadStream(file, { start, end }).pipe(res);
    }
    res.writeHead(200, { ...headers, "content-length": st.size });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) =>
    srv.listen(0, "127.0.0.1", () =>
      resolve({
        origin: `http://127.0.0.1:${srv.address().port}`,
        close: () => new Promise((r) => (srv.closeAllConnections(), srv.close(() => r()))),
      }),
    ),
  );
}
