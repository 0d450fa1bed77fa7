/**
 * Interop with Python cluster-pack, both ways, on a real venv and a local store: its
 * sidecar rule (test-kit/cluster_pack_sidecar.py, run with the venv's interpreter, as
 * cluster-pack runs inside the environment) finds our archives up to date, and ours finds
 * the archives it described up to date. A deleted sidecar is written again.
 */
import { execFile } from "node:child_process";
import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { uploadEnv, type UploadEnvOptions } from "./upload-env";
import { sharedVenvFixture, venvFixtureUnavailable, type VenvFixture } from "./test-kit/venv";

jest.setTimeout(300_000);
const run = promisify(execFile);
const RULE = path.join(__dirname, "test-kit", "cluster_pack_sidecar.py");

let fx: VenvFixture | undefined;
let tmp: string;
let skip: string | undefined;

beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "cp-sidecar-interop-"));
  skip = await venvFixtureUnavailable();
  if (!skip) fx = await sharedVenvFixture();
}, 600_000);

afterAll(async () => {
  if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
});

function options(packagePath: string, extra: Partial<UploadEnvOptions> = {}): UploadEnvOptions {
  return { env: fx!.venv, packagePath, cacheDir: path.join(tmp, "cache"), environ: { C_PACK_USER: "me", PATH: process.env.PATH, HOME: process.env.HOME }, ...extra };
}

async function clusterPack(command: "check" | "dump", packagePath: string): Promise<string> {
  return (await run(fx!.python, [RULE, command, packagePath], { timeout: 120_000 })).stdout.trim();
}

describe("sidecars shared with Python cluster-pack", () => {
  it("cluster-pack's rule finds an archive we uploaded up to date", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const packagePath = path.join(tmp, "ours", "env.pex");
    expect((await uploadEnv(options(packagePath))).uploaded).toBe(true);
    expect(await clusterPack("check", packagePath)).toBe("True");
    // ...and not once the environment is another one (a package changed).
    const json = path.join(tmp, "ours", "env.json");
    const sidecar = JSON.parse(await fsp.readFile(json, "utf8")) as { package_installed: string[] };
    await fsp.writeFile(json, JSON.stringify({ ...sidecar, package_installed: sidecar.package_installed.filter((p) => !p.startsWith("six==")) }));
    expect(await clusterPack("check", packagePath)).toBe("False");
  });

  it("we find an archive cluster-pack described up to date (no build, no upload)", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    // An archive without our metadata, as cluster-pack uploads it, and its own sidecar.
    const built = await uploadEnv(options(path.join(tmp, "built", "env.pex")));
    const packagePath = path.join(tmp, "theirs", "env.pex");
    await fsp.mkdir(path.dirname(packagePath), { recursive: true });
    await fsp.copyFile(built.packagePath, packagePath);
    await clusterPack("dump", packagePath);
    const before = await fsp.stat(packagePath);
    const logs: string[] = [];
    const result = await uploadEnv(options(packagePath, { onLog: (m) => logs.push(m) }));
    expect(result.uploaded).toBe(false);
    expect((await fsp.stat(packagePath)).mtimeMs).toBe(before.mtimeMs);
    // Another Python version in cluster-pack's sidecar: not the same environment.
    const json = path.join(tmp, "theirs", "env.json");
    await fsp.writeFile(json, (await fsp.readFile(json, "utf8")).replace(/"python_version": "[^"]+"/, '"python_version": "3.10.13"'));
    expect((await uploadEnv(options(packagePath))).uploaded).toBe(true);
  });

  it("writes a deleted sidecar again beside an up-to-date archive, byte for byte", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const packagePath = path.join(tmp, "deleted", "env.pex");
    await uploadEnv(options(packagePath));
    const json = path.join(tmp, "deleted", "env.json");
    const original = await fsp.readFile(json);
    await fsp.rm(json);
    const again = await uploadEnv(options(packagePath));
    expect(again.uploaded).toBe(false);
    expect(await fsp.readFile(json)).toEqual(original);
    expect(await clusterPack("check", packagePath)).toBe("True");
  });
});
