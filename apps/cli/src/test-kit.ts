import { PassThrough } from "node:stream";
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
