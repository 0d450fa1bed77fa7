import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { resolveFileSystem, type FileSystem } from "@cluster-pack/fs";
import { PexBuilder } from "@cluster-pack/pex";
import { startS3Server, type TestS3Server } from "@cluster-pack/fs/test-kit";
import { uploadZip } from "./upload-zip";

// Real builds, interpreters and servers: the root jest config (multi-project) ignores the preset's testTimeout.
jest.setTimeout(300_000);

let tmp: string;
let s3: TestS3Server;
let s3fs: FileSystem;
let pexA: string;
let pexB: string;
let server: http.Server;
let baseUrl: string;

beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "cp-upload-zip-"));
  s3 = await startS3Server({ buckets: ["envs"] });
  s3fs = (await resolveFileSystem("s3://envs/", { s3: s3.clientOptions })).fs;
  // Two small real PEX files (user code only) that differ in content, so in pex_hash.
  for (const [name, value] of [["a", 1], ["b", 2]] as const) {
    const src = path.join(tmp, `src-${name}`);
    await fsp.mkdir(path.join(src, "app"), { recursive: true });
    await fsp.writeFile(path.join(src, "app", "__init__.py"), `VALUE = ${value}\n`);
    await new PexBuilder({ sourceDirectories: [src] }).build(path.join(tmp, `${name}.pex`));
  }
  pexA = path.join(tmp, "a.pex");
  pexB = path.join(tmp, "b.pex");
  // A plain HTTP server (no Range support needed: uploadZip downloads with one GET).
  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- cannot reject: the one await has its catch
  server = http.createServer(async (req, res) => {
    const file = path.join(tmp, path.basename(req.url ?? ""));
    const data = await fsp.readFile(file).catch(() => undefined);
    if (!data) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-length": data.length }).end(data);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.close();
  await s3?.close();
  await fsp.rm(tmp, { recursive: true, force: true });
});

const store = () => ({ s3: s3.clientOptions });

describe("uploadZip", () => {
  it("uploads, then skips by pex_hash read with range requests only; a different PEX replaces it and drops the stale sidecar", async () => {
    const dest = "s3://envs/user/me/envs/app.pex";
    await s3fs.write("/envs/user/me/envs/app.json", Buffer.from('{"package_installed": []}'));
    const first = await uploadZip(pexA, { packagePath: dest, store: store() });
    expect(first).toMatchObject({ packagePath: dest, uploaded: true, pexHash: expect.stringMatching(/^[0-9a-f]{40}$/) });
    expect(await s3fs.exists("/envs/user/me/envs/app.json")).toBe(false);

    s3.requests.length = 0;
    const again = await uploadZip(pexA, { packagePath: dest, store: store() });
    expect(again).toEqual({ ...first, uploaded: false });
    const gets = s3.requests.filter((r) => r.method === "GET" && r.path === "/envs/user/me/envs/app.pex");
    expect(gets.length).toBeGreaterThan(0);
    for (const g of gets) expect(g.headers.range).toMatch(/^bytes=\d+-\d+$/);
    expect(s3.requests.filter((r) => r.method === "PUT" || r.method === "POST")).toEqual([]);

    const other = await uploadZip(pexB, { packagePath: dest, store: store() });
    expect(other.uploaded).toBe(true);
    expect(other.pexHash).not.toBe(first.pexHash);
    const remote = await s3fs.read("/envs/user/me/envs/app.pex");
    expect(createHash("sha256").update(remote).digest("hex")).toBe(createHash("sha256").update(await fsp.readFile(pexB)).digest("hex"));
    expect((await uploadZip(pexB, { packagePath: dest, store: store(), forceUpload: true })).uploaded).toBe(true);
  });

  it("takes an http URL and names the default path after the file", async () => {
    const r = await uploadZip(`${baseUrl}/a.pex`, { environ: { C_PACK_USER: "web", XDG_DATA_HOME: path.join(tmp, "data") } });
    expect(r.packagePath).toBe(`file://${path.join(tmp, "data")}/cluster-pack/user/web/envs/a.pex`);
    expect(r.uploaded).toBe(true);
    expect(await fsp.readFile(path.join(tmp, "data/cluster-pack/user/web/envs/a.pex"))).toEqual(await fsp.readFile(pexA));
  });

  it("bad input: not a PEX, a missing file, an HTTP 404, a zip without PEX-INFO", async () => {
    await expect(uploadZip(path.join(tmp, "env.tar.gz"))).rejects.toThrow(/is not a PEX/);
    await expect(uploadZip(path.join(tmp, "missing.pex"), { packagePath: `${tmp}/x.pex` })).rejects.toThrow(/does not exist/);
    await expect(uploadZip(`${baseUrl}/nothere.pex`, { packagePath: `${tmp}/x.pex` })).rejects.toThrow(/HTTP 404/);
    const fake = path.join(tmp, "fake.pex");
    const { ZipWriter } = await import("@cluster-pack/zip");
    const w = new ZipWriter();
    w.addBuffer("hello.txt", "hi");
    await w.writeTo(fake);
    await expect(uploadZip(fake, { packagePath: `${tmp}/x.pex` })).rejects.toThrow(/no PEX-INFO/);
    expect(await fsp.stat(path.join(tmp, "x.pex")).catch(() => null)).toBeNull();
  });
});
