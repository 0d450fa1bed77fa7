import { skeinSpecYaml } from "@cluster-pack/engines";
import { runCli } from "../test-kit";

const cli = runCli;

describe("cluster-pack skein-spec", () => {
  it("prints a YAML spec that ships the environment and runs the module with its args", async () => {
    const r = await cli("skein-spec", "hdfs://nn/envs/app.pex", "--module", "mylib.train", "--code", "hdfs://nn/c/mylib.zip", "--instances", "2", "--memory", "4096", "--", "--epochs", "3");
    expect(r.code).toBe(0);
    const json = await cli("skein-spec", "hdfs://nn/envs/app.pex", "--module", "mylib.train", "--code", "hdfs://nn/c/mylib.zip", "--instances", "2", "--memory", "4096", "--format", "json", "--", "--epochs", "3");
    expect(r.out).toBe(skeinSpecYaml(JSON.parse(json.out)));
    expect(r.out).toContain("script: ./app.pex -m mylib.train --epochs 3\n");
    expect(JSON.parse(json.out)).toEqual({
      name: "cluster-pack",
      queue: "default",
      max_attempts: 1,
      services: {
        main: {
          instances: 2,
          max_restarts: 0,
          resources: { memory: 4096, vcores: 1 },
          files: { "app.pex": { source: "hdfs://nn/envs/app.pex", type: "file" }, "mylib.zip": { source: "hdfs://nn/c/mylib.zip", type: "file" } },
          env: { PEX_ROOT: "./.pex", PYTHONPATH: "mylib.zip" },
          script: "./app.pex -m mylib.train --epochs 3",
        },
      },
    });
    const again = await cli("skein-spec", "hdfs://nn/envs/app.pex", "--module", "mylib.train", "--code", "hdfs://nn/c/mylib.zip", "--instances", "2", "--memory", "4096", "--", "--epochs", "3");
    expect(again.out).toBe(r.out);
  });

  it("JSON with queue, label, tags, files and Kerberos (client login on stderr)", async () => {
    const r = await cli(
      "skein-spec", "s3://b/env.tar.gz", "--kind", "venv", "--script", "pyenv/bin/python job.py", "--queue", "ml", "--node-label", "gpu",
      "--tag", "nightly", "--file", "job.py=s3://b/job.py", "--max-attempts", "2", "--principal", "me@R", "--keytab", "/k/me.keytab",
      "--file-system", "hdfs://other:8020", "--format", "json",
    );
    expect(r.code).toBe(0);
    const spec = JSON.parse(r.out);
    expect(spec).toMatchObject({ queue: "ml", node_label: "gpu", tags: ["nightly"], max_attempts: 2, file_systems: ["hdfs://other:8020"] });
    expect(spec.services.main.files).toEqual({ pyenv: { source: "s3a://b/env.tar.gz", type: "archive" }, "job.py": { source: "s3a://b/job.py", type: "file" } });
    expect(r.err).toBe('skein.Client(principal="me@R", keytab="/k/me.keytab")\n');
  });

  it.each([
    [["hdfs://nn/e.pex"], /exactly one of module/],
    [["hdfs://nn/e.pex", "--module", "m", "--principal", "me@R"], /both a principal and a keytab/],
    [["hdfs://nn/e.pex", "--script", "x", "--", "arg"], /Arguments after -- are the module's/],
    [["hdfs://nn/e.pex", "--module", "m", "--vcores", "two"], /--vcores takes a whole number, got "two"/],
  ])("bad input %j exits 2", async (args, re) => {
    const r = await cli("skein-spec", ...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(re);
  });
});
