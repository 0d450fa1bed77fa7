/**
 * uploadEnv inside a PEX (a job that launches more work): the running PEX is found from
 * the `PEX` variable, or by probing an interpreter that is a PEX (the real runtime
 * exports it), and uploaded as uploadZip does; editable code named in cluster-pack's
 * `editable_packages_index` ships from PYTHONPATH; an unpacked large PEX is zipped again.
 */
import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { readPexInfo } from "@cluster-pack/pex";
import { ZipReader } from "@cluster-pack/zip";
import { uploadEnv, type UploadEnvOptions } from "./upload-env";
import { sharedVenvFixture, venvFixtureUnavailable, type VenvFixture } from "./test-kit/venv";
import { zipPath } from "./zip-path";

jest.setTimeout(300_000);

let fx: VenvFixture | undefined;
let tmp: string;
let skip: string | undefined;
let pex: string;

beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "cp-running-pex-"));
  skip = await venvFixtureUnavailable();
  if (skip) return;
  fx = await sharedVenvFixture();
  pex = (await uploadEnv(options({ env: fx.venv, packagePath: path.join(tmp, "built", "job.pex") }))).packagePath;
  await fsp.chmod(pex, 0o755);
}, 600_000);

afterAll(async () => {
  if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
});

function options(extra: Partial<UploadEnvOptions> = {}, environ: NodeJS.ProcessEnv = {}): UploadEnvOptions {
  return { cacheDir: path.join(tmp, "cache"), environ: { C_PACK_USER: "me", PATH: process.env.PATH, HOME: process.env.HOME, ...environ }, ...extra };
}

describe("uploadEnv from inside a PEX", () => {
  it("uploads the PEX named by the PEX variable, skipped the second time by pex_hash, at <default fs>/user/<user>/envs/<name>.pex", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const environ = { PEX: pex, XDG_DATA_HOME: path.join(tmp, "data") };
    const first = await uploadEnv(options({}, environ));
    expect(first).toMatchObject({ uploaded: true, envName: "job", environment: { kind: "pex", interpreter: "./job.pex" } });
    expect(first.packagePath).toBe(`file://${tmp}/data/cluster-pack/user/me/envs/job.pex`);
    expect(first.lockHash).toMatch(/^pex_hash:[0-9a-f]{40}$/);
    expect(first.requirements).toEqual((await readPexInfo(pex)).requirements);
    expect(await fsp.readFile(path.join(tmp, "data/cluster-pack/user/me/envs/job.pex"))).toEqual(await fsp.readFile(pex));
    expect((await uploadEnv(options({}, environ))).uploaded).toBe(false);
  });

  it("recognises a PEX given as the interpreter (sys.argv[0] / PEX of the probed process)", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const target = path.join(tmp, "probed", "job.pex");
    const r = await uploadEnv(options({ python: pex, packagePath: target }, { PEX_ROOT: path.join(tmp, "pex-root") }));
    expect(r.uploaded).toBe(true);
    expect(await fsp.readFile(target)).toEqual(await fsp.readFile(pex));
  });

  it("ships the editable packages of editable_packages_index from PYTHONPATH (a code zip, as a job has it)", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const cwd = path.join(tmp, "job-cwd");
    await fsp.mkdir(cwd, { recursive: true });
    const code = await zipPath(path.join(fx!.editableProject, "src", "myedit"), { output: path.join(cwd, "myedit.zip") });
    await fsp.writeFile(path.join(cwd, "editable_packages_index"), "myedit\n");
    const spawned = await uploadEnv(options({ includeEditable: true, cwd, packagePath: path.join(tmp, "child", "job.pex") }, { PEX: pex, PYTHONPATH: "myedit.zip" }));
    expect(spawned.editableArchives).toEqual([{ name: "myedit", packagePath: path.join(tmp, "child", "job_editable", "myedit.zip"), sha256: code.sha256, uploaded: true }]);
    expect(spawned.environment.codeArchives.map((c) => c.alias)).toEqual(["myedit.zip"]);
  });

  it("an unpacked large PEX (a directory) is zipped again, to the same bytes", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const large = (await uploadEnv(options({ env: fx!.venv, packagePath: path.join(tmp, "large", "job.pex.zip"), pex: { allowLargePex: true } }))).packagePath;
    const unpacked = path.join(tmp, "container", "job.pex.zip");
    const reader = await ZipReader.open(large);
    await reader.extractTo(unpacked).finally(() => reader.close());
    const target = path.join(tmp, "relaunch", "job.pex.zip");
    const r = await uploadEnv(options({ packagePath: target }, { PEX: unpacked }));
    expect(r.environment).toMatchObject({ kind: "pex-large", interpreter: "pyenv/__main__.py" });
    expect(await fsp.readFile(target)).toEqual(await fsp.readFile(large));
  });
});
