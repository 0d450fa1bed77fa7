#!/usr/bin/env node
// Benchmark for @cluster-pack/fs: upload and download a large file (default 1 GiB;
// BENCH_FS_MB to change) to a local S3 server (s3rver on loopback, through the package's
// test kit) with our S3FileSystem, against @aws-sdk/lib-storage's Upload with its default
// settings and plain GetObject, against copying the same file on local disk (the physical
// baseline), in one run. Also counts the HTTP round trips of the "is the remote copy up to
// date?" check (goal: one), next to cluster-pack's exists + read-the-sidecar approach.
// Prints a table and one JSON line.
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const require = createRequire(import.meta.url);
const MB = Number(process.env.BENCH_FS_MB ?? 1024);
const size = MB * 1024 * 1024;

// Build the package and its dependencies (the S3 test kit is built with it, as dist/test-kit).
execFileSync("npx", ["turbo", "run", "build", "--filter=@cluster-pack/fs...", "--output-logs=errors-only"], { cwd: root, stdio: "inherit" });
const work = fs.mkdtempSync(path.join(os.tmpdir(), "cp-bench-fs-"));

const { startS3Server } = require(path.join(root, "packages/fs/dist/test-kit/s3-server.js"));
const { S3FileSystem } = require(path.join(root, "packages/fs/dist/s3.js"));
const { S3Client, GetObjectCommand, HeadObjectCommand } = require(require.resolve("@aws-sdk/client-s3", { paths: [path.join(root, "packages/fs")] }));
const { Upload } = require(require.resolve("@aws-sdk/lib-storage", { paths: [path.join(root, "packages/fs")] }));

const results = [];
const server = await startS3Server({ buckets: ["bench"] });
try {
  const src = path.join(work, "big.bin");
  process.stderr.write(`writing a ${MB} MiB random file...\n`);
  {
    const out = fs.createWriteStream(src);
    const chunk = crypto.randomBytes(4 * 1024 * 1024);
    for (let done = 0; done < size; done += chunk.length) {
      const n = Math.min(chunk.length, size - done);
      if (!out.write(n === chunk.length ? chunk : chunk.subarray(0, n))) await new Promise((r) => out.once("drain", r));
    }
    await new Promise((r) => out.end(r));
  }
  const time = async (name, fn) => {
    const t0 = process.hrtime.bigint();
    await fn();
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    results.push({ name, seconds: +s.toFixed(2), MiBps: +(MB / s).toFixed(1) });
    process.stderr.write(`${name}: ${s.toFixed(2)} s\n`);
  };

  await time("local disk copy (baseline)", () => fs.promises.copyFile(src, path.join(work, "copy.bin")));
  fs.rmSync(path.join(work, "copy.bin"));

  const ours = new S3FileSystem({ ...server.clientOptions });
  await time("upload: @cluster-pack/fs put (16 MiB parts x4)", () => ours.put(src, "/bench/ours.bin"));

  const client = new S3Client({ ...server.clientOptions, ...server.clientOptions.clientConfig });
  await time("upload: @aws-sdk/lib-storage Upload (defaults)", () =>
    new Upload({ client, params: { Bucket: "bench", Key: "libstorage.bin", Body: fs.createReadStream(src) } }).done(),
  );

  await time("download: @cluster-pack/fs get", () => ours.get("/bench/ours.bin", path.join(work, "down-ours.bin")));
  await time("download: SDK GetObject piped to a file", async () => {
    const r = await client.send(new GetObjectCommand({ Bucket: "bench", Key: "libstorage.bin" }));
    await pipeline(r.Body, fs.createWriteStream(path.join(work, "down-sdk.bin")));
  });
  const same = fs.statSync(path.join(work, "down-ours.bin")).size === size;
  fs.rmSync(path.join(work, "down-ours.bin"));
  fs.rmSync(path.join(work, "down-sdk.bin"));

  // Up-to-date check: round trips counted at the server.
  const small = path.join(work, "env.pex");
  fs.writeFileSync(small, "pex");
  await ours.publish(small, "/bench/env.pex", { metadata: { "lock-sha256": "abc" }, sidecar: { content: "{}" } });
  server.requests.length = 0;
  const check = await ours.isUpToDate("/bench/env.pex", { metadata: { "lock-sha256": "abc" }, size: 3 });
  const oursTrips = server.requests.length;
  server.requests.length = 0;
  // cluster-pack's way: does the archive exist, then read the sidecar and compare.
  await client.send(new HeadObjectCommand({ Bucket: "bench", Key: "env.pex" }));
  await client.send(new GetObjectCommand({ Bucket: "bench", Key: "env.json" })).then((r) => r.Body.transformToString());
  const baselineTrips = server.requests.length;

  const pad = (s, n) => String(s).padEnd(n);
  console.log(`\n${pad("transfer (" + MB + " MiB, s3rver on loopback)", 52)}${pad("seconds", 10)}MiB/s`);
  for (const r of results) console.log(`${pad(r.name, 52)}${pad(r.seconds, 10)}${r.MiBps}`);
  console.log(`\n${pad("up-to-date check", 52)}round trips`);
  console.log(`${pad("@cluster-pack/fs isUpToDate (HEAD)", 52)}${oursTrips} (upToDate=${check.upToDate})`);
  console.log(`${pad("cluster-pack style: HEAD archive + GET sidecar", 52)}${baselineTrips}`);
  console.log(JSON.stringify({ bench: "fs", sizeMiB: MB, transfers: results, downloadComplete: same, upToDateRoundTrips: oursTrips, baselineRoundTrips: baselineTrips, cpus: os.cpus().length, loadavg: os.loadavg().map((x) => +x.toFixed(1)) }));
  ours.client.destroy();
  client.destroy();
} finally {
  await server.close();
  fs.rmSync(work, { recursive: true, force: true });
}
