import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pythonInterpreters } from "@cluster-pack/io/test-kit";
import { buildPex } from "./index";
import { differential, REPL_DRIVER, writeInterpreterWorkdir } from "./test-kit/interpreter-cases";
import { cleanEnv, run } from "./test-kit/run";

// Differential tests: the same command line through plain python and through a PEX
// with no entry point must give the same stdout, stderr and exit status (the cases are in
// test-kit/interpreter-cases.ts; venv.test.ts runs them in venv mode).

jest.setTimeout(300_000);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-pex-interp-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const work = path.join(tmp, "work");
const pex = path.join(tmp, "env.pex");
const env = cleanEnv({ PEX_ROOT: path.join(tmp, "root") });

const pythons = pythonInterpreters();

beforeAll(async () => {
  writeInterpreterWorkdir(work);
  await buildPex(pex, {});
});

const matrix = pythons.length ? pythons : [{ version: "python3", python: "python3" }];

describe.each(matrix)("a PEX behaves like python $version", ({ python }) => {
  it("gives the same output, errors and exit status for every command line", async () => {
    const { expected, actual } = await differential(python, pex, work, env);
    expect(actual).toEqual(expected);
  });

  it("-X importtime (separated) reaches the interpreter", async () => {
    const r = await run(python, [pex, "-X", "importtime", "-c", "import json"], { cwd: work, env });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/import time:.*\| json$/m);
  });

  it("starts the REPL on a terminal like python does, and keeps ~/.python_history as python does", async () => {
    // The history readline loads and rewrites: a REPL through the PEX must add what was
    // typed, once (a second interactive hook doubled the file on 3.13 at every session).
    const home = fs.mkdtempSync(path.join(tmp, "home-"));
    const history = path.join(home, ".python_history");
    const session = async (args: string[]) => {
      fs.writeFileSync(history, "import os\nprint(1)\nx = 2\n");
      const r = await run(python, ["-c", REPL_DRIVER, ...args], { cwd: work, env: { ...env, HOME: home } });
      return { r, history: fs.readFileSync(history, "utf8") };
    };
    const plain = await session([python]);
    const viaPex = await session([python, pex]);
    for (const { r } of [plain, viaPex]) {
      expect(r.stdout).toContain("R [''] 42");
      expect(r.stdout).toContain('Type "help", "copyright", "credits" or "license" for more information.');
      expect(r.stdout).toContain("EXIT 0");
    }
    expect(plain.history).toContain("import sys; print('R', sys.argv, 6 * 7)");
    expect(viaPex.history).toBe(plain.history);
  });
});
