#!/usr/bin/env node
// Benchmarks @cluster-pack/conda on a conda-shaped environment of about 1 GB in 50,000
// files (a copy of a real CPython 3.11 lib/python3.11, with conda-meta records listing
// every file), against baselines measured in the same run on the same tree:
//   - `tar cf`            the I/O floor (no compression);
//   - `tar cf - | gzip -4` single-threaded tar.gz at conda-pack's default level;
// and our formats: tar (no compression), tar.gz level 4 at 1 and 2 threads, zip level 4,
// tar.zst level 4 at 2 threads. Goal: our tar.gz at 2 threads faster than `tar czf`.
// The generated environment is kept in $TMPDIR/cp-bench-conda-env between runs.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const require = createRequire(import.meta.url);
const tsc = path.join(root, "node_modules/typescript/bin/tsc");
for (const p of ["errors", "zip", "conda"]) execFileSync(process.execPath, [tsc, "-p", path.join(root, `packages/${p}/tsconfig.build.json`)], { stdio: "inherit" });
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

function sh(script) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync("sh", ["-c", script], { stdio: ["ignore", "ignore", "inherit"] });
  if (r.status !== 0) throw new Error(`${script} failed`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function ours(format, level, threads) {
  const out = path.join(outDir, `ours-${threads}.${format}`);
  fs.rmSync(out, { force: true });
  const t0 = process.hrtime.bigint();
  const r = await conda.packCondaEnvironment({ prefix, output: out, format, compressLevel: level, threads });
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, size: r.size };
}

makeEnv();
fs.rmSync(outDir, { recursive: true, force: true });
fs.mkdirSync(outDir);
const du = execFileSync("du", ["-sb", prefix], { encoding: "utf8" }).split("\t")[0];
const files = Number(execFileSync("sh", ["-c", `find "${prefix}" -type f | wc -l`], { encoding: "utf8" }).trim());
// Warm the page cache once so every contender reads from memory alike.
sh(`tar cf - -C "${prefix}" . > /dev/null`);

const rows = [];
const add = (name, seconds, size) => rows.push({ name, seconds: Math.round(seconds * 100) / 100, size });
const tarOut = path.join(outDir, "base.tar");
add("baseline: tar cf", sh(`tar cf "${tarOut}" -C "${prefix}" .`), fs.statSync(tarOut).size);
const tgzOut = path.join(outDir, "base.tar.gz");
add("baseline: tar cf | gzip -4 (1 thread)", sh(`tar cf - -C "${prefix}" . | gzip -4 > "${tgzOut}"`), fs.statSync(tgzOut).size);
for (const [format, level, threads] of [
  ["tar", 0, 1],
  ["tar.gz", 4, 1],
  ["tar.gz", 4, 2],
  ["zip", 4, 2],
  ["tar.zst", 4, 2],
]) {
  const r = await ours(format, level, threads);
  add(`ours: ${format}${format === "tar" ? "" : ` level ${level}, ${threads} thread(s)`}`, r.seconds, r.size);
}

const baseGz = rows[1].seconds;
console.log(`environment: ${(Number(du) / 1e6).toFixed(0)} MB, ${files} files (copy of ${SOURCE}); ${os.availableParallelism()} CPUs`);
console.log("name".padEnd(44), "seconds".padStart(8), "MB".padStart(8), "vs tar|gzip".padStart(12));
for (const r of rows) {
  console.log(r.name.padEnd(44), r.seconds.toFixed(2).padStart(8), (r.size / 1e6).toFixed(1).padStart(8), `${(baseGz / r.seconds).toFixed(2)}x`.padStart(12));
}
const gz2 = rows.find((r) => r.name.startsWith("ours: tar.gz level 4, 2"));
console.log(
  JSON.stringify({
    bench: "conda",
    envBytes: Number(du),
    envFiles: files,
    rows,
    goalTarGz2ThreadsFasterThanTarCzf: gz2.seconds < baseGz,
  }),
);
fs.rmSync(outDir, { recursive: true, force: true });
