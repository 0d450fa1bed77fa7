import { InvalidInputError, redactUrl } from "@cluster-pack/errors";
import type { PythonEnvironment } from "./environment";
import { containerEnv, skeinSpecFor, type SkeinSubmission, type SkeinResources, type SkeinSpecOptions } from "./skein";
import { toS3a } from "./uri";

/** One process to start: argv (argv[0] is the environment's interpreter) and its env. */
export interface ProcessLaunch {
  argv: string[];
  env: Record<string, string>;
}

export interface DaskCommandOptions {
  /** Scheduler address workers connect to, `tcp://host:port`. */
  schedulerAddress: string;
  /** Host both processes listen on (`--host`); default: dask's choice. */
  listenHost?: string;
  /** Threads per worker (default 1). */
  nthreads?: number;
  /** Worker memory limit as dask reads it (`"2GiB"`, `"auto"`); default dask's. */
  memoryLimit?: string;
  /** Start workers without a nanny process (one process per worker). */
  noNanny?: boolean;
  /** Serve the dashboards (default false: they need bokeh and a free port each). */
  dashboard?: boolean;
  /** Worker name; dask picks one when absent. */
  workerName?: string;
  /** Extra environment variables for every process. */
  env?: Record<string, string>;
}

/**
 * The scheduler and worker commands of a plain `distributed` cluster, run through the
 * environment's interpreter (`<python> -m distributed.cli.dask_scheduler|dask_worker`,
 * the modules behind distributed's `dask-scheduler`/`dask-worker` scripts), for launchers
 * that localise the environment themselves (skein, YARN, a shell on each node).
 */
export function daskCommands(env: PythonEnvironment, options: DaskCommandOptions): { scheduler: ProcessLaunch; worker: ProcessLaunch } {
  const m = /^(tcp|tls|ucx|inproc):\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})$/.exec(options.schedulerAddress);
  if (!m || Number(m[3]) > 65535) {
    throw new InvalidInputError(`Dask scheduler address "${options.schedulerAddress}" is not protocol://host:port (e.g. tcp://10.0.0.5:8786).`);
  }
  const nthreads = options.nthreads ?? 1;
  if (!Number.isInteger(nthreads) || nthreads < 1) throw new InvalidInputError(`Dask nthreads must be a positive integer, got ${String(nthreads)}.`);
  const dash = options.dashboard ? "--dashboard" : "--no-dashboard";
  const processEnv = containerEnv(env, options.env);
  const scheduler = [env.interpreter, "-m", "distributed.cli.dask_scheduler", "--port", m[3] as string, dash];
  if (m[1] !== "tcp") scheduler.push("--protocol", m[1] as string);
  if (options.listenHost) scheduler.push("--host", options.listenHost);
  const worker = [env.interpreter, "-m", "distributed.cli.dask_worker", options.schedulerAddress, "--nthreads", String(nthreads), dash];
  if (options.memoryLimit) worker.push("--memory-limit", options.memoryLimit);
  if (options.noNanny) worker.push("--no-nanny");
  if (options.workerName) worker.push("--name", options.workerName);
  if (options.listenHost) worker.push("--host", options.listenHost);
  return { scheduler: { argv: scheduler, env: { ...processEnv } }, worker: { argv: worker, env: { ...processEnv } } };
}

export interface DaskYarnOptions {
  nWorkers?: number;
  workerVcores?: number;
  /** dask-yarn takes sizes like "2 GiB". */
  workerMemory?: string;
  workerRestarts?: number;
  schedulerVcores?: number;
  schedulerMemory?: string;
  /** "remote" runs the scheduler in a container, "local" in the client process. */
  deployMode?: "remote" | "local";
  name?: string;
  queue?: string;
  tags?: readonly string[];
  workerEnv?: Record<string, string>;
}

/** `dask_yarn.YarnCluster(...)` keyword arguments, with skein-style names. */
export interface DaskYarnClusterKwargs {
  environment: string;
  n_workers: number;
  worker_vcores: number;
  worker_memory: string;
  worker_restarts?: number;
  worker_env: Record<string, string>;
  scheduler_vcores: number;
  scheduler_memory: string;
  deploy_mode: "remote" | "local";
  name?: string;
  queue?: string;
  tags?: string[];
}

/**
 * `dask_yarn.YarnCluster` arguments for this environment. dask-yarn unpacks the archive
 * to `environment` and starts `environment/bin/python -m dask_yarn.cli services ...`
 * (dask-yarn docs, "Configuration"/"Distributing Python environments"), so it takes a
 * conda-pack or venv-pack archive: a PEX is refused with the alternative named.
 */
export function daskYarnClusterKwargs(env: PythonEnvironment, options: DaskYarnOptions = {}): DaskYarnClusterKwargs {
  if (env.kind === "pex" || env.kind === "pex-large") {
    throw new InvalidInputError(
      `dask-yarn's environment= takes a conda-pack or venv-pack archive, not a ${env.kind === "pex" ? "PEX file" : "large PEX"} (${redactUrl(env.archive.url)}): ` +
        `pack a conda/venv archive, or launch dask from the PEX with daskSkeinSpec/daskCommands.`,
    );
  }
  if (env.codeArchives.length) {
    // dask-yarn has no option for extra files; the code would silently be missing.
    throw new InvalidInputError("dask-yarn cannot ship code archives beside the environment.", { hint: "install the code into the environment, or use daskSkeinSpec." });
  }
  const kw: DaskYarnClusterKwargs = {
    environment: toS3a(env.archive.url),
    n_workers: options.nWorkers ?? 0,
    worker_vcores: options.workerVcores ?? 1,
    worker_memory: options.workerMemory ?? "2 GiB",
    worker_env: { ...env.env, ...(options.workerEnv ?? {}) },
    scheduler_vcores: options.schedulerVcores ?? 1,
    scheduler_memory: options.schedulerMemory ?? "2 GiB",
    deploy_mode: options.deployMode ?? "remote",
  };
  if (options.workerRestarts !== undefined) kw.worker_restarts = options.workerRestarts;
  if (options.name) kw.name = options.name;
  if (options.queue) kw.queue = options.queue;
  if (options.tags?.length) kw.tags = [...options.tags];
  return kw;
}

/** A Python snippet creating the YarnCluster and a Client. */
export function daskYarnSnippet(kwargs: DaskYarnClusterKwargs): string {
  const args = Object.entries(kwargs).map(([k, v]) => `    ${k}=${pyLiteral(v)},`);
  return ["from dask_yarn import YarnCluster", "from dask.distributed import Client", "", "cluster = YarnCluster(", ...args, ")", "client = Client(cluster)", ""].join("\n");
}

export interface DaskSkeinOptions extends Omit<SkeinSpecOptions, "services"> {
  nWorkers: number;
  worker: SkeinResources;
  scheduler?: SkeinResources;
  workerRestarts?: number;
  env?: Record<string, string>;
}

/**
 * The skein spec dask-yarn would submit (services `dask.scheduler` and `dask.worker`
 * running `dask_yarn.cli services ...`), built for any environment kind, PEX included:
 * the environment must contain dask-yarn.
 */
export function daskSkeinSpec(env: PythonEnvironment, options: DaskSkeinOptions): SkeinSubmission {
  const { nWorkers, worker, scheduler, workerRestarts, env: extra, ...rest } = options;
  return skeinSpecFor(env, {
    ...rest,
    name: rest.name ?? "dask",
    services: {
      "dask.scheduler": { resources: scheduler ?? { memory: "2 GiB", vcores: 1 }, module: "dask_yarn.cli", args: ["services", "scheduler"], env: extra },
      "dask.worker": {
        resources: worker,
        instances: nWorkers,
        maxRestarts: workerRestarts ?? -1,
        depends: ["dask.scheduler"],
        module: "dask_yarn.cli",
        args: ["services", "worker"],
        env: extra,
      },
    },
  });
}

// Helpers.

function pyLiteral(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number") return String(v);
  if (typeof v === "boolean") return v ? "True" : "False";
  if (Array.isArray(v)) return `[${v.map(pyLiteral).join(", ")}]`;
  if (v && typeof v === "object") return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${pyLiteral(x)}`).join(", ")}}`;
  return "None";
}
