import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { runCli } from "../test-kit";

// A real layered PEX built from real wheels of the configured index, stored in a local store.
jest.setTimeout(300_000);
const pipConfig = spawnSync("python3", ["-m", "pip", "config", "list"], { encoding: "utf8" });
const noPip = pipConfig.status !== 0 || (!/index-url|find-links/.test(pipConfig.stdout) && !process.env.PIP_INDEX_URL);
if (noPip) console.warn("skipping cluster-pack fetch-layers tests: pip has no index or find-links configured");

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-cli-fetch-layers-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

(noPip ? describe.skip : describe)("cluster-pack fetch-layers", () => {
  const envs = path.join(tmp, "store", "envs");
  const pex = path.join(envs, "app.pex");
  beforeAll(async () => {
    const wheels = path.join(tmp, "wheels");
    const d = spawnSync("python3", ["-m", "pip", "download", "-q", "--only-binary=:all:", "--no-deps", "-d", wheels, "six", "attrs"], { encoding: "utf8" });
    if (d.status !== 0) throw new Error(`pip download failed: ${d.stderr}`);
    const r = await runCli("pex", "build", wheels, "-o", pex, "--layout", "layered", "--layer-store", path.join(envs, "layers"));
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: "" });
  });

  it("fills the node directory with the layers the PEX-INFO names, once", async () => {
    const dir = path.join(tmp, "node", "layers");
    const first = await runCli("--json", "fetch-layers", pex, "--layers-dir", dir);
    expect({ code: first.code, err: first.err }).toEqual({ code: 0, err: "" });
    const r = JSON.parse(first.out) as { dir: string; layers: Array<{ sha256: string; fetched: boolean; size: number }>; bytesFetched: number };
    expect(r.layers.map((l) => l.fetched)).toEqual([true, true]);
    expect(fs.readdirSync(dir).filter((n) => n.endsWith(".zip")).sort()).toEqual(r.layers.map((l) => `${l.sha256}.zip`).sort());
    expect(r.bytesFetched).toBe(r.layers.reduce((a, l) => a + l.size, 0));
    const again = await runCli("fetch-layers", pex, "--layers-dir", dir);
    expect({ code: again.code, out: again.out.trim() }).toEqual({ code: 0, out: `${dir}: fetched 0 of 2 layers (0 B), 2 already there` });
  });

  it("refuses a relative --layers-dir and a missing PEX (exit 2, naming the fix)", async () => {
    const rel = await runCli("fetch-layers", pex, "--layers-dir", "layers");
    expect(rel.code).toBe(2);
    expect(rel.err).toMatch(/--layers-dir "layers" is not an absolute directory/);
    expect(rel.err).toMatch(/\ncluster-pack: hint: give a directory on a local disk every node has/);
    const missing = await runCli("fetch-layers", path.join(envs, "nope.pex"), "--layers-dir", path.join(tmp, "x"));
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("nope.pex does not exist.\ncluster-pack: hint: pass the URL of an environment uploaded with upload-env --layered.");
  });
});
