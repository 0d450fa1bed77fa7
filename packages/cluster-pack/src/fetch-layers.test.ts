/**
 * Layers fetched into a node directory (pythonEnvironment({ layersDir }) + fetchLayers),
 * the way of engines without a per-file localiser, end to end: uploadEnv({ layout:
 * "layered" }) to a real S3 server; each container gets only the top PEX and the code
 * archive (shippedResources); the node's launcher runs fetchLayers before each process;
 * real Dask scheduler and workers start from daskCommands. The server's request log
 * counts what each fetch cost.
 */
import fs from "node:fs";
import path from "node:path";
import { daskCommands, pythonEnvironment, shippedResources, type PythonEnvironment } from "@cluster-pack/engines";
import { DEBIAN_PYTHON, KIT_PYTHON, describeUnless, exitWithin, lastJson, localise, missingEngine, startIn, stop, type Started } from "@cluster-pack/engines/test-kit";
import { freePort } from "@cluster-pack/fs/test-kit";
import { pipIndexUnavailable } from "@cluster-pack/io/test-kit";
import { fetchLayers } from "./layers";
import { layeredStore } from "./test-kit/layered-store";
import type { UploadEnvResult } from "./types";

jest.setTimeout(300_000);

describeUnless(missingEngine(["distributed"]) ?? pipIndexUnavailable(), "fetchLayers into a node directory, then real Dask workers from daskCommands", () => {
  const kit = layeredStore("cp-fetch-layers-");
  const { started } = kit;
  const upload = (requirements: string[]) => kit.upload(requirements, "s3://envs/user/me/envs/dask.pex");
  const node = () => path.join(kit.tmp, "node-a");
  const environmentOf = (r: UploadEnvResult): PythonEnvironment =>
    pythonEnvironment(r.packagePath, { layers: r.layers!.map((l) => l.url), layersDir: path.join(node(), "layers"), codeArchives: [kit.codeUrl], env: { CP_REPORT_MODULES: "six,attrs,idna" } });
  const { download } = kit;
  // Object reads only (a listing fetches no file).
  const gets = () => kit.s3.requests.filter((q) => q.method === "GET" && !q.query.has("list-type"));
  /** What the node's launcher does before a process: localise the container, fetch the layers. */
  async function prepare(name: string, env: PythonEnvironment): Promise<{ dir: string; bytes: number; requests: number; fetched: string[] }> {
    const dir = path.join(node(), "containers", name);
    await localise(dir, shippedResources(env), download);
    kit.s3.requests.length = 0;
    const r = await fetchLayers(env, { store: { s3: kit.s3.clientOptions } });
    const bytes = gets().reduce((a, q) => a + q.bytesOut, 0);
    expect(r.bytesFetched).toBe(bytes);
    return { dir, bytes, requests: gets().length, fetched: r.layers.filter((l) => l.fetched).map((l) => l.sha256) };
  }

  it("fetches each layer once per node, runs the workers on them, fetches only the new layer of the next version", async () => {
    const v1 = await upload(["six", "attrs"]);
    const env1 = environmentOf(v1);
    // The containers get the top PEX and the code; the layers go to the node directory.
    expect(shippedResources(env1).map((r) => r.alias)).toEqual(["dask.pex", "cp_engines_marker.zip"]);
    const port = await freePort();
    const cmds = daskCommands(env1, { schedulerAddress: `tcp://127.0.0.1:${port}`, listenHost: "127.0.0.1", noNanny: true });
    expect(cmds.worker.env.PEX_LAYERS_PATH).toBe(path.join(node(), "layers"));

    const sched = await prepare("scheduler", env1);
    const all1 = v1.layers!.reduce((a, l) => a + l.size, 0);
    expect({ bytes: sched.bytes, requests: sched.requests }).toEqual({ bytes: all1, requests: v1.layers!.length });
    const scheduler = startIn(sched.dir, cmds.scheduler.argv, cmds.scheduler.env);
    started.push(scheduler);
    const workers: Started[] = [];
    for (const i of [0, 1]) {
      const w = await prepare(`worker-${i}`, env1);
      // Present and verified in the node directory: no request at all.
      expect({ bytes: w.bytes, requests: w.requests }).toEqual({ bytes: 0, requests: 0 });
      const p = startIn(w.dir, cmds.worker.argv, cmds.worker.env);
      started.push(p);
      workers.push(p);
    }
    const client = startIn(kit.tmp, [DEBIAN_PYTHON, path.join(KIT_PYTHON, "dask_client.py"), `tcp://127.0.0.1:${port}`, "2"], { PYTHONPATH: KIT_PYTHON });
    started.push(client);
    const code = await exitWithin(client, 200_000, "the Dask client");
    expect({ code, output: code === 0 ? "" : client.output() + started.map((p) => p.output()).join("\n---\n") }).toEqual({ code: 0, output: "" });
    const result = lastJson<{ workers: Record<string, { mark: string; cwd: string; pex: string; modules: Record<string, string> }>; total: number }>(client.output());
    expect(result.total).toBe([...Array(20).keys()].reduce((a, x) => a + x * x, 0));
    expect(Object.keys(result.workers)).toHaveLength(2);
    for (const r of Object.values(result.workers)) {
      expect(r.mark).toBe("cp-engines-marker");
      expect(r.pex).toBe(path.join(r.cwd, "dask.pex"));
      // From the worker's own PEX_ROOT, extracted from the node directory's layers.
      expect(r.modules.six!.startsWith(path.join(r.cwd, ".pex", "cp", "installed_wheels.2") + "/")).toBe(true);
      expect(r.modules.attrs!.startsWith(path.join(r.cwd, ".pex", "cp", "installed_wheels.2") + "/")).toBe(true);
    }
    await Promise.all([scheduler, ...workers].map((p) => stop(p)));

    // One small package added: the node fetches its layer and nothing else.
    const v2 = await upload(["six", "attrs", "idna"]);
    const added = v2.layers!.filter((l) => !v1.layers!.some((o) => o.sha256 === l.sha256));
    expect(added).toHaveLength(1);
    const next = await prepare("worker-v2", environmentOf(v2));
    expect({ bytes: next.bytes, fetched: next.fetched }).toEqual({ bytes: added[0]!.size, fetched: [added[0]!.sha256] });
  });

  it("a damaged or missing layer in the node directory stops the worker with one line naming it; fetchLayers repairs it", async () => {
    const v = await upload(["six"]);
    const env = environmentOf(v);
    const layer = v.layers![0]!;
    const file = path.join(node(), "layers", `${layer.sha256}.zip`);
    const worker = daskCommands(env, { schedulerAddress: "tcp://127.0.0.1:1", noNanny: true }).worker;
    const run = async (name: string) => {
      const dir = path.join(node(), "containers", name);
      await localise(dir, shippedResources(env), download);
      const p = startIn(dir, worker.argv, worker.env);
      started.push(p);
      const code = await exitWithin(p, 60_000, "the worker");
      return { code, lines: p.output().trim().split("\n") };
    };
    await fetchLayers(env, { store: { s3: kit.s3.clientOptions } });

    // Same size, other bytes: found, hashed, refused.
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 30] = bytes[bytes.length - 30]! ^ 0xff;
    fs.rmSync(file);
    fs.writeFileSync(file, bytes);
    const damaged = await run("damaged");
    expect(damaged.code).toBe(2);
    expect(damaged.lines).toHaveLength(1);
    expect(damaged.lines[0]).toMatch(new RegExp(`layer ${layer.sha256}\\.zip \\(six-[^)]+\\) at ${escape(fs.realpathSync(file))} has sha256 [0-9a-f]{64}, PEX-INFO says ${layer.sha256}`));
    // The launcher's next fetch notices the damage and fetches that layer again.
    kit.s3.requests.length = 0;
    const repaired = await fetchLayers(env, { store: { s3: kit.s3.clientOptions } });
    expect(repaired.layers.map((l) => l.fetched)).toEqual([true]);
    expect(gets().reduce((a, q) => a + q.bytesOut, 0)).toBe(layer.size);

    fs.rmSync(file);
    const missing = await run("missing");
    expect(missing.code).toBe(2);
    expect(missing.lines).toHaveLength(1);
    expect(missing.lines[0]).toContain(`layer ${layer.sha256}.zip (six-`);
    expect(missing.lines[0]).toContain(`is missing: looked in ${path.join(node(), "layers")}, `);
  });

  it("refuses a stored layer whose bytes are not its name, publishing nothing; names a layer missing from the store", async () => {
    const v = await upload(["six"]);
    const layer = v.layers![0]!;
    const dir = path.join(kit.tmp, "node-b", "layers");
    const env = pythonEnvironment(v.packagePath, { layers: [layer.url], layersDir: dir });
    const garbage = path.join(kit.tmp, "garbage.zip");
    fs.writeFileSync(garbage, Buffer.alloc(layer.size, 7));
    await kit.s3fs.put(garbage, layer.url.replace(/^s3:\/\//, "/"));
    await expect(fetchLayers(env, { store: { s3: kit.s3.clientOptions } })).rejects.toMatchObject({
      message: expect.stringMatching(new RegExp(`^Layer ${escape(layer.url)} has sha256 [0-9a-f]{64} \\(${layer.size} bytes\\), not the one its name says: the store's copy is damaged\\.$`)),
      hint: "delete it and upload the environment again (upload-env --layered).",
    });
    expect(fs.readdirSync(dir).filter((n) => n.endsWith(".zip") || n.includes("cp-tmp"))).toEqual([]);

    await kit.s3fs.rm(layer.url.replace(/^s3:\/\//, "/"));
    await expect(fetchLayers(env, { store: { s3: kit.s3.clientOptions } })).rejects.toMatchObject({ code: "ERR_LAYER", message: expect.stringMatching(new RegExp(`^Layer ${escape(layer.url)} is missing from its store`)), hint: expect.stringMatching(/^upload the environment again/) });
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
