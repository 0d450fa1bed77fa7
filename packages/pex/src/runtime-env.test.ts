import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pythonInterpreters } from "@cluster-pack/io/test-kit";
import { buildPex, readPexInfo } from "./index";
import { cleanEnv, run } from "./test-kit/run";

// PEX_PYTHON / PEX_PYTHON_PATH, inject_args (pex's rules) and PEX_TOOLS, run through
// real interpreters.

jest.setTimeout(300_000);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-pex-runtime-env-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const env = cleanEnv({ PEX_ROOT: path.join(tmp, "root") });
const pythons = pythonInterpreters();
const SHOW = "import sys; print(sys.version_info[:2], sys.argv)";

let src: string;
let plain: string;
let entry: string;
beforeAll(async () => {
  src = path.join(tmp, "src");
  fs.mkdirSync(path.join(src, "app"), { recursive: true });
  fs.writeFileSync(path.join(src, "app", "__init__.py"), "");
  fs.writeFileSync(path.join(src, "app", "main.py"), "import os, sys\ndef main():\n    print('main', sys.version_info[:2], sys.argv[1:], sorted(k for k in os.environ if 'PEX_PYTHON' in k))\n");
  fs.writeFileSync(path.join(src, "app", "other.py"), "import sys\nprint('other', sys.argv[1:])\n");
  plain = (await buildPex(path.join(tmp, "plain.pex"), { sourceDirectories: [src] })).path;
  entry = (await buildPex(path.join(tmp, "entry.pex"), { sourceDirectories: [src], entryPoint: "app.main:main", injectArgs: ["--injected", "x"] })).path;
});

const two = pythons.length >= 2 ? describe : describe.skip;
if (pythons.length < 2) console.warn("skipping PEX_PYTHON re-exec tests: fewer than two pyenv Pythons under ~/.pyenv/versions");

two("PEX_PYTHON", () => {
  const [first, last] = [pythons[0]!, pythons[pythons.length - 1]!];
  const minor = (v: string) => v.split(".").slice(0, 2).join(", ");

  it("re-executes the PEX under an absolute interpreter path, keeping options and arguments", async () => {
    const r = await run(first.python, ["-u", plain, "-c", `${SHOW}; print(sys.flags.unbuffered if hasattr(sys.flags, 'unbuffered') else sys.stdout.write_through)`, "a"], { env: { ...env, PEX_PYTHON: last.python } });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`(${minor(last.version)}) ['-c', 'a']\nTrue\n`);
  });

  it("finds a name on PEX_PYTHON_PATH (a directory or an interpreter file) and on PATH", async () => {
    const name = `python${minor(last.version).replace(", ", ".")}`;
    const binDir = path.dirname(last.python);
    const viaDir = await run(first.python, [entry, "b"], { env: { ...env, PEX_PYTHON: name, PEX_PYTHON_PATH: `/nonexistent${path.delimiter}${binDir}` } });
    expect(viaDir.stderr).toBe("");
    // The PEX's own entry point gets inject_args; PEX_PYTHON* are stripped from user code.
    expect(viaDir.stdout).toBe(`main (${minor(last.version)}) ['--injected', 'x', 'b'] []\n`);
    const viaFile = await run(first.python, [plain, "-c", SHOW], { env: { ...env, PEX_PYTHON: name, PEX_PYTHON_PATH: path.join(binDir, name) } });
    expect(viaFile.stdout).toBe(`(${minor(last.version)}) ['-c']\n`);
    const viaPath = await run(first.python, [plain, "-c", SHOW], { env: { ...env, PEX_PYTHON: name, PATH: `${binDir}${path.delimiter}${env.PATH ?? ""}` } });
    expect(viaPath.stdout).toBe(`(${minor(last.version)}) ['-c']\n`);
  });

  it("stays in the current interpreter when PEX_PYTHON is it", async () => {
    // (sys.executable is the python of child processes: a venv python of this interpreter.)
    const r = await run(first.python, [plain, "-c", "import sys, os; print(os.path.realpath(sys.executable), sorted(k for k in os.environ if 'PEX_PYTHON' in k))"], { env: { ...env, PEX_PYTHON: first.python } });
    expect(r.stdout).toBe(`${fs.realpathSync(first.python)} []\n`);
  });

  it("fails with one line when PEX_PYTHON is missing or fails the interpreter constraints", async () => {
    const missing = await run(first.python, [plain, "-c", "print(1)"], { env: { ...env, PEX_PYTHON: "python3.99-nope" } });
    expect(missing.status).toBe(1);
    expect(missing.stdout).toBe("");
    expect(missing.stderr).toBe(`${plain}: PEX_PYTHON=python3.99-nope was not found on PATH; install it, or set PEX_PYTHON to an absolute interpreter path.\n`);
    const noFile = await run(first.python, [plain], { env: { ...env, PEX_PYTHON: path.join(tmp, "no", "python") } });
    expect(noFile.stderr).toBe(`${plain}: PEX_PYTHON=${path.join(tmp, "no", "python")} does not exist or is not executable; set PEX_PYTHON to a Python interpreter path or a name on PATH.\n`);
    const notOnSearch = await run(first.python, [plain], { env: { ...env, PEX_PYTHON: "python3", PEX_PYTHON_PATH: tmp } });
    expect(notOnSearch.stderr).toBe(`${plain}: PEX_PYTHON=python3 was not found on PEX_PYTHON_PATH=${tmp}; install it, or set PEX_PYTHON to an absolute interpreter path.\n`);

    const constrained = (await buildPex(path.join(tmp, "constrained.pex"), { sourceDirectories: [src], interpreterConstraints: [`CPython==${first.version.split(".").slice(0, 2).join(".")}.*`] })).path;
    const ok = await run(last.python, [constrained, "-c", SHOW], { env: { ...env, PEX_PYTHON: first.python } });
    expect(ok.stdout).toBe(`(${minor(first.version)}) ['-c']\n`);
    const bad = await run(first.python, [constrained, "-c", SHOW], { env: { ...env, PEX_PYTHON: last.python } });
    expect(bad.status).toBe(1);
    expect(bad.stdout).toBe("");
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toContain(`does not satisfy the PEX's interpreter constraints (CPython==${first.version.split(".").slice(0, 2).join(".")}.*)`);
    expect(bad.stderr).toContain(`at ${last.python}, selected by PEX_PYTHON=${last.python})`);
  });
});

const three = pythons.length >= 3 ? describe : describe.skip;
if (pythons.length < 3) console.warn("skipping PEX_PYTHON_PATH selection tests: fewer than three pyenv Pythons under ~/.pyenv/versions");

three("PEX_PYTHON_PATH without PEX_PYTHON", () => {
  const [first, second, last] = [pythons[0]!, pythons[1]!, pythons[pythons.length - 1]!];
  const minor = (v: string) => v.split(".").slice(0, 2).join(", ");
  const dotted = (v: string) => v.split(".").slice(0, 2).join(".");

  it("keeps the current interpreter when it is listed and compatible, else picks the oldest compatible one", async () => {
    const stay = await run(last.python, [plain, "-c", "import os, sys; print(os.path.realpath(sys.executable))"], { env: { ...env, PEX_PYTHON_PATH: `${path.dirname(first.python)}${path.delimiter}${last.python}` } });
    expect(stay.stdout).toBe(`${fs.realpathSync(last.python)}\n`);
    const oldest = await run(last.python, [plain, "-c", SHOW], { env: { ...env, PEX_PYTHON_PATH: `${second.python}${path.delimiter}${path.dirname(first.python)}` } });
    expect(oldest.stderr).toBe("");
    expect(oldest.stdout).toBe(`(${minor(first.version)}) ['-c']\n`);
    const constrained = (await buildPex(path.join(tmp, "constrained-path.pex"), { sourceDirectories: [src], interpreterConstraints: [`CPython==${dotted(second.version)}.*`] })).path;
    const matching = await run(last.python, [constrained, "-c", SHOW], { env: { ...env, PEX_PYTHON_PATH: [first.python, second.python, last.python].join(path.delimiter) } });
    expect(matching.stdout).toBe(`(${minor(second.version)}) ['-c']\n`);
  });

  it("fails with one line naming what it tried when nothing there is compatible", async () => {
    const constrained = (await buildPex(path.join(tmp, "constrained-none.pex"), { sourceDirectories: [src], interpreterConstraints: [`CPython==${dotted(first.version)}.*`] })).path;
    const r = await run(last.python, [constrained, "-c", SHOW], { env: { ...env, PEX_PYTHON_PATH: last.python } });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      `${constrained}: no interpreter on PEX_PYTHON_PATH=${last.python} can run this PEX; tried ${last.python} (cpython ${last.version}: does not satisfy the PEX's interpreter constraints (CPython==${dotted(first.version)}.*)). Add a matching Python to PEX_PYTHON_PATH.\n`,
    );
  });
});

describe("inject_args follow pex", () => {
  it("are added for the PEX's entry point only: not in interpreter mode, not for PEX_MODULE / PEX_SCRIPT", async () => {
    const own = await run("python3", [entry, "a"], { env });
    expect(own.stdout).toMatch(/^main \(\d+, \d+\) \['--injected', 'x', 'a'\] \[\]\n$/);
    const interp = await run("python3", [entry, "-c", "import sys; print(sys.argv)", "a"], { env: { ...env, PEX_INTERPRETER: "1" } });
    expect(interp.stdout).toBe("['-c', 'a']\n");
    const module = await run("python3", [entry, "a"], { env: { ...env, PEX_MODULE: "app.other" } });
    expect(module.stdout).toBe("other ['a']\n");
  });
});

describe("PEX_TOOLS", () => {
  it("`info` prints PEX-INFO as JSON, with --indent", async () => {
    const info = await readPexInfo(entry);
    const r = await run("python3", [entry, "info"], { env: { ...env, PEX_TOOLS: "1" } });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const printed = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(printed.pex_hash).toBe(info.pexHash);
    expect(printed.entry_point).toBe("app.main:main");
    expect(printed.inject_args).toEqual(["--injected", "x"]);
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
    const indented = await run("python3", [entry, "info", "-i", "2"], { env: { ...env, PEX_TOOLS: "1" } });
    expect(indented.stdout).toContain('\n  "entry_point": "app.main:main",\n');
    expect(JSON.parse(indented.stdout)).toEqual(printed);
  });

  it("rejects other tools and bad arguments with one line, and PEX_TOOLS=0 runs the PEX", async () => {
    const graph = await run("python3", [entry, "graph"], { env: { ...env, PEX_TOOLS: "1" } });
    expect(graph.status).toBe(2);
    const usage = `usage: PEX_TOOLS=1 ${entry} info [-i INDENT | --indent INDENT] | venv [--force] DIR`;
    expect(graph.stderr).toBe(`${entry}: PEX_TOOLS command 'graph' is not available in a cluster-pack PEX (only \`info\` and \`venv\` are); unset PEX_TOOLS to run the PEX; ${usage}\n`);
    const badIndent = await run("python3", [entry, "info", "--indent", "two"], { env: { ...env, PEX_TOOLS: "1" } });
    expect(badIndent.status).toBe(2);
    expect(badIndent.stderr).toBe(`${entry}: --indent needs an integer, got 'two'; ${usage}\n`);
    const none = await run("python3", [entry], { env: { ...env, PEX_TOOLS: "1" } });
    expect(none.status).toBe(2);
    expect(none.stdout).toContain("usage: PEX_TOOLS=1");
    const off = await run("python3", [entry, "info"], { env: { ...env, PEX_TOOLS: "0" } });
    expect(off.stdout).toMatch(/^main .*\['--injected', 'x', 'info'\]/);
  });
});
