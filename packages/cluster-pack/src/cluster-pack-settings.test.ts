/**
 * cluster-pack's smaller settings, each on a real venv and a local store: allow_large_pex,
 * pex's venv mode, C_PACK_ENV_FALLBACK_PATH, C_PACK_PYPI_URL.
 */
import { execFile } from "node:child_process";
import { promises as fsp } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { readPexInfo } from "@cluster-pack/pex";
import { ZipReader } from "@cluster-pack/zip";
import { uploadEnv, type UploadEnvOptions } from "./upload-env";
import { PYTHON311, sharedVenvFixture, venvFixtureUnavailable, type VenvFixture } from "./test-kit/venv";

jest.setTimeout(300_000);
const run = promisify(execFile);

let fx: VenvFixture | undefined;
let tmp: string;
let skip: string | undefined;

beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "cp-settings-"));
  skip = await venvFixtureUnavailable();
  if (!skip) fx = await sharedVenvFixture();
}, 600_000);

afterAll(async () => {
  if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
});

function options(packagePath: string, extra: Partial<UploadEnvOptions> = {}, environ: NodeJS.ProcessEnv = {}): UploadEnvOptions {
  return {
    env: fx!.venv,
    packagePath,
    cacheDir: path.join(tmp, "cache"),
    environ: { C_PACK_USER: "me", PATH: process.env.PATH, HOME: process.env.HOME, ...environ },
    ...extra,
  };
}

const runEnv = () => ({ PATH: process.env.PATH, HOME: process.env.HOME, PEX_ROOT: path.join(tmp, "pex-root") });

describe("cluster-pack settings", () => {
  it("allow_large_pex: a zipped packed PEX (.pex.zip), unpacked as pyenv/ and run as pyenv/__main__.py", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    await expect(uploadEnv(options(path.join(tmp, "large", "env.pex"), { pex: { allowLargePex: true } }))).rejects.toThrow(/writes \.pex\.zip files/);
    const packagePath = path.join(tmp, "large", "env.pex.zip");
    const result = await uploadEnv(options(packagePath, { pex: { allowLargePex: true } }));
    expect(result.environment).toMatchObject({ kind: "pex-large", interpreter: "pyenv/__main__.py", archive: { type: "archive", alias: "pyenv" } });
    const work = path.join(tmp, "large-work");
    const reader = await ZipReader.open(packagePath);
    try {
      expect(reader.entries.map((e) => e.name)).toEqual(expect.arrayContaining(["PEX-INFO", "__main__.py", ".bootstrap", ".deps/six-1.17.0-py2.py3-none-any.whl"]));
      await reader.extractTo(path.join(work, "pyenv"));
    } finally {
      await reader.close();
    }
    // As an engine runs it: the interpreter command from the working directory.
    const { stdout } = await run(path.join(work, result.environment.interpreter), ["-c", "import dateutil, six; print(six.__version__)"], { cwd: work, env: runEnv() });
    expect(stdout.trim()).toBe("1.17.0");
    // Deterministic: a second build elsewhere gives the same zip.
    const again = await uploadEnv(options(path.join(tmp, "large2", "env.pex.zip"), { pex: { allowLargePex: true }, cacheDir: path.join(tmp, "cache2") }));
    expect(await fsp.readFile(again.packagePath)).toEqual(await fsp.readFile(packagePath));
  });

  it("venv mode: the PEX re-executes a venv python, so sys.executable sees the packages", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const packagePath = path.join(tmp, "venv-mode", "env.pex");
    await uploadEnv(options(packagePath, { pex: { venv: true } }));
    expect((await readPexInfo(packagePath)).venv).toBe(true);
    const code = "import subprocess, sys; print(sys.executable); print(subprocess.check_output([sys.executable, '-c', 'import six; print(six.__version__)']).decode().strip())";
    const { stdout } = await run(PYTHON311, [packagePath, "-c", code], { env: runEnv() });
    const [executable, version] = stdout.trim().split("\n");
    expect(executable).toContain(path.join(tmp, "pex-root", "venvs"));
    expect(version).toBe("1.17.0");
  });

  it("C_PACK_ENV_FALLBACK_PATH: a prebuilt PEX with the same requirements is uploaded instead of building; another one is not", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const prebuilt = path.join(tmp, "prebuilt", "env.pex");
    await uploadEnv(options(prebuilt));
    const logs: string[] = [];
    const target = path.join(tmp, "from-fallback", "env.pex");
    const phases = new Set<string>();
    const r = await uploadEnv(options(target, { cacheDir: path.join(tmp, "cache-fallback"), onLog: (m) => logs.push(m), onProgress: (p) => phases.add(p.phase) }, { C_PACK_ENV_FALLBACK_PATH: prebuilt }));
    expect(r.uploaded).toBe(true);
    expect(logs.join("\n")).toContain("using the prebuilt PEX");
    expect([...phases]).toEqual(["upload"]);
    expect(await fsp.readFile(target)).toEqual(await fsp.readFile(prebuilt));

    // Other requirements (six left out): the prebuilt PEX does not fit, the env is built.
    const other: string[] = [];
    const built = await uploadEnv(options(path.join(tmp, "not-fallback", "env.pex"), { ignoredPackages: ["six"], onLog: (m) => other.push(m) }, { C_PACK_ENV_FALLBACK_PATH: prebuilt }));
    expect(other.join("\n")).toContain("does not have this environment's requirements: building");
    expect(Object.keys((await readPexInfo(built.packagePath)).distributions)).toEqual([expect.stringMatching(/^python_dateutil-/)]);
  });

  it("C_PACK_PYPI_URL is the index unless one is given", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(req.url ?? "");
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/simple`;
    try {
      const reqs = { env: undefined, requirements: ["six"], target: { python: "3.11", platform: "manylinux_2_28_x86_64" } };
      await uploadEnv({ ...options(path.join(tmp, "pypi", "a.pex"), reqs, { C_PACK_PYPI_URL: ` ${url} ` }) });
      expect(seen.some((u) => u.startsWith("/simple/six"))).toBe(true);
      seen.length = 0;
      await uploadEnv({ ...options(path.join(tmp, "pypi", "b.pex"), { ...reqs, index: { indexUrl: "file:///opt/pypi/simple" } }, { C_PACK_PYPI_URL: url }) });
      expect(seen).toEqual([]);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
