import { InvalidInputError, redactUrl } from "@cluster-pack/errors";
import type { ProcessLaunch } from "./dask";
import type { PythonEnvironment } from "./environment";
import { toS3, urlScheme } from "./uri";

export interface RayRuntimeEnvOptions {
  /** The job's working directory: a remote `.zip` URI, or a local directory uploaded by Ray. */
  workingDir?: string;
  /**
   * The interpreter for workers, as a command (Ray's `py_executable`). Takes precedence
   * over `localisedAt`.
   */
  pyExecutable?: string;
  /**
   * Ray cannot unpack an environment archive itself: the directory on every node where
   * the environment was localised (a shared mount, or unpacked by the node's launcher),
   * i.e. the directory holding `pyenv/` or `env.pex`.
   */
  localisedAt?: string;
  /**
   * The Ray nodes were started from this environment (`rayStartCommand`), so their
   * workers already run its interpreter: no `py_executable` is needed.
   */
  nodesRunEnvironment?: boolean;
  envVars?: Record<string, string>;
}

/** A Ray `runtime_env` (Ray docs, "Environment Dependencies" / "API Reference"). */
export interface RayRuntimeEnv {
  working_dir?: string;
  py_modules?: string[];
  py_executable?: string;
  env_vars?: Record<string, string>;
}

/**
 * The `runtime_env` that runs Ray workers inside the environment: the code archives as
 * `py_modules` (zip URIs; Ray speaks `s3://`, not `s3a://`), the interpreter as
 * `py_executable`, the environment's variables as `env_vars`.
 *
 * Ray unpacks a remote py_modules zip with its single top-level directory stripped and
 * puts the result on PYTHONPATH (ray/_private/runtime_env/packaging.py, Ray 2.58): a zip
 * holding just `mypkg/...` (cluster-pack's `zip_path(dir, include_base_name=True)`)
 * imports nothing there; wrap the package in one more directory for Ray.
 */
export function rayRuntimeEnvFor(env: PythonEnvironment, options: RayRuntimeEnvOptions = {}): RayRuntimeEnv {
  const out: RayRuntimeEnv = {};
  if (options.workingDir) out.working_dir = rayUri(options.workingDir, "working_dir", true);
  if (env.codeArchives.length) out.py_modules = env.codeArchives.map((c) => rayUri(c.url, "py_modules", false));
  if (options.pyExecutable) {
    out.py_executable = options.pyExecutable;
  } else if (options.localisedAt) {
    if (!options.localisedAt.startsWith("/")) {
      throw new InvalidInputError(`Ray localisedAt "${options.localisedAt}" must be an absolute directory on every node (workers start in their own working directory).`);
    }
    out.py_executable = `${options.localisedAt.replace(/\/+$/, "")}/${env.interpreter.replace(/^\.\//, "")}`;
  } else if (!options.nodesRunEnvironment) {
    throw new InvalidInputError(
      `Ray does not unpack environment archives (${env.kind}, ${redactUrl(env.archive.url)}).`,
      { hint: "start the nodes from the environment (rayStartCommand, then nodesRunEnvironment), or pass localisedAt (where every node has it unpacked) or pyExecutable." },
    );
  }
  const vars = { ...env.env, ...(options.envVars ?? {}) };
  if (isPex(env)) {
    // Workers start in per-job directories: an absolute PEX_ROOT keeps one cache per node.
    if (vars.PEX_ROOT === "./.pex" && options.localisedAt) vars.PEX_ROOT = `${options.localisedAt.replace(/\/+$/, "")}/.pex`;
    // A worker started as `<env.pex> default_worker.py` must run in venv mode too, or the
    // processes it starts with sys.executable lose the PEX's distributions.
    if (out.py_executable && !options.pyExecutable) vars.PEX_VENV = requireVenvMode(vars, "rayRuntimeEnvFor envVars");
  }
  if (Object.keys(vars).length) out.env_vars = vars;
  return out;
}

export interface RayStartOptions {
  /** Start the head node; otherwise join `address`. */
  head?: boolean;
  /** `host:port` of the head's GCS, for worker nodes. */
  address?: string;
  /** Head only: the GCS port. */
  port?: number;
  nodeIpAddress?: string;
  numCpus?: number;
  /** Custom resources of this node (`{"gpu-node": 1}`). */
  resources?: Record<string, number>;
  /** Session directory root (head only; workers follow the head's). */
  tempDir?: string;
  /** Serve the dashboard (default false). */
  dashboard?: boolean;
  /**
   * Ports the node's workers and drivers bind on, for networks that open only some: a
   * range or a list. By default each binds a port the OS picks. Ray's own default, one
   * range (10002-19999) handed out in order by every node, makes two nodes on one
   * machine (two YARN containers of a host) give the same port to two workers, and
   * the second dies with "Address already in use".
   */
  workerPorts?: { min: number; max: number } | readonly number[];
  env?: Record<string, string>;
}

/**
 * `ray start --block` run through the environment's interpreter
 * (`<python> -m ray.scripts.scripts start`, the module behind Ray's `ray` script), so the
 * node and every worker it spawns use the shipped environment. `--block` keeps the
 * command in the foreground: the launcher (YARN container, skein service) owns it.
 */
export function rayStartCommand(env: PythonEnvironment, options: RayStartOptions): ProcessLaunch {
  const argv = [env.interpreter, "-m", "ray.scripts.scripts", "start", "--block", "--disable-usage-stats"];
  if (options.head) {
    if (options.address) throw new InvalidInputError("A Ray head node starts a cluster.", { hint: "give port, not address." });
    argv.push("--head");
    if (options.port !== undefined) argv.push("--port", String(checkPort(options.port)));
    argv.push(`--include-dashboard=${options.dashboard ? "true" : "false"}`);
    if (options.tempDir) argv.push("--temp-dir", options.tempDir);
  } else {
    if (!options.address || !/^[^:\s]+:\d{1,5}$/.test(options.address)) {
      throw new InvalidInputError(`A Ray worker node joins a head, and its address ${JSON.stringify(options.address ?? "")} is not host:port.`, { hint: "give the head's address as host:port." });
    }
    argv.push("--address", options.address);
  }
  // Every node on a machine would otherwise try the same dashboard agent port (52365).
  if (!options.dashboard) argv.push("--dashboard-agent-listen-port", "0");
  argv.push(...workerPortArgs(options.workerPorts));
  if (options.nodeIpAddress) argv.push("--node-ip-address", options.nodeIpAddress);
  if (options.numCpus !== undefined) {
    if (!Number.isInteger(options.numCpus) || options.numCpus < 0) throw new InvalidInputError(`Ray numCpus must be a non-negative integer, got ${options.numCpus}.`);
    argv.push("--num-cpus", String(options.numCpus));
  }
  if (options.resources && Object.keys(options.resources).length) argv.push("--resources", JSON.stringify(options.resources));
  // Code archives reach workers through runtime_env py_modules, not the node's PYTHONPATH.
  const vars = { ...env.env, ...(options.env ?? {}) };
  // Ray starts every worker, agent and monitor as `sys.executable ...`
  // (ray/_private/services.py). In a zipapp PEX that is the bare interpreter, which cannot
  // import ray: the PEX must run in venv mode (PEX_VENV=1, honoured by cluster-pack's and
  // pex's runtimes), whose sys.executable is a venv python that has the PEX's
  // distributions. PEX_ROOT=./.pex is made absolute by the runtime in the node's directory.
  if (isPex(env)) vars.PEX_VENV = requireVenvMode(vars, "rayStartCommand env");
  return { argv, env: { ...vars, RAY_USAGE_STATS_ENABLED: "0" } };
}

// Helpers.

function isPex(env: PythonEnvironment): boolean {
  return env.kind === "pex" || env.kind === "pex-large";
}

function requireVenvMode(vars: Record<string, string>, where: string): string {
  const value = vars.PEX_VENV;
  if (value !== undefined && /^\s*(0|false|no|)\s*$/i.test(value)) {
    throw new InvalidInputError(
      `${where}: PEX_VENV=${JSON.stringify(value)} turns off the PEX's venv mode, but Ray starts its workers as sys.executable, which outside venv mode is the bare interpreter without ray.`,
      { hint: "remove PEX_VENV (cluster-pack sets PEX_VENV=1 for Ray) or build the PEX with --venv." },
    );
  }
  return value ?? "1";
}

function workerPortArgs(ports: RayStartOptions["workerPorts"]): string[] {
  // min = max = 0: the raylet keeps no port pool and workers bind port 0 (worker_pool.cc).
  if (ports === undefined) return ["--min-worker-port", "0", "--max-worker-port", "0"];
  if (isPortList(ports)) {
    if (!ports.length) throw new InvalidInputError("Ray workerPorts is an empty list.", { hint: "give at least one port, a {min, max} range, or leave workerPorts out for ports the OS picks." });
    return ["--worker-port-list", [...new Set(ports.map(checkPort))].join(",")];
  }
  const min = checkPort(ports.min);
  const max = checkPort(ports.max);
  if (min > max) throw new InvalidInputError(`Ray workerPorts range ${min}-${max} is empty.`, { hint: "give min <= max." });
  return ["--min-worker-port", String(min), "--max-worker-port", String(max)];
}

function isPortList(ports: NonNullable<RayStartOptions["workerPorts"]>): ports is readonly number[] {
  return Array.isArray(ports);
}

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidInputError(`Ray port ${port} is not a TCP port (1-65535).`);
  return port;
}

const RAY_SCHEMES = new Set(["s3", "gs", "http", "https", "file"]);

function rayUri(url: string, field: string, isWorkingDir: boolean): string {
  // Ray's rules (runtime_env docs): remote URIs must be .zip (or .whl for py_modules);
  // local working_dir: a directory or a .zip; local py_modules: a directory, .py or .whl.
  const u = toS3(url);
  const scheme = urlScheme(u);
  const name = u.replace(/[?#].*$/, "");
  if (scheme === undefined) {
    if (isWorkingDir ? !/\.(py|whl)$/i.test(name) : !/\.zip$/i.test(name)) return u;
    if (isWorkingDir) throw new InvalidInputError(`Ray working_dir "${url}" must be a directory or a .zip.`);
    throw new InvalidInputError(`Ray py_modules "${url}" is a local .zip, which Ray does not accept locally.`, { hint: "upload it (s3://, gs://, https://) or pass the source directory." });
  }
  if (RAY_SCHEMES.has(scheme) && (/\.zip$/i.test(name) || (!isWorkingDir && /\.whl$/i.test(name)))) return u;
  throw new InvalidInputError(
    `Ray ${field} "${redactUrl(url)}" must be a .zip${isWorkingDir ? "" : " (or .whl)"} at an s3://, gs://, http(s):// or file:// URI: Ray cannot read ${scheme} there.`,
    { hint: "upload a zip to S3 or HTTP." },
  );
}
