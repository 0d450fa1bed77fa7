import { spawnSync } from "node:child_process";
import path from "node:path";
import { pythonInterpreters } from "@cluster-pack/io/test-kit";
import { RUNTIME_DIR } from "./index";

// The runtime's unit tests are real Python files (python/tests/test_*.py, stdlib unittest),
// run here by every interpreter 3.8-3.13 found.
jest.setTimeout(300_000);

const pythons = pythonInterpreters();
if (!pythons.length) console.warn("runtime unit tests: no pyenv Pythons under ~/.pyenv/versions; running them with python3 only");

describe.each(pythons.length ? pythons.map(({ version, python }) => ({ version, python })) : [{ version: "python3", python: "python3" }])("runtime unit tests on Python $version", ({ python }) => {
  it("pass (python -m unittest discover python/tests)", () => {
    const r = spawnSync(python, ["-m", "unittest", "discover", "-s", path.join(RUNTIME_DIR, "tests"), "-t", RUNTIME_DIR, "-v"], { cwd: RUNTIME_DIR, encoding: "utf8", env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" } });
    const summary = r.stderr.trim().split("\n").slice(-3).join("\n");
    if (r.status !== 0) throw new Error(`unittest failed (exit ${r.status}):\n${r.stderr}`);
    expect(summary).toMatch(/^Ran \d+ tests in .*\n\nOK/m);
    expect(Number(/^Ran (\d+) tests/m.exec(r.stderr)![1])).toBeGreaterThanOrEqual(27);
  });
});
