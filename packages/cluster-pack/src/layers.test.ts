import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pipIndexUnavailable } from "@cluster-pack/io/test-kit";
import { diffEnvironments } from "./diff";
import { gc } from "./gc";
import { publishLayers, restoreLayers } from "./layers";
import { openStore } from "./store";
import { startS3Server, type TestS3Server } from "@cluster-pack/fs/test-kit";
import { uploadEnv, type UploadEnvOptions } from "./upload-env";

// Real resolution from the configured index, real builds, a real S3 server, real Python.
jest.setTimeout(300_000);
const noPip = pipIndexUnavailable();
const d = noPip ? describe.skip : describe;
if (noPip) console.warn(`skipping layered upload tests: ${noPip}`);

let tmp: string;
let s3: TestS3Server;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-layers-"));
  s3 = await startS3Server({ buckets: ["envs"] });
});
afterAll(async () => {
  await s3?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const environ = () => ({ C_PACK_USER: "me", PATH: process.env.PATH, HOME: process.env.HOME });
function opts(extra: Partial<UploadEnvOptions>): UploadEnvOptions {
  return { layout: "layered", cacheDir: path.join(tmp, "cache"), environ: environ(), store: { s3: s3.clientOptions }, ...extra };
}
/** Bytes PUT to the S3 server (single PUTs and multipart parts), by key. */
function written(): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of s3.requests) if (r.method === "PUT") out.set(r.path, (out.get(r.path) ?? 0) + r.bytesIn);
  return out;
}

d("uploadEnv layered to S3", () => {
  it("uploads every layer and the top PEX once; after adding one package only its layer and the top PEX; up to date: nothing", async () => {
    const packagePath = "s3://envs/user/me/envs/app.pex";
    s3.requests.length = 0;
    const first = await uploadEnv(opts({ requirements: ["six", "attrs"], packagePath }));
    expect(first.uploaded).toBe(true);
    expect(first.layers!.map((l) => l.uploaded)).toEqual([true, true]);
    for (const l of first.layers!) expect(l.url).toBe(`s3://envs/user/me/envs/layers/${l.sha256}.zip`);
    expect(first.environment.layers!.map((l) => l.alias)).toEqual(first.layers!.map((l) => `${l.sha256}.zip`));
    const w1 = written();
    expect([...w1.keys()].sort()).toEqual(["/envs/user/me/envs/app.json", "/envs/user/me/envs/app.pex", ...first.layers!.map((l) => `/envs/user/me/envs/layers/${l.sha256}.zip`)].sort());

    s3.requests.length = 0;
    const second = await uploadEnv(opts({ requirements: ["six", "attrs", "idna"], packagePath }));
    const fresh = second.layers!.filter((l) => l.uploaded);
    expect(fresh).toHaveLength(1);
    expect(second.layers!.filter((l) => !l.uploaded).map((l) => l.sha256).sort()).toEqual(first.layers!.map((l) => l.sha256).sort());
    const w2 = written();
    // Written: the new layer, the top PEX and its sidecar, nothing else.
    expect([...w2.keys()].sort()).toEqual(["/envs/user/me/envs/app.json", "/envs/user/me/envs/app.pex", `/envs/user/me/envs/layers/${fresh[0]!.sha256}.zip`].sort());
    expect(w2.get(`/envs/user/me/envs/layers/${fresh[0]!.sha256}.zip`)).toBe(fresh[0]!.size);
    // One listing decided which layers were missing.
    expect(s3.requests.filter((r) => r.method === "GET" && r.query.get("list-type") === "2" && r.query.get("prefix") === "user/me/envs/layers/")).toHaveLength(2);

    s3.requests.length = 0;
    const third = await uploadEnv(opts({ requirements: ["six", "attrs", "idna"], packagePath }));
    expect(third.uploaded).toBe(false);
    expect(written().size).toBe(0);
    // The layers of an up-to-date environment come from its remote PEX-INFO.
    expect(third.layers!.map((l) => l.sha256)).toEqual(second.layers!.map((l) => l.sha256));

    // diff of the two uploaded environments, read by range requests.
    const diff = await diffEnvironments("s3://envs/user/me/envs/app.pex", "s3://envs/user/me/envs/app.pex", { store: { s3: s3.clientOptions } });
    expect(diff.unchanged).toBe(3);
  });

  it("concurrent uploads of overlapping environments upload each shared layer once", async () => {
    const cacheDir = path.join(tmp, "cache-concurrent");
    s3.requests.length = 0;
    const [a, b] = await Promise.all([
      uploadEnv(opts({ requirements: ["tqdm", "packaging"], packagePath: "s3://envs/c/a.pex", cacheDir })),
      uploadEnv(opts({ requirements: ["tqdm", "packaging", "pyparsing"], packagePath: "s3://envs/c/b.pex", cacheDir })),
    ]);
    const shared = a.layers!.map((l) => l.sha256);
    expect(b.layers!.filter((l) => shared.includes(l.sha256))).toHaveLength(2);
    const puts = s3.requests.filter((r) => r.method === "PUT" && r.path.startsWith("/envs/c/layers/"));
    for (const sha of shared) expect(puts.filter((r) => r.path.endsWith(`/${sha}.zip`) && !r.query.has("partNumber"))).toHaveLength(1);
    // Each shared layer is uploaded by exactly one of them.
    for (const sha of shared) expect([a, b].filter((r) => r.layers!.some((l) => l.sha256 === sha && l.uploaded))).toHaveLength(1);
  });
});

d("gc of a local layer store", () => {
  it("never deletes a referenced or young layer, with an upload in flight; an upload restores a layer a gc removed before its PEX was published", async () => {
    const envs = path.join(tmp, "store", "envs");
    const layerDir = path.join(envs, "layers");
    const cacheDir = path.join(tmp, "cache-gc");
    const up = (name: string, requirements: string[], dir = envs) => uploadEnv({ layout: "layered", requirements, packagePath: path.join(dir, name), cacheDir, environ: environ() });
    const a = await up("a.pex", ["six", "attrs"]);
    const b = await up("b.pex", ["six", "idna"]);
    await up("e.pex", ["six"]);
    const age = (days: number) => {
      const t = new Date(Date.now() - days * 86400_000);
      for (const f of fs.readdirSync(layerDir)) fs.utimesSync(path.join(layerDir, f), t, t);
    };
    const local = (l: { sha256: string; size: number }) => ({ file: `${l.sha256}.zip`, sha256: l.sha256, size: l.size, path: path.join(cacheDir, "layers.1", `${l.sha256}.zip`) });
    age(3);
    // b is removed: its idna layer is unreferenced and old.
    fs.rmSync(path.join(envs, "b.pex"));
    const idna = b.layers!.find((l) => !a.layers!.some((x) => x.sha256 === l.sha256))!;
    // An upload in flight: its layers are published (pyparsing's is new), its PEX not yet.
    const c = await up("c.pex", ["six", "pyparsing"], path.join(tmp, "elsewhere"));
    const inflight = await publishLayers(openStore({}), layerDir, c.layers!.map(local), { cacheDir });
    expect(inflight.filter((l) => l.uploaded)).toHaveLength(1);

    const dry = await gc(envs);
    expect(dry.dryRun).toBe(true);
    expect(dry.environments.map((e) => path.basename(e.url))).toEqual(["a.pex", "e.pex"]);
    expect(dry.layers.filter((l) => l.action === "delete").map((l) => l.url)).toEqual([path.join(layerDir, `${idna.sha256}.zip`)]);
    expect(fs.existsSync(path.join(layerDir, `${idna.sha256}.zip`))).toBe(true);
    const done = await gc(envs, { delete: true });
    expect(done.layers.filter((l) => l.action === "deleted").map((l) => l.url)).toEqual([path.join(layerDir, `${idna.sha256}.zip`)]);
    expect(done.reclaimable).toBe(idna.size);
    // a's layers (referenced) and the in-flight upload's new layer (young) are all kept.
    const left = fs.readdirSync(layerDir).filter((f) => f.endsWith(".zip")).sort();
    expect(left).toEqual([...new Set([...a.layers!, ...c.layers!].map((l) => `${l.sha256}.zip`))].sort());

    // The race no grace period sees: an upload reuses an OLD unreferenced layer (attrs,
    // after a.pex is gone), and a gc removes it before the upload's PEX is published.
    age(3);
    fs.rmSync(path.join(envs, "a.pex"));
    const attrs = local(a.layers!.find((l) => !c.layers!.some((x) => x.sha256 === l.sha256))!);
    const store = openStore({});
    expect((await publishLayers(store, layerDir, [attrs], { cacheDir })).map((l) => l.uploaded)).toEqual([false]); // reused
    await gc(envs, { delete: true });
    expect(fs.existsSync(path.join(layerDir, attrs.file))).toBe(false);
    // uploadEnv re-lists after publishing its PEX and publishes such layers again.
    expect(await restoreLayers(store, layerDir, [attrs], { cacheDir })).toBe(1);
    expect(createHash("sha256").update(fs.readFileSync(path.join(layerDir, attrs.file))).digest("hex")).toBe(attrs.sha256);

    // A prefix whose PEX cannot be read stops gc before it deletes anything.
    fs.writeFileSync(path.join(envs, "broken.pex"), "not a zip");
    age(3);
    await expect(gc(envs, { delete: true })).rejects.toThrow(/broken\.pex.*gc stopped without deleting anything/);
    expect(fs.readdirSync(layerDir).filter((f) => f.endsWith(".zip")).length).toBeGreaterThan(0);
    await expect(gc(layerDir)).rejects.toThrow(/holds layers but no environment/);
  });
});
