import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { downloadWheels, pipIndexUnavailable, pythonInterpreters } from "@cluster-pack/io/test-kit";
import { craftWheel } from "@cluster-pack/wheel/test-kit";
import { ZipReader } from "@cluster-pack/zip";
import { pycName, shebangInterpreter } from "./bytecode";
import { buildPex, inspectPex, verifyPex, type PexBuildResult } from "./index";
import { cleanEnv, run } from "./test-kit/run";

// Build-time bytecode (PexBuilderOptions.compile, bytecode.ts and python/compile_wheels.py),
// through real interpreters: a first start imports the wheels' modules from the shipped
// checked-hash .pyc files (nothing compiled, nothing written), the runtime's own compiler
// leaves them alone, the PEX verifies, the bytes are the same from a fresh compile, a
// replayed install plan and the bytecode cache, and a damaged cache is not used.

jest.setTimeout(300_000);

describe("names", () => {
  it("puts each module's .pyc where Python looks for it, and nothing for files no import reads", () => {
    expect(pycName("six.py", "cpython-311")).toBe("__pycache__/six.cpython-311.pyc");
    expect(pycName("dateutil/tz/tz.py", "cpython-38")).toBe("dateutil/tz/__pycache__/tz.cpython-38.pyc");
    expect(pycName("a/b.c.py", "cpython-313")).toBe("a/__pycache__/b.c.cpython-313.pyc");
    for (const rel of [".prefix/bin/tool.py", "pkg/__pycache__/x.py", "pkg-1.0.dist-info/x.py", "pkg/data.txt", "pkg/.py", "pkg/x.pyc"]) expect(pycName(rel, "cpython-311")).toBeUndefined();
  });

  it("takes the interpreter a shebang names", () => {
    expect(shebangInterpreter("#!/usr/bin/env python3.11\n")).toBe("python3.11");
    expect(shebangInterpreter("/usr/bin/env -S PYTHONUTF8=1 python3 -E")).toBe("python3");
    expect(shebangInterpreter("#!/opt/py/bin/python3 -E")).toBe("/opt/py/bin/python3");
  });
});

const noPip = pipIndexUnavailable();
const pythons = pythonInterpreters();
const skip = noPip ?? (pythons.length ? undefined : "no pyenv Pythons under ~/.pyenv/versions");
if (skip) console.warn(`skipping build-time bytecode tests: ${skip}`);
const d = skip ? describe.skip : describe;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-pex-compile-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const IMPORT = "import six, dateutil.parser, dateutil.tz";
const sha256 = (f: string) => crypto.createHash("sha256").update(fs.readFileSync(f)).digest("hex");

/** The files under `root` each module was loaded from, as `python -v` reports it. */
function loadedFrom(stderr: string, root: string): string[] {
  return [...stderr.matchAll(/^# code object from '?([^'\n]+?)'?$/gm)].map((m) => m[1]!).filter((f) => f.startsWith(root + path.sep));
}

d("a PEX built with compile", () => {
  let wheels: string[];
  beforeAll(() => {
    wheels = downloadWheels(["six==1.17.0", "python-dateutil==2.9.0.post0"]);
  });

  it.each(pythons)("starts the first time without compiling anything, and verifies (python $version)", async ({ version, python }) => {
    const out = path.join(tmp, `app-${version}.pex`);
    const built = await buildPex(out, { wheels, verifiedWheelsCache: path.join(tmp, `memo-${version}`), compilePython: python, pythonShebang: python });
    const tag = built.bytecode!.cacheTag;
    expect(built.bytecode).toMatchObject({ python, skipped: [], cachedWheels: 0 });
    expect(built.bytecode!.compiled).toBeGreaterThan(10);
    expect(built.info.raw.cluster_pack).toMatchObject({ bytecode: { cache_tag: tag, magic: built.bytecode!.magic } });
    expect((await inspectPex(out)).bytecode).toEqual({ cacheTag: tag, magic: built.bytecode!.magic });
    // Under PYTHONDONTWRITEBYTECODE=1 the runtime would start its compiler beside the
    // program for distributions without bytecode (PEX_BYTECODE=wait: in the foreground).
    const root = path.join(tmp, `root-${version}`);
    const env = cleanEnv({ PEX_ROOT: root, PYTHONDONTWRITEBYTECODE: "1", PEX_BYTECODE: "wait" });
    const first = await run(python, [out, "-v", "-c", IMPORT], { env });
    expect(first.status).toBe(0);
    const loaded = loadedFrom(first.stderr, root);
    expect(loaded.length).toBeGreaterThan(10);
    expect(loaded.filter((f) => !f.endsWith(`.${tag}.pyc`))).toEqual([]); // every module from the shipped bytecode
    expect(loaded.some((f) => f.endsWith(`${path.sep}six.${tag}.pyc`))).toBe(true);
    // The runtime compiled none of them (no distribution marked as compiled by it), and the
    // only .pyc files are the shipped ones, checked-hash (PEP 552 flags 0b11).
    const files = fs.readdirSync(root, { recursive: true, encoding: "utf8" });
    expect(files.filter((f) => f.includes(".whl.pyc-"))).toEqual([]);
    const pycs = files.filter((f) => f.endsWith(".pyc"));
    expect(pycs.length).toBe(built.bytecode!.compiled);
    expect(pycs.filter((f) => !f.endsWith(`.${tag}.pyc`) || fs.readFileSync(path.join(root, f)).readUInt32LE(4) !== 3)).toEqual([]);
    const verified = await verifyPex(out);
    expect(verified.problems).toEqual([]);
    expect(verified.ok).toBe(true);
  });

  it.each(["packed", "layered"] as const)("ships the bytecode in the %s layout too", async (layout) => {
    const python = pythons[pythons.length - 1]!.python;
    const dir = path.join(tmp, `layout-${layout}`);
    fs.mkdirSync(dir, { recursive: true });
    const out = path.join(dir, layout === "packed" ? "env" : "env.pex");
    const built = await buildPex(out, { wheels, verifiedWheelsCache: false, compilePython: python, layout, ...(layout === "layered" ? { layerStore: dir } : {}) });
    const tag = built.bytecode!.cacheTag;
    const root = path.join(tmp, `root-${layout}`);
    const r = await run(python, [out, "-v", "-c", IMPORT], { cwd: dir, env: cleanEnv({ PEX_ROOT: root, PYTHONDONTWRITEBYTECODE: "1" }) });
    expect(r.status).toBe(0);
    const loaded = loadedFrom(r.stderr, root);
    expect(loaded.length).toBeGreaterThan(10);
    expect(loaded.filter((f) => !f.endsWith(`.${tag}.pyc`))).toEqual([]);
    expect((await verifyPex(out)).problems).toEqual([]);
  });

  it("gives the same bytes from a fresh compile, a replayed install plan and the bytecode cache; a damaged cache is compiled again", async () => {
    const python = pythons.find((p) => p.version.startsWith("3.11"))?.python ?? pythons[0]!.python;
    const memo = path.join(tmp, "memo-det");
    const build = (name: string, options: { compile?: boolean; memo?: string | false } = {}) =>
      buildPex(path.join(tmp, name), { wheels, verifiedWheelsCache: options.memo ?? memo, ...(options.compile === false ? {} : { compilePython: python }), pythonShebang: "/usr/bin/env python3" });
    const plain = await build("plain.pex", { compile: false }); // plans cached, no bytecode
    const fromPlans = await build("from-plans.pex"); // plans replayed, compiled from the wheels by offset
    expect(fromPlans.distributions.every((x) => x.planReplayed)).toBe(true);
    expect(fromPlans.bytecode!.cachedWheels).toBe(0);
    const cached = await build("cached.pex");
    expect(cached.bytecode!.cachedWheels).toBe(2);
    const fresh = await build("fresh.pex", { memo: false });
    expect(fresh.bytecode!.cachedWheels).toBe(0);
    const digest = sha256(path.join(tmp, "fresh.pex"));
    for (const f of ["from-plans.pex", "cached.pex"]) expect(sha256(path.join(tmp, f))).toBe(digest);
    expect(sha256(path.join(tmp, "plain.pex"))).not.toBe(digest);
    expect((await inspectPex(path.join(tmp, "plain.pex"))).bytecode).toBeUndefined();
    // The chroots differ (the RECORD lists the .pyc files), so they extract to other places.
    expect(fresh.distributions.map((x) => x.fingerprint)).not.toEqual(plain.distributions.map((x) => x.fingerprint));

    // A cached zip whose bytes changed (same size) is not used: compiled again, same output.
    const zips = fs.readdirSync(path.join(memo, "bytecode"), { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".zip") && !f.includes("cp-tmp"));
    expect(zips.length).toBe(2);
    for (const z of zips) {
      const file = path.join(memo, "bytecode", z);
      const data = fs.readFileSync(file);
      data.writeUInt8(data.readUInt8(40) ^ 0xff, 40);
      fs.rmSync(file);
      fs.writeFileSync(file, data);
    }
    const damaged = await build("damaged.pex");
    expect(damaged.bytecode!.cachedWheels).toBe(0);
    expect(sha256(path.join(tmp, "damaged.pex"))).toBe(digest);
    expect((await build("again.pex")).bytecode!.cachedWheels).toBe(2);

    // Compiled again under a new cache format (simulated: the current pairs removed, pairs of
    // format 1 and of a newer format planted beside them), the older pairs go, the newer stay.
    const bytecodeDir = path.join(memo, "bytecode");
    const pairs = zips.map((z) => ({ dir: path.join(bytecodeDir, path.dirname(z)), sha: path.basename(z).split(".")[0]!, key: path.basename(z).split(".")[1]! }));
    for (const p of pairs) {
      const sidecar = JSON.parse(fs.readFileSync(path.join(p.dir, `${p.sha}.${p.key}.json`), "utf8")) as Record<string, unknown>;
      for (const ext of ["json", "zip"]) fs.rmSync(path.join(p.dir, `${p.sha}.${p.key}.${ext}`));
      for (const [key, format] of [["0".repeat(16), 1], ["f".repeat(16), 99]] as const) {
        fs.writeFileSync(path.join(p.dir, `${p.sha}.${key}.json`), JSON.stringify({ ...sidecar, key, format }));
        fs.writeFileSync(path.join(p.dir, `${p.sha}.${key}.zip`), "old");
      }
    }
    const upgraded = await build("upgraded.pex");
    expect(upgraded.bytecode!.cachedWheels).toBe(0);
    expect(sha256(path.join(tmp, "upgraded.pex"))).toBe(digest);
    for (const p of pairs) {
      expect(fs.readdirSync(p.dir).filter((f) => f.startsWith(p.sha)).sort()).toEqual(
        [`${p.sha}.${p.key}.json`, `${p.sha}.${p.key}.zip`, `${p.sha}.${"f".repeat(16)}.json`, `${p.sha}.${"f".repeat(16)}.zip`].sort(),
      );
    }
    // Nothing is left behind in the cache but the zips and their sidecars.
    const left = fs.readdirSync(path.join(memo, "bytecode"), { recursive: true, encoding: "utf8" });
    expect(left.filter((f) => f.includes("cp-tmp"))).toEqual([]);
  });

  it("compiles a wheel of more modules than one process takes in runs, giving the same bytes whatever the cores", async () => {
    const python = pythons.find((p) => p.version.startsWith("3.11"))?.python ?? pythons[0]!.python;
    const dir = path.join(tmp, "many");
    fs.mkdirSync(dir, { recursive: true });
    // 600 modules: three runs (256, 256, 88). Shared names and strings, the constants whose
    // marshalled form depends on what the process compiled before.
    const files: Record<string, string> = { "many/__init__.py": "" };
    for (let i = 0; i < 600; i++) files[`many/m${String(i).padStart(3, "0")}.py`] = `NAME = "shared-name"\nVALUES = ("shared-name", ${i}, frozenset({"a", "b", "m${i}"}))\ndef f(x):\n    return (NAME, x, VALUES)\n`;
    const wheel = await craftWheel(dir, "many-1.0-py3-none-any.whl", { files });
    const build = async (name: string, cores: number) => {
      const spy = jest.spyOn(os, "availableParallelism").mockReturnValue(cores);
      try {
        return await buildPex(path.join(dir, name), { wheels: [wheel], verifiedWheelsCache: false, compilePython: python, pythonShebang: python, structure: "flat" });
      } finally {
        spy.mockRestore();
      }
    };
    const one = await build("one.pex", 1);
    const four = await build("four.pex", 4);
    expect(one.bytecode).toMatchObject({ compiled: 601, skipped: [] });
    expect(sha256(path.join(dir, "four.pex"))).toBe(sha256(path.join(dir, "one.pex")));
    expect(four.bytecode!.compiled).toBe(601);
    // Every module of every run is in the PEX, in order, and the importer uses them.
    const reader = await ZipReader.open(path.join(dir, "one.pex"));
    const pycs = reader.entries.map((e) => e.name).filter((n) => n.endsWith(".pyc"));
    await reader.close();
    expect(pycs).toEqual([...pycs].sort());
    expect(pycs.length).toBe(601);
    const root = path.join(tmp, "root-many");
    const r = await run(python, [path.join(dir, "one.pex"), "-v", "-c", "import many.m000, many.m300, many.m599; print(many.m599.f(1)[0])"], { env: cleanEnv({ PEX_ROOT: root, PYTHONDONTWRITEBYTECODE: "1", PEX_BYTECODE: "wait" }) });
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 0, stdout: "shared-name\n" });
    const loaded = loadedFrom(r.stderr, root).map((f) => path.basename(f));
    const tag = one.bytecode!.cacheTag;
    expect(loaded).toEqual(expect.arrayContaining([`m000.${tag}.pyc`, `m300.${tag}.pyc`, `m599.${tag}.pyc`]));
    expect(loaded.filter((f) => !f.endsWith(`.${tag}.pyc`))).toEqual([]);
  });

  it("leaves a module that does not compile, or is too large, to the importer, and names it", async () => {
    const python = pythons[pythons.length - 1]!.python;
    const dir = path.join(tmp, "crafted");
    fs.mkdirSync(dir, { recursive: true });
    const wheel = await craftWheel(dir, "oldcode-1.0-py3-none-any.whl", {
      files: { "oldcode/__init__.py": "VALUE = 1\n", "oldcode/py2.py": 'print "python 2"\n', "oldcode/data.txt": "x\n", "oldcode/huge.py": `${"#".repeat((16 << 20) - 1)}\nX = 1\n` },
    });
    const out = path.join(tmp, "oldcode.pex");
    const built = await buildPex(out, { wheels: [wheel], verifiedWheelsCache: false, compilePython: python, structure: "flat" });
    expect(built.bytecode!.compiled).toBe(1);
    expect(built.bytecode!.skipped).toEqual([
      { wheel: "oldcode-1.0-py3-none-any.whl", member: "oldcode/huge.py", reason: "larger than 16777216 bytes" },
      { wheel: "oldcode-1.0-py3-none-any.whl", member: "oldcode/py2.py", reason: expect.stringContaining("SyntaxError") },
    ]);
    const reader = await ZipReader.open(out);
    const names = reader.entries.map((e) => e.name).filter((n) => n.endsWith(".pyc"));
    await reader.close();
    expect(names).toEqual([`.deps/oldcode-1.0-py3-none-any.whl/oldcode/__pycache__/__init__.${built.bytecode!.cacheTag}.pyc`]);
    const started = await run(python, [out, "-c", "import oldcode; print(oldcode.VALUE)"], { env: cleanEnv({ PEX_ROOT: path.join(tmp, "root-oldcode") }) });
    expect({ status: started.status, stdout: started.stdout }).toEqual({ status: 0, stdout: "1\n" });
    expect((await verifyPex(out)).ok).toBe(true);
  });

  it("stops its compilers on an abort, and leaves nothing behind", async () => {
    // A python that describes itself, then compiles forever (until killed).
    const real = pythons[pythons.length - 1]!.python;
    const pids = path.join(tmp, "slow-pids");
    const slow = path.join(tmp, "slow-python");
    fs.writeFileSync(slow, `#!/bin/sh\ncase "$*" in *--describe*) exec "${real}" "$@";; esac\necho $$ >> "${pids}"\nexec sleep 120\n`, { mode: 0o755 });
    const memo = path.join(tmp, "memo-abort");
    const out = path.join(tmp, "aborted.pex");
    const ac = new AbortController();
    const building = buildPex(out, { wheels, verifiedWheelsCache: memo, compilePython: slow, signal: ac.signal });
    const started = Date.now();
    while (!(fs.existsSync(pids) && fs.readFileSync(pids, "utf8").trim().split("\n").length === 2) && Date.now() - started < 60_000) await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    await expect(building).rejects.toMatchObject({ code: "ABORT_ERR" });
    expect(fs.existsSync(out)).toBe(false);
    for (const pid of fs.readFileSync(pids, "utf8").trim().split("\n").map(Number)) expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
    expect(fs.readdirSync(path.join(memo, "bytecode"), { recursive: true, encoding: "utf8" }).filter((f) => f.includes("cp-tmp"))).toEqual([]);
    expect(fs.readdirSync(tmp).filter((f) => f.includes("aborted.pex"))).toEqual([]);
  });

  it("refuses an interpreter that cannot compile, before any work, naming it", async () => {
    const err = await buildPex(path.join(tmp, "never.pex"), { wheels, verifiedWheelsCache: false, compilePython: path.join(tmp, "no-such-python") }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "ERR_BYTECODE_INTERPRETER", optionNames: ["compilePython", "pythonShebang"] });
    expect((err as Error).message).toContain(path.join(tmp, "no-such-python"));
    expect(fs.existsSync(path.join(tmp, "never.pex"))).toBe(false);
    // compilePython implies compile: asking for none while naming one is refused, not guessed.
    const contradiction = await buildPex(path.join(tmp, "never.pex"), { wheels, verifiedWheelsCache: false, compile: false, compilePython: pythons[0]!.python }).catch((e: unknown) => e);
    expect(contradiction).toMatchObject({ code: "ERR_INVALID_INPUT", optionNames: ["compile", "compilePython"] });
    expect(fs.existsSync(path.join(tmp, "never.pex"))).toBe(false);
  });

  it("lets another interpreter compile as usual (the shipped bytecode is for one cache tag)", async () => {
    if (pythons.length < 2) return;
    const [a, b] = [pythons[0]!, pythons[pythons.length - 1]!];
    const out = path.join(tmp, "other.pex");
    const built: PexBuildResult = await buildPex(out, { wheels, verifiedWheelsCache: false, compilePython: a.python });
    const root = path.join(tmp, "root-other");
    const r = await run(b.python, [out, "-c", IMPORT], { env: cleanEnv({ PEX_ROOT: root, PYTHONDONTWRITEBYTECODE: "1", PEX_BYTECODE: "wait" }) });
    expect(r.status).toBe(0);
    const pycs = fs.readdirSync(root, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".pyc"));
    const tagB = path.basename(pycs.find((f) => !f.endsWith(`.${built.bytecode!.cacheTag}.pyc`)) ?? "").split(".").slice(-2)[0];
    expect(tagB).toMatch(/^cpython-3\d+$/); // the runtime's compiler made b's own (PEX_BYTECODE=wait)
  });
});
