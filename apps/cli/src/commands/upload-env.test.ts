import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runCli } from "../test-kit";

// Real builds, interpreters and servers: the root jest config (multi-project) ignores the preset's testTimeout.
jest.setTimeout(300_000);

const cli = runCli;

describe("cluster-pack upload-env / upload-zip", () => {
  const saved = { ...process.env };
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-cli-upload-"));
  });
  afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  beforeEach(() => {
    process.env.C_PACK_USER = "cli";
    delete process.env.VIRTUAL_ENV;
    delete process.env.CONDA_PREFIX;
    delete process.env.HADOOP_CONF_DIR;
  });
  afterEach(() => {
    process.env = { ...saved };
  });

  it("--help shows examples", async () => {
    const r = await cli("upload-env", "--help");
    expect(r.code).toBe(0);
    expect(r.out).toContain("Examples:");
    expect(r.out).toContain("--include-editable");
    const z = await cli("upload-zip", "--help");
    expect(z.out).toContain("pex_hash");
  });

  it("packs requirements into a PEX, uploads once, prints JSON and the Spark conf; the second run is up to date", async () => {
    const target = `file://${tmp}/store/user/cli/envs/reqs.pex`;
    const args = ["upload-env", "six", "python-dateutil", "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "-o", target, "--cache-dir", path.join(tmp, "cache")];
    const first = await cli("--json", ...args, "--spark", "yarn");
    expect(first.code).toBe(0);
    const r = JSON.parse(first.out);
    expect(r).toMatchObject({ packagePath: target, uploaded: true, requirements: ["python-dateutil==2.9.0.post0", "six==1.17.0"], environment: { kind: "pex" } });
    expect(r.sparkConf["spark.pyspark.python"]).toBe("./reqs.pex");
    expect(fs.existsSync(path.join(tmp, "store/user/cli/envs/reqs.json"))).toBe(true);
    const second = await cli(...args);
    expect(second.code).toBe(0);
    expect(second.out.split("\n")[0]).toBe(`up to date: ${target}`);
  });

  it("upload-zip: uploads a PEX, then skips it by pex_hash", async () => {
    const pex = path.join(tmp, "store/user/cli/envs/reqs.pex");
    if (!fs.existsSync(pex)) await cli("upload-env", "six", "--python-version", "3.11", "-o", `file://${pex}`, "--cache-dir", path.join(tmp, "cache"));
    const dest = path.join(tmp, "zip-store", "copy.pex");
    const a = await cli("--json", "upload-zip", pex, "-o", dest);
    if (a.code !== 0) console.error(a.err);
    expect(a.code).toBe(0);
    expect(JSON.parse(a.out)).toMatchObject({ packagePath: dest, uploaded: true, pexHash: expect.stringMatching(/^[0-9a-f]{40}$/) });
    const b = await cli("upload-zip", pex, "-o", dest);
    expect(b.out).toContain("up to date (same pex_hash)");
  });

  it("bad input: one line, then the fix on its own line (and in the JSON), exit 2", async () => {
    const none = await cli("upload-env", "-o", `file://${tmp}/x.pex`);
    expect(none.code).toBe(2);
    expect(none.err.trim().split("\n")).toEqual([
      "cluster-pack: No Python environment found: neither VIRTUAL_ENV nor CONDA_PREFIX is set and no environment was given.",
      "cluster-pack: hint: activate a virtualenv or conda env, or pass --env (a venv/conda prefix), --python (an interpreter), or requirements.",
    ]);
    const json = await cli("upload-env", "-o", `file://${tmp}/x.pex`, "--json");
    expect(JSON.parse(json.out)).toEqual({
      error: {
        code: "ERR_NO_ENVIRONMENT",
        message: "No Python environment found: neither VIRTUAL_ENV nor CONDA_PREFIX is set and no environment was given.",
        hint: "activate a virtualenv or conda env, or pass --env (a venv/conda prefix), --python (an interpreter), or requirements.",
      },
    });
    const bad = await cli("upload-env", "--additional", "torch=>2", "six");
    expect(bad.code).toBe(2);
    expect(bad.err).toBe("cluster-pack: --additional torch=>2 is not a requirement.\ncluster-pack: hint: write name==version (e.g. torch==2.2.0), name>=version, or a bare name.\n");
    const notPex = await cli("upload-zip", path.join(tmp, "thing.tar.gz"));
    expect(notPex.code).toBe(2);
    expect(notPex.err).toMatch(/not a PEX/);
  });
});
