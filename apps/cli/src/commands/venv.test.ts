import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pythonInterpreter, SYSTEM_PYTHON } from "@cluster-pack/io/test-kit";
import { runCli } from "../test-kit";

jest.setTimeout(120_000);

const cli = runCli;

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), "cli-venv-"));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const python = [pythonInterpreter("3.11")?.python, SYSTEM_PYTHON].find((p) => p && fs.existsSync(p));
if (!python) console.warn("skipping cluster-pack venv pack tests: no Python 3 interpreter (pyenv 3.11 or /usr/bin/python3) to make a venv");
(python ? describe : describe.skip)("cluster-pack venv pack", () => {
  it("has help with examples", async () => {
    const r = await cli("venv", "pack", "--help");
    expect(r.code).toBe(0);
    expect(r.out).toContain("Examples:");
    expect(r.out).toContain("--interpreter");
  });

  it("packs a real venv with --json", async () => {
    const venv = path.join(root, "venv");
    const made = spawnSync(python!, ["-m", "venv", "--without-pip", venv], { encoding: "utf8" });
    if (made.status !== 0) {
      console.warn(`skipping: ${python} -m venv failed: ${made.stderr}`);
      return;
    }
    const out = path.join(root, "venv.tar.zst");
    const r = await cli("--json", "venv", "pack", "-p", venv, "-o", out, "--compress-level", "10");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ format: "tar.zst", env: { kind: "venv", interpreter: "pyenv/bin/python" } });
    const notVenv = await cli("venv", "pack", "-p", root, "-o", path.join(root, "nv.tar"));
    expect(notVenv.code).toBe(2);
    expect(notVenv.err).toContain("pyvenv.cfg");
  });
});
