#!/usr/bin/env node
// Benchmarks @cluster-pack/conda on a conda-shaped environment of about 1 GB in 50,000
// files (a copy of a real CPython 3.11 lib/python3.11, with conda-meta records listing
// every file), against baselines measured in the same run on the same tree:
//   - `tar cf`            the I/O floor (no compression);
//   - `tar cf - | gzip -4` single-threaded tar.gz at conda-pack's default level;
//   - `zip -r -4` single-threaded zip at the same level;
// and our formats: tar (no compression), tar.gz level 4 at 1 and 2 threads, zip level 4
// at 1 and 2 threads (checked byte-identical), tar.zst level 4 at 2 threads. Wall and CPU
// seconds; the tar.gz and zip pairs run twice, interleaved, best of two, since the machine
// may be shared.
// Goal: our tar.gz at 2 threads faster than `tar czf`.
// The generated environment is kept in $TMPDIR/cp-bench-conda-env between runs.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const require = createRequire(import.meta.url);
const tsc = path.join(root, "node_modules/typescript/bin/tsc");
for (const p of ["errors", "io", "zip", "conda"]) execFileSync(process.execPath, [tsc, "-p", path.join(root, `packages/${p}/tsconfig.build.json`)], { stdio: "inherit" });
const conda = require(path.join(root, "packages/conda/dist/index.js"));

const SOURCE = ["/root/.pyenv/versions/3.11.7/lib/python3.11", "/usr/lib/python3.11", "/usr/lib/python3/dist-packages"].find((d) => fs.existsSync(d));
if (!SOURCE) {
  console.error("bench conda: no Python stdlib to copy (looked for pyenv 3.11.7 and Debian's)");
  process.exit(1);
}
const base = path.join(fs.realpathSync(os.tmpdir()), "cp-bench-conda-env");
const prefix = path.join(base, "env");
const outDir = path.join(base, "out");

function makeEnv() {
  const marker = path.join(base, "ready");
  if (fs.existsSync(marker) && fs.readFileSync(marker, "utf8") === SOURCE) return;
  fs.rmSync(base, { recursive: true, force: true });
  fs.mkdirSync(path.join(prefix, "lib"), { recursive: true });
  execFileSync("cp", ["-a", SOURCE, path.join(prefix, "lib", "python3.11")]);
  // One record per top-level entry, as conda would have one per package.
  fs.mkdirSync(path.join(prefix, "conda-meta"));
  const top = new Map();
  const walk = (dir, rel) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(dir, e.name), r);
      else {
        const pkg = r.split("/")[2].replace(/\.py$/, "").replace(/[^A-Za-z0-9]+/g, "_").toLowerCase() || "misc";
        if (!top.has(pkg)) top.set(pkg, []);
        top.get(pkg).push(r);
      }
    }
  };
  walk(path.join(prefix, "lib"), "lib");
  for (const [pkg, files] of top) {
    const record = {
      name: pkg,
      version: "1.0",
      build: "0",
      files,
      link: null,
      paths_data: { paths: files.map((f) => ({ _path: f, path_type: "hardlink" })), paths_version: 1 },
    };
    fs.writeFileSync(path.join(prefix, "conda-meta", `${pkg}-1.0-0.json`), JSON.stringify(record));
  }
  fs.writeFileSync(marker, SOURCE);
}

/** Wall and CPU seconds (user+sys of the shell and its children) of a shell pipeline. */
function sh(script) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync("/usr/bin/time", ["-f", "%U %S", "sh", "-c", script], { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr}`);
  const [u, s] = r.stderr.trim().split("\n").pop().split(" ").map(Number);
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, cpu: u + s };
}

/** Wall and CPU seconds (this process: main thread, gzip workers, libuv's pool) of one of our packs. */
async function ours(format, level, threads) {
  const out = path.join(outDir, `ours-${threads}.${format}`);
  fs.rmSync(out, { force: true });
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const r = await conda.packCondaEnvironment({ prefix, output: out, format, compressLevel: level, threads });
  const c = process.cpuUsage(c0);
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, cpu: (c.user + c.system) / 1e6, size: r.size, sha256: r.sha256 };
}

makeEnv();
fs.rmSync(outDir, { recursive: true, force: true });
fs.mkdirSync(outDir);
const du = execFileSync("du", ["-sb", prefix], { encoding: "utf8" }).split("\t")[0];
const files = Number(execFileSync("sh", ["-c", `find "${prefix}" -type f | wc -l`], { encoding: "utf8" }).trim());
// Warm the page cache once so every contender reads from memory alike.
sh(`tar cf - -C "${prefix}" . > /dev/null`);

const rows = [];
const round = (x) => Math.round(x * 100) / 100;
const add = (name, r, size) => rows.push({ name, seconds: round(r.seconds), cpuSeconds: round(r.cpu), size });
const load0 = os.loadavg()[0];
const tarOut = path.join(outDir, "base.tar");
add("baseline: tar cf", sh(`tar cf "${tarOut}" -C "${prefix}" .`), fs.statSync(tarOut).size);
// The goal pair runs twice, interleaved, best of two: the machine may be shared.
const tgzOut = path.join(outDir, "base.tar.gz");
const best = (a, b) => (a.seconds <= b.seconds ? a : b);
const gzBase1 = sh(`tar cf - -C "${prefix}" . | gzip -4 > "${tgzOut}"`);
const gzOurs1 = await ours("tar.gz", 4, 2);
const gzBase2 = sh(`tar cf - -C "${prefix}" . | gzip -4 > "${tgzOut}"`);
const gzOurs2 = await ours("tar.gz", 4, 2);
add("baseline: tar cf | gzip -4 (1 thread)", best(gzBase1, gzBase2), fs.statSync(tgzOut).size);
const tarOurs = await ours("tar", 0, 1);
add("ours: tar", tarOurs, tarOurs.size);
const gz1 = await ours("tar.gz", 4, 1);
add("ours: tar.gz level 4, 1 thread", gz1, gz1.size);
const gz2 = best(gzOurs1, gzOurs2);
add("ours: tar.gz level 4, 2 threads", gz2, gz2.size);
// zip: `zip -r` (symlinks kept, no extra fields) as the single-threaded peer.
const zipOut = path.join(outDir, "base.zip");
add("baseline: zip -r -4 (1 thread)", sh(`cd "${prefix}" && zip -q -r -4 -y -X "${zipOut}" .`), fs.statSync(zipOut).size);
// Also run twice, interleaved, best of two: the 1-vs-2-thread ratio is the figure of interest.
const zipA1 = await ours("zip", 4, 1);
const zipA2 = await ours("zip", 4, 2);
const zipB1 = await ours("zip", 4, 1);
const zipB2 = await ours("zip", 4, 2);
const zip1 = best(zipA1, zipB1);
const zip2 = best(zipA2, zipB2);
add("ours: zip level 4, 1 thread", zip1, zip1.size);
add("ours: zip level 4, 2 threads", zip2, zip2.size);
const zst = await ours("tar.zst", 4, 2);
add("ours: tar.zst level 4, 2 threads", zst, zst.size);
const load1 = os.loadavg()[0];

const baseGz = rows[1].seconds;
console.log(`environment: ${(Number(du) / 1e6).toFixed(0)} MB, ${files} files (copy of ${SOURCE}); ${os.availableParallelism()} CPUs; load average ${load0.toFixed(1)} -> ${load1.toFixed(1)}`);
console.log("name".padEnd(40), "wall s".padStart(8), "cpu s".padStart(8), "MB".padStart(8), "speed vs tar|gzip".padStart(18));
for (const r of rows) {
  console.log(r.name.padEnd(40), r.seconds.toFixed(2).padStart(8), r.cpuSeconds.toFixed(2).padStart(8), (r.size / 1e6).toFixed(1).padStart(8), `${(baseGz / r.seconds).toFixed(2)}x`.padStart(18));
}
console.log("(cpu s of ours: this process, its worker threads and libuv's pool; the zstd child process is not counted)");
const ours2 = rows.find((r) => r.name === "ours: tar.gz level 4, 2 threads");
const zipBase = rows.find((r) => r.name.startsWith("baseline: zip"));
const ratio = (a, b) => Math.round((a / b) * 100) / 100;
console.log(
  `zip: 2 threads vs 1: ${ratio(zip1.seconds, zip2.seconds)}x faster (cpu/wall ${ratio(zip2.cpu, zip2.seconds)} vs ${ratio(zip1.cpu, zip1.seconds)}); ` +
    `vs zip -r: 1 thread ${ratio(zipBase.seconds, zip1.seconds)}x, 2 threads ${ratio(zipBase.seconds, zip2.seconds)}x; byte-identical: ${[zipA2, zipB1, zipB2].every((r) => r.sha256 === zipA1.sha256)}`,
);
console.log(
  JSON.stringify({
    bench: "conda",
    envBytes: Number(du),
    envFiles: files,
    loadAverage: [round(load0), round(load1)],
    rows,
    goalTarGz2ThreadsFasterThanTarCzf: ours2.seconds < baseGz,
    zip: { speedup2vs1: ratio(zip1.seconds, zip2.seconds), vsZipR1: ratio(zipBase.seconds, zip1.seconds), vsZipR2: ratio(zipBase.seconds, zip2.seconds), identical: [zipA2, zipB1, zipB2].every((r) => r.sha256 === zipA1.sha256) },
  }),
);
fs.rmSync(outDir, { recursive: true, force: true });
