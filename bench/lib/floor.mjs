// The inflate+hash floor of a first PEX build (issue 16): what verifying a set of wheels
// costs at the least, i.e. inflating every entry and sha256-ing the result (the RECORD
// check), on the same cores the build gets, measured two ways:
//
//   node     worker threads doing only that: read an entry's stored bytes, inflateRawSync
//            in one call, sha256 the result (Node's zlib and OpenSSL, as the build uses);
//   python   a process pool doing only that: zlib.decompress + hashlib.sha256 (CPython's
//            zlib and OpenSSL), entries spread over the processes as over the threads.
//
// The floor is the faster of the two (both when `python` is given). Neither checks the
// CRC-32, hashes the wheel file, plans, writes or fsyncs anything: every one of those is
// work a verifying build does on top of the floor, so `build / floor` is the overhead.
// Work is spread dynamically in batches of about 16 MiB of stored bytes, biggest first
// (the longest entry bounds the wall time of any schedule).
//
// Usage from a benchmark (each floor runs in a child process of its own, so its CPU time
// and peak RSS are its own and nothing it allocates stays in the caller):
//
//   import { measureFloor } from "./lib/floor.mjs";
//   const floor = await measureFloor(wheels, { threads: os.availableParallelism(), python });
//   // { ms, cpuMs, maxRssMB, kind, threads, entries, storedBytes, inflatedBytes, node: {...}, python: {...} }
//
// Standalone: node bench/lib/floor.mjs [--threads N] [--python PY] WHEEL...
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";

const here = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(here), "../..");

/**
 * Measures the floor for `wheels` (paths). `threads` defaults to the CPUs this process may
 * use; `python` (an interpreter) adds the CPython measurement; `runs` (default 1) keeps the
 * best of several (wall time, each kind on its own). Wheel bytes should be in the page
 * cache (read them once first), as they are for the build measured against it.
 */
export async function measureFloor(wheels, { threads = os.availableParallelism(), python, runs = 1 } = {}) {
  const best = async (kind) => {
    let out;
    for (let i = 0; i < runs; i++) {
      const r = await runChild(kind, wheels, threads, python);
      if (!out || r.ms < out.ms) out = r;
    }
    return out;
  };
  const node = await best("node");
  const py = python ? await best("python") : undefined;
  const floor = py && py.ms < node.ms ? py : node;
  return { ms: floor.ms, cpuMs: floor.cpuMs, maxRssMB: floor.maxRssMB, kind: floor.kind, threads, entries: node.entries, storedBytes: node.storedBytes, inflatedBytes: node.inflatedBytes, node, ...(py ? { python: py } : {}) };
}

// ---------------------------------------------------------------------------------------

function runChild(kind, wheels, threads, python) {
  const [cmd, args] =
    kind === "node" ? [process.execPath, [here, "--child", String(threads), ...wheels]] : [python, ["-c", PYTHON_FLOOR, String(threads), ...wheels]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`floor (${kind}) exited with ${code}`));
      try {
        resolve({ kind, ...JSON.parse(out.trim().split("\n").pop()) });
      } catch (err) {
        reject(new Error(`floor (${kind}) printed no result: ${out.slice(-200)}`, { cause: err }));
      }
    });
  });
}

/** The Node floor, in the child: list the entries, then inflate + sha256 them on `threads` workers. */
async function nodeFloor(threads, wheels) {
  const { ZipReader } = await import(pathToFileURL(path.join(root, "packages/zip/dist/index.js")).href);
  const c = process.cpuUsage();
  const t = performance.now();
  const batches = [];
  let entries = 0;
  let storedBytes = 0;
  let inflatedBytes = 0;
  for (const w of wheels) {
    const reader = await ZipReader.open(w);
    let cur;
    for (const e of reader.entries) {
      if (e.isDirectory) continue;
      entries++;
      storedBytes += e.compressedSize;
      inflatedBytes += e.uncompressedSize;
      if (!cur || cur.bytes >= BATCH) batches.push((cur = { path: w, bytes: 0, entries: [] }));
      cur.entries.push([e.localHeaderOffset, e.compressedSize, e.method, Buffer.byteLength(e.name)]);
      cur.bytes += e.compressedSize + 512;
    }
    await reader.close();
  }
  batches.sort((a, b) => b.bytes - a.bytes);
  const recordsUrl = pathToFileURL(path.join(root, "packages/zip/dist/records.js")).href;
  await new Promise((resolve, reject) => {
    let next = 0;
    let live = 0;
    const feed = (w) => {
      if (next < batches.length) return void w.postMessage(batches[next++]);
      void w.terminate();
      if (--live === 0) resolve();
    };
    for (let i = 0; i < Math.min(threads, batches.length); i++) {
      live++;
      const w = new Worker(NODE_WORKER, { eval: true, workerData: { recordsUrl } });
      w.on("message", () => feed(w));
      w.on("error", reject);
      w.once("online", () => feed(w));
    }
    if (live === 0) resolve();
  });
  const ms = performance.now() - t;
  const cpu = process.cpuUsage(c);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, entries, storedBytes, inflatedBytes, maxRssMB: process.resourceUsage().maxRSS / 1024 };
}

const BATCH = 16 * 1024 * 1024;

// Each message: a batch of [headerOffset, storedSize, method, nameLength] of one wheel.
const NODE_WORKER = `
const fs = require("node:fs");
const zlib = require("node:zlib");
const crypto = require("node:crypto");
const { parentPort, workerData } = require("node:worker_threads");
const ready = import(workerData.recordsUrl);
parentPort.on("message", async (batch) => {
  const { parseLocalHeader } = await ready;
  const fd = fs.openSync(batch.path, "r");
  for (const [offset, size, method, nameLength] of batch.entries) {
    const buf = Buffer.allocUnsafe(30 + nameLength + 64 + size);
    const n = fs.readSync(fd, buf, 0, buf.length, offset);
    const h = parseLocalHeader(buf.subarray(0, n));
    let stored = buf.subarray(h.size, h.size + size);
    if (stored.length < size) {
      stored = Buffer.allocUnsafe(size);
      fs.readSync(fd, stored, 0, size, offset + h.size);
    }
    const data = method === 8 ? zlib.inflateRawSync(stored) : stored;
    crypto.createHash("sha256").update(data).digest();
  }
  fs.closeSync(fd);
  parentPort.postMessage(0);
});
`;

// The CPython floor: a pool of processes, each inflating (zlib.decompress, one call) and
// hashing whole entries of ~16 MiB batches, biggest first. CPU time is the parent's and
// its children's.
const PYTHON_FLOOR = `
import hashlib, json, os, resource, struct, sys, time, zlib, zipfile
from multiprocessing import Pool

def work(batch):
    path, entries = batch
    with open(path, "rb") as f:
        for offset, size, method in entries:
            f.seek(offset)
            head = f.read(30)
            n, m = struct.unpack("<HH", head[26:30])
            f.seek(offset + 30 + n + m)
            data = f.read(size)
            if method == 8:
                data = zlib.decompress(data, -15)
            hashlib.sha256(data).digest()
    return 0

if __name__ == "__main__":
    threads = int(sys.argv[1])
    t = time.perf_counter()
    c = os.times()
    batches = []
    for w in sys.argv[2:]:
        cur, size = None, 0
        for i in zipfile.ZipFile(w).infolist():
            if i.is_dir():
                continue
            if cur is None or size >= ${BATCH}:
                cur, size = [], 0
                batches.append((w, cur))
            cur.append((i.header_offset, i.compress_size, i.compress_type))
            size += i.compress_size + 512
    batches.sort(key=lambda b: -sum(e[1] + 512 for e in b[1]))
    with Pool(threads) as pool:
        for _ in pool.imap_unordered(work, batches):
            pass
    ms = (time.perf_counter() - t) * 1000
    d = os.times()
    cpu = (d.user - c.user + d.system - c.system + d.children_user - c.children_user + d.children_system - c.children_system) * 1000
    print(json.dumps({"ms": ms, "cpuMs": cpu, "maxRssMB": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
`;

// ---------------------------------------------------------------------------------------

if (process.argv[1] === here) {
  const args = process.argv.slice(2);
  if (args[0] === "--child") {
    console.log(JSON.stringify(await nodeFloor(Number(args[1]), args.slice(2))));
  } else {
    const opt = (name) => {
      const i = args.indexOf(name);
      if (i < 0) return undefined;
      const v = args[i + 1];
      args.splice(i, 2);
      return v;
    };
    const threads = Number(opt("--threads") ?? os.availableParallelism());
    const python = opt("--python");
    const wheels = args.map((a) => path.resolve(a));
    if (!wheels.length || wheels.some((w) => !fs.existsSync(w))) {
      console.error("usage: node bench/lib/floor.mjs [--threads N] [--python PY] WHEEL...");
      process.exit(2);
    }
    for (const w of wheels) fs.readFileSync(w); // into the page cache
    console.log(JSON.stringify(await measureFloor(wheels, { threads, ...(python ? { python } : {}) })));
  }
}
