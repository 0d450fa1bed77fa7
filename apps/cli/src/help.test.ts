import { execFileSync } from "node:child_process";
import path from "node:path";
import { PassThrough } from "node:stream";
import type { Command } from "commander";
import { EXIT, type CommandContext } from "./context";
import { createProgram } from "./main";
import { runCli } from "./test-kit";

/** Every command and group path of the program: [], ["pex"], ["pex", "build"], ... */
function commandPaths(): string[][] {
  const sink = new PassThrough();
  const ctx = { stdout: sink, stderr: sink, signal: new AbortController().signal, json: false, output() {}, log() {}, progress: () => ({ setTotal() {}, update() {}, increment() {}, stop() {} }) } as CommandContext;
  const out: string[][] = [];
  const walk = (cmd: Command, at: string[]) => {
    out.push(at);
    for (const sub of cmd.commands) if (sub.name() !== "help") walk(sub, [...at, sub.name()]);
  };
  walk(createProgram(ctx, { json: false, quiet: false }), []);
  return out;
}

const paths = commandPaths();

describe("--help of every command and group", () => {
  it("covers every command module", () => {
    expect(paths.map((p) => p.join(" "))).toEqual(expect.arrayContaining(["", "upload-env", "pex", "pex build", "zip extract", "fs cp", "conda pack", "venv pack", "lock", "download"]));
  });

  it.each(paths.map((p) => [p.join(" ") || "(program)", p]))("%s: exit 0, at least one $ example, every line within 100 columns, no (default: [])", async (_name, at) => {
    const r = await runCli(...(at as string[]), "--help");
    expect(r.code).toBe(EXIT.OK);
    expect(r.out).toMatch(/\nExamples:\n( {2}#.*\n)* {2}\$ cluster-pack /);
    const long = r.out.split("\n").filter((l) => l.length > 100);
    expect(long).toEqual([]);
    expect(r.out).not.toContain("(default: [])");
    // Every example line is a command ($), a comment (#) or a continuation after a backslash.
    const examples = r.out.slice(r.out.lastIndexOf("\nExamples:\n") + 11).split("\n").filter(Boolean);
    for (const [i, line] of examples.entries()) {
      if (/^ {2}(\$ |# )/.test(line)) continue;
      expect([line, examples[i - 1]?.endsWith("\\")]).toEqual([line, true]);
    }
  });
});

describe("start-up cost", () => {
  // `--help` must not load the libraries behind the commands (pip, the AWS SDK, ...): they
  // load when a command runs. Checked on the built CLI in a child process, by module list.
  it("cluster-pack --help and pex build --help load commander and nothing of the workspace but the errors package", () => {
    const { ensureCliBuilt } = require("./test-kit") as typeof import("./test-kit");
    ensureCliBuilt();
    const main = path.resolve(__dirname, "..", "dist", "main.js");
    for (const args of [["--help"], ["pex", "build", "--help"], ["upload-env", "--help"]]) {
      const script = `const m = require(${JSON.stringify(main)}); const { PassThrough } = require("node:stream"); m.main(["node", "cluster-pack", ...${JSON.stringify(args)}], { stdout: new PassThrough(), stderr: new PassThrough(), signal: new AbortController().signal }).then((code) => { process.stdout.write(JSON.stringify({ code, loaded: Object.keys(require.cache) })); });`;
      const { code, loaded } = JSON.parse(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" })) as { code: number; loaded: string[] };
      expect(code).toBe(0);
      const heavy = loaded.filter((f) => /[\\/](packages[\\/](?!errors[\\/])[^\\/]+[\\/]dist|node_modules[\\/](@aws-sdk|@smithy|cli-progress|yauzl|tar-stream|yaml|smol-toml|fast-xml-parser))[\\/]/.test(f));
      expect([args.join(" "), heavy]).toEqual([args.join(" "), []]);
    }
  });
});
