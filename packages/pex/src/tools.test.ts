import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pythonInterpreters, SYSTEM_PYTHON } from "@cluster-pack/io/test-kit";
import { writeWheel } from "@cluster-pack/pip/test-kit";
import { buildPex, readPexInfo } from "./index";
import { cleanEnv, run } from "./test-kit/run";

// PEX_TOOLS=1 ./x.pex venv DIR (pex's --include-tools): real interpreters turn a real PEX
// into a venv whose python imports its distributions and whose console scripts run.

jest.setTimeout(300_000);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-pex-tools-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const env = cleanEnv({ PEX_ROOT: path.join(tmp, "root"), PEX_TOOLS: "1" });
const found = pythonInterpreters();
const pythons = found.length ? [found[0]!.python, found[found.length - 1]!.python] : [SYSTEM_PYTHON];

let tools: string;
let plain: string;
beforeAll(async () => {
  const wheel = await writeWheel(path.join(tmp, "wheels"), {
    name: "cp-tools-demo",
    version: "1.0",
    scripts: { "cp-tools-demo": "cp_tools_demo.cli:main" },
    files: { "cp_tools_demo/cli.py": "def main():\n    print('demo main')\nVALUE = 42\n" },
  });
  tools = (await buildPex(path.join(tmp, "tools.pex"), { wheels: [wheel], includeTools: true })).path;
  plain = (await buildPex(path.join(tmp, "plain.pex"), { wheels: [wheel] })).path;
});

describe("PEX_TOOLS=1 venv", () => {
  it("PEX-INFO says include_tools only when asked; otherwise the bytes are as before", async () => {
    expect((await readPexInfo(tools)).includeTools).toBe(true);
    expect((await readPexInfo(plain)).includeTools).toBe(false);
    expect((await readPexInfo(plain)).raw).not.toHaveProperty("include_tools");
    const again = (await buildPex(path.join(tmp, "plain2.pex"), { wheels: [path.join(tmp, "wheels", fs.readdirSync(path.join(tmp, "wheels"))[0]!)] })).path;
    expect(fs.readFileSync(again).equals(fs.readFileSync(plain))).toBe(true);
  });

  it.each(pythons)("makes a venv whose python imports the PEX's distributions and whose scripts run (%s)", async (python) => {
    const dir = path.join(tmp, `venv-${path.basename(path.dirname(path.dirname(python)))}-${pythons.indexOf(python)}`);
    const r = await run(python, [tools, "venv", dir], { env });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${path.join(dir, "bin", "python")}\n`);
    const imp = await run(path.join(dir, "bin", "python"), ["-c", "import sys, cp_tools_demo.cli as c; print(c.VALUE, sys.prefix != sys.base_prefix)"], { env: cleanEnv({}) });
    expect(imp.stdout).toBe("42 True\n");
    const script = await run(path.join(dir, "bin", "cp-tools-demo"), [], { env: cleanEnv({}) });
    expect(script.stdout).toBe("demo main\n");
    expect(fs.readdirSync(tmp).filter((n) => n.includes(".tmp-") || n.includes(".old-"))).toEqual([]);
  });

  it("refuses an existing DIR without --force (exit 2, names --force), replaces it with --force", async () => {
    const dir = path.join(tmp, "existing");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "keep.txt"), "x");
    const refused = await run(SYSTEM_PYTHON, [tools, "venv", dir], { env });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toBe(`${tools}: ${dir} already exists; pass --force to replace it\n`);
    expect(fs.readdirSync(dir)).toEqual(["keep.txt"]);
    const forced = await run(SYSTEM_PYTHON, [tools, "venv", "--force", dir], { env });
    expect(forced.stderr).toBe("");
    expect(forced.status).toBe(0);
    expect(fs.existsSync(path.join(dir, "keep.txt"))).toBe(false);
    expect(fs.existsSync(path.join(dir, "pyvenv.cfg"))).toBe(true);
    expect(fs.readdirSync(tmp).filter((n) => n.startsWith("existing."))).toEqual([]);
  });

  it("refuses a PEX built without tools, bad arguments and a missing parent, leaving no DIR", async () => {
    const dir = path.join(tmp, "never");
    const noTools = await run(SYSTEM_PYTHON, [plain, "venv", dir], { env });
    expect(noTools.status).toBe(2);
    expect(noTools.stderr).toMatch(/built without tools.*--include-tools/);
    expect(noTools.stderr.trim().split("\n")).toHaveLength(1);
    const noDir = await run(SYSTEM_PYTHON, [tools, "venv"], { env });
    expect(noDir.status).toBe(2);
    expect(noDir.stderr).toMatch(/`venv` needs the DIR to create; usage: /);
    const badFlag = await run(SYSTEM_PYTHON, [tools, "venv", "--copies", dir], { env });
    expect(badFlag.status).toBe(2);
    const noParent = await run(SYSTEM_PYTHON, [tools, "venv", path.join(tmp, "missing", "v")], { env });
    expect(noParent.status).toBe(2);
    expect(noParent.stderr).toMatch(/parent directory of .* does not exist/);
    expect(fs.existsSync(dir)).toBe(false);
  });
});
