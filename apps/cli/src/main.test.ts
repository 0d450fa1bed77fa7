import { PassThrough } from "node:stream";
import { EventEmitter } from "node:events";
import { exitQuietlyOnBrokenPipe, main } from "./main";

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
    expect(err.text()).toBe("cluster-pack: unknown command 'no-such-command'\n");
  });
});

describe("exitQuietlyOnBrokenPipe", () => {
  it("exits 0 on EPIPE and rethrows other stream errors", () => {
    const stream = new EventEmitter();
    const codes: number[] = [];
    exitQuietlyOnBrokenPipe(stream, (c) => codes.push(c));
    stream.emit("error", Object.assign(new Error("write EPIPE"), { code: "EPIPE" }));
    expect(codes).toEqual([0]);
    expect(() => stream.emit("error", Object.assign(new Error("disk full"), { code: "ENOSPC" }))).toThrow("disk full");
  });
});
