import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { downloadWheels, pipIndexUnavailable, pythonInterpreters } from "@cluster-pack/io/test-kit";
import { buildPex, inspectPex, PexBuilder, readPexInfo, verifyPex } from "./index";
import { cleanEnv, mapLimited, run } from "./test-kit/run";

// Real interpreters and wheels: allow for a busy 2-core machine.
jest.setTimeout(300_000);
const noPip = pipIndexUnavailable();
const d = noPip ? describe.skip : describe;
if (noPip) console.warn(`skipping PEX build tests: ${noPip}`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-pex-test-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const sha = (p: string) => crypto.createHash("sha256").update(fs.readFileSync(p)).digest("hex");

d("PexBuilder with real wheels", () => {
  let six: string;
  let tqdm: string;
  let src: string;
  beforeAll(() => {
    [six] = downloadWheels(["six"]) as [string];
    [tqdm] = downloadWheels(["tqdm"]) as [string];
    src = path.join(tmp, "src");
    fs.mkdirSync(path.join(src, "app"), { recursive: true });
    fs.writeFileSync(path.join(src, "app", "__init__.py"), "");
    fs.writeFileSync(
      path.join(src, "app", "main.py"),
      "import os, sys, six\ndef main():\n    print('argv', sys.argv[1:])\n    print('env', os.environ.get('GREETING'), os.environ.get('PEX_VERBOSE'), bool(os.environ.get('PEX')))\n    print('six', six.__version__)\n    return 7\n",
    );
  });

  it("builds byte-identical files from the same inputs, in every layout", async () => {
    for (const structure of ["split", "flat"] as const) {
      const a = await buildPex(path.join(tmp, `a-${structure}.pex`), { wheels: [six, tqdm], sourceDirectories: [src], entryPoint: "app.main:main", structure });
      const b = await buildPex(path.join(tmp, `b-${structure}.pex`), { wheels: [tqdm, six], sourceDirectories: [src], entryPoint: "app.main:main", structure });
      expect(sha(a.path)).toBe(sha(b.path));
      expect(a.info.pexHash).toBe(b.info.pexHash);
      expect(await verifyPex(a.path)).toMatchObject({ ok: true, problems: [] });
      const r = await run("python3", [a.path, "-c", "import six, tqdm, app.main"], { env: cleanEnv({ PEX_ROOT: path.join(tmp, "root"), PEX_INTERPRETER: "1" }) });
      expect({ structure, status: r.status, stderr: r.stderr }).toEqual({ structure, status: 0, stderr: "" });
    }
    const stored = await buildPex(path.join(tmp, "stored.pex"), { wheels: [six], compress: false });
    const deflated = await buildPex(path.join(tmp, "deflated.pex"), { wheels: [six] });
    expect(stored.size).toBeGreaterThan(deflated.size);
    // Whether a wheel was replayed from a cached install plan depends on earlier builds.
    const facts = (d: typeof stored.distributions) => d.map(({ planReplayed: _, ...rest }) => rest);
    expect(facts(stored.distributions)).toEqual(facts(deflated.distributions));
  });

  it("runs the entry point with injected args and env, exports PEX, strips PEX_*", async () => {
    const pex = path.join(tmp, "entry.pex");
    await buildPex(pex, { wheels: [six], sourceDirectories: [src], entryPoint: "app.main:main", injectArgs: ["--injected"], injectEnv: { GREETING: "hi" } });
    const env = cleanEnv({ PEX_ROOT: path.join(tmp, "root"), PEX_VERBOSE: "0" });
    const r = await run(pex, ["a", "b"], { env });
    expect(r.stdout).toBe(`argv ['--injected', 'a', 'b']\nenv hi None True\nsix ${path.basename(six).split("-")[1]}\n`);
    expect(r.status).toBe(7);
    // strip_pex_env false keeps them; an explicit environment value wins over inject_env.
    const keep = path.join(tmp, "keep.pex");
    await buildPex(keep, { wheels: [six], sourceDirectories: [src], entryPoint: "app.main:main", stripPexEnv: false, injectEnv: { GREETING: "hi" } });
    const r2 = await run(keep, [], { env: { ...env, GREETING: "mine" } });
    expect(r2.stdout).toContain("env mine 0 True");
    // PEX_INTERPRETER=1 overrides the entry point; PEX_MODULE picks another.
    const r3 = await run(pex, ["-c", "import app.main, sys; print(sys.argv)"], { env: { ...env, PEX_INTERPRETER: "1" } });
    expect(r3.stdout).toBe("['-c']\n");
    const r4 = await run(pex, [], { env: { ...env, PEX_MODULE: "six" } });
    expect(r4.status).toBe(0);
  });

  it("runs a console script of a wheel (script and PEX_SCRIPT)", async () => {
    const pex = path.join(tmp, "tqdm.pex");
    await buildPex(pex, { wheels: [tqdm], script: "tqdm" });
    const env = cleanEnv({ PEX_ROOT: path.join(tmp, "root") });
    const r = await run(pex, ["--version"], { env });
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe(path.basename(tqdm).split("-")[1]);
    const plain = path.join(tmp, "plain.pex");
    await buildPex(plain, { wheels: [tqdm, six] });
    const r2 = await run(plain, ["--version"], { env: { ...env, PEX_SCRIPT: "tqdm" } });
    expect(r2.stdout.trim()).toBe(path.basename(tqdm).split("-")[1]);
    const r3 = await run(plain, [], { env: { ...env, PEX_SCRIPT: "nope" } });
    expect(r3.status).toBe(1);
    expect(r3.stderr).toMatch(/no console script or script named 'nope'/);
  });

  it("imports pure wheels on every pyenv Python 3.8-3.13 (packed and single-file)", async () => {
    const pythons = pythonInterpreters();
    if (pythons.length === 0) return console.warn("no pyenv interpreters under ~/.pyenv/versions; matrix skipped");
    const pex = path.join(tmp, "matrix.pex");
    const packed = path.join(tmp, "matrix-packed");
    await buildPex(pex, { wheels: [six, tqdm], sourceDirectories: [src] });
    await buildPex(packed, { wheels: [six, tqdm], sourceDirectories: [src], layout: "packed" });
    const env = cleanEnv({ PEX_ROOT: path.join(tmp, "matrix-root") });
    const code = "import six, tqdm, app.main, sys; print(sys.version_info[:2], six.__name__, tqdm.__name__)";
    const results = await mapLimited(pythons, 3, async ({ version, python }: { version: string; python: string }) => [version, await run(python, [pex, "-c", code], { env }), await run(python, [packed, "-c", code], { env })] as const);
    for (const [version, single, dir] of results) {
      const [maj, min] = version.split(".");
      expect({ version, out: single.stdout, err: single.stderr }).toEqual({ version, out: `(${maj}, ${min}) six tqdm\n`, err: "" });
      expect({ version, out: dir.stdout, err: dir.stderr }).toEqual({ version, out: `(${maj}, ${min}) six tqdm\n`, err: "" });
    }
  });

  it("isolates from the host's site-packages unless inherit_path says otherwise", async () => {
    // The pyenv 3.11 here has packages in its site-packages (pip at least).
    const py = pythonInterpreters().find((p) => p.version.startsWith("3.11."))?.python ?? "python3";
    const probe = await run(py, ["-c", "import pip; print('host pip')"], { env: cleanEnv() });
    if (probe.status !== 0) return console.warn(`no pip in ${py}'s site-packages; inherit_path test skipped`);
    const env = cleanEnv({ PEX_ROOT: path.join(tmp, "root") });
    const isolated = path.join(tmp, "isolated.pex");
    await buildPex(isolated, { wheels: [six] });
    const code = "import sys\ntry:\n    import pip; print('pip', any('site-packages' in p for p in sys.path))\nexcept ImportError:\n    print('no pip')";
    expect((await run(py, [isolated, "-c", code], { env })).stdout).toBe("no pip\n");
    expect((await run(py, [isolated, "-c", code], { env: { ...env, PEX_INHERIT_PATH: "fallback" } })).stdout).toBe("pip True\n");
    const prefer = path.join(tmp, "prefer.pex");
    await buildPex(prefer, { wheels: [six], inheritPath: "prefer" });
    const order = "import sys, six; sp=[i for i,p in enumerate(sys.path) if p.endswith('site-packages')]; me=[i for i,p in enumerate(sys.path) if 'installed_wheels' in p]; print(sp[0] < me[0])";
    expect((await run(py, [prefer, "-c", order], { env })).stdout).toBe("True\n");
    expect((await run(py, [prefer, "-c", order], { env: { ...env, PEX_INHERIT_PATH: "fallback" } })).stdout).toBe("False\n");
  });

  it("caches a boot plan per interpreter, logs with PEX_VERBOSE and falls back from an unwritable PEX_ROOT", async () => {
    const pex = path.join(tmp, "verbose.pex");
    await buildPex(pex, { wheels: [six] });
    const env = cleanEnv({ PEX_ROOT: path.join(tmp, "verbose-root"), PEX_VERBOSE: "1" });
    const cold = await run("python3", [pex, "-c", "import six"], { env });
    expect(cold.stderr).toMatch(/^pex: cold start: extracted 1 distributions/m);
    const warm = await run("python3", [pex, "-c", "import six"], { env });
    expect(warm.stderr).toMatch(/^pex: warm start: boot plan for [0-9a-f]{40} loaded/m);
    const fallbackTmp = path.join(tmp, "tmpdir");
    fs.mkdirSync(fallbackTmp);
    const ro = await run("python3", [pex, "-c", "import six; print(six.__file__)"], { env: cleanEnv({ PEX_ROOT: "/proc/no-such-root", TMPDIR: fallbackTmp }) });
    expect(ro.stderr).toMatch(/PEX_ROOT \/proc\/no-such-root is not writable; using .*tmpdir/);
    expect(ro.stdout.startsWith(fallbackTmp)).toBe(true);
  });

  it("fails in one line when the interpreter does not match the constraints", async () => {
    const pex = path.join(tmp, "constrained.pex");
    await buildPex(pex, { wheels: [six], interpreterConstraints: ["CPython>=3.99"] });
    const r = await run("python3", [pex, "-c", "print(1)"], { env: cleanEnv({ PEX_ROOT: path.join(tmp, "root") }) });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/does not satisfy the PEX's interpreter constraints \(CPython>=3.99\)/);
    await expect(buildPex(path.join(tmp, "x.pex"), { wheels: [six], interpreterConstraints: ["python 3"] })).rejects.toThrow(/Interpreter constraint "python 3" is not valid/);
  });

  it("inspects and verifies, and verify catches tampering", async () => {
    const pex = path.join(tmp, "inspect.pex");
    const built = await buildPex(pex, { wheels: [six], sourceDirectories: [src], entryPoint: "app.main:main", interpreterConstraints: ["CPython>=3.8"] });
    const info = await inspectPex(pex);
    expect(info).toMatchObject({ layout: "zipapp-split", entryPoint: "app.main:main", pexHash: built.info.pexHash, requirements: [expect.stringMatching(/^six==/)] });
    expect(info.distributions[0]).toMatchObject({ project: "six", fingerprint: built.distributions[0]!.fingerprint });
    expect((await readPexInfo(pex)).pexHash).toBe(built.info.pexHash);
    expect(await verifyPex(pex)).toMatchObject({ ok: true, problems: [] });
    const packed = path.join(tmp, "inspect-packed");
    await buildPex(packed, { wheels: [six], sourceDirectories: [src], layout: "packed" });
    expect(await verifyPex(packed)).toMatchObject({ ok: true });
    // Engines run a packed PEX shipped as an archive through `<alias>/__main__.py` itself.
    const direct = await run(path.join(packed, "__main__.py"), ["-c", "import sys, six; print(six.__name__, sys.argv[1:])", "x"], { env: cleanEnv({ PEX_ROOT: path.join(tmp, "root") }) });
    expect(direct.stdout.trim()).toBe("six ['x']");
    // Flip bytes of six.py inside the PEX (stored entries so the text is findable).
    const stored = path.join(tmp, "tamper.pex");
    await buildPex(stored, { wheels: [downloadWheels(["six"])[0]!], sourceDirectories: [src], compress: false });
    const buf = fs.readFileSync(stored);
    const at = buf.indexOf("print('six'");
    expect(at).toBeGreaterThan(0);
    buf.write("print('SIX'", at);
    fs.writeFileSync(stored, buf);
    const v = await verifyPex(stored);
    expect(v.ok).toBe(false);
    expect(v.problems.join("\n")).toMatch(/CRC|code_hash/);
  });

  it("reads a PEX laid out by pex itself (shebang, relative offsets, pex's PEX-INFO)", async () => {
    const fixture = path.join(tmp, "pex-made.pex");
    const script = `
import json, hashlib, sys, zipfile
whl = sys.argv[2]
name = whl.rsplit('/', 1)[1]
info = {"bootstrap_hash": "ab"*20, "build_properties": {"class": "CPython", "pex_version": "2.1.163", "platform": "linux_x86_64", "version": [3, 11, 7]}, "code_hash": "cd"*20, "distributions": {name: "ef"*20}, "emit_warnings": True, "entry_point": None, "inherit_path": "false", "inject_args": [], "inject_env": {}, "interpreter_constraints": [], "pex_path": None, "requirements": ["six"], "script": None, "strip_pex_env": True, "venv": False}
info["pex_hash"] = hashlib.sha1(json.dumps(info, sort_keys=True).encode()).hexdigest()
with open(sys.argv[1], "wb") as f:
    f.write(b"#!/usr/bin/env python3.11\\n")
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("PEX-INFO", json.dumps(info, sort_keys=True))
        z.writestr("__main__.py", "raise SystemExit('pex runtime')")
        z.writestr(".bootstrap/pex/__init__.py", "")
        with zipfile.ZipFile(whl) as w:
            for i in w.infolist():
                z.writestr(".deps/%s/%s" % (name, i.filename), w.read(i))
print(info["pex_hash"])
`;
    const r = spawnSync("python3", ["-c", script, fixture, six], { encoding: "utf8" });
    expect(r.status).toBe(0);
    const info = await inspectPex(fixture);
    expect(info).toMatchObject({ layout: "zipapp", builtBy: "pex 2.1.163", pexHash: r.stdout.trim(), requirements: ["six"] });
    expect(info.distributions.map((x) => x.wheel)).toEqual([path.basename(six)]);
    expect(await verifyPex(fixture)).toMatchObject({ ok: true, problems: [] });
    // Our runtime can also extract its .deps/ (same installed-wheel layout) via PEX_PATH.
    const host = path.join(tmp, "host.pex");
    await buildPex(host, {});
    const run2 = await run(host, ["-c", "import six; print(six.__name__)"], { env: cleanEnv({ PEX_ROOT: path.join(tmp, "root"), PEX_PATH: fixture }) });
    expect(run2.stdout).toBe("six\n");
  });

  it("rejects a second copy of a wheel and writes nothing on failure or abort", async () => {
    expect(() => new PexBuilder({ wheels: [six, six] })).toThrow(/given twice/);
    const out = path.join(tmp, "aborted.pex");
    const ac = new AbortController();
    ac.abort();
    await expect(buildPex(out, { wheels: [six], signal: ac.signal })).rejects.toThrow(/abort/i);
    expect(fs.readdirSync(tmp).filter((f) => f.includes("aborted"))).toEqual([]);
    await expect(buildPex(out, { wheels: [six], entryPoint: "a:b", script: "c" })).rejects.toThrow(
      expect.objectContaining({ message: "Both an entry point and a script were given, and a PEX runs only one.", hint: "give either an entry point or a script, not both." }),
    );
  });
});
