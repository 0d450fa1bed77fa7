/**
 * uploadEnv packs a venv as installed: a real `python -m venv` with six from the mirror,
 * a project installed from a local directory and a library installed from an index that
 * is gone afterwards. The index path cannot pack it; the as-installed path must, without
 * contacting any index, and the PEX must run on the plain interpreter and import all three.
 */
import { execFile } from "node:child_process";
import { promises as fsp } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { readPexInfo } from "@cluster-pack/pex";
import { uploadEnv, type UploadEnvOptions } from "./upload-env";
import { PYTHON311, venvFixtureUnavailable } from "./test-kit/venv";
import type { UploadProgress } from "./types";

jest.setTimeout(300_000);
const run = promisify(execFile);
const PIP = ["-m", "pip", "install", "-q", "--retries", "0", "--timeout", "5"];

let tmp: string;
let venv: string;
let skip: string | undefined;
let index: http.Server;
let indexRequests = 0;
let indexUrl: string;

beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "cp-as-installed-"));
  // Any request here would mean an index was contacted.
  index = http.createServer((_req, res) => {
    indexRequests++;
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => index.listen(0, "127.0.0.1", r));
  indexUrl = `http://127.0.0.1:${(index.address() as AddressInfo).port}/simple`;
  skip = await venvFixtureUnavailable();
  if (skip) return;
  venv = path.join(tmp, "venv");
  await run(PYTHON311, ["-m", "venv", venv]);
  const python = path.join(venv, "bin", "python");
  const mirror = ["--index-url", "file:///opt/pypi/simple"];
  await run(python, [...PIP, ...mirror, "six"], { timeout: 240_000 });
  // A project installed from a local directory (not a wheel anywhere).
  const local = await project(path.join(tmp, "local-pkg"), "local-pkg", "localpkg", "VALUE = 'local'\n");
  await run(python, [...PIP, ...mirror, local], { timeout: 240_000 });
  // A library from a private index (a flat directory) that then disappears.
  const privateIndex = path.join(tmp, "private-index");
  const lib = await project(path.join(tmp, "private-lib"), "private-lib", "privatelib", "VALUE = 'private'\n");
  await run(python, ["-m", "pip", "wheel", "-q", "--no-deps", ...mirror, "-w", privateIndex, lib], { timeout: 240_000 });
  await run(python, [...PIP, "--no-index", "--find-links", privateIndex, "private-lib"], { timeout: 240_000 });
  await fsp.rm(privateIndex, { recursive: true });
  await fsp.rm(lib, { recursive: true });
}, 600_000);

afterAll(async () => {
  await new Promise((r) => index?.close(r));
  if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
});

function options(extra: Partial<UploadEnvOptions> = {}): UploadEnvOptions {
  return {
    env: venv,
    cacheDir: path.join(tmp, "cache"),
    index: { indexUrl },
    environ: { C_PACK_USER: "me", PATH: process.env.PATH, HOME: process.env.HOME },
    ...extra,
  };
}

describe("uploadEnv packs an environment as installed", () => {
  it("packs a local-directory project and one whose index is gone, without contacting an index; the PEX imports them", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const phases: UploadProgress[] = [];
    const packagePath = path.join(tmp, "store", "env.pex");
    const result = await uploadEnv(options({ packagePath, onProgress: (p) => phases.push(p) }));
    expect(result.uploaded).toBe(true);
    expect(result.requirements).toEqual(["local-pkg==1.0", "private-lib==1.0", "six==1.17.0"]);
    expect(indexRequests).toBe(0);
    expect(phases.some((p) => p.phase === "rebuild" && p.detail === "private_lib-1.0-py3-none-any.whl")).toBe(true);
    expect(phases.some((p) => p.phase === "resolve" || p.phase === "download")).toBe(false);

    const info = await readPexInfo(packagePath);
    expect(Object.keys(info.distributions).sort()).toEqual(["local_pkg-1.0-py3-none-any.whl", "private_lib-1.0-py3-none-any.whl", "six-1.17.0-py2.py3-none-any.whl"]);
    // The interpreter the venv was made from, without the venv: only the PEX provides them.
    const { stdout } = await run(PYTHON311, [packagePath, "-c", "import localpkg, privatelib, six, sys; print(localpkg.VALUE, privatelib.VALUE, six.__version__, sys.prefix)"], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PEX_ROOT: path.join(tmp, "pex-root") },
    });
    const [local, priv, six, prefix] = stdout.trim().split(" ");
    expect([local, priv, six]).toEqual(["local", "private", "1.17.0"]);
    expect(prefix).not.toBe(await fsp.realpath(venv));
  });

  it("gives the same bytes from a cold and a warm cache; --from-index cannot pack this environment", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const a = await uploadEnv(options({ packagePath: path.join(tmp, "a", "env.pex"), cacheDir: path.join(tmp, "cache-a") }));
    const b = await uploadEnv(options({ packagePath: path.join(tmp, "b", "env.pex"), cacheDir: path.join(tmp, "cache-a") }));
    const c = await uploadEnv(options({ packagePath: path.join(tmp, "c", "env.pex"), cacheDir: path.join(tmp, "cache-c") }));
    const bytes = await Promise.all([a, b, c].map((r) => fsp.readFile(r.packagePath)));
    expect(bytes[1]!.equals(bytes[0]!)).toBe(true);
    expect(bytes[2]!.equals(bytes[0]!)).toBe(true);

    await expect(uploadEnv(options({ packagePath: path.join(tmp, "d", "env.pex"), fromIndex: true }))).rejects.toMatchObject({ message: expect.stringMatching(/local-pkg|private-lib/) });
    expect(indexRequests).toBeGreaterThan(0);
  });

  it("names a package whose installed files changed, with the fix", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const site = (await fsp.readdir(path.join(venv, "lib"))).map((d) => path.join(venv, "lib", d, "site-packages"))[0]!;
    await fsp.appendFile(path.join(site, "privatelib", "__init__.py"), "PATCHED = True\n");
    await expect(uploadEnv(options({ packagePath: path.join(tmp, "e", "env.pex") }))).rejects.toMatchObject({
      code: "ERR_NOT_REBUILDABLE",
      message: expect.stringMatching(/private-lib 1\.0 .*privatelib\/__init__\.py changed since it was installed/),
      hint: expect.stringMatching(/--force-reinstall.*--from-index/),
    });
  });
});

async function project(dir: string, name: string, pkg: string, init: string): Promise<string> {
  await fsp.mkdir(path.join(dir, pkg), { recursive: true });
  await fsp.writeFile(path.join(dir, "pyproject.toml"), `[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "${name}"\nversion = "1.0"\n`);
  await fsp.writeFile(path.join(dir, pkg, "__init__.py"), init);
  return dir;
}
