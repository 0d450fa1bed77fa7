import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { downloadWheels, pipIndexUnavailable } from "@cluster-pack/io/test-kit";
import { ensureCliBuilt, runCli, spawnCli } from "../test-kit";

// Real interpreters and wheels: allow for a busy 2-core machine.
jest.setTimeout(300_000);

async function cli(...args: string[]) {
  const r = await runCli(...args);
  return { code: r.code, stdout: r.out, stderr: r.err };
}

// Real wheels from pip's configured index (pip.conf / PIP_*), as the other PEX tests use.
const noPip = pipIndexUnavailable();
if (noPip) console.warn(`skipping cluster-pack pex CLI tests: ${noPip}`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-cli-pex-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

(noPip ? describe.skip : describe)("cluster-pack pex", () => {
  let wheelDir: string;
  beforeAll(() => {
    const [six] = downloadWheels(["six"]);
    wheelDir = path.join(tmp, "wheels");
    fs.mkdirSync(wheelDir);
    fs.copyFileSync(six!, path.join(wheelDir, path.basename(six!)));
    fs.mkdirSync(path.join(tmp, "src"));
    fs.writeFileSync(path.join(tmp, "src", "hello.py"), "import six\ndef main():\n    print('hello', six.__name__)\n");
  });

  it("builds from a wheel directory with an entry point, runs, inspects and verifies", async () => {
    const out = path.join(tmp, "app.pex");
    const b = await cli("pex", "build", wheelDir, "-D", path.join(tmp, "src"), "-e", "hello:main", "-o", out, "--inject-env", "A=1", "--json");
    expect(b.stderr).toBe("");
    expect(b.code).toBe(0);
    const built = JSON.parse(b.stdout);
    expect(built).toMatchObject({ path: out, layout: "zipapp", distributions: [{ project: "six" }] });
    const r = spawnSync(out, [], { encoding: "utf8", env: { ...process.env, PEX_ROOT: path.join(tmp, "root") } });
    expect(r.stdout).toBe("hello six\n");
    const human = await cli("pex", "inspect", out);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/entry point\s+hello:main/);
    expect(human.stdout).toMatch(new RegExp(`pex_hash\\s+${built.pexHash}`));
    expect(human.stdout).toMatch(/six\s+\S+\s+[0-9a-f]{40}\s+six-/);
    expect(human.stdout).toContain("inject_env    A=1");
    const json = JSON.parse((await cli("pex", "inspect", out, "--json")).stdout);
    expect(json.requirements[0]).toMatch(/^six==/);
    const v = await cli("pex", "verify", out);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/: OK$/m);
  });

  it("--compile ships bytecode for the shebang's interpreter; a --compile-python that cannot compile is bad input naming the flag", async () => {
    const out = path.join(tmp, "compiled.pex");
    const b = await cli("pex", "build", wheelDir, "-o", out, "--compile");
    expect({ code: b.code, stderr: b.stderr }).toEqual({ code: 0, stderr: "" });
    const tag = spawnSync("python3", ["-c", "import sys; print(sys.implementation.cache_tag)"], { encoding: "utf8" }).stdout.trim();
    // (from the cache when an earlier run of this test compiled the same six for the same python)
    expect(b.stdout).toMatch(new RegExp(`^bytecode for ${tag} \\(cpython 3\\.\\d+\\.\\d+\\): 1 module(, 1 wheel from the cache)?$`, "m"));
    const json = JSON.parse((await cli("pex", "build", wheelDir, "-o", out, "--force", "--compile", "--json")).stdout);
    expect(json.bytecode).toMatchObject({ cacheTag: tag, compiled: 1, cachedWheels: 1, skipped: [] });
    expect((await cli("pex", "inspect", out)).stdout).toMatch(new RegExp(`^bytecode\\s+shipped for ${tag}$`, "m"));
    const bad = await cli("pex", "build", wheelDir, "-o", path.join(tmp, "never.pex"), "--compile-python", path.join(tmp, "no-python"));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`Cannot compile bytecode with ${path.join(tmp, "no-python")}`);
    expect(bad.stderr).toContain("--compile-python");
    expect(fs.existsSync(path.join(tmp, "never.pex"))).toBe(false);
    const empty = await cli("pex", "build", wheelDir, "-o", path.join(tmp, "never.pex"), "--compile-python", "");
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain("The interpreter to compile with");
    expect(fs.existsSync(path.join(tmp, "never.pex"))).toBe(false);
  });

  it("--compile of many wheels in a real process prints nothing on stderr (no stray warning)", async () => {
    ensureCliBuilt();
    // 14 wheels: more compilers waiting and running at once than Node's 10 listeners per signal.
    const many = downloadWheels(["six", "python-dateutil", "idna", "certifi", "packaging", "attrs", "tqdm", "markupsafe", "jinja2", "filelock", "typing-extensions", "mpmath", "fsspec", "charset-normalizer"]);
    const cli = spawnCli(["pex", "build", ...many, "-o", path.join(tmp, "many.pex"), "--compile", "--json"], { env: { ...process.env, CLUSTER_PACK_CACHE: path.join(tmp, "many-cache") } });
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(cli.stderr()).toBe("");
    expect(JSON.parse(cli.stdout()).distributions).toHaveLength(14);
  });

  it("--venv builds a venv-mode PEX whose sys.executable subprocesses import its wheels", async () => {
    const out = path.join(tmp, "venv.pex");
    const b = await cli("pex", "build", wheelDir, "-o", out, "--venv");
    expect(b.code).toBe(0);
    const root = path.join(tmp, "venv-root");
    const code = "import subprocess, sys; print(sys.executable); subprocess.check_call([sys.executable, '-c', 'import six'])";
    const r = spawnSync(out, ["-c", code], { encoding: "utf8", env: { ...process.env, PEX_ROOT: root } });
    expect(r.stderr).toBe("");
    expect(r.stdout.trim().startsWith(path.join(root, "venvs") + path.sep)).toBe(true);
    expect((await cli("pex", "inspect", out)).stdout).toMatch(/venv true/);
    expect(JSON.parse((await cli("pex", "inspect", out, "--json")).stdout).venv).toBe(true);
  });

  it("exits 2 when verification fails (bad input, as a truncated PEX is everywhere) and on other bad input", async () => {
    const out = path.join(tmp, "bad.pex");
    expect((await cli("pex", "build", wheelDir, "-D", path.join(tmp, "src"), "-o", out, "--no-compress")).code).toBe(0);
    const buf = fs.readFileSync(out);
    const at = buf.indexOf("print('hello'");
    buf.write("print('HELLO'", at);
    fs.writeFileSync(out, buf);
    const v = await cli("pex", "verify", out);
    expect(v.code).toBe(2);
    expect(v.stdout).toMatch(/FAIL/);
    expect(v.stderr).toMatch(/failed verification/);
    const vj = await cli("pex", "verify", out, "--json");
    expect(JSON.parse(vj.stdout).error.code).toBe("ERR_PEX_VERIFY");
    const missing = await cli("pex", "build", path.join(tmp, "nope.whl"), "-o", path.join(tmp, "x.pex"));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope.whl does not exist/);
    const bothEntry = await cli("pex", "build", wheelDir, "-e", "a:b", "-c", "x", "-o", path.join(tmp, "y.pex"));
    expect(bothEntry.code).toBe(2);
    const notPex = await cli("pex", "inspect", path.join(tmp, "src", "hello.py"));
    expect(notPex.code).toBe(2);
    expect(notPex.stderr).toMatch(/hello.py: not a readable zip archive/);
  });

  it("resolves requirements through @cluster-pack/pip and records them", async () => {
    const out = path.join(tmp, "req.pex");
    const b = await cli("pex", "build", "six", "-o", out, "--json");
    expect(b.code).toBe(0);
    expect(JSON.parse(b.stdout).distributions.map((d: { project: string }) => d.project)).toEqual(["six"]);
    const info = JSON.parse((await cli("pex", "inspect", out, "--json")).stdout);
    expect(info.requirements).toEqual(["six"]);
    const r = spawnSync(out, ["-c", "import six; print(six.__name__)"], { encoding: "utf8", env: { ...process.env, PEX_ROOT: path.join(tmp, "root") } });
    expect(r.stdout).toBe("six\n");
  });

  it("prints help with examples", async () => {
    const h = await cli("pex", "build", "--help");
    expect(h.code).toBe(0);
    expect(h.stdout).toContain("Examples:");
    expect(h.stdout).toContain("--interpreter-constraint");
  });
});
