/**
 * Slow tier (about a minute: pip installs Ray into the environment): a real local Ray
 * cluster, a head and a second node, each started with the generated `rayStartCommand`
 * from its own copy of the environment, fetched from a real S3 server and unpacked the way
 * YARN localises archives; a driver started the same way runs tasks with the generated
 * `runtime_env` (env_vars, py_modules fetched by Ray from S3, py_executable) and checks where
 * they ran. The environment is a venv archive, not a PEX: building a PEX containing Ray
 * needs the resolver package, which does not exist yet.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { pythonEnvironment, type PythonEnvironment } from "./environment";
import { rayRuntimeEnvFor, rayStartCommand } from "./ray";
import { startLocalS3, type LocalS3 } from "./test-kit/s3";
import {
  DEBIAN_PYTHON,
  buildMarkedVenv,
  describeUnless,
  configuredPipIndexArgs,
  exitWithin,
  freePort,
  lastJson,
  localise,
  pyenvPython,
  startIn,
  stop,
  type BuiltEnvironment,
  type Started,
} from "./test-kit/workers";

interface TaskReport {
  mark: string;
  prefix: string;
  executable: string;
  square: number;
  env_var: string | null;
  node_id: string;
  code: { version?: string; file?: string; error?: string };
}

const python = pyenvPython("3.11");
const pipArgs = python ? configuredPipIndexArgs(python) : undefined;
const why = !python
  ? "no pyenv Python 3.11 under ~/.pyenv/versions (the mirror's Ray wheel is cp311)"
  : !pipArgs
    ? "pip has no index or find-links configured (pip config list), so Ray cannot be installed"
    : undefined;
describeUnless(why, "Ray (slow tier): head + second node from the S3-shipped environment, generated runtime_env", () => {
  let built: BuiltEnvironment;
  let s3: LocalS3;
  let env: PythonEnvironment;
  const started: Started[] = [];
  let tempDir: string | undefined;

  beforeAll(async () => {
    // boto3 and smart_open: what Ray needs to fetch s3:// py_modules.
    built = buildMarkedVenv({ python, systemSitePackages: false, pipInstall: ["ray", "boto3", "smart_open"], pipIndexArgs: pipArgs, gzip: false });
    s3 = await startLocalS3();
    // Ray strips a remote zip's single top-level directory and puts the rest on
    // PYTHONPATH, so its code zip wraps the package in one more directory.
    const rayCode = path.join(built.workDir, "ray-code");
    fs.mkdirSync(path.join(rayCode, "wrapper"), { recursive: true });
    fs.cpSync(path.join(built.workDir, "code", "cp_engines_code"), path.join(rayCode, "wrapper", "cp_engines_code"), { recursive: true });
    const rayZip = path.join(built.workDir, "cp_engines_code_ray.zip");
    execFileSync(DEBIAN_PYTHON, ["-c", "import shutil, sys; shutil.make_archive(sys.argv[1][:-4], 'zip', sys.argv[2])", rayZip, rayCode]);
    env = pythonEnvironment(await s3.put("envs/ray-env.tar", built.archive), { kind: "venv", codeArchives: [await s3.put("code/cp_engines_code.zip", rayZip)] });
  }, 300_000);

  afterAll(async () => {
    for (const p of started.reverse()) await stop(p);
    await s3?.stop();
    if (built) fs.rmSync(built.workDir, { recursive: true, force: true });
    if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
  }, 60_000);

  it("runs tasks on both nodes inside their localised environment and honours env_vars, py_modules and py_executable", async () => {
    const nodes = ["node0", "node1"].map((n) => path.join(built.workDir, n));
    for (const dir of nodes) await localise(dir, [env.archive], s3.download);
    const port = await freePort();
    // Where the nodes' runtime-env agents fetch s3:// py_modules from (boto3 reads these).
    const s3Env = { AWS_ENDPOINT_URL: s3.endpoint, AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_DEFAULT_REGION: "us-east-1" };
    // A short session directory: Ray's unix socket paths must stay under 107 bytes.
    tempDir = fs.mkdtempSync("/tmp/cpr-");
    const head = rayStartCommand(env, { head: true, port, nodeIpAddress: "127.0.0.1", numCpus: 1, resources: { node0: 1 }, tempDir, env: s3Env });
    const headProc = startIn(nodes[0]!, head.argv, head.env);
    started.push(headProc);
    await waitFor(() => /Ray runtime started|--block/.test(headProc.output()), 90_000, "the Ray head", headProc);
    const worker = rayStartCommand(env, { address: `127.0.0.1:${port}`, nodeIpAddress: "127.0.0.1", numCpus: 1, resources: { node1: 1 }, env: s3Env });
    const workerProc = startIn(nodes[1]!, worker.argv, worker.env);
    started.push(workerProc);
    await waitFor(() => /--block/.test(workerProc.output()), 90_000, "the second Ray node", workerProc);

    const jobEnv = rayRuntimeEnvFor(env, { nodesRunEnvironment: true, envVars: { CP_ENGINES_RAY: "job" } });
    expect(jobEnv).toEqual({ py_modules: [`s3://${s3.bucket}/code/cp_engines_code.zip`], env_vars: { CP_ENGINES_RAY: "job" } });
    // py_executable pointing at node1's copy, used for a task that runs on node0.
    const taskEnv = rayRuntimeEnvFor(env, { localisedAt: nodes[1]!, envVars: { CP_ENGINES_RAY: "task" } });
    expect(taskEnv.py_executable).toBe(path.join(nodes[1]!, "pyenv", "bin", "python"));
    const driver = startIn(nodes[0]!, [env.interpreter, "-m", "cp_engines_marker.ray_job", `127.0.0.1:${port}`, JSON.stringify(jobEnv), JSON.stringify(taskEnv)], {
      ...s3Env,
      RAY_USAGE_STATS_ENABLED: "0",
    });
    started.push(driver);
    const code = await exitWithin(driver, 180_000, "the Ray driver");
    expect({ code, output: code === 0 ? "" : `${driver.output()}\n--- head:\n${headProc.output()}` }).toEqual({ code: 0, output: "" });
    const result = lastJson<{ per_node: Record<string, TaskReport>; override: TaskReport; ray: string }>(driver.output());
    const ids = new Set<string>();
    for (const [i, name] of ["node0", "node1"].entries()) {
      const r = result.per_node[name]!;
      const prefix = fs.realpathSync(path.join(nodes[i]!, "pyenv"));
      expect(r.mark).toBe("cp-engines-marker");
      expect(r.prefix).toBe(prefix);
      expect(r.executable.startsWith(`${nodes[i]}/pyenv/`)).toBe(true);
      expect(r.square).toBe((i + 2) ** 2);
      expect(r.env_var).toBe("job");
      expect(r.code).toEqual({ version: "dev-code", file: expect.stringContaining("cp_engines_code") });
      ids.add(r.node_id);
    }
    expect(ids.size).toBe(2);
    expect(result.override.node_id).toBe(result.per_node.node0!.node_id);
    expect(result.override.executable).toBe(taskEnv.py_executable);
    expect(result.override.prefix).toBe(fs.realpathSync(path.join(nodes[1]!, "pyenv")));
    expect(result.override.env_var).toBe("task");
  }, 300_000);
});

async function waitFor(ok: () => boolean, ms: number, what: string, p: Started): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (p.child.exitCode !== null) throw new Error(`${what} exited (${p.child.exitCode}):\n${p.output()}`);
    if (Date.now() > deadline) throw new Error(`${what} did not start within ${ms / 1000}s:\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
