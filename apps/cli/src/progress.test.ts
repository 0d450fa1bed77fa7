import { PassThrough } from "node:stream";
import { createProgress } from "./progress";

/** A stream that says it is a terminal, collecting what the bar draws. */
function terminal() {
  const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 100, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
  let text = "";
  stream.on("data", (d: Buffer) => (text += d.toString("utf8")));
  return { stream: stream as unknown as NodeJS.WritableStream, text: () => text };
}

describe("createProgress", () => {
  const saved = process.env.CI;
  beforeAll(() => delete process.env.CI);
  afterAll(() => {
    if (saved !== undefined) process.env.CI = saved;
  });

  it("shows no bar and no 100% 0/0 until the total is known, then the bar", () => {
    const t = terminal();
    const bar = createProgress(t.stream, "resolving", 0, "items");
    bar.update(3);
    const before = t.text();
    expect(before).toContain("resolving");
    expect(before).not.toMatch(/%|0\/0/);
    bar.setTotal(10);
    bar.update(5);
    bar.stop();
    expect(t.text().slice(before.length)).toMatch(/resolving \[.*\] 50% 5\/10/);
  });

  it("draws nothing off a terminal", () => {
    const out = new PassThrough();
    let text = "";
    out.on("data", (d: Buffer) => (text += d));
    const bar = createProgress(out, "x", 10);
    bar.update(5);
    bar.stop();
    expect(text).toBe("");
  });
});
