import { InvalidInputError } from "@cluster-pack/errors";

export interface TorchDistributedOptions {
  /** Address of rank 0's node, reachable from every node. */
  masterAddr: string;
  masterPort: number;
  /** Number of nodes (torchrun `--nnodes`). */
  nodes: number;
  /** Processes per node (torchrun `--nproc-per-node`). */
  procsPerNode: number;
}

/** The variables one process is started with. */
export interface TorchProcessEnv {
  MASTER_ADDR: string;
  MASTER_PORT: string;
  WORLD_SIZE: string;
  RANK: string;
  LOCAL_RANK: string;
  LOCAL_WORLD_SIZE: string;
  GROUP_RANK: string;
  ROLE_RANK: string;
  ROLE_WORLD_SIZE: string;
}

/**
 * The `env://` rendezvous variables for every process of an N nodes x M processes job,
 * node-major (`RANK = node * M + local`), as torchrun sets them (PyTorch docs,
 * "torchrun (Elastic Launch)" environment variables: LOCAL_RANK, RANK, GROUP_RANK,
 * ROLE_RANK, LOCAL_WORLD_SIZE, WORLD_SIZE, ROLE_WORLD_SIZE, MASTER_ADDR, MASTER_PORT).
 * Result index = global rank.
 */
export function torchDistributedEnv(options: TorchDistributedOptions): TorchProcessEnv[] {
  const { masterAddr, masterPort, nodes, procsPerNode } = options;
  if (typeof masterAddr !== "string" || !/^[A-Za-z0-9_.:[\]-]+$/.test(masterAddr)) {
    throw new InvalidInputError(`MASTER_ADDR "${String(masterAddr)}" is not a host name or IP address.`, { hint: "pass the address of the rank 0 node." });
  }
  if (!Number.isInteger(masterPort) || masterPort < 1 || masterPort > 65535) {
    throw new InvalidInputError(`MASTER_PORT ${String(masterPort)} is not a TCP port.`, { hint: "pass an integer from 1 to 65535." });
  }
  for (const [name, value] of [["nodes", nodes], ["procsPerNode", procsPerNode]] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new InvalidInputError(`torch.distributed ${name} must be a positive integer, got ${String(value)}.`);
    }
  }
  const world = nodes * procsPerNode;
  const out: TorchProcessEnv[] = [];
  for (let node = 0; node < nodes; node++) {
    for (let local = 0; local < procsPerNode; local++) {
      const rank = node * procsPerNode + local;
      out.push({
        MASTER_ADDR: masterAddr,
        MASTER_PORT: String(masterPort),
        WORLD_SIZE: String(world),
        RANK: String(rank),
        LOCAL_RANK: String(local),
        LOCAL_WORLD_SIZE: String(procsPerNode),
        GROUP_RANK: String(node),
        ROLE_RANK: String(rank),
        ROLE_WORLD_SIZE: String(world),
      });
    }
  }
  return out;
}

/** The variables of one process, by node and local rank. */
export function torchProcessEnv(options: TorchDistributedOptions, node: number, localRank: number): TorchProcessEnv {
  const all = torchDistributedEnv(options);
  if (!Number.isInteger(node) || node < 0 || node >= options.nodes) {
    throw new InvalidInputError(`Node ${node} does not exist: nodes are numbered 0 to ${options.nodes - 1}.`);
  }
  if (!Number.isInteger(localRank) || localRank < 0 || localRank >= options.procsPerNode) {
    throw new InvalidInputError(`Local rank ${localRank} does not exist: local ranks are 0 to ${options.procsPerNode - 1}.`);
  }
  return all[node * options.procsPerNode + localRank] as TorchProcessEnv;
}
