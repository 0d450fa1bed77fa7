import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { PassThrough } from "node:stream";
import { ensureBuilt } from "@cluster-pack/io/test-kit";
import { main } from "./main";

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Runs `cluster-pack ...args` in-process and collects its exit code, stdout and stderr. */
export async function runCli(...args: string[]): Promise<CliResult> {
  const out = collect();
  const err = collect();
  const code = await main(["node", "cluster-pack", ...args], { stdout: out.stream, stderr: err.stream, signal: new AbortController().signal });
  return { code, out: out.text(), err: err.text() };
}

function collect() {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString("utf8") };
}

/** A `cluster-pack` started as a real child process (the built bin), with its output collected. */
export interface SpawnedCli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Builds the CLI and everything it depends on (turbo, cached) so child processes run current code. */
export function ensureCliBuilt(): void {
  ensureBuilt("@cluster-pack/cli");
}

/** Runs the built `cluster-pack` bin in a child process (call ensureCliBuilt once first). */
export function spawnCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): SpawnedCli {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d));
  child.stderr!.on("data", (d: Buffer) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/**
 * Sends `signal` to the child once `ready()` says the operation is under way (a temporary
 * file appeared, an upload is open). The child is stopped (SIGSTOP) the moment it is seen
 * ready and continued after the signal is queued, so it cannot finish in between: the
 * signal always lands mid-operation. Rejects if the child ends before it is ready.
 */
export async function interruptWhen(cli: SpawnedCli, ready: () => boolean | Promise<boolean>, signal: NodeJS.Signals, timeoutMs = 120_000): Promise<void> {
  let ended = false;
  void cli.exited.then(() => (ended = true));
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (ended) throw new Error(`cluster-pack ended before the operation was under way: ${cli.stderr() || cli.stdout()}`);
    if (Date.now() > deadline) throw new Error(`cluster-pack did not get under way within ${timeoutMs} ms: ${cli.stderr()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  cli.child.kill("SIGSTOP");
  cli.child.kill(signal);
  cli.child.kill("SIGCONT");
}

const BIN = path.resolve(__dirname, "..", "bin", "cluster-pack.js");

/**
 * The AWS_* variables that point the CLI at an s3rver test server (`startS3Server` of
 * @cluster-pack/fs/test-kit): its fixed key, a region, path-style endpoint, and checksums
 * only when required (s3rver predates the SDK's default ones).
 */
export function s3Environment(endpoint: string): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
    AWS_REGION: "us-east-1",
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_REQUEST_CHECKSUM_CALCULATION: "WHEN_REQUIRED",
    AWS_RESPONSE_CHECKSUM_VALIDATION: "WHEN_REQUIRED",
  };
}
