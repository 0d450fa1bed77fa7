/**
 * Slow tier: a layered Ray environment end to end. Ray is resolved for CPython 3.11 (the
 * mirror's Ray wheel is cp311) and uploaded with uploadEnv({ layout: "layered" }) to a
 * real S3 server. Each "container" on the node gets only the top PEX
 * (shippedResources); the node's launcher fills the node's layer directory with
 * fetchLayers before each start. A Ray head is started from the PEX with the generated
 * rayStartCommand, a driver from the PEX in another container, and tasks run under the
 * generated runtime_env: one in the node's environment, one under py_executable pointing
 * at a third container's PEX, never started before, which extracts its distributions
 * from the node's layer directory (PEX_LAYERS_PATH reaches it through env_vars).
 */
import fs from "node:fs";
import path from "node:path";
import { pythonEnvironment, rayRuntimeEnvFor, rayStartCommand, shippedResources, type PythonEnvironment } from "@cluster-pack/engines";
import { describeUnless, exitWithin, lastJson, localise, rayPython, startIn, stop, waitFor, type Started } from "@cluster-pack/engines/test-kit";
import { resolveFileSystem, type FileSystem } from "@cluster-pack/fs";
import { freePort, startS3Server, type TestS3Server } from "@cluster-pack/fs/test-kit";
import { fetchLayers } from "./layers";
import { uploadEnv } from "./upload-env";
import type { UploadEnvResult } from "./types";

interface Probe {
  executable: string;
  ray_file: string;
  six_file: string;
  pex: string | null;
}

const DRIVER = `
import json, os, sys
import ray

@ray.remote
def probe():
    import os, sys
    import ray, six
    return {"executable": sys.executable, "ray_file": os.path.realpath(ray.__file__), "six_file": os.path.realpath(six.__file__),
            "pex": os.environ.get("PEX")}

ray.init(address=sys.argv[1], runtime_env=json.loads(sys.argv[2]), log_to_driver=False, _node_ip_address="127.0.0.1")
try:
    job = ray.get(probe.remote(), timeout=120)
    task = ray.get(probe.options(runtime_env=json.loads(sys.argv[3])).remote(), timeout=240)
    print(json.dumps({"job": job, "task": task}), flush=True)
finally:
    ray.shutdown()
`;

const { python, why } = rayPython();

describeUnless(why, "layered Ray environment: node layer directory (fetchLayers), rayStartCommand, runtime_env", () => {
  let tmp: string;
  let s3: TestS3Server;
  let s3fs: FileSystem;
  let v: UploadEnvResult;
  let tempDir: string | undefined;
  const started: Started[] = [];

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(fs.realpathSync("/tmp"), "cp-layered-ray-"));
    s3 = await startS3Server({ buckets: ["envs"] });
    s3fs = (await resolveFileSystem("s3://envs/", { s3: s3.clientOptions })).fs;
    v = await uploadEnv({
      layout: "layered",
      requirements: ["ray==2.58.0", "six"],
      packagePath: "s3://envs/user/me/envs/ray.pex",
      target: { interpreter: python! },
      pex: { pythonShebang: python! },
      cacheDir: path.join(tmp, "cache"),
      environ: { C_PACK_USER: "me", PATH: process.env.PATH, HOME: process.env.HOME },
      store: { s3: s3.clientOptions },
    });
  }, 900_000);

  afterAll(async () => {
    for (const p of started.reverse()) await stop(p);
    await s3?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
  }, 60_000);

  it("starts the node and runs tasks from layers fetched once into the node directory", async () => {
    const node = path.join(tmp, "node0");
    const layersDir = path.join(node, "layers");
    const env: PythonEnvironment = pythonEnvironment(v.packagePath, { layers: v.layers!.map((l) => l.url), layersDir });
    const download = (url: string, dest: string) => s3fs.get(url.replace(/^s3a?:\/\//, "/"), dest);
    const layerGets = () => s3.requests.filter((q) => q.method === "GET" && /\/layers\/[0-9a-f]{64}\.zip/.test(q.path));
    /** A container of the node: the top PEX localised, the node's layers fetched. */
    async function container(name: string): Promise<{ dir: string; bytes: number }> {
      const dir = path.join(node, name);
      await localise(dir, shippedResources(env), download);
      s3.requests.length = 0;
      const r = await fetchLayers(env, { store: { s3: s3.clientOptions } });
      expect(layerGets().reduce((a, q) => a + q.bytesOut, 0)).toBe(r.bytesFetched);
      return { dir, bytes: r.bytesFetched };
    }
    expect(shippedResources(env).map((r) => r.alias)).toEqual(["ray.pex"]);

    const head = await container("head");
    expect(head.bytes).toBe(v.layers!.reduce((a, l) => a + l.size, 0));
    const port = await freePort();
    tempDir = fs.mkdtempSync("/tmp/cprl-"); // Ray's unix socket paths must stay under 107 bytes
    const start = rayStartCommand(env, { head: true, port, nodeIpAddress: "127.0.0.1", numCpus: 2, tempDir });
    expect(start.env).toMatchObject({ PEX_ROOT: "./.pex", PEX_VENV: "1", PEX_LAYERS_PATH: layersDir });
    const headProc = startIn(head.dir, start.argv, start.env);
    started.push(headProc);
    await waitFor(() => /--block/.test(headProc.output()), 300_000, "the Ray head", headProc);

    const driverDir = await container("driver");
    const taskDir = await container("task");
    // The node has every layer: later containers fetch nothing.
    expect([driverDir.bytes, taskDir.bytes]).toEqual([0, 0]);
    fs.writeFileSync(path.join(driverDir.dir, "driver.py"), DRIVER);
    const jobEnv = rayRuntimeEnvFor(env, { nodesRunEnvironment: true });
    expect(jobEnv.env_vars).toMatchObject({ PEX_LAYERS_PATH: layersDir });
    const taskEnv = rayRuntimeEnvFor(env, { localisedAt: taskDir.dir });
    expect(taskEnv).toMatchObject({ py_executable: path.join(taskDir.dir, "ray.pex"), env_vars: { PEX_ROOT: path.join(taskDir.dir, ".pex"), PEX_LAYERS_PATH: layersDir, PEX_VENV: "1" } });
    const driver = startIn(driverDir.dir, [env.interpreter, "driver.py", `127.0.0.1:${port}`, JSON.stringify(jobEnv), JSON.stringify(taskEnv)], start.env);
    started.push(driver);
    const code = await exitWithin(driver, 400_000, "the Ray driver");
    expect({ code, output: code === 0 ? "" : `${driver.output()}\n--- head:\n${headProc.output()}` }).toEqual({ code: 0, output: "" });
    const r = lastJson<{ job: Probe; task: Probe }>(driver.output());
    const wheels = (root: string) => new RegExp(`^${escape(root)}/cp/installed_wheels\\.2/[0-9a-f]+/`);
    // The job's task: in the head's environment, extracted from the node's layers.
    expect(r.job.executable).toMatch(new RegExp(`^${escape(path.join(head.dir, ".pex"))}/venvs/`));
    expect(r.job.ray_file).toMatch(wheels(path.join(head.dir, ".pex")));
    expect(r.job.six_file).toMatch(wheels(path.join(head.dir, ".pex")));
    // The py_executable task: the task container's PEX, never started before, booted in
    // the Ray worker and extracted from the same node directory.
    expect(r.task.pex).toBe(path.join(taskDir.dir, "ray.pex"));
    // No layer beside it (the container has the PEX only) nor in the worker's directory:
    // the PEX found them through PEX_LAYERS_PATH, which its runtime then scrubs.
    expect(fs.readdirSync(taskDir.dir).sort()).toEqual([".pex", "ray.pex"]);
    expect(r.task.ray_file).toMatch(wheels(path.join(taskDir.dir, ".pex")));
    expect(r.task.six_file).toMatch(wheels(path.join(taskDir.dir, ".pex")));
  }, 900_000);
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
