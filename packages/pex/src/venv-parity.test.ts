import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeWheel } from "@cluster-pack/pip/test-kit";
import { downloadWheels, pipUnavailableReason, pyenvPythons } from "@cluster-pack/wheel/test-kit/wheels";
import { buildPex } from "./index";
import { cleanEnv, run } from "./test-kit/run";

// Differential tests: the same distributions pip-installed into a real venv (`python -m
// venv`, pip from the interpreter, the wheels from the configured mirror and two made
// here) and packed into a PEX, run in zipapp and in venv mode, must show the same .pth
// effects in the same order, the same importlib.metadata files, no importable bin/ share/
// include/, and PEX_EXTRA_SYS_PATH / PEX_INHERIT_PATH with one meaning in both modes.

jest.setTimeout(600_000);

const noPip = pipUnavailableReason();
const pythons = pyenvPythons();
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
  r = spawnSync(path.join(venv, "bin", "python"), ["-c", "import runpy, sys; sys.path.extend(sys.argv[1:2]); sys.argv[:] = ['pip'] + sys.argv[2:]; runpy.run_module('pip', run_name='__main__')", pipDir(python), "install", "-q", "--no-deps", "--no-index", "--no-compile", "--ignore-requires-python", "--disable-pip-version-check", ...wheels], {
    encoding: "utf8",
    env: { ...cleanEnv(), PIP_CONFIG_FILE: os.devnull },
  });
  if (r.status !== 0) throw new Error(`pip install into ${venv} failed: ${r.stderr}`);
  return venv;
}

function pipDir(python: string): string {
  const r = spawnSync(python, ["-c", "import os, pip; print(os.path.dirname(os.path.dirname(pip.__file__)))"], { encoding: "utf8" });
  return r.stdout.trim();
}

function json(r: { status: number | null; stdout: string; stderr: string }): Record<string, unknown> {
  if (r.status !== 0 || r.stderr) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
}

suite("a PEX behaves like a venv of the same distributions", () => {
  describe.each(pythons)("python $version", ({ version, python }) => {
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
