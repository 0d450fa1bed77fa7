import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runCli } from "../test-kit";

const cli = runCli;

describe("cluster-pack spark-conf", () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });
  beforeEach(() => {
    for (const k of ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PYSPARK_DRIVER_PYTHON"]) {
      delete process.env[k];
    }
  });

  it("prints key=value lines for YARN cluster mode by default", async () => {
    const r = await cli("spark-conf", "hdfs://nn/envs/app.pex", "--deploy-mode", "cluster");
    expect(r).toEqual({
      code: 0,
      err: "",
      out: [
        "spark.yarn.dist.files=hdfs://nn/envs/app.pex#app.pex",
        "spark.pyspark.python=./app.pex",
        "spark.pyspark.driver.python=./app.pex",
        "spark.executorEnv.PEX_ROOT=./.pex",
        "spark.yarn.appMasterEnv.PEX_ROOT=./.pex",
        "",
      ].join("\n"),
    });
  });

  it("argv format takes the application after --, and honours PYSPARK_DRIVER_PYTHON in client mode", async () => {
    process.env.PYSPARK_DRIVER_PYTHON = "/opt/py/bin/python";
    const r = await cli("spark-conf", "hdfs://nn/envs/e.tar.gz", "--kind", "venv", "--code", "hdfs://nn/c/lib.zip", "--format", "argv", "--", "main.py", "--n", "3");
    expect(r.code).toBe(0);
    expect(r.out.trim().split("\n")).toEqual([
      "--master",
      "yarn",
      "--deploy-mode",
      "client",
      "--conf",
      "spark.yarn.dist.archives=hdfs://nn/envs/e.tar.gz#pyenv",
      "--conf",
      "spark.submit.pyFiles=hdfs://nn/c/lib.zip",
      "--conf",
      "spark.pyspark.python=pyenv/bin/python",
      "--conf",
      "spark.pyspark.driver.python=/opt/py/bin/python",
      "main.py",
      "--n",
      "3",
    ]);
  });

  it("defaults and builder formats; --json prints a machine-readable result", async () => {
    const d = await cli("spark-conf", "s3://b/e.pex", "--master", "k8s://https://api:6443", "--format", "defaults", "--s3-endpoint", "http://127.0.0.1:9000", "--s3-path-style");
    expect(d.code).toBe(0);
    expect(d.out).toMatch(/^spark\.master +k8s:\/\/https:\/\/api:6443\n/);
    expect(d.out).toMatch(/\nspark\.files +s3a:\/\/b\/e\.pex\n/);
    expect(d.out).toMatch(/\nspark\.hadoop\.fs\.s3a\.path\.style\.access +true\n/);
    const b = await cli("spark-conf", "hdfs://nn/e.pex", "--format", "builder", "--app-name", "demo");
    expect(b.out).toContain('.appName("demo")');
    const j = await cli("--json", "spark-conf", "hdfs://nn/e.pex");
    expect(JSON.parse(j.out)).toMatchObject({ master: "yarn", deployMode: "client", clusterManager: "yarn", conf: { "spark.pyspark.python": "./e.pex" }, warnings: [] });
  });

  it("honours AWS_ENDPOINT_URL/AWS_REGION for s3 archives only, and keeps secrets out unless asked", async () => {
    process.env.AWS_ENDPOINT_URL = "http://minio:9000";
    process.env.AWS_REGION = "eu-west-1";
    process.env.AWS_ACCESS_KEY_ID = "AKIATEST";
    process.env.AWS_SECRET_ACCESS_KEY = "SECRETTEST";
    const s3 = await cli("spark-conf", "s3://b/e.pex");
    expect(s3.out).toContain("spark.hadoop.fs.s3a.endpoint=http://minio:9000\n");
    expect(s3.out).toContain("spark.hadoop.fs.s3a.endpoint.region=eu-west-1\n");
    expect(s3.out + s3.err).not.toMatch(/AKIATEST|SECRETTEST/);
    const hdfs = await cli("spark-conf", "hdfs://nn/e.pex");
    expect(hdfs.out).not.toContain("s3a");
    const secrets = await cli("spark-conf", "s3://b/e.pex", "--include-secrets");
    expect(secrets.out).toContain("spark.hadoop.fs.s3a.secret.key=SECRETTEST\n");
    const redacted = await cli("spark-conf", "s3://b/e.pex", "--include-secrets", "--redact");
    expect(redacted.out).not.toMatch(/AKIATEST|SECRETTEST/);
    delete process.env.AWS_SECRET_ACCESS_KEY;
    const missing = await cli("spark-conf", "s3://b/e.pex", "--include-secrets");
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/AWS_SECRET_ACCESS_KEY/);
  });

  it("merges into a properties file: conflict is exit 2 by default, a warning naming the winner with a policy", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cp-cli-spark-"));
    const file = path.join(dir, "spark-defaults.conf");
    fs.writeFileSync(file, "spark.executor.memory 4g\nspark.pyspark.python /usr/bin/python3\n");
    try {
      const refused = await cli("spark-conf", "hdfs://nn/e.pex", "--properties-file", file);
      expect(refused.code).toBe(2);
      expect(refused.err).toMatch(/spark\.pyspark\.python is already set to "\/usr\/bin\/python3"/);
      const merged = await cli("spark-conf", "hdfs://nn/e.pex", "--properties-file", file, "--on-conflict", "prefer-generated", "--conf", "spark.yarn.queue=ml");
      expect(merged.code).toBe(0);
      expect(merged.out.split("\n").slice(0, 3)).toEqual(["spark.executor.memory=4g", "spark.pyspark.python=./e.pex", "spark.yarn.queue=ml"]);
      expect(merged.err).toMatch(/^warning: Spark conf spark\.pyspark\.python: .* the generated value wins/);
      const absent = await cli("spark-conf", "hdfs://nn/e.pex", "--properties-file", path.join(dir, "nope.conf"));
      expect(absent).toMatchObject({ code: 2, err: `cluster-pack: --properties-file ${path.join(dir, "nope.conf")} does not exist.\ncluster-pack: hint: check the path.\n` });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [["hdfs://nn/e.tar.gz", "--master", "k8s://https://api:6443"], /Kubernetes pods cannot read/],
    [["hdfs://nn/e.tar.gz", "--master", "spark://m:7077", "--deploy-mode", "cluster"], /standalone/],
    [["hdfs://nn/e.tar.gz", "--master", "mesos://m"], /Unknown Spark master/],
    [["hdfs://nn/e.tar.gz", "--env", "NOEQUALS"], /--env "NOEQUALS" is not NAME=value/],
    [["hdfs://nn/e.tar.gz", "--format", "builder", "--deploy-mode", "cluster"], /client mode/],
    [["hdfs://nn/e.tar.gz", "--principal", "me@R"], /both a principal and a keytab/],
  ])("bad input %j exits 2 with the fix", async (args, re) => {
    const r = await cli("spark-conf", ...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(re);
    expect(r.out).toBe("");
  });

  it("Kerberos options become spark.kerberos.* keys", async () => {
    const r = await cli("spark-conf", "hdfs://nn/e.pex", "--principal", "me@R", "--keytab", "/k/me.keytab", "--access-fs", "hdfs://other:8020");
    expect(r.code).toBe(0);
    expect(r.out).toContain("spark.kerberos.principal=me@R\nspark.kerberos.keytab=/k/me.keytab\nspark.kerberos.access.hadoopFileSystems=hdfs://other:8020,hdfs://nn\n");
  });

  it("--help shows examples", async () => {
    const r = await cli("spark-conf", "--help");
    expect(r.code).toBe(0);
    expect(r.out).toContain("Examples:");
  });
});
