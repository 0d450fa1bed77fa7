/**
 * End to end, with the engines this machine has (Debian's python3-distributed and
 * python3-torch): an environment archive is uploaded to a real S3 server on loopback,
 * every worker gets its own working directory into which the archive is fetched and
 * unpacked the way YARN localises archives, and each process is started exactly as the
 * generated configuration says (interpreter command, argv, env). The jobs then prove they
 * run inside the shipped environment (sys.prefix, sys.executable, a package only it has,
 * the code archive on PYTHONPATH) and return their results.
 */
import fs from "node:fs";
import path from "node:path";
import { PexBuilder } from "@cluster-pack/pex";
import { daskCommands } from "./dask";
import { pythonEnvironment, type PythonEnvironment } from "./environment";
import { pythonModuleCommand, containerEnv, skeinSpecFor } from "./skein";
import { sparkConfigFor } from "./spark/conf";
import { localisedName, splitList } from "./spark/merge";
import { freePort } from "@cluster-pack/fs/test-kit";
import { startLocalS3, type LocalS3 } from "./test-kit/s3";
import { torchDistributedEnv } from "./torch";
import {
  DEBIAN_PYTHON,
  buildMarkedVenv,
  describeUnless,
  exitWithin,
  lastJson,
  localise,
  missingEngine,
  startIn,
  stop,
  type BuiltEnvironment,
  type Started,
} from "./test-kit/workers";

interface Report {
  mark: string;
  marker_file: string;
  prefix: string;
  executable: string;
  cwd: string;
  pex_root: string | null;
  pex: string | null;
  code: { version?: string; file?: string; error?: string };
}

describeUnless(missingEngine(["distributed", "torch"]), "engines end to end (S3 -> YARN-style localisation -> generated launch)", () => {
  let s3: LocalS3;
  let built: BuiltEnvironment;
  let env: PythonEnvironment;
  const started: Started[] = [];

  beforeAll(async () => {
    built = buildMarkedVenv();
    s3 = await startLocalS3();
    const archiveUrl = await s3.put("envs/venv-env.tar.gz", built.archive);
    const codeUrl = await s3.put("code/cp_engines_code.zip", built.codeZip);
    env = pythonEnvironment(archiveUrl, { kind: "venv", codeArchives: [codeUrl] });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(started.map((p) => stop(p)));
    await s3?.stop();
    if (built) fs.rmSync(built.workDir, { recursive: true, force: true });
  });

  function container(name: string): string {
    return path.join(built.workDir, "containers", name);
  }

  function expectInsideEnvironment(r: Report, dir: string): void {
    const prefix = fs.realpathSync(path.join(dir, "pyenv"));
    expect(r.mark).toBe("cp-engines-marker");
    expect(r.prefix).toBe(prefix);
    expect(fs.realpathSync(path.dirname(r.executable))).toBe(path.join(prefix, "bin"));
    expect(path.basename(r.executable)).toBe("python");
    expect(r.marker_file.startsWith(`${prefix}/`)).toBe(true);
    expect(r.cwd).toBe(fs.realpathSync(dir));
    expect(r.code).toEqual({ version: "dev-code", file: path.join(fs.realpathSync(dir), "cp_engines_code.zip", "cp_engines_code", "__init__.py") });
  }

  it("the generated environment really is absent from the system interpreter (control)", () => {
    const r = require("node:child_process").spawnSync(DEBIAN_PYTHON, ["-c", "import cp_engines_marker"], { encoding: "utf8" });
    expect(r.status).not.toBe(0);
  });

  it("Dask: a scheduler and two workers started from the generated commands run tasks inside the shipped environment", async () => {
    const port = await freePort();
    const address = `tcp://127.0.0.1:${port}`;
    const cmds = daskCommands(env, { schedulerAddress: address, listenHost: "127.0.0.1", noNanny: true });
    // The shipped files, as a launcher (skein/YARN) localises them: one directory per process.
    const shipped = [env.archive, ...env.codeArchives];
    const schedDir = container("dask-scheduler");
    await localise(schedDir, shipped, s3.download);
    const scheduler = startIn(schedDir, cmds.scheduler.argv, cmds.scheduler.env);
    started.push(scheduler);
    const workerDirs: string[] = [];
    for (const i of [0, 1]) {
      const dir = container(`dask-worker-${i}`);
      await localise(dir, shipped, s3.download);
      workerDirs.push(dir);
      started.push(startIn(dir, cmds.worker.argv, cmds.worker.env));
    }
    const client = startIn(built.workDir, [DEBIAN_PYTHON, path.join(__dirname, "test-kit", "python", "dask_client.py"), address, "2"], {});
    started.push(client);
    const code = await exitWithin(client, 150_000, "the Dask client");
    expect({ code, output: code === 0 ? "" : client.output() + started.map((p) => p.output()).join("\n---\n") }).toEqual({ code: 0, output: "" });
    const result = lastJson<{ workers: Record<string, Report>; total: number; task: Report; workers_used: string[] }>(client.output());
    expect(result.total).toBe([...Array(20).keys()].reduce((a, x) => a + x * x, 0));
    const reports = Object.values(result.workers);
    expect(reports).toHaveLength(2);
    const dirsSeen = reports.map((r) => r.cwd).sort();
    expect(dirsSeen).toEqual(workerDirs.map((d) => fs.realpathSync(d)).sort());
    for (const r of reports) expectInsideEnvironment(r, r.cwd);
    expectInsideEnvironment(result.task, result.task.cwd);
  }, 200_000);

  it("torch.distributed: a 3-rank gloo all_reduce with the generated env vars, each rank in its own container", async () => {
    const ranks = torchDistributedEnv({ masterAddr: "127.0.0.1", masterPort: await freePort(), nodes: 3, procsPerNode: 1 });
    // The launch each container gets, taken from a skein spec so the script is the generated one.
    const { spec } = skeinSpecFor(env, { services: { trainer: { resources: { memory: "2 GiB", vcores: 1 }, instances: 3, module: "cp_engines_marker.torch_job" } } });
    const service = spec.services.trainer!;
    expect(service.script).toBe("pyenv/bin/python -m cp_engines_marker.torch_job");
    const argv = pythonModuleCommand(env, "cp_engines_marker.torch_job");
    const procs: Array<{ dir: string; p: Started }> = [];
    for (const [rank, vars] of ranks.entries()) {
      const dir = container(`torch-rank-${rank}`);
      await localise(
        dir,
        Object.entries(service.files).map(([alias, f]) => ({ alias, type: f.type, url: f.source })),
        s3.download,
      );
      const p = startIn(dir, argv, { ...service.env, ...vars });
      started.push(p);
      procs.push({ dir, p });
    }
    const codes = await Promise.all(procs.map(({ p }, i) => exitWithin(p, 150_000, `torch rank ${i}`)));
    expect({ codes, output: codes.every((c) => c === 0) ? "" : procs.map(({ p }) => p.output()).join("\n---\n") }).toEqual({ codes: [0, 0, 0], output: "" });
    const reports = procs.map(({ p }) => lastJson<Report & { rank: number; world_size: number; sum: number; local_ranks: string[] }>(p.output()));
    reports.forEach((r, i) => {
      expect(r.rank).toBe(i);
      expect(r.world_size).toBe(3);
      expect(r.sum).toBe(6);
      expect(r.local_ranks).toEqual(["0", "0", "0"]);
      expectInsideEnvironment(r, procs[i]!.dir);
    });
  }, 200_000);

  it("Spark-style executor launch: <spark.pyspark.python> -m module in the working directory with spark.executorEnv.*", async () => {
    const s3Settings = { endpoint: s3.endpoint, pathStyle: true };
    const config = sparkConfigFor(env, { master: "yarn", deployMode: "cluster", s3: s3Settings });
    const conf = new Map(config.conf);
    // What YARN localises for an executor: dist archives (url#alias) and pyFiles.
    const resources = [
      ...splitList(conf.get("spark.yarn.dist.archives") ?? "").map((item) => ({ url: item.slice(0, item.lastIndexOf("#")), alias: localisedName(item), type: "archive" as const })),
      ...splitList(conf.get("spark.submit.pyFiles") ?? "").map((url) => ({ url, alias: localisedName(url), type: "file" as const })),
    ];
    expect(resources.map((r) => r.alias)).toEqual(["pyenv", "cp_engines_code.zip"]);
    expect(resources[0]!.url.startsWith("s3a://")).toBe(true);
    expect(conf.get("spark.hadoop.fs.s3a.endpoint")).toBe(s3.endpoint);
    const dir = container("spark-executor-1");
    await localise(dir, resources, s3.download);
    const executorEnv = Object.fromEntries(
      config.conf.filter(([k]) => k.startsWith("spark.executorEnv.")).map(([k, v]) => [k.slice("spark.executorEnv.".length), v]),
    );
    // Spark puts pyFiles on the Python worker's PYTHONPATH (by their localised names).
    const pythonPath = resources.filter((r) => r.type === "file").map((r) => r.alias).join(":");
    const p = startIn(dir, [conf.get("spark.pyspark.python")!, "-m", "cp_engines_marker.executor", "12"], { ...executorEnv, PYTHONPATH: pythonPath });
    started.push(p);
    const code = await exitWithin(p, 60_000, "the executor");
    expect({ code, output: code === 0 ? "" : p.output() }).toEqual({ code: 0, output: "" });
    const r = lastJson<Report & { result: number; argv: string[] }>(p.output());
    expect(r.result).toBe([...Array(12).keys()].reduce((a, x) => a + x * x, 0));
    expect(r.argv).toEqual(["12"]);
    expectInsideEnvironment(r, dir);
    // The same container env a skein service would get.
    expect(containerEnv(env)).toEqual({ PYTHONPATH: "cp_engines_code.zip" });
  }, 120_000);
  it("Spark-style executor launch from a PEX (@cluster-pack/pex): ./app.pex -m module with PEX_ROOT=./.pex", async () => {
    // The PEX holds the marker package as user code; it runs on Debian's python3.
    const src = path.join(built.workDir, "pex-src");
    fs.cpSync(path.join(__dirname, "test-kit", "python", "cp_engines_marker"), path.join(src, "cp_engines_marker"), { recursive: true });
    const pexFile = path.join(built.workDir, "app.pex");
    await new PexBuilder({ sourceDirectories: [src], pythonShebang: DEBIAN_PYTHON }).build(pexFile);
    const pexEnv = pythonEnvironment(await s3.put("envs/app.pex", pexFile), { codeArchives: env.codeArchives.map((c) => c.url) });
    const config = sparkConfigFor(pexEnv, { master: "yarn", deployMode: "cluster", s3: { endpoint: s3.endpoint, pathStyle: true } });
    const conf = new Map(config.conf);
    const files = splitList(conf.get("spark.yarn.dist.files") ?? "").map((item) => ({ url: item.slice(0, item.lastIndexOf("#")), alias: localisedName(item), type: "file" as const }));
    const pyFiles = splitList(conf.get("spark.submit.pyFiles") ?? "").map((url) => ({ url, alias: localisedName(url), type: "file" as const }));
    expect(files.map((f) => f.alias)).toEqual(["app.pex"]);
    const dir = container("spark-pex-executor");
    await localise(dir, [...files, ...pyFiles], s3.download);
    const executorEnv = Object.fromEntries(
      config.conf.filter(([k]) => k.startsWith("spark.executorEnv.")).map(([k, v]) => [k.slice("spark.executorEnv.".length), v]),
    );
    expect(executorEnv).toEqual({ PEX_ROOT: "./.pex" });
    const python = conf.get("spark.pyspark.python")!;
    expect(python).toBe("./app.pex");
    const p = startIn(dir, [python, "-m", "cp_engines_marker.executor", "7"], { ...executorEnv, PYTHONPATH: pyFiles.map((f) => f.alias).join(":") });
    started.push(p);
    const code = await exitWithin(p, 60_000, "the PEX executor");
    expect({ code, output: code === 0 ? "" : p.output() }).toEqual({ code: 0, output: "" });
    const r = lastJson<Report & { result: number }>(p.output());
    const real = fs.realpathSync(dir);
    expect(r.result).toBe(91);
    expect(r.mark).toBe("cp-engines-marker");
    expect(r.pex).toBe(path.join(real, "app.pex"));
    // Extracted into the container's PEX_ROOT, not a home-directory cache.
    expect(r.marker_file.startsWith(path.join(real, ".pex") + "/")).toBe(true);
    expect(r.cwd).toBe(real);
    expect(r.code).toEqual({ version: "dev-code", file: path.join(real, "cp_engines_code.zip", "cp_engines_code", "__init__.py") });
  }, 120_000);
});
