import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/** A Python whose `packaging` is at least 26 (the version the semantics follow), or null. */
export function findPackagingPython(): string | null {
  const candidates = [process.env.CP_TEST_PYTHON, "/root/.pyenv/versions/3.11.7/bin/python3", "python3"].filter((c): c is string => Boolean(c));
  for (const py of candidates) {
    const r = spawnSync(py, ["-c", "import packaging; print(packaging.__version__)"], { encoding: "utf8" });
    if (r.status === 0 && Number(r.stdout.trim().split(".")[0]) >= 26) return py;
  }
  return null;
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
