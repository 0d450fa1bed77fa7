import { InvalidInputError } from "@cluster-pack/errors";
import { tfConfigEnv, tfConfigFor, tfConfigsForCluster, type TfCluster, type TfStrategy } from "./tensorflow";
import { torchDistributedEnv, torchProcessEnv } from "./torch";

// TensorFlow guide "Multi-worker training with Keras" (TF_CONFIG: cluster + task) and
// "Parameter server training" (one chief/coordinator, ps and workers; optional evaluator).
describe("TF_CONFIG", () => {
  it("MultiWorkerMirroredStrategy: workers only, one TF_CONFIG per worker", () => {
    const cluster = { worker: ["w0:2222", "w1:2222"] };
    const all = tfConfigsForCluster("multi-worker-mirrored", cluster);
    expect(all).toEqual([
      { cluster: { worker: ["w0:2222", "w1:2222"] }, task: { type: "worker", index: 0 } },
      { cluster: { worker: ["w0:2222", "w1:2222"] }, task: { type: "worker", index: 1 } },
    ]);
    expect(tfConfigEnv(all[1]!)).toEqual({ TF_CONFIG: '{"cluster":{"worker":["w0:2222","w1:2222"]},"task":{"type":"worker","index":1}}' });
  });

  it("ParameterServerStrategy: chief, workers, ps and evaluator in TensorFlow's order, empty types dropped", () => {
    const cluster: TfCluster = { ps: ["p0:1", "p1:1"], worker: ["w0:1"], evaluator: ["e0:1"], chief: ["c0:1"] };
    const all = tfConfigsForCluster("parameter-server", cluster);
    expect(all.map((c) => `${c.task.type}:${c.task.index}`)).toEqual(["chief:0", "worker:0", "ps:0", "ps:1", "evaluator:0"]);
    expect(Object.keys(all[0]!.cluster)).toEqual(["chief", "worker", "ps", "evaluator"]);
    expect(tfConfigFor("parameter-server", cluster, { type: "ps", index: 1 }).task).toEqual({ type: "ps", index: 1 });
  });

  it.each([
    ["multi-worker-mirrored", { chief: ["c0:1", "c1:1"], worker: ["w0:1"] }, /2 chiefs; TensorFlow allows at most one/],
    ["parameter-server", { chief: ["c0:1", "c1:1"], worker: ["w0:1"], ps: ["p:1"] }, /2 chiefs/],
    ["multi-worker-mirrored", { worker: ["w0:1"], evaluator: ["e0:1", "e1:1"] }, /2 evaluators/],
    ["multi-worker-mirrored", { worker: ["w0:1"], ps: ["p:1"] }, /MultiWorkerMirroredStrategy has no parameter servers/],
    ["multi-worker-mirrored", { evaluator: ["e:1"] }, /at least one worker/],
    ["parameter-server", { worker: ["w0:1"], ps: ["p:1"] }, /exactly one chief/],
    ["parameter-server", { chief: ["c:1"], worker: ["w0:1"] }, /at least one ps/],
    ["parameter-server", { chief: ["c:1"], ps: ["p:1"] }, /at least one worker/],
    ["multi-worker-mirrored", { worker: ["w0:1", "w0:1"] }, /used twice/],
    ["multi-worker-mirrored", { worker: ["w0"] }, /not host:port/],
    ["multi-worker-mirrored", { worker: ["w0:70000"] }, /not host:port/],
    ["multi-worker-mirrored", { workers: ["w0:1"] } as TfCluster, /Unknown TF_CONFIG task type "workers"/],
    ["mirrored", { worker: ["w0:1"] }, /Unknown TensorFlow strategy/],
  ] as Array<[TfStrategy, TfCluster, RegExp]>)("%s %j is refused: %s", (strategy, cluster, re) => {
    expect(() => tfConfigsForCluster(strategy, cluster)).toThrow(InvalidInputError);
    expect(() => tfConfigsForCluster(strategy, cluster)).toThrow(re);
  });

  it("refuses a task that is not in the cluster", () => {
    expect(() => tfConfigFor("multi-worker-mirrored", { worker: ["w:1"] }, { type: "worker", index: 1 })).toThrow(/index 0 to 0/);
    expect(() => tfConfigFor("multi-worker-mirrored", { worker: ["w:1"] }, { type: "chief", index: 0 })).toThrow(/no addresses/);
    expect(tfConfigFor("multi-worker-mirrored", { worker: ["[::1]:2222"] }, { type: "worker", index: 0 }).cluster.worker).toEqual(["[::1]:2222"]);
  });
});

// PyTorch docs "torchrun (Elastic Launch)": environment variables each worker gets.
describe("torch.distributed env", () => {
  it.each([
    [1, 1],
    [1, 3],
    [2, 2],
    [3, 4],
  ])("%i nodes x %i processes: node-major ranks, torchrun's variables", (nodes, m) => {
    const all = torchDistributedEnv({ masterAddr: "10.0.0.1", masterPort: 29500, nodes, procsPerNode: m });
    expect(all).toHaveLength(nodes * m);
    all.forEach((e, rank) => {
      expect(e).toEqual({
        MASTER_ADDR: "10.0.0.1",
        MASTER_PORT: "29500",
        WORLD_SIZE: String(nodes * m),
        RANK: String(rank),
        LOCAL_RANK: String(rank % m),
        LOCAL_WORLD_SIZE: String(m),
        GROUP_RANK: String(Math.floor(rank / m)),
        ROLE_RANK: String(rank),
        ROLE_WORLD_SIZE: String(nodes * m),
      });
    });
  });

  it("picks one process and refuses bad input", () => {
    const o = { masterAddr: "h", masterPort: 1234, nodes: 2, procsPerNode: 3 };
    expect(torchProcessEnv(o, 1, 2).RANK).toBe("5");
    expect(() => torchProcessEnv(o, 2, 0)).toThrow(/Node 2 does not exist/);
    expect(() => torchProcessEnv(o, 0, 3)).toThrow(/Local rank 3/);
    expect(() => torchDistributedEnv({ ...o, masterPort: 0 })).toThrow(/MASTER_PORT/);
    expect(() => torchDistributedEnv({ ...o, nodes: 0 })).toThrow(/nodes must be a positive integer/);
    expect(() => torchDistributedEnv({ ...o, procsPerNode: 1.5 })).toThrow(/procsPerNode/);
    expect(() => torchDistributedEnv({ ...o, masterAddr: "a b" })).toThrow(/MASTER_ADDR/);
  });
});
