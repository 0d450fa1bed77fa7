import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command asynchronously (so tests can run a bounded number in parallel). */
export function run(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", reject);
    child.on("close", (status, signal) => resolve({ status, signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }));
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
  });
}

/** Runs `tasks` with at most `limit` in flight. */
export async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!);
      }
    }),
  );
  return results;
}

/**
 * An environment without PEX_* / PYTHON* variables from the test runner, and with a
 * throwaway HOME: interactive runs (REPL, `-i`) load and rewrite `~/.python_history`
 * through readline, and a user's history must neither slow tests down (it grew to 2 GiB
 * on a shared machine, several seconds per interactive start) nor collect test input.
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("PEX") && !k.startsWith("PYTHON")) env[k] = v;
  return { ...env, HOME: testHome(), ...extra };
}

let home: string | undefined;

function testHome(): string {
  if (!home) {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "cp-pex-home-"));
    const dir = home;
    process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return home;
}

/** The last stdout line of a successful run, parsed as JSON (throws with stderr otherwise; `quiet`: stderr must be empty too). */
export function jsonLine(r: RunResult, options: { quiet?: boolean } = {}): Record<string, unknown> {
  if (r.status !== 0 || (options.quiet && r.stderr)) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
}
