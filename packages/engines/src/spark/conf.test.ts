import { InvalidInputError } from "@cluster-pack/errors";
import { pythonEnvironment, type EnvironmentKind } from "../environment";
import { clusterManagerOf, s3aConf, sparkConfigFor, type SparkDeployMode } from "./conf";
import { documentedSourceOf, isDocumentedSparkKey } from "./documented-keys";
import { redactSparkConf } from "./merge";

const ENVS: Record<EnvironmentKind, (base: string) => ReturnType<typeof pythonEnvironment>> = {
  pex: (b) => pythonEnvironment(`${b}/envs/app.pex`),
  "pex-large": (b) => pythonEnvironment(`${b}/envs/app.pex.zip`),
  conda: (b) => pythonEnvironment(`${b}/envs/conda.tar.gz`),
  venv: (b) => pythonEnvironment(`${b}/envs/venv.tar.gz`, { kind: "venv" }),
};

type Row = [
  master: string,
  mode: SparkDeployMode,
  kind: EnvironmentKind,
  shipKey: string,
  shipped: string,
  python: string,
  driverPython: string,
  driverEnvPrefix: string | null,
];

/*
 * Doc sections each row follows:
 * - configuration.md "Runtime Environment": spark.archives (url#dir, unpacked in the
 *   executor's working dir), spark.files, spark.pyspark.python / driver.python,
 *   spark.executorEnv.[EnvironmentVariableName];
 * - running-on-yarn.md "Spark Properties": spark.yarn.dist.archives / files, and
 *   spark.yarn.appMasterEnv.[EnvironmentVariableName] ("in cluster mode this controls the
 *   environment of the Spark driver");
 * - running-on-kubernetes.md "Spark Properties": spark.kubernetes.driverEnv.[...];
 * - client mode: the driver runs on the submitting machine ("Launching Applications with
 *   spark-submit"), so its python is a local one.
 */
const YARN_ROWS: Row[] = [
  ["yarn", "client", "pex", "spark.yarn.dist.files", "hdfs://nn/envs/app.pex#app.pex", "./app.pex", "python3", null],
  ["yarn", "cluster", "pex", "spark.yarn.dist.files", "hdfs://nn/envs/app.pex#app.pex", "./app.pex", "./app.pex", "spark.yarn.appMasterEnv."],
  ["yarn", "client", "pex-large", "spark.yarn.dist.archives", "hdfs://nn/envs/app.pex.zip#pyenv", "pyenv/__main__.py", "python3", null],
  ["yarn", "cluster", "pex-large", "spark.yarn.dist.archives", "hdfs://nn/envs/app.pex.zip#pyenv", "pyenv/__main__.py", "pyenv/__main__.py", "spark.yarn.appMasterEnv."],
  ["yarn", "client", "conda", "spark.yarn.dist.archives", "hdfs://nn/envs/conda.tar.gz#pyenv", "pyenv/bin/python", "python3", null],
  ["yarn", "cluster", "conda", "spark.yarn.dist.archives", "hdfs://nn/envs/conda.tar.gz#pyenv", "pyenv/bin/python", "pyenv/bin/python", "spark.yarn.appMasterEnv."],
  ["yarn", "client", "venv", "spark.yarn.dist.archives", "hdfs://nn/envs/venv.tar.gz#pyenv", "pyenv/bin/python", "python3", null],
  ["yarn", "cluster", "venv", "spark.yarn.dist.archives", "hdfs://nn/envs/venv.tar.gz#pyenv", "pyenv/bin/python", "pyenv/bin/python", "spark.yarn.appMasterEnv."],
];
const K8S = "k8s://https://api.example:6443";
const K8S_ROWS: Row[] = [
  [K8S, "client", "pex", "spark.files", "s3a://b/envs/app.pex", "./app.pex", "python3", null],
  [K8S, "cluster", "pex", "spark.files", "s3a://b/envs/app.pex", "./app.pex", "./app.pex", "spark.kubernetes.driverEnv."],
  [K8S, "client", "pex-large", "spark.archives", "s3a://b/envs/app.pex.zip#pyenv", "pyenv/__main__.py", "python3", null],
  [K8S, "cluster", "pex-large", "spark.archives", "s3a://b/envs/app.pex.zip#pyenv", "pyenv/__main__.py", "pyenv/__main__.py", "spark.kubernetes.driverEnv."],
  [K8S, "client", "conda", "spark.archives", "s3a://b/envs/conda.tar.gz#pyenv", "pyenv/bin/python", "python3", null],
  [K8S, "cluster", "conda", "spark.archives", "s3a://b/envs/conda.tar.gz#pyenv", "pyenv/bin/python", "pyenv/bin/python", "spark.kubernetes.driverEnv."],
  [K8S, "client", "venv", "spark.archives", "s3a://b/envs/venv.tar.gz#pyenv", "pyenv/bin/python", "python3", null],
  [K8S, "cluster", "venv", "spark.archives", "s3a://b/envs/venv.tar.gz#pyenv", "pyenv/bin/python", "pyenv/bin/python", "spark.kubernetes.driverEnv."],
];
const STANDALONE = "spark://master.example:7077";
const STANDALONE_ROWS: Row[] = [
  [STANDALONE, "client", "pex", "spark.files", "s3a://b/envs/app.pex", "./app.pex", "python3", null],
  [STANDALONE, "client", "pex-large", "spark.archives", "s3a://b/envs/app.pex.zip#pyenv", "pyenv/__main__.py", "python3", null],
  [STANDALONE, "client", "conda", "spark.archives", "s3a://b/envs/conda.tar.gz#pyenv", "pyenv/bin/python", "python3", null],
  [STANDALONE, "client", "venv", "spark.archives", "s3a://b/envs/venv.tar.gz#pyenv", "pyenv/bin/python", "python3", null],
];
const S3A_DEFAULT: Array<[string, string]> = [["spark.hadoop.fs.s3a.impl", "org.apache.hadoop.fs.s3a.S3AFileSystem"]];

function expected(row: Row): Array<[string, string]> {
  const [, , kind, shipKey, shipped, python, driverPython, driverEnvPrefix] = row;
  const out: Array<[string, string]> = [
    [shipKey, shipped],
    ["spark.pyspark.python", python],
    ["spark.pyspark.driver.python", driverPython],
  ];
  const isPex = kind === "pex" || kind === "pex-large";
  if (isPex) out.push(["spark.executorEnv.PEX_ROOT", "./.pex"]);
  if (isPex && driverEnvPrefix) out.push([`${driverEnvPrefix}PEX_ROOT`, "./.pex"]);
  if (shipped.startsWith("s3a://")) out.push(...S3A_DEFAULT);
  return out;
}

const generatedKeys = new Set<string>();

describe("sparkConfigFor: cluster manager x deploy mode x archive kind", () => {
  it.each(YARN_ROWS)("YARN (running-on-yarn.md): %s %s %s -> %s", (...row) => {
    const [master, mode, kind] = row;
    const config = sparkConfigFor(ENVS[kind]("hdfs://nn"), { master, deployMode: mode });
    expect(config.clusterManager).toBe("yarn");
    expect(config.conf).toEqual(expected(row));
    expect(config.warnings).toEqual([]);
    config.conf.forEach(([k]) => generatedKeys.add(k));
  });

  it.each(K8S_ROWS)("Kubernetes (running-on-kubernetes.md): %s %s %s -> %s", (...row) => {
    const [master, mode, kind] = row;
    const config = sparkConfigFor(ENVS[kind]("s3://b"), { master, deployMode: mode });
    expect(config.clusterManager).toBe("kubernetes");
    expect(config.conf).toEqual(expected(row));
    config.conf.forEach(([k]) => generatedKeys.add(k));
  });

  it.each(STANDALONE_ROWS)("standalone (spark-standalone.md, client mode only for Python): %s %s %s -> %s", (...row) => {
    const [master, mode, kind] = row;
    const config = sparkConfigFor(ENVS[kind]("s3://b"), { master, deployMode: mode });
    expect(config.clusterManager).toBe("standalone");
    expect(config.conf).toEqual(expected(row));
    config.conf.forEach(([k]) => generatedKeys.add(k));
  });

  it.each(["pex", "pex-large", "conda", "venv"] as EnvironmentKind[])(
    "standalone cluster mode is refused for Python apps (submitting-applications.md): %s",
    (kind) => {
      expect(() => sparkConfigFor(ENVS[kind]("s3://b"), { master: STANDALONE, deployMode: "cluster" })).toThrow(/standalone clusters .* cluster deploy mode/);
    },
  );

  it.each(["pex", "pex-large", "conda", "venv"] as EnvironmentKind[])(
    "local master (configuration.md spark.pyspark.python): %s uses the local interpreter; a PEX is also shipped with spark.files, as cluster-pack",
    (kind) => {
      const config = sparkConfigFor(ENVS[kind]("hdfs://nn"), { master: "local[2]", localPython: "/opt/env/bin/python" });
      expect(config.conf).toEqual([
        ...(kind === "pex" ? [["spark.files", ENVS.pex("hdfs://nn").archive.url]] : []),
        ["spark.pyspark.python", "/opt/env/bin/python"],
        ["spark.pyspark.driver.python", "/opt/env/bin/python"],
        ...(kind.startsWith("pex") ? [["spark.executorEnv.PEX_ROOT", "./.pex"]] : []),
      ]);
      expect(() => sparkConfigFor(ENVS[kind]("hdfs://nn"), { master: "local", deployMode: "cluster", localPython: "/p" })).toThrow(/no cluster deploy mode/);
      config.conf.forEach(([k]) => generatedKeys.add(k));
    },
  );

  it("outside YARN a PEX keeps its file name (spark.files has no #alias)", () => {
    const env = pythonEnvironment("s3://b/envs/app.pex", { alias: "env.pex" });
    expect(sparkConfigFor(env, { master: "yarn" }).conf[0]).toEqual(["spark.yarn.dist.files", "s3a://b/envs/app.pex#env.pex"]);
    expect(() => sparkConfigFor(env, { master: K8S })).toThrow(/Only YARN can ship a file under another name/);
  });

  it("local master: a local .pex runs as is; a remote archive without localPython is refused", () => {
    const config = sparkConfigFor(pythonEnvironment("/home/u/app.pex"), { master: "local[*]" });
    expect(config.conf.slice(0, 2)).toEqual([
      ["spark.files", "/home/u/app.pex"],
      ["spark.pyspark.python", "/home/u/app.pex"],
    ]);
    expect(() => sparkConfigFor(pythonEnvironment("hdfs://nn/e.tar.gz"), { master: "local" })).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/"hdfs:\/\/nn\/e\.tar\.gz" \(conda\) is not an interpreter here\.$/), hint: expect.stringMatching(/pass `localPython`/) }),
    );
  });

  it("master and deploy mode come from the conf merged into; a local[1] conf gets no YARN keys; a disagreement is an error", () => {
    const env = pythonEnvironment("/home/u/app.pex");
    const local = sparkConfigFor(env, { existing: [["spark.master", "local[1]"]] });
    expect(local).toMatchObject({ master: "local[1]", clusterManager: "local", deployMode: "client" });
    expect(local.conf.filter(([k]) => k.startsWith("spark.yarn."))).toEqual([]);
    const cluster = sparkConfigFor(pythonEnvironment("hdfs://nn/e.pex"), { existing: [["spark.master", "yarn"], ["spark.submit.deployMode", "cluster"]] });
    expect(cluster.deployMode).toBe("cluster");
    expect(cluster.conf).toContainEqual(["spark.pyspark.driver.python", "./e.pex"]);
    expect(() => sparkConfigFor(env, { master: "yarn", existing: [["spark.master", "local[1]"]] })).toThrow(/master is "yarn" but your conf sets spark.master=local\[1\]/);
    expect(() => sparkConfigFor(env, {})).toThrow(/No Spark master/);
  });

  it("code archives go to spark.submit.pyFiles (configuration.md: .zip/.egg/.py on PYTHONPATH)", () => {
    const env = pythonEnvironment("s3://b/envs/app.pex", { codeArchives: ["s3://b/code/mylib.zip", "hdfs://nn/code/tool.py"] });
    const config = sparkConfigFor(env, { master: "yarn", deployMode: "cluster" });
    expect(config.conf).toContainEqual(["spark.submit.pyFiles", "s3a://b/code/mylib.zip,hdfs://nn/code/tool.py"]);
    config.conf.forEach(([k]) => generatedKeys.add(k));
  });

  it("client mode takes the driver python given (PYSPARK_DRIVER_PYTHON in the CLI)", () => {
    const config = sparkConfigFor(ENVS.conda("hdfs://nn"), { master: "yarn", driverPython: "/usr/bin/python3.11" });
    expect(config.conf).toContainEqual(["spark.pyspark.driver.python", "/usr/bin/python3.11"]);
  });
});

describe("Kerberos (running-on-yarn.md 'Kerberos', configuration keys spark.kerberos.*)", () => {
  it("adds principal, keytab and file systems for delegation tokens", () => {
    const config = sparkConfigFor(ENVS.conda("hdfs://nn"), {
      master: "yarn",
      deployMode: "cluster",
      kerberos: { principal: "me@REALM", keytab: "/home/me/me.keytab", accessHadoopFileSystems: ["hdfs://other:8020", "s3://bucket"] },
    });
    expect(config.conf.slice(-3)).toEqual([
      ["spark.kerberos.principal", "me@REALM"],
      ["spark.kerberos.keytab", "/home/me/me.keytab"],
      // The environment's own HDFS joins the list (YARN localises it with a token).
      ["spark.kerberos.access.hadoopFileSystems", "hdfs://other:8020,s3a://bucket,hdfs://nn"],
    ]);
    config.conf.forEach(([k]) => generatedKeys.add(k));
  });
  it("refuses half a login and standalone/local masters", () => {
    expect(() => sparkConfigFor(ENVS.conda("hdfs://nn"), { master: "yarn", kerberos: { principal: "me@R" } })).toThrow(/both a principal and a keytab/);
    expect(() => sparkConfigFor(ENVS.conda("s3://b"), { master: STANDALONE, kerberos: { principal: "me@R", keytab: "/k" } })).toThrow(/not on standalone/);
  });
});

describe("Kubernetes sources (running-on-kubernetes.md 'Dependency Management')", () => {
  it("refuses an hdfs:// archive without upload path or Hadoop config map", () => {
    const env = pythonEnvironment("hdfs://nn/envs/env.tar.gz");
    expect(() => sparkConfigFor(env, { master: K8S, deployMode: "cluster" })).toThrow(InvalidInputError);
    expect(() => sparkConfigFor(env, { master: K8S, deployMode: "client" })).toThrow(/Kubernetes pods cannot read/);
  });

  it("accepts hdfs:// with a Hadoop config map or an HDFS upload path, and says so in the conf", () => {
    const env = pythonEnvironment("hdfs://nn/envs/env.tar.gz");
    const withMap = sparkConfigFor(env, { master: K8S, deployMode: "cluster", kubernetes: { hadoopConfigMap: "hadoop-conf" } });
    expect(withMap.conf).toContainEqual(["spark.kubernetes.hadoop.configMapName", "hadoop-conf"]);
    const withUpload = sparkConfigFor(env, { master: K8S, deployMode: "cluster", kubernetes: { fileUploadPath: "hdfs://nn/uploads" } });
    expect(withUpload.conf).toContainEqual(["spark.kubernetes.file.upload.path", "hdfs://nn/uploads"]);
    [...withMap.conf, ...withUpload.conf].forEach(([k]) => generatedKeys.add(k));
  });

  it("needs spark.kubernetes.file.upload.path for local files in cluster mode, and rewrites it to s3a", () => {
    const env = pythonEnvironment("/home/u/env.tar.gz");
    expect(() => sparkConfigFor(env, { master: K8S, deployMode: "cluster" })).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/is a local file, and in Kubernetes cluster mode spark-submit must upload it first\.$/), hint: expect.stringMatching(/kubernetes.fileUploadPath/) }),
    );
    const config = sparkConfigFor(env, { master: K8S, deployMode: "cluster", kubernetes: { fileUploadPath: "s3://b/uploads" } });
    expect(config.conf).toContainEqual(["spark.archives", "/home/u/env.tar.gz#pyenv"]);
    expect(config.conf).toContainEqual(["spark.kubernetes.file.upload.path", "s3a://b/uploads"]);
    expect(config.conf).toContainEqual(["spark.hadoop.fs.s3a.impl", "org.apache.hadoop.fs.s3a.S3AFileSystem"]);
    // Client mode reads local files from the submitting machine: no upload needed.
    expect(() => sparkConfigFor(env, { master: K8S, deployMode: "client" })).not.toThrow();
  });
});

describe("S3 settings -> spark.hadoop.fs.s3a.* (hadoop-aws)", () => {
  const creds = { accessKeyId: "AKIAEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG", sessionToken: "tok123" };

  it("writes endpoint, region, path style and ssl from the endpoint scheme", () => {
    expect(s3aConf({ endpoint: "http://127.0.0.1:9000", region: "us-east-1", pathStyle: true })).toEqual([
      ["spark.hadoop.fs.s3a.impl", "org.apache.hadoop.fs.s3a.S3AFileSystem"],
      ["spark.hadoop.fs.s3a.endpoint", "http://127.0.0.1:9000"],
      ["spark.hadoop.fs.s3a.connection.ssl.enabled", "false"],
      ["spark.hadoop.fs.s3a.endpoint.region", "us-east-1"],
      ["spark.hadoop.fs.s3a.path.style.access", "true"],
    ]);
  });

  it("keeps secrets out unless asked, and says so without printing them", () => {
    const warnings: string[] = [];
    const conf = s3aConf({ ...creds }, warnings);
    expect(JSON.stringify(conf)).not.toMatch(/AKIA|wJalr|tok123/);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).not.toMatch(/AKIA|wJalr|tok123/);
    const withSecrets = s3aConf({ ...creds, includeSecrets: true });
    expect(withSecrets).toEqual([
      ["spark.hadoop.fs.s3a.impl", "org.apache.hadoop.fs.s3a.S3AFileSystem"],
      ["spark.hadoop.fs.s3a.access.key", "AKIAEXAMPLE"],
      ["spark.hadoop.fs.s3a.secret.key", "wJalrXUtnFEMI/K7MDENG"],
      ["spark.hadoop.fs.s3a.session.token", "tok123"],
      ["spark.hadoop.fs.s3a.aws.credentials.provider", "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"],
    ]);
    withSecrets.forEach(([k]) => generatedKeys.add(k));
    const simple = s3aConf({ accessKeyId: "a", secretAccessKey: "b", includeSecrets: true, endpoint: "https://s3.example" });
    expect(simple).toContainEqual(["spark.hadoop.fs.s3a.aws.credentials.provider", "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"]);
    expect(simple).toContainEqual(["spark.hadoop.fs.s3a.connection.ssl.enabled", "true"]);
  });

  it("refuses half credentials and credentials inside the endpoint URL", () => {
    expect(() => s3aConf({ accessKeyId: "a" })).toThrow(expect.objectContaining({ message: expect.stringMatching(/only one of the access key id and the secret/), hint: expect.stringMatching(/both/) }));
    expect(() => s3aConf({ endpoint: "http://k:secretvalue@127.0.0.1:9000" })).toThrow(/carries credentials/);
    expect(() => s3aConf({ endpoint: "http://k:secretvalue@127.0.0.1:9000" })).not.toThrow(/secretvalue/);
  });

  it("adds the s3a keys to a Spark conf with an s3:// environment, and an explicit provider wins", () => {
    const config = sparkConfigFor(pythonEnvironment("s3://b/e.pex"), {
      master: "yarn",
      s3: { endpoint: "http://127.0.0.1:9000", pathStyle: true, credentialsProvider: "com.amazonaws.auth.InstanceProfileCredentialsProvider" },
    });
    expect(config.conf[0]).toEqual(["spark.yarn.dist.files", "s3a://b/e.pex#e.pex"]);
    expect(config.conf).toContainEqual(["spark.hadoop.fs.s3a.aws.credentials.provider", "com.amazonaws.auth.InstanceProfileCredentialsProvider"]);
    config.conf.forEach(([k]) => generatedKeys.add(k));
  });
});

describe("Kerberos: renewal, relogin, Kubernetes tokens and krb5 (security.md, running-on-yarn.md, running-on-kubernetes.md)", () => {
  it("renews from the ticket cache on YARN, and adds the environment's HDFS, not hdfs:/// (the default FS)", () => {
    const env = pythonEnvironment("hdfs://nn1.example:8020/envs/app.pex", { codeArchives: ["hdfs:///code/lib.zip", "webhdfs://nn2.example:9870/code/tool.zip"] });
    const config = sparkConfigFor(env, { master: "yarn", kerberos: { renewal: "ccache", reloginPeriod: "5m", excludeRenewalFileSystems: ["hdfs://nn2.example:8020"] } });
    expect(config.generated.filter(([k]) => /kerberos/.test(k))).toEqual([
      ["spark.kerberos.access.hadoopFileSystems", "hdfs://nn1.example:8020,webhdfs://nn2.example:9870"],
      ["spark.kerberos.renewal.credentials", "ccache"],
      ["spark.yarn.kerberos.relogin.period", "5m"],
      ["spark.yarn.kerberos.renewal.excludeHadoopFileSystems", "hdfs://nn2.example:8020"],
    ]);
    config.conf.forEach(([k]) => generatedKeys.add(k));
    // No Kerberos settings at all: nothing Kerberos-related is generated.
    expect(sparkConfigFor(env, { master: "yarn", kerberos: { principal: undefined, keytab: undefined } }).generated.some(([k]) => /kerberos/.test(k))).toBe(false);
  });

  it("ships fetched delegation tokens to Kubernetes through a Secret, with the cluster's krb5.conf", () => {
    const env = pythonEnvironment("hdfs://nn/envs/env.tar.gz");
    const config = sparkConfigFor(env, { master: K8S, deployMode: "cluster", kubernetes: { hadoopConfigMap: "hadoop-conf" }, kerberos: { tokenSecret: { name: "hdfs-tokens", itemKey: "tokens.bin" }, krb5: { configMapName: "krb5" } } });
    expect(config.generated).toEqual(
      expect.arrayContaining([
        ["spark.kubernetes.kerberos.tokenSecret.name", "hdfs-tokens"],
        ["spark.kubernetes.kerberos.tokenSecret.itemKey", "tokens.bin"],
        ["spark.kubernetes.kerberos.krb5.configMapName", "krb5"],
        ["spark.kerberos.access.hadoopFileSystems", "hdfs://nn"],
      ]),
    );
    config.conf.forEach(([k]) => generatedKeys.add(k));
    const withPath = sparkConfigFor(env, { master: K8S, kubernetes: { hadoopConfigMap: "h" }, kerberos: { krb5: { path: "/etc/krb5.conf" } } });
    expect(withPath.generated).toContainEqual(["spark.kubernetes.kerberos.krb5.path", "/etc/krb5.conf"]);
    withPath.conf.forEach(([k]) => generatedKeys.add(k));
  });

  it.each([
    [{ master: "yarn", kerberos: { renewal: "keytab" as const } }, /renewal "keytab" needs the principal and keytab/],
    [{ master: "yarn", kerberos: { reloginPeriod: "often" } }, /not a Spark duration/],
    [{ master: K8S, kerberos: { reloginPeriod: "1m" } }, /YARN setting; the master is kubernetes/],
    [{ master: "yarn", kerberos: { tokenSecret: { name: "s", itemKey: "k" } } }, /Kubernetes setting; the master is yarn/],
    [{ master: K8S, kerberos: { tokenSecret: { name: "s", itemKey: "" } } }, /needs both the Secret's name and the item key/],
    [{ master: K8S, kerberos: { principal: "a@R", keytab: "/k", tokenSecret: { name: "s", itemKey: "k" } } },
      expect.objectContaining({ message: expect.stringMatching(/^Both a Kerberos principal and a token Secret were given/), hint: expect.stringMatching(/either a principal and keytab or a token Secret, not both/) }),
    ],
    [{ master: K8S, kerberos: { krb5: { path: "/a", configMapName: "b" } } }, /one of path .* or configMapName/],
  ])("refuses %j", (opts, re) => {
    expect(() => sparkConfigFor(pythonEnvironment("s3://b/e.tar.gz"), opts as Parameters<typeof sparkConfigFor>[1])).toThrow(re);
  });
});

describe("Azure settings -> spark.hadoop.fs.azure.* (hadoop-azure abfs.md, index.md)", () => {
  const abfs = "abfss://envs@acct1.dfs.core.windows.net/team/app.pex";
  const key = "c2VjcmV0LWFjY291bnQta2V5LWJ5dGVzLWZvci10ZXN0cw==";
  const sas = "sv=2024-08-04&sr=c&sp=r&sig=SECRETSIGNATURE%3D";

  it("account key, SAS and service principal for abfss://; secrets only with includeSecrets", () => {
    const env = pythonEnvironment(abfs, { codeArchives: ["abfss://code@acct2.dfs.core.windows.net/lib.zip"] });
    const withKey = sparkConfigFor(env, { master: "yarn", azure: { accountKey: key, includeSecrets: true } });
    expect(withKey.generated.filter(([k]) => k.startsWith("spark.hadoop."))).toEqual([
      ["spark.hadoop.fs.azure.account.auth.type.acct1.dfs.core.windows.net", "SharedKey"],
      ["spark.hadoop.fs.azure.account.key.acct1.dfs.core.windows.net", key],
      ["spark.hadoop.fs.azure.account.auth.type.acct2.dfs.core.windows.net", "SharedKey"],
      ["spark.hadoop.fs.azure.account.key.acct2.dfs.core.windows.net", key],
    ]);
    expect(withKey.conf[0]).toEqual(["spark.yarn.dist.files", `${abfs}#app.pex`]);
    const withSas = sparkConfigFor(pythonEnvironment(abfs), { master: "yarn", azure: { sasToken: `?${sas}`, includeSecrets: true } });
    expect(withSas.generated.filter(([k]) => k.startsWith("spark.hadoop."))).toEqual([
      ["spark.hadoop.fs.azure.account.auth.type.acct1.dfs.core.windows.net", "SAS"],
      ["spark.hadoop.fs.azure.sas.token.provider.type.acct1.dfs.core.windows.net", "org.apache.hadoop.fs.azurebfs.sas.FixedSASTokenProvider"],
      ["spark.hadoop.fs.azure.sas.fixed.token.acct1.dfs.core.windows.net", sas],
    ]);
    const sp = sparkConfigFor(pythonEnvironment(abfs), { master: "yarn", azure: { oauth: { tenantId: "tenant-1", clientId: "app-1", clientSecret: "s3cr3t" }, includeSecrets: true } });
    expect(sp.generated.filter(([k]) => k.startsWith("spark.hadoop."))).toEqual([
      ["spark.hadoop.fs.azure.account.auth.type.acct1.dfs.core.windows.net", "OAuth"],
      ["spark.hadoop.fs.azure.account.oauth.provider.type.acct1.dfs.core.windows.net", "org.apache.hadoop.fs.azurebfs.oauth2.ClientCredsTokenProvider"],
      ["spark.hadoop.fs.azure.account.oauth2.client.endpoint.acct1.dfs.core.windows.net", "https://login.microsoftonline.com/tenant-1/oauth2/token"],
      ["spark.hadoop.fs.azure.account.oauth2.client.id.acct1.dfs.core.windows.net", "app-1"],
      ["spark.hadoop.fs.azure.account.oauth2.client.secret.acct1.dfs.core.windows.net", "s3cr3t"],
    ]);
    [...withKey.conf, ...withSas.conf, ...sp.conf].forEach(([k]) => generatedKeys.add(k));
  });

  it("never prints a secret: without includeSecrets nothing secret is written and the warning names none", () => {
    for (const azure of [{ accountKey: key }, { sasToken: sas }, { oauth: { tenantId: "t", clientId: "c", clientSecret: "s3cr3t" } }]) {
      const config = sparkConfigFor(pythonEnvironment(abfs), { master: "yarn", azure });
      const text = JSON.stringify([config.conf, config.warnings]);
      expect(text).not.toMatch(/c2VjcmV0|SECRETSIGNATURE|s3cr3t/);
      expect(config.warnings.join("\n")).toMatch(/Azure credentials were not written/);
    }
    // What is written with secrets is redacted for display like Spark's UI does.
    const shown = redactSparkConf(sparkConfigFor(pythonEnvironment(abfs), { master: "yarn", azure: { accountKey: key, includeSecrets: true } }).conf);
    expect(JSON.stringify(shown)).not.toContain(key);
  });

  it("managed identity needs no secret; wasbs:// takes keys and per-container SAS only", () => {
    const mi = sparkConfigFor(pythonEnvironment(abfs), { master: "yarn", azure: { managedIdentity: { clientId: "uami-1", tenantId: "t-1" } } });
    expect(mi.generated.filter(([k]) => k.startsWith("spark.hadoop."))).toEqual([
      ["spark.hadoop.fs.azure.account.auth.type.acct1.dfs.core.windows.net", "OAuth"],
      ["spark.hadoop.fs.azure.account.oauth.provider.type.acct1.dfs.core.windows.net", "org.apache.hadoop.fs.azurebfs.oauth2.MsiTokenProvider"],
      ["spark.hadoop.fs.azure.account.oauth2.msi.tenant.acct1.dfs.core.windows.net", "t-1"],
      ["spark.hadoop.fs.azure.account.oauth2.client.id.acct1.dfs.core.windows.net", "uami-1"],
    ]);
    expect(mi.warnings).toEqual([]);
    const wasb = "wasbs://envs@acct3.blob.core.windows.net/e.tar.gz";
    const w = sparkConfigFor(pythonEnvironment(wasb), { master: "yarn", azure: { sasToken: sas, includeSecrets: true } });
    expect(w.generated.filter(([k]) => k.startsWith("spark.hadoop."))).toEqual([["spark.hadoop.fs.azure.sas.envs.acct3.blob.core.windows.net", sas]]);
    const wk = sparkConfigFor(pythonEnvironment(wasb), { master: "yarn", azure: { accountKey: key, includeSecrets: true } });
    expect(wk.generated.filter(([k]) => k.startsWith("spark.hadoop."))).toEqual([["spark.hadoop.fs.azure.account.key.acct3.blob.core.windows.net", key]]);
    expect(() => sparkConfigFor(pythonEnvironment(wasb), { master: "yarn", azure: { managedIdentity: {} } })).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/wasb:\/\/ .* has no OAuth or managed identity login\.$/), hint: expect.stringMatching(/^use abfss:\/\/envs@acct3\.dfs\.core\.windows\.net/) }),
    );
    [...mi.conf, ...w.conf, ...wk.conf].forEach(([k]) => generatedKeys.add(k));
  });

  it("refuses two ways at once, half a service principal, and URLs Hadoop cannot read", () => {
    expect(() => sparkConfigFor(pythonEnvironment(abfs), { master: "yarn", azure: { accountKey: key, sasToken: sas } })).toThrow(/more than one way/);
    expect(() => sparkConfigFor(pythonEnvironment(abfs), { master: "yarn", azure: { oauth: { tenantId: "t", clientId: "c", clientSecret: "" } } })).toThrow(/needs tenantId, clientId and clientSecret/);
    expect(() => sparkConfigFor(pythonEnvironment("abfss://acct1.dfs.core.windows.net/e.pex"), { master: "yarn", azure: {} })).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/is not a abfss:\/\/ URL Hadoop can read\.$/), hint: expect.stringMatching(/abfss:\/\/<container>@<account>/) }),
    );
    // No Azure settings: the cluster's own configuration is trusted, nothing is generated.
    expect(sparkConfigFor(pythonEnvironment(abfs), { master: "yarn" }).generated.some(([k]) => k.includes("azure"))).toBe(false);
  });
});

describe("documented keys (docs/configuration.md, running-on-yarn.md, running-on-kubernetes.md, hadoop-aws)", () => {
  it("every key generated above is one Spark documents", () => {
    expect(generatedKeys.size).toBeGreaterThan(15);
    const undocumented = [...generatedKeys].filter((k) => !isDocumentedSparkKey(k));
    expect(undocumented).toEqual([]);
  });

  it("matches families and refuses lookalikes", () => {
    expect(documentedSourceOf("spark.executorEnv.PEX_ROOT")).toMatch(/configuration\.md/);
    expect(documentedSourceOf("spark.yarn.appMasterEnv.PEX_ROOT")).toMatch(/running-on-yarn/);
    expect(documentedSourceOf("spark.kubernetes.driverEnv.X")).toMatch(/running-on-kubernetes/);
    expect(isDocumentedSparkKey("spark.executorEnv.")).toBe(false);
    expect(isDocumentedSparkKey("spark.executorEnv.A.B")).toBe(false);
    expect(isDocumentedSparkKey("spark.hadoop.fs.s3a.bogus")).toBe(false);
    expect(isDocumentedSparkKey("spark.yarn.dist.pyFiles")).toBe(false);
    expect(isDocumentedSparkKey("spark.pyspark.pyhton")).toBe(false);
    expect(documentedSourceOf("spark.hadoop.fs.azure.account.key.acct1.dfs.core.windows.net")).toMatch(/hadoop-azure.*abfs\.md/);
    expect(documentedSourceOf("spark.hadoop.fs.azure.sas.envs.acct1.blob.core.windows.net")).toMatch(/hadoop-azure.*index\.md/);
    expect(isDocumentedSparkKey("spark.hadoop.fs.azure.account.key.acct1.example.com")).toBe(false);
    expect(isDocumentedSparkKey("spark.hadoop.fs.azure.account.kee.acct1.dfs.core.windows.net")).toBe(false);
  });
});

describe("clusterManagerOf (submitting-applications.md 'Master URLs')", () => {
  it.each([
    ["yarn", "yarn"],
    ["k8s://https://h:443", "kubernetes"],
    ["spark://h:7077", "standalone"],
    ["local", "local"],
    ["local[4]", "local"],
    ["local[*]", "local"],
    ["local[4,2]", "local"],
  ])("%s -> %s", (m, cm) => expect(clusterManagerOf(m)).toBe(cm));
  it.each(["mesos://h:5050", "yarn-cluster", "k8s://", "local[x]"])("refuses %s", (m) => {
    expect(() => clusterManagerOf(m)).toThrow(/Unknown Spark master/);
  });
});
