import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startS3Server, type TestS3Server } from "@cluster-pack/fs/test-kit";
import { runCli, s3Environment } from "../test-kit";

jest.setTimeout(120_000);

const run = runCli;

describe("cluster-pack fs", () => {
  let server: TestS3Server;
  let dir: string;
  const saved = { ...process.env };
  beforeAll(async () => {
    server = await startS3Server({ buckets: ["cli"] });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cp-cli-fs-"));
    Object.assign(process.env, s3Environment(server.endpoint));
  });
  afterAll(async () => {
    process.env = saved;
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("copies to S3 with metadata, lists, stats, checks and copies back", async () => {
    const local = path.join(dir, "env.pex");
    fs.writeFileSync(local, "pex-bytes");
    const cp = await run("fs", "cp", local, "s3://cli/envs/env.pex", "-m", "lock-sha256=ab12", "--json");
    expect(cp.code).toBe(0);
    expect(JSON.parse(cp.out)).toEqual({ from: local, to: "s3://cli/envs/env.pex", size: 9 });
    const ls = await run("fs", "ls", "s3://cli/envs", "--json");
    expect(JSON.parse(ls.out)).toMatchObject([{ name: "env.pex", type: "file", size: 9 }]);
    const st = await run("fs", "stat", "s3://cli/envs/env.pex");
    expect(st.out).toContain("meta lock-sha256: ab12");
    server.requests.length = 0;
    const ok = await run("fs", "check", "s3://cli/envs/env.pex", "-m", "lock-sha256=ab12", "--size", "9", "--json");
    expect(JSON.parse(ok.out)).toMatchObject({ upToDate: true, exists: true });
    expect(server.requests.length).toBe(1);
    const stale = await run("fs", "check", "s3://cli/envs/env.pex", "-m", "lock-sha256=zz");
    expect(stale.out).toBe("stale: s3://cli/envs/env.pex\n");
    const back = path.join(dir, "back", "env.pex");
    expect((await run("fs", "cp", "s3://cli/envs/env.pex", back)).code).toBe(0);
    expect(fs.readFileSync(back, "utf8")).toBe("pex-bytes");
  });

  it("exits 2 on a missing object (the URL named once) and on bad input", async () => {
    const missing = await run("fs", "stat", "s3://cli/nope");
    expect([missing.code, missing.err]).toEqual([2, "cluster-pack: s3://cli/nope does not exist.\ncluster-pack: hint: check the path.\n"]);
    const bad = await run("fs", "cp", path.join(dir, "env.pex"), "s3://cli/x", "-m", "novalue");
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--metadata "novalue" is not NAME=value/);
    const scheme = await run("fs", "ls", "ftp://x/y");
    expect(scheme.code).toBe(2);
  });
});
