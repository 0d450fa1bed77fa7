import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { downloadWheels, pipIndexUnavailable, pythonInterpreters } from "@cluster-pack/io/test-kit";
import { buildPex } from "./index";
import { cleanEnv, jsonLine, run } from "./test-kit/run";

// Child processes of a zipapp PEX (issue 17.6): the PEX runs in the host interpreter (no
// second start), and gives its children the python of its venv as sys.executable, so that
// `subprocess.run([sys.executable, ...])` (torchrun, Ray, Dask nannies, test suites) sees
// the PEX's distributions and code, while `python -m venv`, sysconfig,
// site.getsitepackages() and multiprocessing answer and work as they do outside a PEX.
// Real interpreters 3.8-3.13, real wheels.

jest.setTimeout(300_000);
const noPip = pipIndexUnavailable();
const pythons = pythonInterpreters();
const skip = noPip ?? (pythons.length ? undefined : "no pyenv Pythons under ~/.pyenv/versions");
if (skip) console.warn(`skipping child-process tests: ${skip}`);
const d = skip ? describe.skip : describe;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-pex-children-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 5 }));

// The PEX's own code: functions the spawned processes run.
const PROBE = `import os, sys

def where():
    import six, app.probe
    return {"six": six.__file__.startswith(os.environ["CP_ROOT"]), "executable": sys.executable}
`;

// Run as a script by the PEX (functions defined in __main__ must pickle under spawn).
const SCRIPT = `
import json, multiprocessing, os, site, subprocess, sys, sysconfig, venv

def in_main(x):
    import six
    return [x * 2, six.__file__.startswith(os.environ["CP_ROOT"])]

def sub(*args):
    r = subprocess.run([sys.executable] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    try:
        shown = json.loads(r.stdout)
    except ValueError:
        shown = r.stdout.strip()
    return [r.returncode, shown, r.stderr.strip()[-300:]]

if __name__ == "__main__":
    import app.probe
    out = {"executable": sys.executable, "real": os.path.realpath(sys.executable), "prefix": sys.prefix,
           "site": site.getsitepackages(), "paths": sysconfig.get_paths(), "where": app.probe.where()}
    out["sub"] = sub("-c", "import json, six, app.probe; print(json.dumps(app.probe.where()))")
    out["isolated"] = sub("-I", "-c", "import six; print('ok')")
    out["sub_site"] = sub("-c", "import json, site, sys; print(json.dumps([sys.prefix != sys.base_prefix, site.getsitepackages()]))")
    # python -m venv through sys.executable, and venv in-process: plain venvs of the base
    # interpreter, without the PEX's distributions.
    made = os.path.join(os.environ["CP_WORK"], "made-by-sub")
    out["m_venv"] = sub("-m", "venv", "--without-pip", made)
    made_py = os.path.join(made, "bin", "python")
    r = subprocess.run([made_py, "-c", "import json, sys\\ntry:\\n    import six; s = True\\nexcept ImportError:\\n    s = False\\nprint(json.dumps([sys.base_prefix, s]))"], stdout=subprocess.PIPE, universal_newlines=True)
    out["m_venv_python"] = json.loads(r.stdout)
    inproc = os.path.join(os.environ["CP_WORK"], "made-in-process")
    venv.EnvBuilder(with_pip=False).create(inproc)
    r = subprocess.run([os.path.join(inproc, "bin", "python"), "-c", "import sys; print(sys.base_prefix)"], stdout=subprocess.PIPE, universal_newlines=True)
    out["inproc_venv_base"] = r.stdout.strip()
    for method in ("spawn", "forkserver", "fork"):
        with multiprocessing.get_context(method).Pool(1) as pool:
            out[method] = [pool.apply(in_main, (21,)), pool.apply(app.probe.where)]
    out["again"] = sub(os.environ["PEX"], "-c", "import json, six, sys; print(json.dumps(six.__file__.startswith(sys.argv[1])))", os.environ["CP_ROOT"])
    print(json.dumps(out))
`;

const HOST = "import json, site, sys, sysconfig; print(json.dumps({'prefix': sys.prefix, 'site': site.getsitepackages(), 'paths': sysconfig.get_paths()}))";

d("child processes of a zipapp PEX", () => {
  let pex: string;
  beforeAll(async () => {
    const src = path.join(tmp, "src");
    fs.mkdirSync(path.join(src, "app"), { recursive: true });
    fs.writeFileSync(path.join(src, "app", "__init__.py"), "");
    fs.writeFileSync(path.join(src, "app", "probe.py"), PROBE);
    fs.writeFileSync(path.join(tmp, "script.py"), SCRIPT);
    pex = (await buildPex(path.join(tmp, "app.pex"), { wheels: downloadWheels(["six==1.17.0"]), sourceDirectories: [src] })).path;
  });

  it.each(pythons)("see the PEX's distributions through sys.executable, and nothing else changes (python $version)", async ({ version, python }) => {
    const root = path.join(tmp, `root-${version}`);
    const work = path.join(tmp, `work-${version}`);
    fs.mkdirSync(work, { recursive: true });
    const env = cleanEnv({ PEX_ROOT: root, CP_ROOT: root, CP_WORK: work });
    const host = jsonLine(await run(python, ["-c", HOST], { env }));
    const out = jsonLine(await run(python, [pex, path.join(tmp, "script.py")], { env, cwd: work }), { quiet: true });
    const venvs = fs.readdirSync(path.join(root, "venvs"), { recursive: true }).map(String).filter((p) => /^[0-9a-f]{40}\/[0-9a-f]{20}$/.test(p));
    expect(venvs).toHaveLength(1);
    const childPython = path.join(root, "venvs", venvs[0]!, "bin", "python");
    const childSite = path.join(root, "venvs", venvs[0]!, "lib", `python${version.split(".").slice(0, 2).join(".")}`, "site-packages");
    expect(out).toEqual({
      // This process: the host interpreter (no re-exec), the host's site and sysconfig.
      executable: childPython,
      real: fs.realpathSync(python),
      prefix: host.prefix,
      site: host.site,
      paths: host.paths,
      where: { six: true, executable: childPython },
      // Child processes: the venv python, with the PEX's distributions and code, under -I too.
      sub: [0, { six: true, executable: childPython }, ""],
      isolated: [0, "ok", ""],
      sub_site: [0, [true, [childSite]], ""],
      // venvs made from it are plain venvs of the host interpreter.
      m_venv: [0, "", ""],
      m_venv_python: [host.prefix, false],
      inproc_venv_base: host.prefix,
      spawn: [[42, true], { six: true, executable: childPython }],
      forkserver: [[42, true], { six: true, executable: childPython }],
      fork: [[42, true], { six: true, executable: childPython }],
      // The PEX run again by its child python: from the same PEX_ROOT (its environment no
      // longer has PEX_ROOT, stripped as pex strips every PEX_* variable).
      again: [0, true, ""],
    });
  });

  it("costs a warm start one stat: the plan is not rewritten, children re-running the PEX use the venv's plan and PEX_ROOT", async () => {
    const python = pythons.find((p) => p.version.startsWith("3.11."))?.python ?? pythons[0]!.python;
    const root = path.join(tmp, "root-plan");
    const env = cleanEnv({ PEX_ROOT: root, CP_ROOT: root, PEX_BYTECODE: "0" });
    const code = "import os, subprocess, sys; subprocess.check_call([sys.executable, os.environ['PEX'], '-c', 'import six, app.probe'])";
    expect((await run(python, [pex, "-c", code], { env })).status).toBe(0);
    const plans = path.join(root, "cp", "plans");
    const [planFile] = fs.readdirSync(plans).map((f) => path.join(plans, f));
    const before = fs.statSync(planFile!).mtimeMs;
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 2; i++) expect((await run(python, [pex, "-c", code], { env })).status).toBe(0);
    expect(fs.readdirSync(plans)).toHaveLength(1);
    expect(fs.statSync(planFile!).mtimeMs).toBe(before);
    // Nothing was extracted under the default PEX_ROOT of the (throwaway) HOME.
    expect(fs.existsSync(path.join(env.HOME!, ".cache", "pex"))).toBe(false);
  });
});
