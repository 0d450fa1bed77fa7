import { isDocumentedSparkKey } from "@cluster-pack/engines";
import { addEditableRequirements, addPackagedEnvironment, addS3Params, pysparkEnvironment } from "./spark";

describe("Spark helpers (cluster-pack's add_* functions)", () => {
  it("add_packaged_environment: a PEX on YARN as a file, PEX_ROOT set, user keys first", () => {
    const conf = addPackagedEnvironment({ "spark.executor.memory": "2g" }, "s3://bucket/user/me/envs/venv_abc1234.pex");
    expect(Object.entries(conf)).toEqual([
      ["spark.executor.memory", "2g"],
      ["spark.yarn.dist.files", "s3a://bucket/user/me/envs/venv_abc1234.pex#venv_abc1234.pex"],
      ["spark.pyspark.python", "./venv_abc1234.pex"],
      ["spark.pyspark.driver.python", "python3"],
      ["spark.executorEnv.PEX_ROOT", "./.pex"],
      ...Object.entries(addS3Params({}, {})),
    ]);
    for (const k of Object.keys(conf)) expect(isDocumentedSparkKey(k)).toBe(true);
  });

  it("add_packaged_environment: a conda archive is unpacked under pyenv", () => {
    const conf = addPackagedEnvironment([], "hdfs://root/user/me/envs/env.tar.gz", { master: "yarn", deployMode: "cluster" });
    expect(conf["spark.yarn.dist.archives"]).toBe("hdfs://root/user/me/envs/env.tar.gz#pyenv");
    expect(conf["spark.pyspark.python"]).toBe("pyenv/bin/python");
    expect(conf["spark.pyspark.driver.python"]).toBe("pyenv/bin/python");
  });

  it("add_editable_requirements: a stable pyFiles list merged with the user's", () => {
    const conf = addEditableRequirements({ "spark.submit.pyFiles": "hdfs://x/a.zip" }, ["s3://b/envs/e_editable/myedit.zip", "hdfs://x/a.zip"]);
    expect(conf["spark.submit.pyFiles"]).toBe("hdfs://x/a.zip,s3a://b/envs/e_editable/myedit.zip");
    expect(addEditableRequirements({ a: "b" }, [])).toEqual({ a: "b" });
  });

  it("add_s3_params: endpoint and path style, secrets only when asked, conflicts are errors", () => {
    const conf = addS3Params({}, { endpoint: "http://127.0.0.1:9000", pathStyle: true, accessKeyId: "AK", secretAccessKey: "SK" });
    expect(conf["spark.hadoop.fs.s3a.endpoint"]).toBe("http://127.0.0.1:9000");
    expect(conf["spark.hadoop.fs.s3a.path.style.access"]).toBe("true");
    expect(JSON.stringify(conf)).not.toContain("SK");
    expect(addS3Params({}, { accessKeyId: "AK", secretAccessKey: "SK", includeSecrets: true })["spark.hadoop.fs.s3a.secret.key"]).toBe("SK");
    expect(() => addS3Params({ "spark.hadoop.fs.s3a.endpoint": "http://other" }, { endpoint: "http://127.0.0.1:9000" })).toThrow(/fs\.s3a\.endpoint/);
  });

  it("honours the given conf's master and deploy mode: a local[1] conf gets no YARN keys, the PEX on spark.files", () => {
    const conf = addPackagedEnvironment({ "spark.master": "local[1]" }, "/home/me/envs/env.pex");
    expect(Object.keys(conf).filter((k) => k.startsWith("spark.yarn."))).toEqual([]);
    expect(conf["spark.files"]).toBe("/home/me/envs/env.pex");
    expect(conf["spark.pyspark.python"]).toBe("/home/me/envs/env.pex");
    const cluster = addPackagedEnvironment({ "spark.master": "yarn", "spark.submit.deployMode": "cluster" }, "hdfs://nn/envs/env.pex");
    expect(cluster["spark.pyspark.driver.python"]).toBe("./env.pex");
    expect(() => addPackagedEnvironment({ "spark.master": "local[1]" }, "hdfs://nn/envs/env.pex", { master: "yarn" })).toThrow(/spark.master=local\[1\]/);
  });

  it("pysparkEnvironment: what an in-process session must set (PYSPARK_DRIVER_PYTHON in client mode only)", () => {
    const conf = addPackagedEnvironment({}, "hdfs://nn/envs/env.pex", { driverPython: "/usr/bin/python3" });
    expect(pysparkEnvironment(conf)).toEqual({ PYSPARK_PYTHON: "./env.pex", PYSPARK_DRIVER_PYTHON: "/usr/bin/python3" });
    const cluster = addPackagedEnvironment({ "spark.submit.deployMode": "cluster" }, "hdfs://nn/envs/env.pex");
    expect(pysparkEnvironment(cluster)).toEqual({ PYSPARK_PYTHON: "./env.pex" });
  });
});
