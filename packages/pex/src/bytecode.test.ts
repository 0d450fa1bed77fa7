import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { downloadWheels, pipIndexUnavailable, pythonInterpreters } from "@cluster-pack/io/test-kit";
import { buildPex } from "./index";
import { cleanEnv, run } from "./test-kit/run";

// Bytecode compiled once per extracted distribution (python/_cluster_pack_pex/bytecode.py),
// through real interpreters: with PYTHONDONTWRITEBYTECODE=1 a later start imports the
// PEX's modules from .pyc files, as in a venv pip installed; the compiler runs beside the
// program, never outlives it, and the next start resumes its work.

jest.setTimeout(300_000);
const noPip = pipIndexUnavailable();
const pythons = pythonInterpreters();
const skip = noPip ?? (pythons.length ? undefined : "no pyenv Pythons under ~/.pyenv/versions");
if (skip) console.warn(`skipping bytecode tests: ${skip}`);
const d = skip ? describe.skip : describe;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-pex-bytecode-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const IMPORT = "import six, dateutil.parser, dateutil.tz";
// Waits (in the first start's program) until the compiler has marked every distribution.
const WAIT_FOR_MARKERS = `${IMPORT}
import glob, os, sys, time
root = os.path.join(os.environ["CP_ROOT"], "cp", "installed_wheels.2")
deadline = time.time() + 240
while len(glob.glob(os.path.join(root, "*", "*.whl.pyc-" + sys.implementation.cache_tag))) < 2 and time.time() < deadline:
    time.sleep(0.1)
print(len(glob.glob(os.path.join(root, "*", "*.whl.pyc-" + sys.implementation.cache_tag))))
`;

/** Where `python -v` says each module under `root` came from ("pyc" or "source"), by its path without extension. */
function codeOrigins(stderr: string, root: string): Record<string, "pyc" | "source"> {
  const out: Record<string, "pyc" | "source"> = {};
  for (const m of stderr.matchAll(/^# code object from '?([^'\n]+?)'?$/gm)) {
    const file = m[1]!;
    if (!file.startsWith(root + path.sep)) continue;
    const rel = path.relative(root, file);
    const key = rel.endsWith(".pyc") ? path.join(path.dirname(path.dirname(rel)), path.basename(rel).split(".")[0]!) : rel.replace(/\.py$/, "");
    out[key] = rel.endsWith(".pyc") ? "pyc" : "source";
  }
  return out;
}

d("bytecode of the extracted distributions", () => {
  let pex: string;
  beforeAll(async () => {
    pex = (await buildPex(path.join(tmp, "app.pex"), { wheels: downloadWheels(["six==1.17.0", "python-dateutil==2.9.0.post0"]) })).path;
  });

  it.each(pythons)("a second start under PYTHONDONTWRITEBYTECODE=1 imports them from cached bytecode (python $version)", async ({ version, python }) => {
    const root = path.join(tmp, `root-${version}`);
    const env = cleanEnv({ PEX_ROOT: root, CP_ROOT: root, PYTHONDONTWRITEBYTECODE: "1" });
    const first = await run(python, [pex, "-c", WAIT_FOR_MARKERS], { env });
    expect({ status: first.status, stdout: first.stdout, stderr: first.stderr }).toEqual({ status: 0, stdout: "2\n", stderr: "" });
    const second = await run(python, [pex, "-v", "-c", IMPORT], { env });
    expect(second.status).toBe(0);
    const origins = codeOrigins(second.stderr, root);
    expect(Object.keys(origins).length).toBeGreaterThanOrEqual(5);
    expect(Object.entries(origins).filter(([, o]) => o !== "pyc")).toEqual([]);

    // Without it (PEX_BYTECODE=0) the same second start compiles every module from source.
    const bare = path.join(tmp, `bare-${version}`);
    const off = cleanEnv({ PEX_ROOT: bare, PYTHONDONTWRITEBYTECODE: "1", PEX_BYTECODE: "0" });
    expect((await run(python, [pex, "-c", IMPORT], { env: off })).status).toBe(0);
    const again = await run(python, [pex, "-v", "-c", IMPORT], { env: off });
    const bareOrigins = codeOrigins(again.stderr, bare);
    expect(Object.keys(bareOrigins).sort()).toEqual(Object.keys(origins).sort());
    expect(Object.values(bareOrigins).every((o) => o === "source")).toBe(true);
  });

  it("starts no compiler where the interpreter writes bytecode itself, unless PEX_BYTECODE=background", async () => {
    const python = pythons.find((p) => p.version.startsWith("3.11."))?.python ?? pythons[0]!.python;
    const root = path.join(tmp, "root-auto");
    const env = cleanEnv({ PEX_ROOT: root, PEX_VERBOSE: "1" });
    const first = await run(python, [pex, "-c", IMPORT], { env });
    expect(first.status).toBe(0);
    expect(first.stderr).not.toMatch(/compiling the bytecode/);
    // The importer cached what it imported: a second start loads those modules from .pyc.
    const second = await run(python, [pex, "-v", "-c", IMPORT], { env: cleanEnv({ PEX_ROOT: root }) });
    const origins = codeOrigins(second.stderr, root);
    expect(Object.keys(origins).length).toBeGreaterThanOrEqual(5);
    expect(Object.entries(origins).filter(([, o]) => o !== "pyc")).toEqual([]);
    // Asked for, it starts all the same.
    const asked = await run(python, [pex, "-c", "pass"], { env: cleanEnv({ PEX_ROOT: path.join(tmp, "root-asked"), PEX_VERBOSE: "1", PEX_BYTECODE: "background" }) });
    expect(asked.stderr).toMatch(/compiling the bytecode of 2 directories in the background/);
  });

  it("the compiler never outlives its PEX; the next start resumes, and once done nothing is left to check", async () => {
    const python = pythons.find((p) => p.version.startsWith("3.11."))?.python ?? pythons[0]!.python;
    const root = path.join(tmp, "root-resume");
    const env = cleanEnv({ PEX_ROOT: root, PEX_VERBOSE: "1", PYTHONDONTWRITEBYTECODE: "1" });
    const first = await run(python, [pex, "-c", "pass"], { env });
    const pid = Number(/compiling the bytecode of 2 directories in the background \(pid (\d+)\)/.exec(first.stderr)?.[1]);
    expect(pid).toBeGreaterThan(0);
    // Stopped and reaped before the PEX exited.
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
    // Whatever it managed, PEX_BYTECODE=wait finishes in the foreground.
    const wait = await run(python, [pex, "-c", "pass"], { env: { ...env, PEX_BYTECODE: "wait" } });
    expect(wait.status).toBe(0);
    expect(wait.stderr).not.toMatch(/in the background/);
    const wheels = path.join(root, "cp", "installed_wheels.2");
    const sources = fs.readdirSync(wheels, { recursive: true }).map(String).filter((f) => f.endsWith(".py") && f.includes("site-packages"));
    expect(sources.length).toBeGreaterThan(10);
    const tag = (await run(python, ["-c", "import sys; print(sys.implementation.cache_tag)"])).stdout.trim();
    const missing = sources.filter((f) => !fs.existsSync(path.join(wheels, path.dirname(f), "__pycache__", `${path.basename(f, ".py")}.${tag}.pyc`)));
    expect(missing).toEqual([]);
    // Done: later starts neither compile nor start a compiler.
    const later = await run(python, [pex, "-c", "import sys; print(sorted(m for m in sys.modules if 'bytecode' in m))"], { env });
    expect(later.stderr).not.toMatch(/compiling the bytecode/);
    const last = await run(python, [pex, "-c", "import sys; print(sorted(m for m in sys.modules if 'bytecode' in m))"], { env });
    expect(last.stdout).toBe("[]\n");
  });
});
