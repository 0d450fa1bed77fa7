import { InvalidInputError, redactUrl } from "@cluster-pack/errors";
import { baseName, type PythonEnvironment, type ShippedResource } from "../environment";
import { hadoopFsRoot, toS3a, urlScheme } from "../uri";
import { azureConf, azureLocation, type AzureLocation, type AzureSettings } from "./azure";
import { mergeSparkConf, type ConflictPolicy, type SparkConfEntries } from "./merge";

export type SparkClusterManager = "yarn" | "kubernetes" | "standalone" | "local";
export type SparkDeployMode = "client" | "cluster";

/** S3 settings for the s3a connector (hadoop-aws). */
export interface S3Settings {
  /** `http://127.0.0.1:9000`; its scheme sets `fs.s3a.connection.ssl.enabled`. */
  endpoint?: string;
  region?: string;
  /** Path-style requests (`endpoint/bucket/key`), needed by most non-AWS servers. */
  pathStyle?: boolean;
  /** A Hadoop credentials provider class; overrides the one derived from the keys. */
  credentialsProvider?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /**
   * Write the keys into the conf. Off by default: the conf ends up in logs, the Spark UI
   * and event logs; without it executors use s3a's default credential chain.
   */
  includeSecrets?: boolean;
}

export interface SparkConfigOptions {
  /**
   * `yarn`, `k8s://https://host:port`, `spark://host:7077`, `local`, `local[4]`, `local[*]`.
   * Default: the `spark.master` of `existing` (a different value there is an error).
   */
  master?: string;
  /** Where the driver runs; default: `spark.submit.deployMode` of `existing`, else `client`. */
  deployMode?: SparkDeployMode;
  /**
   * Client mode: the interpreter the local driver uses (the shipped one only exists in
   * containers). Default `python3`; the CLI passes `PYSPARK_DRIVER_PYTHON` when set.
   */
  driverPython?: string;
  /**
   * Local master: an interpreter on this machine with the environment (e.g. the unpacked
   * `pyenv/bin/python`). A local `.pex` archive path is used as is when this is absent.
   */
  localPython?: string;
  s3?: S3Settings;
  kubernetes?: {
    /** `spark.kubernetes.file.upload.path`: where spark-submit uploads local files in cluster mode. */
    fileUploadPath?: string;
    /** `spark.kubernetes.hadoop.configMapName`: a ConfigMap with the Hadoop conf pods need for hdfs://. */
    hadoopConfigMap?: string;
  };
  /** Azure storage (abfss://, wasbs://): how executors authenticate (hadoop-azure); keys only when URLs are on Azure. */
  azure?: AzureSettings;
  /**
   * A Kerberized cluster (running-on-yarn.md "Kerberos"; security.md). Any setting here
   * says the cluster is secure: the environment's and code archives' HDFS file systems
   * are then added to the ones Spark gets delegation tokens for, so YARN can localise them
   * and executors read them even when they are not fs.defaultFS.
   */
  kerberos?: SparkKerberosOptions;
  /** The user's conf to merge into (from spark-defaults.conf or --conf); kept first, in order. */
  existing?: SparkConfEntries;
  /** What wins when the user's conf disagrees with the generated one; default `error`. */
  onConflict?: ConflictPolicy;
}

export interface SparkKerberosOptions {
  /** Principal and keytab spark-submit logs in with (and renews tokens from). */
  principal?: string;
  keytab?: string;
  /** More Hadoop file systems to get delegation tokens for (spark.kerberos.access.hadoopFileSystems). */
  accessHadoopFileSystems?: readonly string[];
  /** Where renewed tickets come from (spark.kerberos.renewal.credentials): `keytab`, or `ccache` (kinit's ticket cache, KRB5CCNAME). */
  renewal?: "keytab" | "ccache";
  /** How often YARN's AM checks the TGT (spark.yarn.kerberos.relogin.period), e.g. `1m`. */
  reloginPeriod?: string;
  /** File systems whose tokens YARN's ResourceManager must not renew (spark.yarn.kerberos.renewal.excludeHadoopFileSystems). */
  excludeRenewalFileSystems?: readonly string[];
  /** Kubernetes: a Secret holding delegation tokens already fetched (e.g. a Hadoop token file), instead of a login. */
  tokenSecret?: { name: string; itemKey: string };
  /** Kubernetes: the krb5.conf pods use, a local file (`path`) or an existing ConfigMap (`configMapName`). */
  krb5?: { path?: string; configMapName?: string };
}

export interface SparkConfig {
  master: string;
  deployMode: SparkDeployMode;
  clusterManager: SparkClusterManager;
  /** The merged conf, ordered: the user's keys first, then the generated ones. */
  conf: Array<[string, string]>;
  /** Only the generated entries, before merging. */
  generated: Array<[string, string]>;
  /** Conflicts resolved by policy and other things the user should know. */
  warnings: string[];
}

/**
 * The Spark configuration that runs every Python worker (and the driver in cluster mode)
 * inside `env`. Follows Spark's docs: configuration.md "Runtime Environment"
 * (`spark.archives`, `spark.files`, `spark.submit.pyFiles`, `spark.pyspark.*python`,
 * `spark.executorEnv.*`), running-on-yarn.md (`spark.yarn.dist.*`,
 * `spark.yarn.appMasterEnv.*`), running-on-kubernetes.md (`spark.kubernetes.driverEnv.*`,
 * `spark.kubernetes.file.upload.path`) and submitting-applications.md (Python apps cannot
 * use cluster deploy mode on standalone clusters; local masters have no cluster mode).
 */
export function sparkConfigFor(env: PythonEnvironment, options: SparkConfigOptions): SparkConfig {
  const master = fromConf(options.existing, "spark.master", options.master, "master");
  if (!master) throw new InvalidInputError("No Spark master.", { optionNames: ["master"], hint: "pass `master`, or put spark.master in the conf you merge into." });
  const clusterManager = clusterManagerOf(master);
  const deployMode = (fromConf(options.existing, "spark.submit.deployMode", options.deployMode, "deploy mode") ?? "client") as SparkDeployMode;
  options = { ...options, master };
  if (deployMode !== "client" && deployMode !== "cluster") {
    throw new InvalidInputError(`Unknown Spark deploy mode "${String(deployMode)}".`, { hint: `use "client" or "cluster".` });
  }
  if (clusterManager === "local" && deployMode === "cluster") {
    throw new InvalidInputError(
      `Spark master "${options.master}" runs everything in one local JVM, so it has no cluster deploy mode.`,
      { hint: `use deploy mode "client".` },
    );
  }
  if (clusterManager === "standalone" && deployMode === "cluster") {
    throw new InvalidInputError(
      `Spark standalone clusters (${options.master}) do not run Python applications in cluster deploy mode.`,
      { hint: `use deploy mode "client", or YARN/Kubernetes for cluster mode.` },
    );
  }
  const warnings: string[] = [];
  const generated: Array<[string, string]> = [];
  const add = (k: string, v: string) => generated.push([k, v]);
  const archive = { ...env.archive, url: toS3a(env.archive.url) };
  const code = env.codeArchives.map((c) => ({ ...c, url: toS3a(c.url) }));
  // A layered PEX's layers travel as files beside it, under their own names.
  const layers = (env.layers ?? []).map((l) => ({ ...l, url: toS3a(l.url) }));
  const shipped = [archive, ...layers, ...code];
  const uploadPath = options.kubernetes?.fileUploadPath ? toS3a(options.kubernetes.fileUploadPath) : undefined;

  if (clusterManager === "local") {
    // One JVM on this machine: nothing is localised, workers start from a local interpreter.
    const python = options.localPython ?? localPexPath(env);
    if (!python) {
      throw new InvalidInputError(
        `A local Spark master runs Python workers on this machine, and "${redactUrl(env.archive.url)}" (${env.kind}) is not an interpreter here.`,
        { optionNames: ["localPython"], hint: "unpack it and pass `localPython` (e.g. ./pyenv/bin/python), or pass a local .pex file." },
      );
    }
    // cluster-pack ships the PEX with spark.files off YARN, local masters included.
    if (env.kind === "pex") add("spark.files", [archive, ...layers].map((r) => r.url).join(","));
    add("spark.pyspark.python", python);
    add("spark.pyspark.driver.python", options.driverPython ?? python);
    if (code.length) add("spark.submit.pyFiles", code.map((c) => c.url).join(","));
    for (const [k, v] of Object.entries(env.env)) add(`spark.executorEnv.${k}`, v);
  } else {
    if (clusterManager === "kubernetes") checkKubernetesSources(shipped, deployMode, options.kubernetes?.hadoopConfigMap, uploadPath);
    if (clusterManager === "yarn") {
      // YARN's distributed cache: archives are unpacked, files copied, both under `#alias`
      // (and cached per node by URL and timestamp: an unchanged layer is fetched once).
      add(archive.type === "archive" ? "spark.yarn.dist.archives" : "spark.yarn.dist.files", [archive, ...layers].map(withAlias).join(","));
    } else if (archive.type === "archive") {
      add("spark.archives", withAlias(archive));
    } else {
      // spark.files has no `#alias` (the file keeps its name): a renamed PEX cannot work.
      if (archive.alias !== baseName(archive.url)) {
        throw new InvalidInputError(
          `Only YARN can ship a file under another name; on ${clusterManager} "${redactUrl(archive.url)}" arrives as "${baseName(archive.url)}", not "${archive.alias}".`,
          { hint: "drop the alias or rename the file." },
        );
      }
      add("spark.files", [archive, ...layers].map((r) => r.url).join(","));
    }
    if (code.length) add("spark.submit.pyFiles", code.map((c) => c.url).join(","));
    add("spark.pyspark.python", env.interpreter);
    // Client mode: the driver runs here, where the shipped interpreter does not exist.
    add("spark.pyspark.driver.python", deployMode === "cluster" ? env.interpreter : options.driverPython ?? "python3");
    for (const [k, v] of Object.entries(env.env)) add(`spark.executorEnv.${k}`, v);
    if (deployMode === "cluster") {
      const driverEnvPrefix = clusterManager === "yarn" ? "spark.yarn.appMasterEnv." : "spark.kubernetes.driverEnv.";
      for (const [k, v] of Object.entries(env.env)) add(`${driverEnvPrefix}${k}`, v);
    }
    if (clusterManager === "kubernetes") {
      if (uploadPath) add("spark.kubernetes.file.upload.path", uploadPath);
      if (options.kubernetes?.hadoopConfigMap) add("spark.kubernetes.hadoop.configMapName", options.kubernetes.hadoopConfigMap);
    }
  }

  if (options.kerberos && hasKerberosSettings(options.kerberos)) generated.push(...kerberosConf(options.kerberos, clusterManager, shipped));
  const usesS3 = shipped.some((r) => urlScheme(r.url) === "s3a") || (uploadPath !== undefined && urlScheme(uploadPath) === "s3a");
  if (options.s3 || usesS3) generated.push(...s3aConf(options.s3 ?? {}, warnings));
  const onAzure = shipped.map((r) => azureLocation(r.url)).filter((l): l is AzureLocation => l !== undefined);
  if (options.azure && onAzure.length) generated.push(...azureConf(onAzure, options.azure, warnings));

  const merged = mergeSparkConf(options.existing ?? [], generated, options.onConflict ?? "error");
  return {
    master,
    deployMode,
    clusterManager,
    conf: merged.conf,
    generated,
    warnings: [...warnings, ...merged.warnings],
  };
}

/**
 * The in-process half of a Spark conf: PySpark's SparkContext takes the executors'
 * interpreter from the `PYSPARK_PYTHON` of the Python process that creates it (not from
 * `spark.pyspark.python`, which only spark-submit reads), so a notebook or script that
 * builds its own SparkSession must set these before it does. Client mode also gets
 * `PYSPARK_DRIVER_PYTHON`. Values come from the merged conf (yours win where you set them).
 */
export function pysparkEnv(config: Pick<SparkConfig, "conf" | "deployMode">): Record<string, string> {
  const conf = new Map(config.conf);
  const out: Record<string, string> = {};
  const python = conf.get("spark.pyspark.python");
  if (python) out.PYSPARK_PYTHON = python;
  const driver = conf.get("spark.pyspark.driver.python");
  if (driver && config.deployMode === "client") out.PYSPARK_DRIVER_PYTHON = driver;
  return out;
}

/**
 * The S3 settings a user's environment implies, as spark-conf and upload-env both read
 * them: explicit values first, then `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`,
 * `AWS_REGION` / `AWS_DEFAULT_REGION`, but only when something lives on S3 (an HDFS job
 * gets no s3a keys because AWS_REGION happens to be set). Keys are added with
 * `includeSecrets` only, from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`.
 */
export function s3SettingsFromEnv(
  environ: NodeJS.ProcessEnv,
  usesS3: boolean,
  given: { endpoint?: string; region?: string; pathStyle?: boolean; credentialsProvider?: string; includeSecrets?: boolean } = {},
): S3Settings | undefined {
  const e: NodeJS.ProcessEnv = usesS3 ? environ : {};
  const s3: S3Settings = {
    endpoint: given.endpoint ?? e.AWS_ENDPOINT_URL_S3 ?? e.AWS_ENDPOINT_URL,
    region: given.region ?? e.AWS_REGION ?? e.AWS_DEFAULT_REGION,
    pathStyle: given.pathStyle ? true : undefined,
    credentialsProvider: given.credentialsProvider,
  };
  if (given.includeSecrets) {
    if (!environ.AWS_ACCESS_KEY_ID || !environ.AWS_SECRET_ACCESS_KEY) {
      throw new InvalidInputError("--include-secrets reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the environment.", { hint: "set both." });
    }
    Object.assign(s3, { accessKeyId: environ.AWS_ACCESS_KEY_ID, secretAccessKey: environ.AWS_SECRET_ACCESS_KEY, sessionToken: environ.AWS_SESSION_TOKEN, includeSecrets: true });
  }
  return Object.values(s3).some((v) => v !== undefined) ? s3 : undefined;
}

/** The cluster manager a master URL designates (submitting-applications.md "Master URLs"). */
export function clusterManagerOf(master: string): SparkClusterManager {
  if (master === "yarn") return "yarn";
  if (/^k8s:\/\/.+/.test(master)) return "kubernetes";
  if (/^spark:\/\/[^/]+/.test(master)) return "standalone";
  if (/^local(\[(\*|\d+)(,\d+)?\])?$/.test(master) || /^local-cluster\[\d+,\d+,\d+\]$/.test(master)) return "local";
  throw new InvalidInputError(
    `Unknown Spark master "${master}".`,
    { hint: "use yarn, k8s://https://<api-server>:<port>, spark://<host>:<port>, local, local[N] or local[*]." },
  );
}

/**
 * The `spark.hadoop.fs.s3a.*` keys for these settings (hadoop-aws "General S3A Client
 * configuration" and "Authenticating with S3"). Keys are written only with `includeSecrets`.
 */
export function s3aConf(s3: S3Settings, warnings: string[] = []): Array<[string, string]> {
  const out: Array<[string, string]> = [["spark.hadoop.fs.s3a.impl", "org.apache.hadoop.fs.s3a.S3AFileSystem"]];
  if (s3.endpoint) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(s3.endpoint);
    } catch {
      parsed = undefined;
    }
    if (parsed && (parsed.username || parsed.password)) {
      throw new InvalidInputError(`The S3 endpoint ${redactUrl(s3.endpoint)} carries credentials in the URL.`, { hint: "pass them as access key settings instead." });
    }
    out.push(["spark.hadoop.fs.s3a.endpoint", s3.endpoint]);
    if (parsed && (parsed.protocol === "http:" || parsed.protocol === "https:")) {
      out.push(["spark.hadoop.fs.s3a.connection.ssl.enabled", String(parsed.protocol === "https:")]);
    }
  }
  if (s3.region) out.push(["spark.hadoop.fs.s3a.endpoint.region", s3.region]);
  if (s3.pathStyle !== undefined) out.push(["spark.hadoop.fs.s3a.path.style.access", String(s3.pathStyle)]);
  const hasKeys = Boolean(s3.accessKeyId && s3.secretAccessKey);
  if ((s3.accessKeyId && !s3.secretAccessKey) || (!s3.accessKeyId && s3.secretAccessKey)) {
    throw new InvalidInputError("S3 settings have only one of the access key id and the secret access key.", { hint: "give both, or neither to use the default credential chain." });
  }
  let provider = s3.credentialsProvider;
  if (hasKeys && s3.includeSecrets) {
    out.push(["spark.hadoop.fs.s3a.access.key", s3.accessKeyId as string]);
    out.push(["spark.hadoop.fs.s3a.secret.key", s3.secretAccessKey as string]);
    if (s3.sessionToken) out.push(["spark.hadoop.fs.s3a.session.token", s3.sessionToken]);
    provider ??= s3.sessionToken ? "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider" : "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider";
  } else if (hasKeys) {
    warnings.push(
      "S3 access keys were not written into the Spark conf (it is shown in logs and the Spark UI); executors use s3a's default credential chain. Ask for includeSecrets to write them.",
    );
  }
  if (provider) out.push(["spark.hadoop.fs.s3a.aws.credentials.provider", provider]);
  return out;
}

/** Kerberos options with nothing set (a CLI without its flags: undefined values, empty lists) say nothing about the cluster. */
export function hasKerberosSettings(kerberos: object): boolean {
  return Object.values(kerberos).some((v) => v !== undefined && !(Array.isArray(v) && v.length === 0));
}

/**
 * The spark.kerberos.* / spark.yarn.kerberos.* / spark.kubernetes.kerberos.* keys for a
 * secure cluster (running-on-yarn.md "Kerberos", security.md, running-on-kubernetes.md).
 * The HDFS file systems the resources live on are added to the ones Spark gets tokens
 * for; `hdfs:///path` (fs.defaultFS) already is one.
 */
export function kerberosConf(kerberos: SparkKerberosOptions, clusterManager: SparkClusterManager, resources: readonly ShippedResource[] = []): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (Boolean(kerberos.principal) !== Boolean(kerberos.keytab)) {
    throw new InvalidInputError("Spark Kerberos login needs both a principal and a keytab (or neither, to use the ticket cache from kinit).");
  }
  if (kerberos.principal && clusterManager !== "yarn" && clusterManager !== "kubernetes") {
    throw new InvalidInputError(`Spark's Kerberos login (spark.kerberos.principal) works on YARN and Kubernetes, not on ${clusterManager}.`, { hint: "drop the principal and keytab." });
  }
  if (kerberos.principal) {
    out.push(["spark.kerberos.principal", kerberos.principal]);
    out.push(["spark.kerberos.keytab", kerberos.keytab as string]);
  }
  const fileSystems = [...(kerberos.accessHadoopFileSystems ?? []).map(toS3a)];
  for (const r of resources) {
    const root = hadoopFsRoot(r.url);
    if (root && !fileSystems.includes(root)) fileSystems.push(root);
  }
  if (fileSystems.length) out.push(["spark.kerberos.access.hadoopFileSystems", fileSystems.join(",")]);
  if (kerberos.renewal !== undefined) {
    if (kerberos.renewal !== "keytab" && kerberos.renewal !== "ccache") throw new InvalidInputError(`Unknown Kerberos renewal "${String(kerberos.renewal)}".`, { hint: `use "keytab" or "ccache".` });
    if (kerberos.renewal === "keytab" && !kerberos.keytab) throw new InvalidInputError('Kerberos renewal "keytab" needs the principal and keytab.', { hint: 'use renewal "ccache" to renew from the ticket cache.' });
    out.push(["spark.kerberos.renewal.credentials", kerberos.renewal]);
  }
  const yarnOnly = (what: string) => {
    if (clusterManager !== "yarn") throw new InvalidInputError(`${what} is a YARN setting; the master is ${clusterManager}.`, { hint: "drop it." });
  };
  if (kerberos.reloginPeriod !== undefined) {
    yarnOnly("kerberos.reloginPeriod (spark.yarn.kerberos.relogin.period)");
    if (!/^\d+(ms|s|m|min|h|d)$/.test(kerberos.reloginPeriod)) throw new InvalidInputError(`Kerberos relogin period "${kerberos.reloginPeriod}" is not a Spark duration.`, { hint: "use e.g. 30s, 1m or 1h." });
    out.push(["spark.yarn.kerberos.relogin.period", kerberos.reloginPeriod]);
  }
  if (kerberos.excludeRenewalFileSystems?.length) {
    yarnOnly("kerberos.excludeRenewalFileSystems (spark.yarn.kerberos.renewal.excludeHadoopFileSystems)");
    out.push(["spark.yarn.kerberos.renewal.excludeHadoopFileSystems", kerberos.excludeRenewalFileSystems.map(toS3a).join(",")]);
  }
  const k8sOnly = (what: string) => {
    if (clusterManager !== "kubernetes") throw new InvalidInputError(`${what} is a Kubernetes setting; the master is ${clusterManager}.`, { hint: "drop it." });
  };
  if (kerberos.tokenSecret) {
    k8sOnly("kerberos.tokenSecret (spark.kubernetes.kerberos.tokenSecret.*)");
    if (!kerberos.tokenSecret.name || !kerberos.tokenSecret.itemKey) throw new InvalidInputError("kerberos.tokenSecret needs both the Secret's name and the item key holding the token file.");
    if (kerberos.principal) throw new InvalidInputError("Both a Kerberos principal and a token Secret were given: Spark uses the Secret's tokens instead of logging in.", { hint: "give either a principal and keytab or a token Secret, not both." });
    out.push(["spark.kubernetes.kerberos.tokenSecret.name", kerberos.tokenSecret.name]);
    out.push(["spark.kubernetes.kerberos.tokenSecret.itemKey", kerberos.tokenSecret.itemKey]);
  }
  if (kerberos.krb5) {
    k8sOnly("kerberos.krb5 (spark.kubernetes.kerberos.krb5.*)");
    if (Boolean(kerberos.krb5.path) === Boolean(kerberos.krb5.configMapName)) throw new InvalidInputError("kerberos.krb5 takes one of path (a local krb5.conf) or configMapName (an existing ConfigMap).");
    if (kerberos.krb5.path) out.push(["spark.kubernetes.kerberos.krb5.path", kerberos.krb5.path]);
    else out.push(["spark.kubernetes.kerberos.krb5.configMapName", kerberos.krb5.configMapName as string]);
  }
  return out;
}

// Helpers.

/** An option that may also come from the conf merged into: both given and different is an error. */
function fromConf(existing: SparkConfEntries | undefined, key: string, given: string | undefined, what: string): string | undefined {
  let inConf: string | undefined;
  for (const [k, v] of existing ?? []) if (k === key) inConf = v.trim();
  if (given !== undefined && inConf !== undefined && inConf !== given) {
    throw new InvalidInputError(`The Spark ${what} is "${given}" but your conf sets ${key}=${inConf}.`, { hint: "drop one of them, or make them agree." });
  }
  return given ?? inConf;
}

function withAlias(r: ShippedResource): string {
  return `${r.url}#${r.alias}`;
}

function localPexPath(env: PythonEnvironment): string | undefined {
  const scheme = urlScheme(env.archive.url);
  if (env.kind !== "pex" || (scheme !== undefined && scheme !== "file")) return undefined;
  return env.archive.url.replace(/^file:\/\//, "");
}

function checkKubernetesSources(
  resources: ShippedResource[],
  deployMode: SparkDeployMode,
  hadoopConfigMap: string | undefined,
  uploadPath: string | undefined,
): void {
  for (const r of resources) {
    const scheme = urlScheme(r.url);
    if ((scheme === undefined || scheme === "file") && deployMode === "cluster" && !uploadPath) {
      throw new InvalidInputError(
        `"${r.url}" is a local file, and in Kubernetes cluster mode spark-submit must upload it first.`,
        { optionNames: ["kubernetes.fileUploadPath"], hint: "pass `kubernetes.fileUploadPath` (spark.kubernetes.file.upload.path, e.g. s3a://bucket/spark-uploads), or upload the file and pass its URL." },
      );
    }
    if (scheme === "hdfs" && !hadoopConfigMap && !(uploadPath && urlScheme(uploadPath) === "hdfs")) {
      throw new InvalidInputError(
        `"${redactUrl(r.url)}" is on HDFS, which Kubernetes pods cannot read without a Hadoop configuration.`,
        {
          optionNames: ["kubernetes.fileUploadPath", "kubernetes.hadoopConfigMap"],
          hint: "pass `kubernetes.fileUploadPath` on that HDFS, `kubernetes.hadoopConfigMap` (spark.kubernetes.hadoop.configMapName), or upload the environment to S3/HTTP and pass that URL.",
        },
      );
    }
  }
}
