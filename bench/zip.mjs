#!/usr/bin/env node
// Benchmark of @cluster-pack/zip (built code in packages/zip/dist; built first if missing).
//
//   node bench/zip.mjs [--tree DIR] [--wheel FILE] [--quick] [--no-peers] [--only tree|raw]
//
// 1. Deterministic zip of a tree of real files (default: the 3.11.7 pyenv lib dir, ~50k
//    files), deflated (level 6) and stored, against: copying the same bytes into one file
//    (the I/O limit), `zip -r` and Python's zipfile when present.
// 2. Raw copy of every entry of a big wheel (default: torch from /opt/wheels or the pip
//    mirror) into a new zip, against fs.copyFile and a read+write loop of the same file.
// Every figure is measured in the same run; archives are written with fsync (like
// ZipWriter.writeTo), baselines too, and removed afterwards. Prints a table and one JSON line.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const quick = args.includes("--quick");
const peers = !args.includes("--no-peers");
const only = opt("--only", undefined);

// zip's dist loads @cluster-pack/io's.
if (!fs.existsSync(path.join(root, "packages/io/dist/index.js")) && spawnSync("npx", ["tsc", "-p", "packages/io/tsconfig.build.json"], { cwd: root, stdio: "inherit" }).status !== 0) process.exit(1);
const dist = path.join(root, "packages/zip/dist/index.js");
if (!fs.existsSync(dist) || fs.statSync(dist).mtimeMs < newestSource(path.join(root, "packages/zip/src"))) {
  const r = spawnSync("npx", ["tsc", "-p", "packages/zip/tsconfig.build.json"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) process.exit(1);
}
const { ZipReader, ZipWriter } = await import(pathToFileURL(dist).href);

const pyLib = "/root/.pyenv/versions/3.11.7/lib/python3.11";
const tree = opt("--tree", quick ? path.join(pyLib, "site-packages") : pyLib);
const wheel = opt("--wheel", findWheel());
const work = fs.mkdtempSync(path.join(os.tmpdir(), "cp-zip-bench-"));
const rows = [];
const result = { tree, wheel, files: 0, bytes: 0 };

try {
  if (only !== "raw") {
    if (fs.existsSync(tree)) await benchTree();
    else console.warn(`tree ${tree} not found: tree benchmark skipped`);
  }
  if (only !== "tree") {
    if (wheel && fs.existsSync(wheel)) await benchRaw();
    else console.warn("no big wheel found (--wheel FILE): raw copy benchmark skipped");
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}

printTable();
console.log(JSON.stringify({ bench: "zip", ...result, loadavg: os.loadavg().map((l) => +l.toFixed(2)), rows }));

// ---------------------------------------------------------------------------------------

async function benchTree() {
  const files = listFiles(tree);
  const bytes = files.reduce((n, f) => n + f.size, 0);
  Object.assign(result, { files: files.length, bytes });
  console.log(`tree: ${tree} (${files.length} files, ${mb(bytes)} MB)`);
  dropCaches(files);

  // I/O limit: read every file and append it to one output, fsync.
  await timed("tree", "copy the same bytes (read+append+fsync)", bytes, async () => {
    const out = fs.openSync(path.join(work, "concat.bin"), "w");
    let pos = 0;
    for (const f of files) {
      const data = fs.readFileSync(f.path);
      fs.writeSync(out, data, 0, data.length, pos);
      pos += data.length;
    }
    fs.fsyncSync(out);
    fs.closeSync(out);
    return pos;
  });
  for (const compress of [true, false]) {
    const label = compress ? "deflate-6" : "stored";
    await timed("tree", `ZipWriter ${label}`, bytes, async () => {
      const w = new ZipWriter({ compress });
      for (const f of files) w.addFile(f.name, f.path, { mode: f.mode });
      return (await w.writeTo(path.join(work, `ours-${label}.zip`))).size;
    });
    if (peers && which("zip")) {
      await timed("tree", `zip -r ${compress ? "-6" : "-0"} (Info-ZIP)`, bytes, async () => {
        const out = path.join(work, `infozip-${label}.zip`);
        const r = spawnSync("zip", ["-q", "-r", "-X", compress ? "-6" : "-0", out, "."], { cwd: tree });
        if (r.status !== 0) throw new Error(`zip failed: ${r.stderr}`);
        fsync(out);
        return fs.statSync(out).size;
      });
    }
    if (peers && which("python3")) {
      await timed("tree", `python zipfile ${label}`, bytes, async () => {
        const out = path.join(work, `py-${label}.zip`);
        const code = `
import os, sys, zipfile
root, out, method = sys.argv[1], sys.argv[2], zipfile.ZIP_DEFLATED if sys.argv[3] == "1" else zipfile.ZIP_STORED
with zipfile.ZipFile(out, "w", method, compresslevel=6 if sys.argv[3] == "1" else None) as z:
    for d, dirs, names in os.walk(root):
        dirs.sort()
        for n in sorted(names):
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p):
                z.write(p, os.path.relpath(p, root))
fd = os.open(out, os.O_RDONLY); os.fsync(fd); os.close(fd)
`;
        const r = spawnSync("python3", ["-c", code, tree, out, compress ? "1" : "0"]);
        if (r.status !== 0) throw new Error(`python zipfile failed: ${r.stderr}`);
        return fs.statSync(out).size;
      });
    }
    for (const f of fs.readdirSync(work)) fs.rmSync(path.join(work, f), { force: true });
  }
  // Determinism check on the side: two writes, same bytes.
  const a = new ZipWriter();
  const b = new ZipWriter();
  for (const f of files.slice(0, 2000)) a.addFile(f.name, f.path, { mode: f.mode });
  for (const f of files.slice(0, 2000).reverse()) b.addFile(f.name, f.path, { mode: f.mode });
  result.deterministic = (await a.writeTo(path.join(work, "a.zip"))).sha256 === (await b.writeTo(path.join(work, "b.zip"))).sha256;
}

async function benchRaw() {
  const size = fs.statSync(wheel).size;
  const reader = await ZipReader.open(wheel);
  Object.assign(result, { wheelBytes: size, wheelEntries: reader.entries.length });
  console.log(`wheel: ${wheel} (${reader.entries.length} entries, ${mb(size)} MB)`);
  await reader.close();
  await timed("raw", "fs.copyFile (no fsync)", size, async () => {
    fs.copyFileSync(wheel, path.join(work, "copy.whl"));
    return size;
  });
  await timed("raw", "read+write 1 MiB + fsync (I/O limit)", size, async () => {
    const input = fs.openSync(wheel, "r");
    const out = fs.openSync(path.join(work, "rw.whl"), "w");
    const buf = Buffer.allocUnsafe(1 << 20);
    let pos = 0;
    for (let n; (n = fs.readSync(input, buf, 0, buf.length, pos)) > 0; pos += n) fs.writeSync(out, buf, 0, n, pos);
    fs.fsyncSync(out);
    fs.closeSync(out);
    fs.closeSync(input);
    return pos;
  });
  await timed("raw", "ZipWriter raw copy (open + copy all entries + fsync)", size, async () => {
    const r = await ZipReader.open(wheel);
    const w = new ZipWriter();
    for (const e of r.entries) w.addRawEntry(e.name, r, e);
    const out = await w.writeTo(path.join(work, "raw.zip"));
    await r.close();
    return out.size;
  });
}

async function timed(group, name, inputBytes, fn) {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const outBytes = await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  // CPU time of this process (all its threads; peers run as child processes: not counted).
  const cpuSeconds = name.startsWith("zip ") || name.startsWith("python") ? null : +((cpu.user + cpu.system) / 1e6).toFixed(3);
  const row = { group, name, seconds: +seconds.toFixed(3), cpuSeconds, outMB: +mb(outBytes), MBps: +(inputBytes / 1e6 / seconds).toFixed(1) };
  rows.push(row);
  console.log(`  ${name}: ${row.seconds} s`);
}

function printTable() {
  console.log("");
  const header = ["group", "what", "seconds", "vs baseline", "cpu s", "MB/s (input)", "output MB"];
  const lines = rows.map((r) => {
    const base = rows.find((x) => x.group === r.group && /I\/O limit|copy the same bytes/.test(x.name));
    return [r.group, r.name, r.seconds.toFixed(2), base ? `${(r.seconds / base.seconds).toFixed(2)}x` : "", r.cpuSeconds === null ? "-" : r.cpuSeconds.toFixed(2), r.MBps.toFixed(0), r.outMB.toFixed(1)];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  console.log(fmt(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const l of lines) console.log(fmt(l));
  if ("deterministic" in result) console.log(`\nsame inputs, different order -> identical archive: ${result.deterministic}`);
  // A shared machine skews ratios: many small async steps suffer more than one tight loop.
  console.log(`load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} (${os.cpus().length} CPUs)`);
}

function listFiles(dir) {
  const out = [];
  const walk = (d, rel) => {
    for (const ent of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, ent.name);
      const r = rel ? `${rel}/${ent.name}` : ent.name;
      if (ent.isDirectory()) walk(p, r);
      else if (ent.isFile()) {
        const st = fs.statSync(p);
        out.push({ path: p, name: r, size: st.size, mode: st.mode });
      }
    }
  };
  walk(dir, "");
  return out;
}

/** Warm the page cache the same way for everyone: read every file once before timing. */
function dropCaches(files) {
  for (const f of files) fs.readFileSync(f.path);
}

function findWheel() {
  const dirs = ["/opt/wheels", "/opt/pypi/files"];
  for (const d of dirs) {
    if (!fs.existsSync(d)) continue;
    const torch = fs.readdirSync(d).filter((f) => /^torch-.*\.whl$/.test(f)).sort();
    if (torch.length) return path.join(d, torch[torch.length - 1]);
  }
  for (const d of dirs) {
    if (!fs.existsSync(d)) continue;
    const numpy = fs.readdirSync(d).filter((f) => /^numpy-.*\.whl$/.test(f)).sort();
    if (numpy.length) return path.join(d, numpy[numpy.length - 1]);
  }
  return undefined;
}

function which(cmd) {
  return (process.env.PATH ?? "").split(path.delimiter).some((d) => d && fs.existsSync(path.join(d, cmd)));
}

function fsync(file) {
  const fd = fs.openSync(file, "r");
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}

function mb(n) {
  return (n / 1e6).toFixed(1);
}

function newestSource(dir) {
  let newest = 0;
  for (const ent of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (ent.isFile()) newest = Math.max(newest, fs.statSync(path.join(ent.parentPath ?? ent.path, ent.name)).mtimeMs);
  }
  return newest;
}
