import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { downloadWheels, pipIndexUnavailable, pythonInterpreters } from "@cluster-pack/io/test-kit";
import { buildPex, readPexInfo } from "./index";
import { differential, REPL_DRIVER, writeInterpreterWorkdir } from "./test-kit/interpreter-cases";
import { cleanEnv, jsonLine, run, type RunResult } from "./test-kit/run";

// Venv execution mode (PEX-INFO venv / PEX_VENV), through real interpreters and real
// wheels from the configured index: the PEX re-executes a venv python, so sys.executable
// and every subprocess started with it (subprocess, multiprocessing spawn, console
// scripts in the venv's bin/) see the PEX's distributions and code.

jest.setTimeout(300_000);

const noPip = pipIndexUnavailable();
const pythons = pythonInterpreters();
const skipReason = noPip ?? (pythons.length ? undefined : "no pyenv Pythons under ~/.pyenv/versions");
if (skipReason) console.warn(`skipping PEX venv-mode tests: ${skipReason}`);
const suite = skipReason ? describe.skip : describe;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-pex-venv-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// Code the PEX ships: `where()` is called in spawned processes, `main` is the entry point.
const PROBE = `import json, os, sys

def where():
    import dateutil
    return {"executable": sys.executable, "prefix": sys.prefix, "dateutil": dateutil.__file__}

def main():
    print(json.dumps({"argv": sys.argv[1:], "executable": sys.executable, "pex": os.environ.get("PEX"),
                      "injected": os.environ.get("CP_INJECTED"), "pex_vars": sorted(k for k in os.environ if k.startswith("PEX_"))}))
    return 3
`;

// Everything the venv must provide, printed as one JSON line by `python env.pex -c CHECK`.
const CHECK = `
import json, multiprocessing, subprocess, sys
import app.probe
sub = subprocess.run([sys.executable, "-c", "import app.probe, dateutil.parser, six; print(dateutil.__file__)"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
with multiprocessing.get_context("spawn").Pool(1) as pool:
    spawned = pool.apply(app.probe.where)
print(json.dumps({"executable": sys.executable, "prefix": sys.prefix, "base_prefix": sys.base_prefix,
                  "sub": [sub.returncode, sub.stdout.strip(), sub.stderr], "spawned": spawned}))
`;

let wheels: string[] = [];
let src = "";
let venvPex = "";
let entryPex = "";
let zipPex = "";
let barePex = "";
let fallbackPex = "";
let preferPex = "";

beforeAll(async () => {
  if (skipReason) return;
  wheels = downloadWheels(["six==1.17.0", "python-dateutil==2.9.0.post0", "tqdm==4.70.1"]);
  src = path.join(tmp, "src");
  fs.mkdirSync(path.join(src, "app"), { recursive: true });
  fs.writeFileSync(path.join(src, "app", "__init__.py"), "");
  fs.writeFileSync(path.join(src, "app", "probe.py"), PROBE);
  const common = { wheels, sourceDirectories: [src] };
  venvPex = (await buildPex(path.join(tmp, "venv.pex"), { ...common, venv: true })).path;
  entryPex = (await buildPex(path.join(tmp, "entry.pex"), { ...common, venv: true, entryPoint: "app.probe:main", injectArgs: ["--injected"], injectEnv: { CP_INJECTED: "yes" } })).path;
  zipPex = (await buildPex(path.join(tmp, "zip.pex"), common)).path;
  fallbackPex = (await buildPex(path.join(tmp, "fallback.pex"), { ...common, venv: true, inheritPath: "fallback" })).path;
  preferPex = (await buildPex(path.join(tmp, "prefer.pex"), { ...common, venv: true, inheritPath: "prefer" })).path;
  barePex = (await buildPex(path.join(tmp, "bare.pex"), { venv: true })).path;
});

function rootEnv(name: string, extra: Record<string, string> = {}) {
  const root = path.join(tmp, "roots", name);
  return { root, env: cleanEnv({ PEX_ROOT: root, ...extra }) };
}

const json = (r: RunResult) => jsonLine(r);

/** The venv directories under PEX_ROOT: venvs/<pex_hash>/<interpreter key>. */
function venvDirs(root: string): string[] {
  const base = path.join(root, "venvs");
  if (!fs.existsSync(base)) return [];
  return fs
    .readdirSync(base)
    .flatMap((h) => fs.readdirSync(path.join(base, h)).map((k) => path.join(base, h, k)))
    .filter((d) => fs.statSync(d).isDirectory());
}

suite("venv mode on every Python", () => {
  it("records venv in PEX-INFO", async () => {
    expect((await readPexInfo(venvPex)).venv).toBe(true);
    expect((await readPexInfo(zipPex)).venv).toBe(false);
  });

  describe.each(pythons)("python $version", ({ version, python }) => {
    it("runs the PEX under its venv python; subprocesses, spawn and console scripts see the environment", async () => {
      const { root, env } = rootEnv(`each-${version}`);
      const out = json(await run(python, [venvPex, "-c", CHECK], { env, cwd: tmp }));
      const [venv] = venvDirs(root);
      expect(venvDirs(root)).toHaveLength(1);
      const info = await readPexInfo(venvPex);
      expect(path.dirname(venv!)).toBe(path.join(root, "venvs", info.pexHash!));
      expect(out.executable).toBe(path.join(venv!, "bin", "python"));
      expect(out.prefix).toBe(venv);
      expect(fs.realpathSync(out.base_prefix as string)).toBe(fs.realpathSync(path.join(path.dirname(python), "..")));
      const [status, dateutilFile, stderr] = out.sub as [number, string, string];
      expect({ status, stderr }).toEqual({ status: 0, stderr: "" });
      expect(dateutilFile.startsWith(path.join(root, "cp", "installed_wheels"))).toBe(true);
      expect(out.spawned).toEqual({ executable: out.executable, prefix: venv, dateutil: dateutilFile });
      // The venv layout `python -m venv` makes, for the base interpreter.
      const minor = version.split(".").slice(0, 2).join(".");
      for (const name of ["python", "python3", `python${minor}`]) expect(fs.realpathSync(path.join(venv!, "bin", name))).toBe(fs.realpathSync(python));
      const cfg = fs.readFileSync(path.join(venv!, "pyvenv.cfg"), "utf8");
      expect(cfg).toContain(`version = ${version}\n`);
      expect(cfg).toContain("include-system-site-packages = false\n");
      expect(cfg).toContain(`home = ${path.dirname(fs.realpathSync(python))}\n`);
      // tqdm's console script, with the venv python in its shebang.
      const script = path.join(venv!, "bin", "tqdm");
      expect(fs.readFileSync(script, "utf8").split("\n")[0]).toBe(`#!${path.join(venv!, "bin", "python")}`);
      const tqdm = await run(script, ["--version"], { env: cleanEnv() });
      expect({ status: tqdm.status, stdout: tqdm.stdout.trim(), stderr: tqdm.stderr }).toEqual({ status: 0, stdout: "4.70.1", stderr: "" });
      // A warm start reuses the venv.
      const again = json(await run(python, [venvPex, "-c", CHECK], { env, cwd: tmp }));
      expect(again.executable).toBe(out.executable);
      expect(venvDirs(root)).toHaveLength(1);
    });
  });
});

suite("venv mode behaviour", () => {
  const python = pythons[pythons.length - 1]?.python ?? "python3";

  it("runs the entry point with inject_args, inject_env, PEX exported, PEX_* stripped and its exit code", async () => {
    const { root, env } = rootEnv("entry", { PEX_VERBOSE: "0", CP_KEEP: "1" });
    const r = await run(python, [entryPex, "a", "b"], { env, cwd: tmp });
    expect(r.status).toBe(3);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out).toEqual({ argv: ["--injected", "a", "b"], executable: path.join(venvDirs(root)[0]!, "bin", "python"), pex: entryPex, injected: "yes", pex_vars: [] });
    // A user's value wins over inject_env, as in pex.
    const mine = await run(python, [entryPex], { env: { ...env, CP_INJECTED: "mine" }, cwd: tmp });
    expect((JSON.parse(mine.stdout) as { injected: string }).injected).toBe("mine");
  });

  it("honours PEX_MODULE, PEX_SCRIPT and PEX_INTERPRETER over the entry point", async () => {
    const { env } = rootEnv("overrides");
    const mod = await run(python, [entryPex, "x"], { env: { ...env, PEX_MODULE: "app.probe:where" }, cwd: tmp });
    // where() returns a dict: sys.exit(dict) prints it and exits 1, as python does.
    expect(mod.status).toBe(1);
    expect(mod.stderr).toContain("'executable':");
    const script = await run(python, [entryPex, "--version"], { env: { ...env, PEX_SCRIPT: "tqdm" }, cwd: tmp });
    expect({ status: script.status, stdout: script.stdout.trim() }).toEqual({ status: 0, stdout: "4.70.1" });
    const interp = await run(python, [entryPex, "-c", "import sys, six; print(sys.argv, sys.prefix != sys.base_prefix)", "q"], { env: { ...env, PEX_INTERPRETER: "1" }, cwd: tmp });
    expect({ status: interp.status, stdout: interp.stdout, stderr: interp.stderr }).toEqual({ status: 0, stdout: "['-c', 'q'] True\n", stderr: "" });
  });

  it("works for the packed layout (a PEX directory)", async () => {
    const { root, env } = rootEnv("packed");
    const packed = (await buildPex(path.join(tmp, "packed_venv"), { wheels, sourceDirectories: [src], venv: true, layout: "packed" })).path;
    const out = json(await run(python, [packed, "-c", CHECK], { env, cwd: tmp }));
    expect(out.executable).toBe(path.join(venvDirs(root)[0]!, "bin", "python"));
    expect((out.sub as unknown[]).slice(0, 1)).toEqual([0]);
  });

  it("PEX_VENV=1 turns venv mode on for a PEX built without it", async () => {
    const { root, env } = rootEnv("pex-venv-env");
    const show = "import json, sys; print(json.dumps({'executable': sys.executable, 'prefix': sys.prefix}))";
    const plain = json(await run(python, [zipPex, "-c", show], { env, cwd: tmp }));
    const venv = json(await run(python, [zipPex, "-c", show], { env: { ...env, PEX_VENV: "1" }, cwd: tmp }));
    expect(venvDirs(root)).toHaveLength(1);
    expect(venv).toEqual({ executable: path.join(venvDirs(root)[0]!, "bin", "python"), prefix: venvDirs(root)[0] });
    // Zipapp mode runs in the host interpreter (no second start) and gives the same venv
    // python to child processes as sys.executable.
    const hostPrefix = (await run(python, ["-c", "import sys; print(sys.prefix)"])).stdout.trim();
    expect(plain).toEqual({ executable: venv.executable, prefix: hostPrefix });
  });

  it("makes a relative PEX_ROOT absolute before baking it into the venv", async () => {
    const cwd = path.join(tmp, "relative");
    fs.mkdirSync(cwd, { recursive: true });
    const out = json(await run(python, [venvPex, "-c", CHECK], { env: cleanEnv({ PEX_ROOT: "./.pex" }), cwd }));
    const venv = venvDirs(path.join(cwd, ".pex"))[0]!;
    expect(out.executable).toBe(path.join(venv, "bin", "python"));
    expect((out.sub as unknown[])[0]).toBe(0);
    expect(fs.readFileSync(path.join(venv, "bin", "tqdm"), "utf8").startsWith(`#!${cwd}/.pex/`)).toBe(true);
  });

  it("console scripts of a venv whose path is too long for a shebang start through the /bin/sh trampoline", async () => {
    const { root, env } = rootEnv(`long-${"x".repeat(120)}`);
    json(await run(python, [venvPex, "-c", "import json; print(json.dumps({}))"], { env, cwd: tmp }));
    const script = path.join(venvDirs(root)[0]!, "bin", "tqdm");
    expect(fs.readFileSync(script, "utf8").split("\n")[0]).toBe("#!/bin/sh");
    const r = await run(script, ["--version"], { env: cleanEnv() });
    expect({ status: r.status, stdout: r.stdout.trim(), stderr: r.stderr }).toEqual({ status: 0, stdout: "4.70.1", stderr: "" });
  });

  it("inherit_path: fallback puts the host site-packages after the PEX's entries, prefer before, false leaves them out", async () => {
    const { root, env } = rootEnv("inherit");
    // pip is in every pyenv interpreter's own site-packages, never in the PEX. `order`: is
    // the host's pip directory on sys.path before the PEX's six (in the subprocess too)?
    const code = [
      "import importlib.util as u, json, os, subprocess, sys",
      "def order(path):",
      "    six = [i for i, p in enumerate(path) if os.path.isfile(os.path.join(p, 'six.py'))][0]",
      "    pip = [i for i, p in enumerate(path) if os.path.isdir(os.path.join(p, 'pip'))]",
      "    return 'none' if not pip else 'host first' if pip[0] < six else 'pex first'",
      "sub = subprocess.check_output([sys.executable, '-c', 'import json, sys; print(json.dumps(sys.path))'])",
      "print(json.dumps({'pip': u.find_spec('pip') is not None, 'six': u.find_spec('six').origin, 'order': order(sys.path), 'sub': order(json.loads(sub))}))",
    ].join("\n");
    const fallback = json(await run(python, [fallbackPex, "-c", code], { env, cwd: tmp }));
    const prefer = json(await run(python, [preferPex, "-c", code], { env, cwd: tmp }));
    const isolated = json(await run(python, [venvPex, "-c", code], { env, cwd: tmp }));
    expect([fallback.pip, prefer.pip, isolated.pip]).toEqual([true, true, false]);
    expect([fallback.order, prefer.order, isolated.order]).toEqual(["pex first", "host first", "none"]);
    expect([fallback.sub, prefer.sub, isolated.sub]).toEqual(["pex first", "host first", "none"]);
    for (const out of [fallback, prefer, isolated]) expect((out.six as string).startsWith(path.join(root, "cp"))).toBe(true);
    const cfgs = venvDirs(root).map((d) => fs.readFileSync(path.join(d, "pyvenv.cfg"), "utf8").match(/include-system-site-packages = (\w+)/)![1]);
    expect(cfgs.sort()).toEqual(["false", "true", "true"]);
  });

  it("50 concurrent cold starts all succeed and share one venv", async () => {
    const { root, env } = rootEnv("concurrent");
    const code = "import json, sys, dateutil; print(json.dumps({'executable': sys.executable}))";
    const results = await Promise.all(Array.from({ length: 50 }, () => run(python, [venvPex, "-c", code], { env, cwd: tmp })));
    const failed = results.filter((r) => r.status !== 0);
    expect(failed.map((r) => r.stderr)).toEqual([]);
    const executables = new Set(results.map((r) => (JSON.parse(r.stdout) as { executable: string }).executable));
    expect([...executables]).toEqual([path.join(venvDirs(root)[0]!, "bin", "python")]);
    expect(venvDirs(root).filter((d) => /\.tmp-/.test(d))).toEqual([]);
  });

  it("a killed or half-done creation is never trusted: leftovers are removed and the venv rebuilt", async () => {
    const { root, env } = rootEnv("killed");
    const code = "import json, sys, six; print(json.dumps({'executable': sys.executable}))";
    // A creator killed at an arbitrary point (whatever it left must not break the next start).
    const { spawn } = await import("node:child_process");
    const child = spawn(python, [venvPex, "-c", code], { env, cwd: tmp, stdio: "ignore" });
    const closed = new Promise((r) => child.on("close", r));
    await new Promise((r) => setTimeout(r, 150));
    child.kill("SIGKILL");
    await closed;
    const first = json(await run(python, [venvPex, "-c", code], { env, cwd: tmp }));
    const venv = path.dirname(path.dirname(first.executable as string));
    // Simulate the states a kill can leave: a temporary sibling, and a venv without its plan.
    fs.mkdirSync(`${venv}.tmp-1-deadbeef/bin`, { recursive: true });
    fs.unlinkSync(path.join(venv, "pex-plan.marshal"));
    const second = json(await run(python, [venvPex, "-c", code], { env, cwd: tmp }));
    expect(second.executable).toBe(first.executable);
    expect(fs.existsSync(path.join(venv, "pex-plan.marshal"))).toBe(true);
    expect(fs.readdirSync(path.dirname(venv)).filter((n) => n.includes(".tmp-"))).toEqual([]);
    expect(venvDirs(root)).toEqual([venv]);
  });

  it("PEX_PYTHON selects the interpreter the venv is made for; PEX_PATH PEXes join the venv", async () => {
    if (pythons.length < 2) return console.warn("skipped: fewer than two pyenv Pythons");
    const { env } = rootEnv("pex-python");
    const [a, b] = [pythons[0]!, pythons[pythons.length - 1]!];
    const code = "import json, os, sys, six; print(json.dumps({'executable': sys.executable, 'version': list(sys.version_info[:2]), 'vars': sorted(k for k in os.environ if 'PEX' in k)}))";
    const out = json(await run(a.python, [venvPex, "-c", code], { env: { ...env, PEX_PYTHON: b.python }, cwd: tmp }));
    expect(out.version).toEqual(b.version.split(".").slice(0, 2).map(Number));
    expect(fs.realpathSync(out.executable as string)).toBe(fs.realpathSync(b.python));
    expect(out.vars).toEqual(["PEX"]);
    // tqdm only in the zipapp PEX named by PEX_PATH: importable in the venv and in its subprocesses.
    const withPath = `import subprocess, sys, tqdm; print(tqdm.__version__); subprocess.check_call([sys.executable, "-c", "import tqdm"])`;
    const joined = await run(python, [barePex, "-c", withPath], { env: { ...env, PEX_PATH: zipPex }, cwd: tmp });
    expect({ status: joined.status, stdout: joined.stdout, stderr: joined.stderr }).toEqual({ status: 0, stdout: "4.70.1\n", stderr: "" });
    const alone = await run(python, [barePex, "-c", "import tqdm"], { env, cwd: tmp });
    expect(alone.stderr).toContain("No module named 'tqdm'");
  });

  it("two interpreters get two venvs", async () => {
    if (pythons.length < 2) return console.warn("skipped: fewer than two pyenv Pythons");
    const { root, env } = rootEnv("two");
    const [a, b] = [pythons[0]!, pythons[pythons.length - 1]!];
    const code = "import json, sys; print(json.dumps({'executable': sys.executable, 'version': list(sys.version_info[:2])}))";
    const outA = json(await run(a.python, [venvPex, "-c", code], { env, cwd: tmp }));
    const outB = json(await run(b.python, [venvPex, "-c", code], { env, cwd: tmp }));
    expect(outA.executable).not.toBe(outB.executable);
    expect(venvDirs(root)).toHaveLength(2);
    expect(fs.realpathSync(outA.executable as string)).toBe(fs.realpathSync(a.python));
    expect(fs.realpathSync(outB.executable as string)).toBe(fs.realpathSync(b.python));
  });

  it("runs in the venv with PYTHONHOME set (site still reads pyvenv.cfg)", async () => {
    const { root, env } = rootEnv("pythonhome");
    const home = path.join(path.dirname(fs.realpathSync(python)), "..");
    const out = json(await run(python, [venvPex, "-c", CHECK], { env: { ...env, PYTHONHOME: home }, cwd: tmp }));
    expect(out.executable).toBe(path.join(venvDirs(root)[0]!, "bin", "python"));
    expect((out.sub as unknown[])[0]).toBe(0);
  });
});

// The interpreter emulation in venv mode, through the differential cases the zipapp mode
// passes. On the oldest and newest Python only: they cover both ways the runtime recovers
// the options given before the PEX path (sys.flags on 3.8/3.9, sys.orig_argv on 3.10+)
// and interpreter.test.ts already runs every case on every Python in zipapp mode.
suite("venv mode behaves like python", () => {
  const work = path.join(tmp, "work");
  beforeAll(() => writeInterpreterWorkdir(work));
  const ends = pythons.length > 1 ? [pythons[0]!, pythons[pythons.length - 1]!] : pythons;

  describe.each(ends)("python $version", ({ python }) => {
    it("gives the same output, errors and exit status for every command line", async () => {
      const { env } = rootEnv("differential");
      // By design sys.executable is the venv python, so the messages python prints with
      // its own path (runpy's "No module named", usage errors) name the venv python.
      const venvPython = /\S+\/venvs\/[0-9a-f]+\/[0-9a-f]+\/bin\/python/g;
      const { expected, actual } = await differential(python, barePex, work, env, (r) => ({ ...r, stderr: r.stderr.replace(venvPython, python) }));
      expect(actual).toEqual(expected);
    });

    it("-X importtime (separated) reaches the interpreter", async () => {
      const { env } = rootEnv("differential");
      const r = await run(python, [barePex, "-X", "importtime", "-c", "import json"], { cwd: work, env });
      expect(r.status).toBe(0);
      expect(r.stderr).toMatch(/import time:.*\| json$/m);
    });

    it("starts the REPL on a terminal", async () => {
      const { env } = rootEnv("differential");
      const r = await run(python, ["-c", REPL_DRIVER, python, barePex], { cwd: work, env });
      expect(r.stdout).toContain("R [''] 42");
      expect(r.stdout).toContain('Type "help", "copyright", "credits" or "license" for more information.');
      expect(r.stdout).toContain("EXIT 0");
    });
  });
});
