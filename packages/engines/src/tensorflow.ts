import { InvalidInputError } from "@cluster-pack/errors";

export type TfStrategy = "multi-worker-mirrored" | "parameter-server";
export type TfTaskType = "chief" | "worker" | "ps" | "evaluator";

/** The cluster: `host:port` addresses per task type, index = position. */
export interface TfCluster {
  chief?: string[];
  worker?: string[];
  ps?: string[];
  evaluator?: string[];
}

export interface TfTask {
  type: TfTaskType;
  index: number;
}

/** The TF_CONFIG value, as TensorFlow reads it from the environment (JSON). */
export interface TfConfig {
  cluster: TfCluster;
  task: TfTask;
}

/**
 * TF_CONFIG for one task. Rules from TensorFlow's distributed training guide
 * ("Multi-worker training with Keras" / "Parameter server training"):
 * - at most one chief and at most one evaluator;
 * - MultiWorkerMirroredStrategy: workers (worker 0 acts as chief when there is no chief),
 *   no parameter servers;
 * - ParameterServerStrategy: exactly one chief (the coordinator), at least one ps and
 *   one worker;
 * - the evaluator is not part of the training cluster; its TF_CONFIG still lists it.
 * Addresses must be `host:port` and distinct.
 */
export function tfConfigFor(strategy: TfStrategy, cluster: TfCluster, task: TfTask): TfConfig {
  const clean = validateTfCluster(strategy, cluster);
  const members = clean[task.type];
  if (!members || members.length === 0) {
    throw new InvalidInputError(`TF_CONFIG task type "${task.type}" has no addresses in the cluster.`, { hint: `add it to the cluster or pick one of ${Object.keys(clean).join(", ")}.` });
  }
  if (!Number.isInteger(task.index) || task.index < 0 || task.index >= members.length) {
    throw new InvalidInputError(
      `TF_CONFIG task ${task.type}:${task.index} does not exist: the cluster has ${members.length} ${task.type} task(s), index 0 to ${members.length - 1}.`,
    );
  }
  return { cluster: clean, task: { type: task.type, index: task.index } };
}

/** TF_CONFIG for every task of the cluster, in chief, worker, ps, evaluator order. */
export function tfConfigsForCluster(strategy: TfStrategy, cluster: TfCluster): TfConfig[] {
  const clean = validateTfCluster(strategy, cluster);
  const out: TfConfig[] = [];
  for (const type of TASK_ORDER) {
    (clean[type] ?? []).forEach((_a, index) => out.push({ cluster: clean, task: { type, index } }));
  }
  return out;
}

/** The environment variable a task is started with: `{ TF_CONFIG: "<json>" }`. */
export function tfConfigEnv(config: TfConfig): { TF_CONFIG: string } {
  return { TF_CONFIG: JSON.stringify(config) };
}

/**
 * Checks the cluster for `strategy` and returns it with empty task types removed and
 * keys in TensorFlow's usual order.
 */
export function validateTfCluster(strategy: TfStrategy, cluster: TfCluster): TfCluster {
  if (strategy !== "multi-worker-mirrored" && strategy !== "parameter-server") {
    throw new InvalidInputError(`Unknown TensorFlow strategy "${String(strategy)}".`, { hint: `use "multi-worker-mirrored" or "parameter-server".` });
  }
  for (const key of Object.keys(cluster)) {
    if (!(TASK_ORDER as readonly string[]).includes(key)) {
      throw new InvalidInputError(`Unknown TF_CONFIG task type "${key}".`, { hint: "use chief, worker, ps or evaluator." });
    }
  }
  const clean: TfCluster = {};
  const seen = new Map<string, string>();
  for (const type of TASK_ORDER) {
    const list = cluster[type] ?? [];
    if (!Array.isArray(list)) throw new InvalidInputError(`TF_CONFIG cluster.${type} must be a list of host:port addresses.`);
    list.forEach((addr, i) => {
      if (typeof addr !== "string" || !/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}$/.test(addr) || Number(addr.slice(addr.lastIndexOf(":") + 1)) > 65535) {
        throw new InvalidInputError(`TF_CONFIG ${type}[${i}] "${String(addr)}" is not host:port (e.g. worker-0.example:2222).`);
      }
      const prev = seen.get(addr);
      if (prev) throw new InvalidInputError(`TF_CONFIG address ${addr} is used twice (${prev} and ${type}[${i}]): every task needs its own host:port.`);
      seen.set(addr, `${type}[${i}]`);
    });
    if (list.length) clean[type] = [...list];
  }
  const n = (t: TfTaskType) => clean[t]?.length ?? 0;
  if (n("chief") > 1) {
    throw new InvalidInputError(`TF_CONFIG has ${n("chief")} chiefs; TensorFlow allows at most one.`, { hint: "make the others workers." });
  }
  if (n("evaluator") > 1) {
    throw new InvalidInputError(`TF_CONFIG has ${n("evaluator")} evaluators; TensorFlow allows at most one.`, { hint: "run one evaluator." });
  }
  if (strategy === "multi-worker-mirrored") {
    if (n("ps") > 0) {
      throw new InvalidInputError("MultiWorkerMirroredStrategy has no parameter servers.", { hint: "remove the ps tasks, or use the parameter-server strategy." });
    }
    if (n("worker") + n("chief") === 0) {
      throw new InvalidInputError("MultiWorkerMirroredStrategy needs at least one worker.", { hint: "add worker addresses." });
    }
  } else {
    if (n("chief") !== 1) {
      throw new InvalidInputError("ParameterServerStrategy needs exactly one chief (the coordinator).", { hint: "add one chief address." });
    }
    if (n("ps") === 0) throw new InvalidInputError("ParameterServerStrategy needs at least one ps task.", { hint: "add parameter server addresses." });
    if (n("worker") === 0) throw new InvalidInputError("ParameterServerStrategy needs at least one worker.", { hint: "add worker addresses." });
  }
  return clean;
}

// Helpers.

const TASK_ORDER = ["chief", "worker", "ps", "evaluator"] as const;
