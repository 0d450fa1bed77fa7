import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { findPython, pythonRuns } from "@cluster-pack/io/test-kit";

/** A Python whose `packaging` is at least 26 (the version the semantics follow), or null. */
export function findPackagingPython(): string | null {
  return findPython({ accept: (py) => pythonRuns(py, "import sys, packaging; sys.exit(int(packaging.__version__.split('.')[0]) < 26)") }) ?? null;
}

/** Asks Python's packaging one batch of questions (one process per batch). */
export function askPackaging<T>(python: string, op: string, items: unknown[]): T[] {
  const script = path.join(__dirname, "packaging_oracle.py");
  const r = spawnSync(python, [script], { input: JSON.stringify({ op, items }), encoding: "utf8", maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`packaging oracle failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { results: T[] }).results;
}

/** Deterministic PRNG (mulberry32) so fuzz failures reproduce. */
export function rng(seed: number): { next(): number; int(n: number): number; pick<T>(a: readonly T[]): T } {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n) => Math.floor(next() * n), pick: (a) => a[Math.floor(next() * a.length)]! };
}

export const oracleExists = fs.existsSync(path.join(__dirname, "packaging_oracle.py"));
