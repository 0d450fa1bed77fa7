import { PassThrough } from "node:stream";
import { main } from "./main";

function capture() {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString("utf8") };
}

describe("cluster-pack main", () => {
  it("prints help with exit codes and returns 0", async () => {
    const out = capture();
    const err = capture();
    const code = await main(["node", "cluster-pack", "--help"], { stdout: out.stream, stderr: err.stream, signal: new AbortController().signal });
    expect(code).toBe(0);
    expect(out.text()).toContain("Exit codes:");
  });

  it("returns 2 on an unknown command", async () => {
    const out = capture();
    const err = capture();
    const code = await main(["node", "cluster-pack", "no-such-command"], { stdout: out.stream, stderr: err.stream, signal: new AbortController().signal });
    expect(code).toBe(2);
    expect(err.text()).toMatch(/^error: /);
  });
});
