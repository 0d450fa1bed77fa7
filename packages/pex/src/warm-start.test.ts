import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { downloadWheels, pipIndexUnavailable, pythonInterpreters } from "@cluster-pack/io/test-kit";
import { buildPex } from "./index";
import { cleanEnv, run } from "./test-kit/run";

// What a warm start costs, observed through CPython's audit hooks on every interpreter
// 3.8-3.13: each runtime module is compiled at most once (zipimport alone compiles every
// module twice), and neither json nor re is imported, nor anything of the cold path.

jest.setTimeout(300_000);
const noPip = pipIndexUnavailable();
const pythons = pythonInterpreters();
const skip = noPip ?? (pythons.length ? undefined : "no pyenv Pythons under ~/.pyenv/versions");
if (skip) console.warn(`skipping warm-start tests: ${skip}`);
const d = skip ? describe.skip : describe;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-pex-warm-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// Runs the PEX as `python env.pex -c pass` does (runpy runs its __main__ from sys.path[0]),
// recording the compile and import audit events of the run. -S: site's own imports do
// not hide the runtime's.
const HARNESS = `
import runpy, sys
pex = sys.argv[1]
events = []
def hook(event, args):
    if event == "compile" and isinstance(args[1], str):
        events.append(["compile", args[1]])
    elif event == "import":
        events.append(["import", args[0]])
sys.addaudithook(hook)
sys.argv = [pex, "-c", "pass"]
sys.path.insert(0, pex)
try:
    runpy._run_module_as_main("__main__", False)
except SystemExit:
    pass
sys.stdout.write(repr(events).replace("'", '"') + "\\n")
`;

d("a warm start", () => {
  let pex: string;
  beforeAll(async () => {
    pex = (await buildPex(path.join(tmp, "six.pex"), { wheels: downloadWheels(["six==1.17.0"]) })).path;
  });

  it.each(pythons)("compiles each runtime module once and imports neither json nor re (python $version)", async ({ python }) => {
    const env = cleanEnv({ PEX_ROOT: path.join(tmp, "root") });
    // The first start compiles the bytecode (in the foreground here), the second finds it
    // done and drops it from the plan: the third is a steady warm start.
    const cold = await run(python, [pex, "-c", "import six"], { env: { ...env, PEX_BYTECODE: "wait" } });
    expect(cold.stderr).toBe("");
    expect((await run(python, [pex, "-c", "pass"], { env })).status).toBe(0);
    const r = await run(python, ["-S", "-c", HARNESS, pex], { env });
    if (r.status !== 0) throw new Error(r.stderr);
    const events = JSON.parse(r.stdout.trim().split("\n").pop()!) as [string, string][];
    const compiled = events.filter(([e, f]) => e === "compile" && f.includes(".bootstrap")).map(([, f]) => path.basename(f));
    expect(compiled.length).toBeGreaterThanOrEqual(5); // __init__, boot and the leaves it needs to read the plan
    expect(compiled.filter((f, i) => compiled.indexOf(f) !== i)).toEqual([]);
    const imported = events.filter(([e]) => e === "import").map(([, m]) => m);
    expect(imported.filter((m) => m === "json" || m === "re" || m.startsWith("json.") || m === "zipfile" || /_cluster_pack_pex\.(extract|unpack|bytecode|atomic|layout)$/.test(m))).toEqual([]);
  });
});
