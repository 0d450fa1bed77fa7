import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { downloadWheels, pipIndexUnavailable, pythonInterpreters } from "@cluster-pack/io/test-kit";
import { buildPex } from "./index";
import { cleanEnv, run } from "./test-kit/run";

// A crafted PEX whose PEX-INFO puts `../..` in a field the runtime turns into a path under
// PEX_ROOT (pex_hash, code_hash, a distribution name, its fingerprint) is refused at boot
// with one line naming the field, exit 2, and nothing is written outside PEX_ROOT (checked
// with a listing of the whole temporary tree before and after), in zipapp and venv mode.

jest.setTimeout(300_000);

const noPip = pipIndexUnavailable();
if (noPip) console.warn(`skipping crafted PEX-INFO tests: ${noPip}`);
const suite = noPip ? describe.skip : describe;
const pythons = pythonInterpreters();
const ends = pythons.length > 1 ? [pythons[0]!, pythons[pythons.length - 1]!] : pythons.length ? pythons : [{ version: "python3", python: "python3" }];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-pex-crafted-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const SIX = "six-1.17.0-py2.py3-none-any.whl";
const UP = "../../../../../../escaped";
type Craft = { field: string; change: (info: Record<string, unknown>) => void };
const CRAFTS: Craft[] = [
  { field: "pex_hash", change: (i) => (i.pex_hash = UP) },
  { field: "code_hash", change: (i) => (i.code_hash = UP) },
  { field: "distributions", change: (i) => (i.distributions = { [`${UP}-1.0-py3-none-any.whl`]: "0".repeat(40) }) },
  { field: "distributions['six-1.17.0-py2.py3-none-any.whl']", change: (i) => ((i.distributions as Record<string, string>)[SIX] = UP) },
];

function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      out.push(path.relative(tmp, p));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** PEX-INFO as pex writes it (Python's json, sorted keys) after `change`. */
function rewritten(text: string, change: Craft["change"]): string {
  const info = JSON.parse(text) as Record<string, unknown>;
  change(info);
  const r = spawnSync("python3", ["-c", "import json, sys; sys.stdout.write(json.dumps(json.loads(sys.argv[1]), sort_keys=True))", JSON.stringify(info)], { encoding: "utf8" });
  return r.stdout;
}

/** A copy of the flat zipapp `src` whose PEX-INFO went through `change` (rewritten with Python's zipfile). */
function craftZip(src: string, dest: string, change: Craft["change"]): void {
  const text = spawnSync("python3", ["-c", "import sys, zipfile; sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read('PEX-INFO').decode())", src], { encoding: "utf8" }).stdout;
  const code = "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1]) as a, zipfile.ZipFile(sys.argv[2], 'w') as b:\n    for i in a.infolist():\n        b.writestr(i, sys.argv[3].encode() if i.filename == 'PEX-INFO' else a.read(i))\n";
  const r = spawnSync("python3", ["-c", code, src, dest, rewritten(text, change)], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
}

suite("crafted PEX-INFO path fields", () => {
  let zipPex = "";
  let packedPex = "";
  beforeAll(async () => {
    const src = path.join(tmp, "src");
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, "app.py"), "print('app')\n");
    const wheels = downloadWheels(["six==1.17.0"]);
    zipPex = (await buildPex(path.join(tmp, "good.pex"), { wheels, sourceDirectories: [src], structure: "flat" })).path;
    packedPex = (await buildPex(path.join(tmp, "good_packed"), { wheels, sourceDirectories: [src], layout: "packed" })).path;
  });

  describe.each(ends)("python $version", ({ python, version }) => {
    it.each(CRAFTS.map((c) => [c.field, c] as const))("%s with ../.. is refused by name; nothing written outside PEX_ROOT", async (field, craft) => {
      const slug = field.replace(/\W+/g, "_");
      const crafted = path.join(tmp, `crafted-${slug}-${version}.pex`);
      craftZip(zipPex, crafted, craft.change);
      const packed = path.join(tmp, `crafted-${slug}-${version}_packed`);
      fs.cpSync(packedPex, packed, { recursive: true });
      fs.writeFileSync(path.join(packed, "PEX-INFO"), rewritten(fs.readFileSync(path.join(packed, "PEX-INFO"), "utf8"), craft.change));
      for (const [pex, venv] of [[crafted, "0"], [crafted, "1"], [packed, "0"]] as const) {
        const root = path.join(tmp, "sandbox", "a", "b", "root");
        fs.mkdirSync(root, { recursive: true });
        const before = listing(tmp);
        const r = await run(python, [pex, "-c", "print('ran')"], { env: cleanEnv({ PEX_ROOT: root, PEX_VENV: venv }) });
        const after = listing(tmp);
        expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 2, stdout: "" });
        expect(r.stderr.trim().split("\n")).toHaveLength(1);
        expect(r.stderr).toContain(`PEX-INFO field ${field}`);
        expect(r.stderr).toContain(UP);
        // Python itself caches the bytecode of a directory PEX's __main__.py beside it.
        const outside = after.filter((p) => !before.includes(p) && !p.startsWith(path.relative(tmp, root) + path.sep) && !p.startsWith(`${path.basename(packed)}/__pycache__`));
        expect(outside).toEqual([]);
        expect(fs.existsSync(path.join(tmp, "escaped"))).toBe(false);
        fs.rmSync(path.join(tmp, "sandbox"), { recursive: true, force: true });
      }
    });

    it("the untouched PEXes run (the crafting itself is sound)", async () => {
      const env = cleanEnv({ PEX_ROOT: path.join(tmp, "good-root") });
      const copy = path.join(tmp, `copy-${version}.pex`);
      craftZip(zipPex, copy, () => undefined);
      for (const pex of [copy, packedPex]) {
        const r = await run(python, [pex, "-c", "import app, six"], { env });
        expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: 0, stdout: "app\n", stderr: "" });
      }
    });
  });
});
