import { spawnSync } from "node:child_process";
import { parse as parseYaml } from "yaml";
import { daskCommands, daskSkeinSpec, daskYarnClusterKwargs, daskYarnSnippet } from "./dask";
import { pythonEnvironment, type EnvironmentKind } from "./environment";
import { rayRuntimeEnvFor, rayStartCommand } from "./ray";
import { skeinSpecFor, skeinSpecJson, skeinSpecYaml } from "./skein";

const KINDS: Array<[EnvironmentKind, string, string, "archive" | "file", string]> = [
  ["pex", "s3://b/envs/app.pex", "app.pex", "file", "./app.pex"],
  ["pex-large", "hdfs://nn/envs/app.pex.zip", "pyenv", "archive", "pyenv/__main__.py"],
  ["conda", "hdfs://nn/envs/env.tar.gz", "pyenv", "archive", "pyenv/bin/python"],
  ["venv", "hdfs://nn/envs/venv.zip", "pyenv", "archive", "pyenv/bin/python"],
];

// skein docs "Specification": services.<name>.files {source, type: archive|file}, env,
// script, resources {memory, vcores}, instances, max_restarts, node_label; top-level
// name, queue, user, node_label, max_attempts, tags, file_systems.
describe("skeinSpecFor x archive kind", () => {
  it.each(KINDS)("%s: ships %s as %s (%s) and runs %s", (kind, url, alias, type, interpreter) => {
    const env = pythonEnvironment(url, { kind, codeArchives: ["s3://b/code/mylib.zip"] });
    const { spec, client } = skeinSpecFor(env, {
      name: "train",
      queue: "ml",
      nodeLabel: "gpu",
      maxAttempts: 2,
      tags: ["nightly"],
      services: {
        worker: { resources: { memory: "4 GiB", vcores: 2 }, instances: 3, maxRestarts: 1, module: "mylib.train", args: ["--epochs", "2 3"], env: { X: "1" } },
      },
      kerberos: { principal: "me@REALM", keytab: "/home/me/me.keytab", fileSystems: ["hdfs://other-nn:8020", "s3://bucket"] },
    });
    expect(client).toEqual({ principal: "me@REALM", keytab: "/home/me/me.keytab" });
    const expectedEnv: Record<string, string> = kind.startsWith("pex") ? { PEX_ROOT: "./.pex", X: "1", PYTHONPATH: "mylib.zip" } : { X: "1", PYTHONPATH: "mylib.zip" };
    expect(spec).toEqual({
      name: "train",
      queue: "ml",
      node_label: "gpu",
      max_attempts: 2,
      tags: ["nightly"],
      // The environment's own HDFS joins the list: YARN needs a token to localise it.
      file_systems: ["hdfs://other-nn:8020", "s3a://bucket", ...(url.startsWith("hdfs://") ? ["hdfs://nn"] : [])],
      services: {
        worker: {
          instances: 3,
          max_restarts: 1,
          resources: { memory: "4 GiB", vcores: 2 },
          files: {
            [alias]: { source: url.replace(/^s3:/, "s3a:"), type },
            "mylib.zip": { source: "s3a://b/code/mylib.zip", type: "file" },
          },
          env: expectedEnv,
          script: `${interpreter} -m mylib.train --epochs '2 3'`,
        },
      },
    });
    // Keys come out in skein's documented order, and output is deterministic.
    expect(Object.keys(spec)).toEqual(["name", "queue", "node_label", "max_attempts", "tags", "file_systems", "services"]);
    expect(skeinSpecYaml(spec)).toBe(skeinSpecYaml(structuredClone(spec)));
    expect(parseYaml(skeinSpecYaml(spec))).toEqual(spec);
    expect(JSON.parse(skeinSpecJson(spec))).toEqual(spec);
  });

  const pyyaml = spawnSync("/usr/bin/python3", ["-c", "import yaml"], { encoding: "utf8" });
  (pyyaml.status === 0 ? it : it.skip)(
    `YAML reads back identically through Python's yaml (PyYAML, as skein reads specs)${pyyaml.status === 0 ? "" : ": skipped, /usr/bin/python3 has no PyYAML"}`,
    () => {
      const env = pythonEnvironment("hdfs://nn/envs/app.pex");
      const { spec } = skeinSpecFor(env, { services: { s: { resources: { memory: 1024, vcores: 1 }, script: "echo 'a: b' # not a comment\nexit 0\n" } } });
      const r = spawnSync("/usr/bin/python3", ["-c", "import sys, yaml, json; print(json.dumps(yaml.safe_load(sys.stdin)))"], { input: skeinSpecYaml(spec), encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout)).toEqual(spec);
    },
  );

  it("user files: strings typed by extension, explicit types kept, shipped names protected", () => {
    const env = pythonEnvironment("hdfs://nn/envs/env.tar.gz");
    const { spec } = skeinSpecFor(env, {
      services: {
        s: { resources: { memory: 512, vcores: 1 }, script: "run", files: { "data.zip": "hdfs://nn/d.zip", "conf.yaml": "s3://b/c.yaml", raw: { source: "hdfs://nn/r.tgz", type: "file" } } },
      },
    });
    expect(spec.services.s!.files).toEqual({
      pyenv: { source: "hdfs://nn/envs/env.tar.gz", type: "archive" },
      "data.zip": { source: "hdfs://nn/d.zip", type: "archive" },
      "conf.yaml": { source: "s3a://b/c.yaml", type: "file" },
      raw: { source: "hdfs://nn/r.tgz", type: "file" },
    });
  });

  it.each([
    [{ services: {} }, /at least one service/],
    [{ services: { s: { resources: { memory: 1, vcores: 1 } } } }, /exactly one of module/],
    [{ services: { s: { resources: { memory: 1, vcores: 1 }, module: "m", script: "x" } } }, /exactly one of module/],
    [{ services: { s: { resources: { memory: "lots", vcores: 1 }, script: "x" } } }, /not a size/],
    [{ services: { s: { resources: { memory: 1, vcores: 0 }, script: "x" } } }, /vcores must be an integer >= 1/],
    [{ services: { s: { resources: { memory: 1, vcores: 1 }, script: "x", maxRestarts: -2 } } }, /max_restarts/],
    [{ maxAttempts: 0, services: { s: { resources: { memory: 1, vcores: 1 }, script: "x" } } }, /max_attempts/],
    [{ services: { s: { resources: { memory: 1, vcores: 1 }, script: "x", depends: ["nope"] } } }, /depends on "nope"/],
    [{ services: { s: { resources: { memory: 1, vcores: 1 }, script: "x", files: { pyenv: "hdfs://x.zip" } } } }, /replace the shipped environment/],
    [{ services: { s: { resources: { memory: 1, vcores: 1 }, script: "x", files: { "../x": "hdfs://x" } } } }, /relative path/],
    [{ services: { s: { resources: { memory: 1, vcores: 1 }, module: "not a module" } } }, /not a Python module name/],
    [{ services: { "bad name": { resources: { memory: 1, vcores: 1 }, script: "x" } } }, /service name/],
    [{ services: { s: { resources: { memory: 1, vcores: 1 }, script: "x" } }, kerberos: { principal: "me@R" } }, /both a principal and a keytab/],
  ] as Array<[Parameters<typeof skeinSpecFor>[1], RegExp]>)("refuses %j", (options, re) => {
    expect(() => skeinSpecFor(pythonEnvironment("hdfs://nn/e.tar.gz"), options)).toThrow(re);
  });
});

// dask-yarn docs ("Distributing Python Environments", YarnCluster parameters) and
// distributed's dask-scheduler / dask-worker command line.
describe("dask", () => {
  it("scheduler and worker commands go through the interpreter, for every kind", () => {
    for (const [kind, url, , , interpreter] of KINDS) {
      const env = pythonEnvironment(url, { kind });
      const { scheduler, worker } = daskCommands(env, { schedulerAddress: "tcp://10.0.0.5:8786", nthreads: 2, memoryLimit: "1GiB", noNanny: true, workerName: "w0" });
      expect(scheduler.argv).toEqual([interpreter, "-m", "distributed.cli.dask_scheduler", "--port", "8786", "--no-dashboard"]);
      expect(worker.argv).toEqual([interpreter, "-m", "distributed.cli.dask_worker", "tcp://10.0.0.5:8786", "--nthreads", "2", "--no-dashboard", "--memory-limit", "1GiB", "--no-nanny", "--name", "w0"]);
      expect(worker.env).toEqual(kind.startsWith("pex") ? { PEX_ROOT: "./.pex" } : {});
    }
    expect(() => daskCommands(pythonEnvironment("e.tar.gz"), { schedulerAddress: "10.0.0.5:8786" })).toThrow(/protocol:\/\/host:port/);
  });

  it("dask-yarn takes conda/venv archives and refuses a PEX (the kind it cannot use)", () => {
    const kw = daskYarnClusterKwargs(pythonEnvironment("s3://b/env.tar.gz", { kind: "venv" }), { nWorkers: 4, workerMemory: "8 GiB", queue: "q" });
    expect(kw).toEqual({
      environment: "s3a://b/env.tar.gz",
      n_workers: 4,
      worker_vcores: 1,
      worker_memory: "8 GiB",
      worker_env: {},
      scheduler_vcores: 1,
      scheduler_memory: "2 GiB",
      deploy_mode: "remote",
      queue: "q",
    });
    expect(daskYarnSnippet(kw)).toContain('    environment="s3a://b/env.tar.gz",\n');
    expect(() => daskYarnClusterKwargs(pythonEnvironment("hdfs://nn/a.pex"))).toThrow(/not a PEX file/);
    expect(() => daskYarnClusterKwargs(pythonEnvironment("hdfs://nn/a.pex.zip"))).toThrow(/not a large PEX/);
    expect(() => daskYarnClusterKwargs(pythonEnvironment("hdfs://nn/a.tar.gz", { codeArchives: ["c.zip"] }))).toThrow(/code archives/);
  });

  it("daskSkeinSpec reproduces dask-yarn's services for a PEX", () => {
    const { spec } = daskSkeinSpec(pythonEnvironment("hdfs://nn/a.pex"), { nWorkers: 2, worker: { memory: "2 GiB", vcores: 1 } });
    expect(spec.name).toBe("dask");
    expect(spec.services["dask.scheduler"]!.script).toBe("./a.pex -m dask_yarn.cli services scheduler");
    expect(spec.services["dask.worker"]).toMatchObject({ instances: 2, max_restarts: -1, depends: ["dask.scheduler"], script: "./a.pex -m dask_yarn.cli services worker" });
  });
});

// Ray docs "Environment Dependencies": runtime_env working_dir / py_modules (zip URIs),
// py_executable, env_vars.
describe("ray runtime_env", () => {
  it("uses s3:// URIs, the localised interpreter and the environment's variables", () => {
    const env = pythonEnvironment("s3a://b/envs/app.pex", { codeArchives: ["s3a://b/code/mylib.zip"] });
    expect(rayRuntimeEnvFor(env, { workingDir: "s3a://b/job.zip", localisedAt: "/mnt/envs/", envVars: { X: "1" } })).toEqual({
      working_dir: "s3://b/job.zip",
      py_modules: ["s3://b/code/mylib.zip"],
      py_executable: "/mnt/envs/app.pex",
      // Workers are started as `<py_executable> default_worker.py`: the PEX in venv mode.
      env_vars: { PEX_ROOT: "/mnt/envs/.pex", X: "1", PEX_VENV: "1" },
    });
    // Nodes started from the PEX (rayStartCommand) already run its venv python.
    expect(rayRuntimeEnvFor(env, { nodesRunEnvironment: true })).toEqual({ py_modules: ["s3://b/code/mylib.zip"], env_vars: { PEX_ROOT: "./.pex" } });
    // An explicit interpreter is the caller's: no PEX variables added.
    expect(rayRuntimeEnvFor(env, { pyExecutable: "/opt/py/bin/python" }).env_vars).toEqual({ PEX_ROOT: "./.pex" });
    const conda = pythonEnvironment("s3://b/e.tar.gz");
    expect(rayRuntimeEnvFor(conda, { localisedAt: "/opt/e" })).toEqual({ py_executable: "/opt/e/pyenv/bin/python" });
    expect(rayRuntimeEnvFor(conda, { pyExecutable: "/usr/bin/python3", workingDir: "./src" })).toEqual({ working_dir: "./src", py_executable: "/usr/bin/python3" });
    expect(rayRuntimeEnvFor(conda, { nodesRunEnvironment: true, workingDir: "/jobs/job.zip" })).toEqual({ working_dir: "/jobs/job.zip" });
    const local = pythonEnvironment("s3://b/e.tar.gz", { codeArchives: ["/src/tool.py"] });
    expect(rayRuntimeEnvFor(local, { nodesRunEnvironment: true })).toEqual({ py_modules: ["/src/tool.py"] });
  });
  it("refuses what Ray cannot fetch or unpack", () => {
    const env = pythonEnvironment("hdfs://nn/e.tar.gz");
    expect(() => rayRuntimeEnvFor(env)).toThrow(/Ray does not unpack environment archives/);
    expect(() => rayRuntimeEnvFor(env, { localisedAt: "rel/dir" })).toThrow(/absolute/);
    expect(() => rayRuntimeEnvFor(env, { localisedAt: "/x", workingDir: "hdfs://nn/job.zip" })).toThrow(/working_dir .* must be a \.zip/);
    expect(() => rayRuntimeEnvFor(pythonEnvironment("hdfs://nn/e.tar.gz", { codeArchives: ["hdfs://nn/c.zip"] }), { localisedAt: "/x" })).toThrow(/py_modules/);
    // Found by running Ray 2.58: a local .zip in py_modules is refused by Ray itself.
    expect(() => rayRuntimeEnvFor(pythonEnvironment("s3://b/e.tar.gz", { codeArchives: ["/tmp/c.zip"] }), { nodesRunEnvironment: true })).toThrow(/local \.zip/);
    expect(() => rayRuntimeEnvFor(env, { nodesRunEnvironment: true, workingDir: "/jobs/tool.py" })).toThrow(/directory or a \.zip/);
    const pex = pythonEnvironment("s3://b/envs/app.pex");
    expect(() => rayRuntimeEnvFor(pex, { localisedAt: "/x", envVars: { PEX_VENV: "0" } })).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/PEX_VENV="0" turns off the PEX's venv mode.*without ray\.$/), hint: expect.stringMatching(/build the PEX with --venv/) }),
    );
  });
});

// Ray docs "ray start" CLI reference (--head, --port, --address, --block, --resources).
describe("rayStartCommand", () => {
  const env = pythonEnvironment("s3://b/envs/app.pex", { codeArchives: ["s3://b/c.zip"] });
  it("starts a head or a worker node through the environment's interpreter", () => {
    expect(rayStartCommand(env, { head: true, port: 6379, numCpus: 2, resources: { gpu_node: 1 }, tempDir: "/tmp/r" })).toEqual({
      argv: ["./app.pex", "-m", "ray.scripts.scripts", "start", "--block", "--disable-usage-stats", "--head", "--port", "6379", "--include-dashboard=false", "--temp-dir", "/tmp/r", "--dashboard-agent-listen-port", "0", "--min-worker-port", "0", "--max-worker-port", "0", "--num-cpus", "2", "--resources", '{"gpu_node":1}'],
      // Ray starts workers as sys.executable: the PEX runs in venv mode.
      env: { PEX_ROOT: "./.pex", PEX_VENV: "1", RAY_USAGE_STATS_ENABLED: "0" },
    });
    expect(rayStartCommand(env, { address: "10.0.0.1:6379", nodeIpAddress: "10.0.0.2", env: { X: "1" } })).toEqual({
      argv: ["./app.pex", "-m", "ray.scripts.scripts", "start", "--block", "--disable-usage-stats", "--address", "10.0.0.1:6379", "--dashboard-agent-listen-port", "0", "--min-worker-port", "0", "--max-worker-port", "0", "--node-ip-address", "10.0.0.2"],
      env: { PEX_ROOT: "./.pex", X: "1", PEX_VENV: "1", RAY_USAGE_STATS_ENABLED: "0" },
    });
    const conda = pythonEnvironment("s3://b/e.tar.gz");
    expect(rayStartCommand(conda, { head: true }).env).toEqual({ RAY_USAGE_STATS_ENABLED: "0" });
  });
  it("lets the OS pick worker ports unless given a range or a list (several nodes on one host)", () => {
    const after = (argv: string[], flag: string) => argv[argv.indexOf(flag) + 1];
    const range = rayStartCommand(env, { address: "h:1", workerPorts: { min: 20000, max: 20099 } }).argv;
    expect([after(range, "--min-worker-port"), after(range, "--max-worker-port"), range.includes("--worker-port-list")]).toEqual(["20000", "20099", false]);
    const list = rayStartCommand(env, { address: "h:1", workerPorts: [20001, 20003, 20001] }).argv;
    expect([after(list, "--worker-port-list"), list.includes("--min-worker-port")]).toEqual(["20001,20003", false]);
    expect(() => rayStartCommand(env, { address: "h:1", workerPorts: [] })).toThrow(expect.objectContaining({ message: "Ray workerPorts is an empty list." }));
    expect(() => rayStartCommand(env, { address: "h:1", workerPorts: { min: 20010, max: 20000 } })).toThrow(expect.objectContaining({ message: "Ray workerPorts range 20010-20000 is empty.", hint: "give min <= max." }));
    expect(() => rayStartCommand(env, { address: "h:1", workerPorts: [0] })).toThrow(/Ray port 0 is not a TCP port/);
  });
  it("refuses a worker without head address, a head with one, bad ports and cpus", () => {
    expect(() => rayStartCommand(env, {})).toThrow(expect.objectContaining({ message: 'A Ray worker node joins a head, and its address "" is not host:port.', hint: "give the head's address as host:port." }));
    expect(() => rayStartCommand(env, { head: true, address: "h:1" })).toThrow(expect.objectContaining({ message: "A Ray head node starts a cluster.", hint: "give port, not address." }));
    expect(() => rayStartCommand(env, { head: true, port: 70000 })).toThrow(/not a TCP port/);
    expect(() => rayStartCommand(env, { address: "h:1", numCpus: -1 })).toThrow(/numCpus/);
    expect(() => rayStartCommand(env, { head: true, env: { PEX_VENV: "false" } })).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/Ray starts its workers as sys\.executable/), hint: expect.stringMatching(/^remove PEX_VENV/) }),
    );
  });
});
