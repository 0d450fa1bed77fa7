/**
 * Slow tier: a real local Ray cluster started from a PEX built by our own code. Ray,
 * boto3 and smart_open (what Ray needs to fetch s3:// py_modules) are resolved with
 * @cluster-pack/pip against the configured index for CPython 3.11 (the mirror's Ray wheel
 * is cp311) and packed with the marker package into a venv-mode PEX by @cluster-pack/pex.
 * The PEX is put on a real S3 server and localised into each node's directory the way
 * YARN localises files; a head and a second node are started with the generated
 * `rayStartCommand` (`./ray.pex -m ray.scripts.scripts start`, PEX_ROOT=./.pex,
 * PEX_VENV=1), and a driver started the same way runs tasks with the generated
 * `runtime_env`. Checked: tasks on both nodes run inside that node's copy of the shipped
 * environment (sys.executable / sys.prefix in the node's PEX_ROOT venv, the marker package
 * and ray itself from the node's PEX extraction), env_vars and py_modules (fetched by Ray
 * from S3) are honoured, and a py_executable pointing at another node's localised
 * ray.pex (rayRuntimeEnvFor with localisedAt) runs the task under that PEX.
 * The venv-archive variant this replaced covered nothing more (rayStartCommand and
 * rayRuntimeEnvFor treat unpacked archives the same way) and cost a pip install of Ray.
 */
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { PexBuilder } from "@cluster-pack/pex";
import { probeInterpreter, resolveAndDownload } from "@cluster-pack/pip";
import { pythonEnvironment, type PythonEnvironment } from "./environment";
import { rayRuntimeEnvFor, rayStartCommand } from "./ray";
import { freePort } from "@cluster-pack/fs/test-kit";
import { startLocalS3, type LocalS3 } from "./test-kit/s3";
import { DEBIAN_PYTHON, describeUnless, exitWithin, lastJson, localise, rayPython, startIn, stop, waitFor, type Started } from "./test-kit/workers";

interface TaskReport {
  mark: string;
  marker_file: string;
  prefix: string;
  executable: string;
  pex: string | null;
  square: number;
  env_var: string | null;
  node_id: string;
  ray_file: string;
  code: { version?: string; file?: string; error?: string };
}

const { python, why } = rayPython();
describeUnless(why, "Ray (slow tier): head + second node from an S3-shipped venv-mode PEX, generated runtime_env", () => {
  let workDir: string;
  let s3: LocalS3;
  let env: PythonEnvironment;
  const started: Started[] = [];
  let tempDir: string | undefined;

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(fs.realpathSync("/tmp"), "cp-engines-ray-"));
    const target = await probeInterpreter(python!);
    const { files } = await resolveAndDownload(["ray", "boto3", "smart_open"], { target });
    const src = path.join(workDir, "pex-src");
    fs.cpSync(path.join(__dirname, "test-kit", "python", "cp_engines_marker"), path.join(src, "cp_engines_marker"), { recursive: true });
    const pexFile = path.join(workDir, "ray.pex");
    await new PexBuilder({ wheels: files.map((f) => ({ path: f.path, sha256: f.sha256 })), sourceDirectories: [src], venv: true, pythonShebang: python!, compress: false }).build(pexFile);
    s3 = await startLocalS3();
    // Code under development, shipped beside the environment as runtime_env py_modules.
    // Ray strips a remote zip's single top-level directory and puts the rest on
    // PYTHONPATH, so the zip wraps the package in one more directory.
    const rayCode = path.join(workDir, "ray-code");
    fs.mkdirSync(path.join(rayCode, "wrapper", "cp_engines_code"), { recursive: true });
    fs.writeFileSync(path.join(rayCode, "wrapper", "cp_engines_code", "__init__.py"), "VERSION = 'dev-code'\n");
    const rayZip = path.join(workDir, "cp_engines_code_ray.zip");
    execFileSync(DEBIAN_PYTHON, ["-c", "import shutil, sys; shutil.make_archive(sys.argv[1][:-4], 'zip', sys.argv[2])", rayZip, rayCode]);
    env = pythonEnvironment(await s3.put("envs/ray.pex", pexFile), { codeArchives: [await s3.put("code/cp_engines_code.zip", rayZip)] });
  }, 600_000);

  afterAll(async () => {
    for (const p of started.reverse()) await stop(p);
    await s3?.stop();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
    if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
  }, 60_000);

  it("runs tasks on both nodes inside their localised PEX and honours env_vars, py_modules and py_executable", async () => {
    expect(env.kind).toBe("pex");
    const nodes = ["node0", "node1"].map((n) => path.join(workDir, n));
    for (const dir of nodes) await localise(dir, [env.archive], s3.download);
    const port = await freePort();
    // Where the nodes' runtime-env agents fetch s3:// py_modules from (boto3 reads these).
    const s3Env = { AWS_ENDPOINT_URL: s3.endpoint, AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_DEFAULT_REGION: "us-east-1" };
    // A short session directory: Ray's unix socket paths must stay under 107 bytes.
    tempDir = fs.mkdtempSync("/tmp/cpr-");
    const head = rayStartCommand(env, { head: true, port, nodeIpAddress: "127.0.0.1", numCpus: 1, resources: { node0: 1 }, tempDir, env: s3Env });
    expect(head.argv.slice(0, 3)).toEqual(["./ray.pex", "-m", "ray.scripts.scripts"]);
    expect(head.env).toMatchObject({ PEX_ROOT: "./.pex", PEX_VENV: "1" });
    const headProc = startIn(nodes[0]!, head.argv, head.env);
    started.push(headProc);
    // The first start extracts Ray into the node's PEX_ROOT and creates the venv.
    await waitFor(() => /Ray runtime started|--block/.test(headProc.output()), 240_000, "the Ray head", headProc);
    const worker = rayStartCommand(env, { address: `127.0.0.1:${port}`, nodeIpAddress: "127.0.0.1", numCpus: 1, resources: { node1: 1 }, env: s3Env });
    const workerProc = startIn(nodes[1]!, worker.argv, worker.env);
    started.push(workerProc);
    await waitFor(() => /--block/.test(workerProc.output()), 240_000, "the second Ray node", workerProc);

    const jobEnv = rayRuntimeEnvFor(env, { nodesRunEnvironment: true, envVars: { CP_ENGINES_RAY: "job" } });
    expect(jobEnv).toEqual({ py_modules: [`s3://${s3.bucket}/code/cp_engines_code.zip`], env_vars: { PEX_ROOT: "./.pex", CP_ENGINES_RAY: "job" } });
    // py_executable pointing at node1's localised ray.pex, used for a task that runs on node0.
    const taskEnv = rayRuntimeEnvFor(env, { localisedAt: nodes[1]!, envVars: { CP_ENGINES_RAY: "task" } });
    expect(taskEnv.py_executable).toBe(path.join(nodes[1]!, "ray.pex"));
    expect(taskEnv.env_vars).toMatchObject({ PEX_ROOT: path.join(nodes[1]!, ".pex"), PEX_VENV: "1" });
    const driver = startIn(nodes[0]!, [env.interpreter, "-m", "cp_engines_marker.ray_job", `127.0.0.1:${port}`, JSON.stringify(jobEnv), JSON.stringify(taskEnv)], head.env);
    started.push(driver);
    const code = await exitWithin(driver, 240_000, "the Ray driver");
    expect({ code, output: code === 0 ? "" : `${driver.output()}\n--- head:\n${headProc.output()}` }).toEqual({ code: 0, output: "" });
    const result = lastJson<{ per_node: Record<string, TaskReport>; override: TaskReport; ray: string }>(driver.output());
    expect(result.ray).toBe("2.58.0");
    const ids = new Set<string>();
    for (const [i, name] of ["node0", "node1"].entries()) {
      const r = result.per_node[name]!;
      expectInPex(r, nodes[i]!);
      expect(r.square).toBe((i + 2) ** 2);
      expect(r.env_var).toBe("job");
      expect(r.code).toEqual({ version: "dev-code", file: expect.stringContaining("cp_engines_code") });
      ids.add(r.node_id);
    }
    expect(ids.size).toBe(2);
    // Ran on node0, under node1's copy of the PEX (its venv and extraction).
    expect(result.override.node_id).toBe(result.per_node.node0!.node_id);
    expectInPex(result.override, nodes[1]!);
    expect(result.override.env_var).toBe("task");
    // Both nodes run on this machine. With Ray's default, each hands out ports of one
    // range (10002-19999) in order, checking only that a port is free at that moment: two
    // nodes gave 10004 to two workers and the second died ("Address already in use", a CI
    // run of stop 24). rayStartCommand lets the OS pick every worker's and driver's port.
    const ports = workerPorts(path.join(tempDir, "session_latest", "logs"));
    expect(ports.length).toBeGreaterThanOrEqual(3); // the driver and a worker per node at least
    expect(ports.filter((p) => p >= 10002 && p <= 19999)).toEqual([]);
  }, 600_000);
});

/** The ports Ray's drivers and workers listened on, from their core worker logs. */
function workerPorts(logs: string): number[] {
  const ports: number[] = [];
  for (const name of fs.readdirSync(logs).filter((n) => /^python-core-(driver|worker)-.*\.log$/.test(n))) {
    for (const m of fs.readFileSync(path.join(logs, name), "utf8").matchAll(/\b(?:driver|worker) server started, listening on port (\d+)\./g)) ports.push(Number(m[1]));
  }
  return ports;
}

/** The task ran in `node`'s localised PEX: its venv python, its extraction, its marker. */
function expectInPex(r: TaskReport, node: string): void {
  const pexRoot = path.join(node, ".pex");
  expect(r.mark).toBe("cp-engines-marker");
  expect(r.executable).toMatch(new RegExp(`^${escape(pexRoot)}/venvs/[0-9a-f]{40}/[0-9a-f]+/bin/python$`));
  expect(r.prefix).toBe(path.dirname(path.dirname(r.executable)));
  expect(r.pex).toBe(path.join(node, "ray.pex"));
  expect(r.marker_file.startsWith(`${pexRoot}/cp/code/`)).toBe(true);
  expect(r.ray_file).toMatch(new RegExp(`^${escape(pexRoot)}/cp/installed_wheels\\.2/[0-9a-f]+/ray-2\\.58\\.0-cp311-cp311-[^/]+\\.whl/lib/python/site-packages/ray/__init__\\.py$`));
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
