import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeWheel } from "@cluster-pack/pip/test-kit";
import { downloadWheels, pipIndexUnavailable, pythonInterpreters, pythonMatrix } from "@cluster-pack/io/test-kit";
import { buildPex } from "./index";
import { cleanEnv, jsonLine, run, type RunResult } from "./test-kit/run";

// Differential tests: the same distributions pip-installed into a real venv (`python -m
// venv`, pip from the interpreter, the wheels from the configured mirror and two made
// here) and packed into a PEX, run in zipapp and in venv mode, must show the same .pth
// effects in the same order, the same importlib.metadata files, no importable bin/ share/
// include/, and PEX_EXTRA_SYS_PATH / PEX_INHERIT_PATH with one meaning in both modes.
//
// The per-interpreter suites run on the oldest and newest pyenv Python and 3.11 (the one
// the mirror has coverage for); CP_ALL_PYTHONS=1 runs them on every 3.8-3.13 (about
// 330 s here, too long for every CI run).

jest.setTimeout(600_000);

const noPip = pipIndexUnavailable();
const pythons = pythonInterpreters();
const matrix = pythonMatrix(pythons);
const skipReason = noPip ?? (pythons.length ? undefined : "no pyenv Pythons under ~/.pyenv/versions");
if (skipReason) console.warn(`skipping PEX/venv parity tests: ${skipReason}`);
const suite = skipReason ? describe.skip : describe;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-pex-parity-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// Each probe .pth records, when it runs, which of the watched modules other .pth files
// imported before it: that gives the order against setuptools' distutils-precedence.pth,
// coverage's a1_coverage.pth and sphinxcontrib-jsmath's -nspkg.pth.
const probePth = (name: string) =>
  `import sys; sys.cp_pth = getattr(sys, 'cp_pth', []) + [(${JSON.stringify(name)}, sorted(m for m in ('coverage', '_distutils_hack', 'sphinxcontrib') if m in sys.modules))]\n`;

const PROBE = `
import importlib.metadata as md, importlib.util as u, json, os, sys
def norm(p):
    for k, v in (("ROOT", os.environ["CP_ROOT"]),):
        p = p.replace(v, k)
    return p
files = md.files("cp-data-demo")
extra_dir = [i for i, p in enumerate(sys.path) if p.endswith("pth_added")]
demo = [i for i, p in enumerate(sys.path) if os.path.isfile(os.path.join(p, "cp_data_demo", "__init__.py"))]
print(json.dumps({
    # First runs only: some CPython builds' site runs a venv's .pth files twice (site.venv()
    # and site.main() both call addsitepackages); that quirk is not what is compared.
    "pth": [r for i, r in enumerate(getattr(sys, "cp_pth", [])) if r[0] not in [q[0] for q in getattr(sys, "cp_pth", [])[:i]]],
    "shim": any(type(f).__name__ == "DistutilsMetaFinder" for f in sys.meta_path),
    "nspkg": list(getattr(sys.modules.get("sphinxcontrib"), "__path__", []))[:1] != [],
    "importable": [n for n in ("bin", "share", "include") if u.find_spec(n) is not None],
    "files": sorted(str(f).replace("python%d.%d" % sys.version_info[:2], "pythonX.Y") for f in files if f.name not in ("direct_url.json", "REQUESTED", "INSTALLER")),
    "located": sorted(str(f) for f in files if not f.locate().exists()),
    "tool": open(str([f for f in files if f.name == "cp-demo-tool"][0].locate())).read(),
    "pth_dir_after_demo": bool(extra_dir and demo and extra_dir[0] > demo[0]),
}))
`;

let demoWheels: string[] = [];
beforeAll(async () => {
  if (skipReason) return;
  const dir = path.join(tmp, "made");
  demoWheels = [
    await writeWheel(dir, {
      name: "cp-data-demo",
      version: "1.0",
      scripts: { "cp-demo": "cp_data_demo:main" },
      files: {
        "a0_probe.pth": probePth("a0"),
        "zz_probe.pth": `${probePth("zz")}pth_added\n`,
        "pth_added/marker.txt": "x\n",
        "cp_data_demo-1.0.data/scripts/cp-demo-tool": "#!python\nprint('tool')\n",
        "cp_data_demo-1.0.data/data/share/cp-data-demo/data.txt": "data\n",
        "cp_data_demo-1.0.data/headers/demo.h": "int demo;\n",
      },
    }),
    await writeWheel(dir, { name: "cp-pth-other", version: "1.0", files: { "b0_probe.pth": probePth("b0") } }),
  ];
});

function venvOf(python: string, wheels: string[], name: string): string {
  const venv = path.join(tmp, name);
  let r = spawnSync(python, ["-m", "venv", "--without-pip", venv], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`python -m venv failed: ${r.stderr}`);
  // pip of the base interpreter installs into the venv (--prefix would not write a venv's
  // RECORD paths; --python is pip >= 22.3 only): run it with the venv's site-packages.
  r = spawnSync(path.join(venv, "bin", "python"), ["-c", "import runpy, sys; sys.path.extend(sys.argv[1:2]); sys.argv[:] = ['pip'] + sys.argv[2:]; runpy.run_module('pip', run_name='__main__')", pipDir(python), "install", "-q", "--no-deps", "--no-index", "--ignore-installed", "--no-compile", "--ignore-requires-python", "--disable-pip-version-check", ...wheels], {
    encoding: "utf8",
    env: { ...cleanEnv(), PIP_CONFIG_FILE: os.devNull },
  });
  if (r.status !== 0) throw new Error(`pip install into ${venv} failed: ${r.stderr}`);
  return venv;
}

function pipDir(python: string): string {
  const r = spawnSync(python, ["-c", "import os, pip; print(os.path.dirname(os.path.dirname(pip.__file__)))"], { encoding: "utf8" });
  return r.stdout.trim();
}

const json = (r: RunResult) => jsonLine(r, { quiet: true });

suite("a PEX behaves like a venv of the same distributions", () => {
  describe.each(matrix)("python $version", ({ version, python }) => {
    const minor = version.split(".").slice(0, 2).join(".");
    // The mirror has coverage for CPython 3.11 only; setuptools and sphinxcontrib-jsmath are pure.
    const real = () => [...downloadWheels(["setuptools==84.0.0", "sphinxcontrib-jsmath==1.0.1"]), ...(minor === "3.11" ? downloadWheels(["coverage==7.16.2"]) : [])];

    it(".pth files run in venv order, .data stays out of the importable root, importlib.metadata reports venv paths", async () => {
      const wheels = [...real(), ...demoWheels];
      const venv = venvOf(python, wheels, `venv-${version}`);
      const pex = (await buildPex(path.join(tmp, `parity-${version}.pex`), { wheels })).path;
      const root = path.join(tmp, `root-${version}`);
      const cwd = fs.mkdtempSync(path.join(tmp, "cwd-"));
      fs.writeFileSync(path.join(cwd, ".coveragerc"), "[run]\ndata_file = .cov\n");
      const env = cleanEnv({ PEX_ROOT: root, CP_ROOT: root, COVERAGE_PROCESS_START: path.join(cwd, ".coveragerc") });
      const inVenv = json(await run(path.join(venv, "bin", "python"), ["-c", PROBE], { env, cwd }));
      const zipapp = json(await run(python, [pex, "-c", PROBE], { env, cwd }));
      const venvMode = json(await run(python, [pex, "-c", PROBE], { env: { ...env, PEX_VENV: "1" }, cwd }));
      const expectedPth = [
        ["a0", []],
        ["b0", minor === "3.11" ? ["coverage"] : []],
        ["zz", minor === "3.11" ? ["_distutils_hack", "coverage", "sphinxcontrib"] : ["_distutils_hack", "sphinxcontrib"]],
      ];
      expect(inVenv.pth).toEqual(expectedPth);
      expect(inVenv).toMatchObject({ shim: true, nspkg: true, importable: [], located: [], tool: "#!" + path.join(venv, "bin", "python") + "\nprint('tool')\n", pth_dir_after_demo: true });
      expect(inVenv.files).toEqual(
        expect.arrayContaining(["../../../bin/cp-demo", "../../../bin/cp-demo-tool", "../../../share/cp-data-demo/data.txt", "cp_data_demo/__init__.py", "zz_probe.pth"]),
      );
      for (const viaPex of [zipapp, venvMode]) {
        // The extracted script keeps the installer's #!python (venv mode writes launchers with
        // the venv python into the venv's bin/); everything else is the venv's.
        expect({ ...viaPex, tool: undefined }).toEqual({ ...inVenv, tool: undefined });
        expect(viaPex.tool).toBe("#!python\nprint('tool')\n");
      }
    });
  });
});

// Where the host's pip (in every pyenv interpreter's own site-packages, never in the PEX)
// and extra directories sit on sys.path relative to the PEX's six, in the process and in a
// subprocess started with sys.executable.
const ORDER = `
import json, os, subprocess, sys
def order(path):
    # The six of the PEX (or of the venv compared); a host may have its own.
    six = ([i for i, p in enumerate(path) if os.path.isfile(os.path.join(p, "six.py")) and p.startswith(os.environ["CP_ROOT"])] or [None])[0]
    if six is None:
        return "no six"
    pip = [i for i, p in enumerate(path) if os.path.isdir(os.path.join(p, "pip"))]
    extra = [i for i, p in enumerate(path) if os.path.isfile(os.path.join(p, "cp_extra_mod.py"))]
    return {"host": "none" if not pip else "before" if pip[0] < six else "after", "extra": "none" if not extra else "before" if extra[0] < six else "after"}
sub = json.loads(subprocess.check_output([sys.executable, "-c", "import json, sys; print(json.dumps(sys.path))"]))
import six
print(json.dumps({"here": order(sys.path), "sub": order(sub), "six": six.__file__.startswith(os.environ["CP_ROOT"]), "vars": sorted(k for k in os.environ if k.startswith("PEX_"))}))
`;

suite("PEX_INHERIT_PATH and PEX_EXTRA_SYS_PATH mean the same in both modes, and what a venv does", () => {
  describe.each(matrix)("python $version", ({ version, python }) => {
    it("PEX_INHERIT_PATH=true/prefer/fallback/false: venv mode no longer crashes and agrees with zipapp mode", async () => {
      const [six] = downloadWheels(["six==1.17.0"]);
      const pex = (await buildPex(path.join(tmp, `inherit-${version}.pex`), { wheels: [six!] })).path;
      const root = path.join(tmp, `inherit-root-${version}`);
      const env = cleanEnv({ PEX_ROOT: root, CP_ROOT: root });
      const results: Record<string, unknown> = {};
      for (const value of ["true", "prefer", "fallback", "false"]) {
        const zipapp = json(await run(python, [pex, "-c", ORDER], { env: { ...env, PEX_INHERIT_PATH: value }, cwd: tmp }));
        const venvMode = json(await run(python, [pex, "-c", ORDER], { env: { ...env, PEX_INHERIT_PATH: value, PEX_VENV: "1" }, cwd: tmp }));
        // A zipapp's child processes get the venv python as sys.executable: the same sys.path.
        expect({ value, ...venvMode }).toEqual({ value, ...zipapp });
        results[value] = (venvMode.here as { host: string }).host;
        expect((venvMode.sub as { host: string }).host).toBe(results[value]);
      }
      expect(results).toEqual({ true: "before", prefer: "before", fallback: "after", false: "none" });
      // fallback is a venv made with --system-site-packages.
      const sysVenv = path.join(tmp, `system-site-${version}`);
      expect(spawnSync(python, ["-m", "venv", "--without-pip", "--system-site-packages", sysVenv]).status).toBe(0);
      const sp = spawnSync(path.join(sysVenv, "bin", "python"), ["-c", "import site; print(site.getsitepackages()[0])"], { encoding: "utf8" }).stdout.trim();
      spawnSync("unzip", ["-q", "-o", six!, "six.py", "-d", sp]);
      const inVenv = json(await run(path.join(sysVenv, "bin", "python"), ["-c", ORDER], { env: { ...env, CP_ROOT: sysVenv }, cwd: tmp }));
      expect(inVenv.here).toEqual({ host: "after", extra: "none" });
    });

    it("PEX_EXTRA_SYS_PATH is appended after the PEX's distributions in both modes, as a venv's .pth line does, and reaches subprocesses", async () => {
      const [six] = downloadWheels(["six==1.17.0"]);
      const pex = (await buildPex(path.join(tmp, `extra-${version}.pex`), { wheels: [six!] })).path;
      const extra = path.join(tmp, `extra-dir-${version}`);
      fs.mkdirSync(extra, { recursive: true });
      fs.writeFileSync(path.join(extra, "cp_extra_mod.py"), "");
      fs.writeFileSync(path.join(extra, "six.py"), "raise ImportError('the extra six shadowed the PEX six')\n");
      const root = path.join(tmp, `extra-root-${version}`);
      const env = cleanEnv({ PEX_ROOT: root, CP_ROOT: root, PEX_EXTRA_SYS_PATH: `${extra}${path.delimiter}/nonexistent` });
      const zipapp = json(await run(python, [pex, "-c", ORDER], { env, cwd: tmp }));
      const venvMode = json(await run(python, [pex, "-c", ORDER], { env: { ...env, PEX_VENV: "1" }, cwd: tmp }));
      expect(zipapp).toMatchObject({ here: { host: "none", extra: "after" }, sub: { host: "none", extra: "after" }, six: true, vars: [] });
      expect(venvMode).toEqual(zipapp);
      // The venv equivalent: a path line in a .pth of its site-packages.
      const v = venvOf(python, [six!], `extra-venv-${version}`);
      const sp = spawnSync(path.join(v, "bin", "python"), ["-c", "import site; print(site.getsitepackages()[0])"], { encoding: "utf8" }).stdout.trim();
      fs.writeFileSync(path.join(sp, "zz_extra.pth"), `${extra}\n`);
      const inVenv = json(await run(path.join(v, "bin", "python"), ["-c", ORDER], { env: { ...env, CP_ROOT: v }, cwd: tmp }));
      expect(inVenv.here).toEqual(zipapp.here);
      expect(inVenv.sub).toEqual(venvMode.sub);
    });
  });
});

suite("interpreter search: an interpreter that cannot run the PEX re-executes under one on PEX_PYTHON_PATH or PATH that can", () => {
  const SHOW = "import sys; print('%d.%d' % sys.version_info[:2], sys.argv[1:])";
  const minorOf = (v: string) => v.split(".").slice(0, 2).join(".");

  it("by interpreter constraints, searching PATH (the oldest compatible version), and by wheels", async () => {
    if (pythons.length < 3) return console.warn("skipped: fewer than three pyenv Pythons");
    const [first, second, last] = [pythons[0]!, pythons[1]!, pythons[pythons.length - 1]!];
    const src = path.join(tmp, "search-src");
    fs.mkdirSync(src, { recursive: true });
    fs.writeFileSync(path.join(src, "m.py"), "");
    const pex = (await buildPex(path.join(tmp, "search.pex"), { sourceDirectories: [src], interpreterConstraints: [`CPython>=${minorOf(second.version)}`] })).path;
    const bins = pythons.map((p) => path.dirname(p.python)).join(path.delimiter);
    const env = cleanEnv({ PEX_ROOT: path.join(tmp, "search-root"), PATH: `${bins}${path.delimiter}/usr/bin:/bin` });
    const r = await run(first.python, [pex, "-c", SHOW, "a"], { env });
    expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: 0, stdout: `${minorOf(second.version)} ['a']\n`, stderr: "" });
    // Compatible already: no search, no re-exec.
    expect((await run(last.python, [pex, "-c", SHOW], { env })).stdout).toBe(`${minorOf(last.version)} []\n`);
    // PEX_PYTHON_PATH, when set, is where it searches.
    const viaPath = await run(first.python, [pex, "-c", SHOW], { env: { ...env, PEX_PYTHON_PATH: last.python } });
    expect(viaPath.stdout).toBe(`${minorOf(last.version)} []\n`);
  });

  it("finds the interpreter a PEX's wheels need (coverage: CPython 3.11 only in the mirror)", async () => {
    const py311 = pythons.find((p) => p.version.startsWith("3.11."));
    const other = pythons.find((p) => !p.version.startsWith("3.11."));
    if (!py311 || !other) return console.warn("skipped: needs pyenv CPython 3.11 and another version");
    const pex = (await buildPex(path.join(tmp, "wheels-search.pex"), { wheels: downloadWheels(["coverage==7.16.2"]) })).path;
    const env = cleanEnv({ PEX_ROOT: path.join(tmp, "wheels-search-root"), PATH: `${path.dirname(other.python)}${path.delimiter}${path.dirname(py311.python)}${path.delimiter}/usr/bin:/bin` });
    const code = "import coverage, sys; print('%d.%d' % sys.version_info[:2], coverage.__version__)";
    const r = await run(other.python, [pex, "-c", code], { env });
    const venv = venvOf(py311.python, downloadWheels(["coverage==7.16.2"]), "coverage-venv");
    const inVenv = await run(path.join(venv, "bin", "python"), ["-c", code], { env });
    expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: 0, stdout: inVenv.stdout, stderr: "" });
    expect(inVenv.stdout).toBe("3.11 7.16.2\n");
  });

  it("fails with one line naming every interpreter tried when none fits", async () => {
    const [first, last] = [pythons[0]!, pythons[pythons.length - 1]!];
    const src = path.join(tmp, "none-src");
    fs.mkdirSync(src, { recursive: true });
    fs.writeFileSync(path.join(src, "m.py"), "");
    const pex = (await buildPex(path.join(tmp, "none.pex"), { sourceDirectories: [src], interpreterConstraints: ["CPython==3.99.*"] })).path;
    const env = cleanEnv({ PEX_ROOT: path.join(tmp, "none-root"), PATH: `${path.dirname(last.python)}${path.delimiter}${path.dirname(first.python)}` });
    const r = await run(first.python, [pex, "-c", "pass"], { env });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^${pex.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: no interpreter on PATH can run this PEX; tried .*${path.dirname(last.python).replace(/[.]/g, "\\.")}/python[0-9.]* \\(cpython ${last.version.replace(/[.]/g, "\\.")}: does not satisfy the PEX's interpreter constraints \\(CPython==3\\.99\\.\\*\\)\\).*${path.dirname(first.python).replace(/[.]/g, "\\.")}/python[0-9.]* \\(cpython ${first.version.replace(/[.]/g, "\\.")}: .*Add a matching Python to PATH \\(or set PEX_PYTHON_PATH\\)\\.$`));
  });
});
