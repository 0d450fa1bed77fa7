import { execFile } from "node:child_process";
import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { PipSession, explicitTarget, lockFromResolution, writePyLock } from "@cluster-pack/pip";
import { uploadEnv, type UploadEnvOptions } from "./upload-env";
import { extractArchive, findKitInterpreter, makeCondaEnv } from "@cluster-pack/conda/test-kit";
import { sharedVenvFixture, venvFixtureUnavailable, type VenvFixture } from "./test-kit/venv";

// Real builds, interpreters and servers: the root jest config (multi-project) ignores the preset's testTimeout.
jest.setTimeout(300_000);

const run = promisify(execFile);
let tmp: string;
let fx: VenvFixture | undefined;
let skip: string | undefined;

beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "cp-packers-"));
  skip = await venvFixtureUnavailable();
  if (!skip) fx = await sharedVenvFixture();
}, 600_000);
afterAll(async () => {
  await fx?.cleanup();
  await fsp.rm(tmp, { recursive: true, force: true });
});

const base = (extra: Partial<UploadEnvOptions>): UploadEnvOptions => ({ cacheDir: path.join(tmp, "cache"), environ: { C_PACK_USER: "me", PATH: process.env.PATH }, ...extra });

describe("uploadEnv from a PEP 751 lock file", () => {
  it("packs the lock exactly (no resolution), skips when unchanged, refuses additions", async () => {
    const target = explicitTarget({ python: "3.11" });
    const session = new PipSession({ target, cacheDir: path.join(tmp, "cache") });
    const resolution = await session.resolve(await session.readInput({ requirements: ["python-dateutil"] }));
    const lockFile = path.join(tmp, "proj", "pylock.toml");
    await fsp.mkdir(path.dirname(lockFile), { recursive: true });
    await writePyLock(lockFile, await lockFromResolution(resolution, session.cache));
    const packagePath = `file://${tmp}/store/locked.pex`;
    const r = await uploadEnv(base({ lockFile, target: { python: "3.11" }, packagePath }));
    expect(r).toMatchObject({ uploaded: true, requirements: ["python-dateutil==2.9.0.post0", "six==1.17.0"] });
    expect((await uploadEnv(base({ lockFile, target: { python: "3.11" }, packagePath }))).uploaded).toBe(false);
    const only = await uploadEnv(base({ lockFile, target: { python: "3.11" }, packagePath: `file://${tmp}/store/locked-six.pex`, onlyPackages: ["six"] }));
    expect(only.requirements).toEqual(["six==1.17.0"]);
    // Without packagePath the name follows cluster-pack's upload_spec: the lock's directory.
    const named = await uploadEnv(base({ lockFile, target: { python: "3.11" }, environ: { C_PACK_USER: "me", XDG_DATA_HOME: path.join(tmp, "data") } }));
    expect(named.packagePath).toBe(`file://${tmp}/data/cluster-pack/user/me/envs/cluster_pack_proj.pex`);
    await expect(uploadEnv(base({ lockFile, target: { python: "3.11" }, packagePath, additionalPackages: { numpy: "" } }))).rejects.toThrow(/packed exactly as locked/);
  });
});

describe("uploadEnv and archives uploaded by Python cluster-pack", () => {
  it("an archive without our metadata is judged by cluster-pack's sidecar rule (packages, platform, Python version)", async () => {
    const ours = path.join(tmp, "compat", "ours.pex");
    const r = await uploadEnv(base({ requirements: ["six"], target: { python: "3.11" }, packagePath: ours }));
    const sidecar = JSON.parse(await fsp.readFile(path.join(tmp, "compat", "ours.json"), "utf8"));
    // What Python cluster-pack leaves: the archive (no user metadata) and its three-key sidecar.
    const theirs = path.join(tmp, "compat", "theirs.pex");
    await fsp.copyFile(ours, theirs);
    const writeSidecar = (packages: string[]) =>
      fsp.writeFile(path.join(tmp, "compat", "theirs.json"), JSON.stringify({ package_installed: packages, platform: sidecar.platform, python_version: sidecar.python_version }));
    await writeSidecar(r.requirements);
    expect((await uploadEnv(base({ requirements: ["six"], target: { python: "3.11" }, packagePath: theirs }))).uploaded).toBe(false);
    await writeSidecar(["six==1.16.0"]);
    expect((await uploadEnv(base({ requirements: ["six"], target: { python: "3.11" }, packagePath: theirs }))).uploaded).toBe(true);
  });
});

describe("uploadEnv with the venv and conda packers", () => {
  it("venv: a relocatable tar.gz unpacked as YARN would (pyenv/), its python imports the packages and the shipped editable code", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const packagePath = `file://${tmp}/store/env.tar.gz`;
    const r = await uploadEnv(base({ env: fx!.venv, packer: "venv", includeEditable: true, packagePath }));
    expect(r).toMatchObject({ uploaded: true, environment: { kind: "venv", interpreter: "pyenv/bin/python", archive: { type: "archive", alias: "pyenv" } } });
    expect(r.editableArchives.map((e) => e.name)).toEqual(["myedit"]);
    const again = await uploadEnv(base({ env: fx!.venv, packer: "venv", includeEditable: true, packagePath }));
    expect(again.uploaded).toBe(false);

    const work = await fsp.mkdtemp(path.join(tmp, "container-"));
    await fsp.mkdir(path.join(work, "pyenv"));
    await run("tar", ["xzf", path.join(tmp, "store", "env.tar.gz"), "-C", path.join(work, "pyenv")]);
    await fsp.copyFile(new URL(r.editableArchives[0]!.packagePath).pathname, path.join(work, "myedit.zip"));
    const { stdout } = await run(r.environment.interpreter, ["-m", "myedit.job"], { cwd: work, env: { PATH: process.env.PATH, PYTHONPATH: "myedit.zip" } });
    expect(JSON.parse(stdout)).toMatchObject({ value: 42, six: "1.17.0", dateutil: "2.9.0.post0" });
  });

  it("venv: editable installs without includeEditable are refused with the fix", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    await expect(uploadEnv(base({ env: fx!.venv, packer: "venv", packagePath: `file://${tmp}/store/e2.tar.gz` }))).rejects.toThrow(/editable/);
  });

  it("conda: a conda env (built without conda) packed as tar.gz; a re-run is a no-op; packer/env mismatches are clear errors", async () => {
    if (!findKitInterpreter()) return console.warn("skipped: no pyenv CPython for the conda kit");
    const env = makeCondaEnv({ root: path.join(tmp, "conda"), pipPackage: false });
    const packagePath = `file://${tmp}/store/conda.tar.gz`;
    const r = await uploadEnv(base({ env: env.prefix, packer: "conda", packagePath }));
    // cluster-pack's conda packer names the archive after the environment itself.
    expect(r).toMatchObject({ uploaded: true, envName: path.basename(env.prefix), environment: { kind: "conda", interpreter: "pyenv/bin/python" } });
    expect((await uploadEnv(base({ env: env.prefix, packer: "conda", packagePath }))).uploaded).toBe(false);
    const work = path.join(tmp, "conda-work");
    extractArchive(path.join(tmp, "store", "conda.tar.gz"), path.join(work, "pyenv"));
    const { stdout } = await run(path.join(work, "pyenv", "bin", "python"), ["-c", "import sys; print(sys.version_info[:2])"]);
    expect(stdout.trim()).toBe(`(${env.pythonVersion.split(".").slice(0, 2).join(", ")})`);
    await expect(uploadEnv(base({ env: env.prefix, packer: "venv", packagePath: `file://${tmp}/x.tar.gz` }))).rejects.toThrow(/not a virtualenv/);
    if (fx) await expect(uploadEnv(base({ env: fx.venv, packer: "conda", packagePath: `file://${tmp}/x.tar.gz` }))).rejects.toThrow(/not a conda environment/);
    await expect(uploadEnv(base({ env: env.prefix, packer: "conda", packagePath: `file://${tmp}/x.pex` }))).rejects.toThrow(/no archive extension/);
  });

  it("conda: detected as such and packed with the conda packer by default, at cluster-pack's <env name>.tar.gz; package edits are refused, never ignored", async () => {
    if (!findKitInterpreter()) return console.warn("skipped: no pyenv CPython for the conda kit");
    const env = makeCondaEnv({ root: path.join(tmp, "conda-default"), pipPackage: false });
    const r = await uploadEnv(base({ env: env.prefix, environ: { C_PACK_USER: "me", XDG_DATA_HOME: path.join(tmp, "data"), PATH: process.env.PATH, HOME: process.env.HOME } }));
    expect(r).toMatchObject({ environment: { kind: "conda" }, envName: path.basename(env.prefix) });
    expect(r.packagePath).toBe(`file://${tmp}/data/cluster-pack/user/me/envs/${path.basename(env.prefix)}.tar.gz`);
    for (const edit of [{ ignoredPackages: ["six"] }, { additionalPackages: { six: "1.17.0" } }, { onlyPackages: ["python"] }]) {
      await expect(uploadEnv(base({ env: env.prefix, packagePath: `file://${tmp}/store/edit.tar.gz`, ...edit }))).rejects.toMatchObject({
        message: expect.stringMatching(/The conda packer packs .* as it is, so package edits \(`additionalPackages`\/`ignoredPackages`\/`onlyPackages`\) cannot be applied\.$/),
        hint: expect.stringMatching(/`packer` "pex"/),
        optionNames: ["additionalPackages", "ignoredPackages", "onlyPackages", "packer"],
      });
    }
  });
});
