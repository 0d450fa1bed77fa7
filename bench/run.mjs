#!/usr/bin/env node
// Runs benchmarks: `npm run bench` runs every bench/<name>.mjs, `npm run bench -- pex zip`
// runs the named ones. Each benchmark prints its own table and a JSON line.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const dir = path.dirname(new URL(import.meta.url).pathname);
const all = fs.readdirSync(dir).filter((f) => f.endsWith(".mjs") && f !== "run.mjs").map((f) => f.slice(0, -4)).sort();
const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const extra = process.argv.slice(2).filter((a) => a.startsWith("-"));
const names = wanted.length ? wanted : all;
let failed = 0;
for (const name of names) {
  if (!all.includes(name)) {
    console.error(`bench: no benchmark named "${name}" (have: ${all.join(", ") || "none"})`);
    process.exit(2);
  }
  console.log(`\n== bench ${name} ==`);
  const r = spawnSync(process.execPath, [path.join(dir, `${name}.mjs`), ...extra], { stdio: "inherit" });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
