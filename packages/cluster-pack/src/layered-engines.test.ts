/**
 * Layered environments end to end, with the engines' harness (@cluster-pack/engines'
 * test-kit/workers): uploadEnv({ layout: "layered" }) to a real S3 server, each worker's
 * container localised the way YARN does it (files fetched once per node into a node
 * cache keyed by URL and modification time, symlinked into the working directory), a
 * node-level PEX_ROOT, and real Dask workers and a real 3-rank torch.distributed job
 * started from the generated commands. The S3 server's request log counts the bytes
 * written by each upload and fetched by each node.
 */
import fs from "node:fs";
import path from "node:path";
import { daskCommands, pythonEnvironment, pythonModuleCommand, shippedResources, skeinSpecFor, torchDistributedEnv, type PythonEnvironment } from "@cluster-pack/engines";
import {
  DEBIAN_PYTHON,
  KIT_PYTHON,
  describeUnless,
  exitWithin,
  lastJson,
  localiseCached,
  missingEngine,
  startIn,
  stop,
  type Started,
} from "@cluster-pack/engines/test-kit";
import { pipIndexUnavailable } from "@cluster-pack/io/test-kit";
import { freePort } from "@cluster-pack/fs/test-kit";
import { layeredStore } from "./test-kit/layered-store";
import type { UploadEnvResult } from "./types";

jest.setTimeout(400_000);

const MARKER = KIT_PYTHON;

interface Report {
  mark: string;
  pex: string | null;
  cwd: string;
  modules: Record<string, string>;
}

describeUnless(missingEngine(["distributed", "torch"]) ?? pipIndexUnavailable(), "layered environments: S3 -> node cache -> Dask and torch.distributed", () => {
  const kit = layeredStore("cp-layered-e2e-");
  const { started } = kit;
  const packagePath = "s3://envs/user/me/envs/app.pex";
  const upload = (requirements: string[]) => kit.upload(requirements, packagePath);
  /** The environment as the engines get it, with a node-level PEX_ROOT. */
  const environmentOf = (r: UploadEnvResult, node: string): PythonEnvironment =>
    pythonEnvironment(r.packagePath, { layers: r.layers!.map((l) => l.url), codeArchives: [kit.codeUrl], pexRoot: { node: path.join(node, "tmp") }, env: { PEX_VERBOSE: "1", CP_REPORT_MODULES: "six,attrs,idna" } });
  const bytesWritten = () => kit.s3.requests.filter((q) => q.method === "PUT").reduce((a, q) => a + q.bytesIn, 0);
  // Object reads only (a listing answers a stat, it fetches no file).
  const bytesFetched = () => kit.s3.requests.filter((q) => q.method === "GET" && !q.query.has("list-type")).reduce((a, q) => a + q.bytesOut, 0);
  const fetch = kit.download;
  const version = async (url: string) => String((await kit.s3fs.stat(url.replace(/^s3a?:\/\//, "/"))).mtimeMs);
  /** A container on `node`: localised through the node's cache; returns the store bytes it cost. */
  async function container(node: string, name: string, env: PythonEnvironment): Promise<{ dir: string; fetched: number }> {
    const dir = path.join(node, "containers", name);
    kit.s3.requests.length = 0;
    await localiseCached(dir, shippedResources(env), fetch, version, path.join(node, "filecache"));
    const fetched = bytesFetched();
    fs.mkdirSync(path.join(node, "tmp"), { recursive: true, mode: 0o1777 });
    return { dir, fetched };
  }
  const extractedLayers = (output: string) => output.split("\n").filter((l) => l.startsWith("pex: extracted layer")).map((l) => /\(([^)]+)\)/.exec(l)![1]!.split("-")[0]!);

  it("v1 on Dask, v2 (one small package added) on torch.distributed: each upload writes what changed, each node fetches and extracts what it lacks", async () => {
    // 1. First upload: every layer, the top PEX and its sidecar.
    kit.s3.requests.length = 0;
    const v1 = await upload(["six", "attrs"]);
    const layerBytes1 = v1.layers!.reduce((a, l) => a + l.size, 0);
    const top1 = (await kit.s3fs.stat("/envs/user/me/envs/app.pex")).size;
    const sidecar = (await kit.s3fs.stat("/envs/user/me/envs/app.json")).size;
    expect(bytesWritten()).toBe(layerBytes1 + top1 + sidecar);

    // 2. Dask: scheduler and two workers on one node (the node cache and PEX_ROOT shared).
    const node = path.join(kit.tmp, "node-a");
    const env1 = environmentOf(v1, node);
    const port = await freePort();
    const cmds = daskCommands(env1, { schedulerAddress: `tcp://127.0.0.1:${port}`, listenHost: "127.0.0.1", noNanny: true });
    const sched = await container(node, "dask-scheduler", env1);
    // The first container of the node fetches everything, once.
    expect(sched.fetched).toBe(layerBytes1 + top1 + (await kit.s3fs.stat("/envs/code/cp_engines_marker.zip")).size);
    const scheduler = startIn(sched.dir, cmds.scheduler.argv, cmds.scheduler.env);
    started.push(scheduler);
    const workers: Started[] = [];
    for (const i of [0, 1]) {
      const w = await container(node, `dask-worker-${i}`, env1);
      expect(w.fetched).toBe(0); // served by the node cache
      const p = startIn(w.dir, cmds.worker.argv, cmds.worker.env);
      started.push(p);
      workers.push(p);
    }
    const client = startIn(kit.tmp, [DEBIAN_PYTHON, path.join(MARKER, "dask_client.py"), `tcp://127.0.0.1:${port}`, "2"], { PYTHONPATH: MARKER });
    started.push(client);
    const code = await exitWithin(client, 200_000, "the Dask client");
    expect({ code, output: code === 0 ? "" : client.output() + started.map((p) => p.output()).join("\n---\n") }).toEqual({ code: 0, output: "" });
    const result = lastJson<{ workers: Record<string, Report>; total: number; task: Report }>(client.output());
    expect(result.total).toBe([...Array(20).keys()].reduce((a, x) => a + x * x, 0));
    const nodeRoot = path.join(fs.realpathSync(path.join(node, "tmp")), `cp-pex-${process.getuid!()}`);
    for (const r of Object.values(result.workers)) {
      expect(r.mark).toBe("cp-engines-marker");
      expect(r.pex).toBe(path.join(r.cwd, "app.pex"));
      // six and attrs come from their layers, extracted once into the node's PEX_ROOT.
      expect(r.modules.six!.startsWith(`${nodeRoot}/cp/installed_wheels.2/`)).toBe(true);
      expect(r.modules.attrs!.startsWith(`${nodeRoot}/cp/installed_wheels.2/`)).toBe(true);
    }
    expect(fs.statSync(nodeRoot).mode & 0o777).toBe(0o700);
    // Three processes started cold on the node; each layer was extracted by one of them.
    const extracted = [scheduler, ...workers].flatMap((p) => extractedLayers(p.output()));
    expect(extracted.sort()).toEqual(["attrs", "six"]);
    await Promise.all([scheduler, ...workers].map((p) => stop(p)));

    // 3. One small package added: the upload writes its layer, the top PEX and the sidecar.
    kit.s3.requests.length = 0;
    const v2 = await upload(["six", "attrs", "idna"]);
    const idna = v2.layers!.filter((l) => l.uploaded);
    expect(idna).toHaveLength(1);
    const top2 = (await kit.s3fs.stat("/envs/user/me/envs/app.pex")).size;
    const sidecar2 = (await kit.s3fs.stat("/envs/user/me/envs/app.json")).size;
    expect(bytesWritten()).toBe(idna[0]!.size + top2 + sidecar2);

    // 4. torch.distributed, 3 ranks on the same node: the node fetches the new top PEX and
    // the new layer (nothing else), and extracts only the new layer.
    const env2 = environmentOf(v2, node);
    const { spec } = skeinSpecFor(env2, { services: { trainer: { resources: { memory: "2 GiB", vcores: 1 }, instances: 3, module: "cp_engines_marker.torch_job" } } });
    expect(Object.keys(spec.services.trainer!.files).sort()).toEqual(["app.pex", "cp_engines_marker.zip", ...v2.layers!.map((l) => `${l.sha256}.zip`)].sort());
    const ranks = torchDistributedEnv({ masterAddr: "127.0.0.1", masterPort: await freePort(), nodes: 3, procsPerNode: 1 });
    const procs: { dir: string; p: Started }[] = [];
    for (const [rank, vars] of ranks.entries()) {
      const c = await container(node, `torch-rank-${rank}`, env2);
      expect({ rank, fetched: c.fetched }).toEqual({ rank, fetched: rank === 0 ? top2 + idna[0]!.size : 0 });
      const p = startIn(c.dir, pythonModuleCommand(env2, "cp_engines_marker.torch_job"), { ...spec.services.trainer!.env, ...vars });
      started.push(p);
      procs.push({ dir: c.dir, p });
    }
    const codes = await Promise.all(procs.map(({ p }, i) => exitWithin(p, 200_000, `torch rank ${i}`)));
    expect({ codes, output: codes.every((c) => c === 0) ? "" : procs.map(({ p }) => p.output()).join("\n---\n") }).toEqual({ codes: [0, 0, 0], output: "" });
    const reports = procs.map(({ p }) => lastJson<Report & { rank: number; sum: number }>(p.output()));
    reports.forEach((r, i) => {
      expect({ rank: r.rank, sum: r.sum }).toEqual({ rank: i, sum: 6 });
      expect(r.modules.idna!.startsWith(`${nodeRoot}/cp/installed_wheels.2/`)).toBe(true);
    });
    expect(procs.flatMap(({ p }) => extractedLayers(p.output()))).toEqual(["idna"]);
  });
});
