/**
 * Spark configuration keys as Spark documents them, copied from the property tables of
 * Spark's own docs (apache/spark docs/configuration.md, running-on-yarn.md,
 * running-on-kubernetes.md, security.md; the 3.x/4.x tables with a "Since Version"
 * column), from hadoop-aws's s3a documentation for the `spark.hadoop.fs.s3a.*` keys and
 * from hadoop-azure's (abfs.md, index.md) for the `spark.hadoop.fs.azure.*` ones.
 * Only the tables this package can generate keys from are kept (application and runtime
 * environment properties, the YARN and Kubernetes tables, the s3a connector keys), plus
 * a few neighbours users commonly set beside them, so that merges can tell a typo from a
 * real key. `[Name]` marks a documented family (`spark.executorEnv.[EnvironmentVariableName]`).
 *
 * Every key `sparkConfigFor` generates is tested against this list.
 */
export interface DocumentedKey {
  key: string;
  /** The document and table the key was read from. */
  source: string;
}

const CONF = "docs/configuration.md#application-properties";
const RUNTIME = "docs/configuration.md#runtime-environment";
const HADOOP = "docs/configuration.md#custom-hadoophive-configuration";
const YARN = "docs/running-on-yarn.md#spark-properties";
const K8S = "docs/running-on-kubernetes.md#spark-properties";
const SECURITY = "docs/security.md#kerberos";
const EXECUTION = "docs/configuration.md#execution-behavior";
const S3A = "hadoop-aws: hadoop-tools/hadoop-aws/src/site/markdown/tools/hadoop-aws/index.md (fs.s3a.* in core-default.xml)";
const YARN_KERBEROS = "docs/running-on-yarn.md#kerberos";
const TICKET_CACHE = "docs/security.md#using-a-ticket-cache";
const K8S_KERBEROS = "docs/running-on-kubernetes.md#spark-properties (Kerberos, security.md#secure-interaction-with-kubernetes)";
const ABFS = "hadoop-azure: hadoop-tools/hadoop-azure/src/site/markdown/abfs.md (Authentication)";
const WASB = "hadoop-azure: hadoop-tools/hadoop-azure/src/site/markdown/index.md (Configuring Credentials)";

export const DOCUMENTED_SPARK_KEYS: readonly DocumentedKey[] = [
  // Application Properties
  { key: "spark.app.name", source: CONF },
  { key: "spark.driver.cores", source: CONF },
  { key: "spark.driver.maxResultSize", source: CONF },
  { key: "spark.driver.memory", source: CONF },
  { key: "spark.executor.memory", source: CONF },
  { key: "spark.executor.cores", source: EXECUTION },
  { key: "spark.extraListeners", source: CONF },
  { key: "spark.local.dir", source: CONF },
  { key: "spark.logConf", source: CONF },
  { key: "spark.master", source: CONF },
  { key: "spark.submit.deployMode", source: CONF },
  // Runtime Environment
  { key: "spark.driver.extraClassPath", source: RUNTIME },
  { key: "spark.driver.extraJavaOptions", source: RUNTIME },
  { key: "spark.driver.extraLibraryPath", source: RUNTIME },
  { key: "spark.executor.extraClassPath", source: RUNTIME },
  { key: "spark.executor.extraJavaOptions", source: RUNTIME },
  { key: "spark.executor.extraLibraryPath", source: RUNTIME },
  { key: "spark.executorEnv.[EnvironmentVariableName]", source: RUNTIME },
  { key: "spark.redaction.regex", source: RUNTIME },
  { key: "spark.python.worker.memory", source: RUNTIME },
  { key: "spark.python.worker.reuse", source: RUNTIME },
  { key: "spark.files", source: RUNTIME },
  { key: "spark.submit.pyFiles", source: RUNTIME },
  { key: "spark.jars", source: RUNTIME },
  { key: "spark.jars.packages", source: RUNTIME },
  { key: "spark.jars.excludes", source: RUNTIME },
  { key: "spark.jars.repositories", source: RUNTIME },
  { key: "spark.archives", source: RUNTIME },
  { key: "spark.pyspark.driver.python", source: RUNTIME },
  { key: "spark.pyspark.python", source: RUNTIME },
  // Custom Hadoop/Hive Configuration: `spark.hadoop.abc.def=xyz` sets `abc.def=xyz`;
  // only the Hadoop keys listed below (s3a) are accepted after the prefix.
  { key: "spark.hadoop.[HadoopConfigVariable]", source: HADOOP },
  // YARN
  { key: "spark.yarn.am.memory", source: YARN },
  { key: "spark.yarn.am.cores", source: YARN },
  { key: "spark.yarn.queue", source: YARN },
  { key: "spark.yarn.dist.archives", source: YARN },
  { key: "spark.yarn.dist.files", source: YARN },
  { key: "spark.yarn.dist.jars", source: YARN },
  { key: "spark.yarn.dist.forceDownloadSchemes", source: YARN },
  { key: "spark.executor.instances", source: YARN },
  { key: "spark.yarn.appMasterEnv.[EnvironmentVariableName]", source: YARN },
  { key: "spark.yarn.maxAppAttempts", source: YARN },
  { key: "spark.yarn.tags", source: YARN },
  { key: "spark.yarn.priority", source: YARN },
  { key: "spark.yarn.executor.nodeLabelExpression", source: YARN },
  { key: "spark.yarn.am.nodeLabelExpression", source: YARN },
  { key: "spark.yarn.historyServer.address", source: YARN },
  // Security (Kerberos)
  { key: "spark.kerberos.keytab", source: SECURITY },
  { key: "spark.kerberos.principal", source: SECURITY },
  { key: "spark.kerberos.access.hadoopFileSystems", source: SECURITY },
  { key: "spark.kerberos.renewal.credentials", source: TICKET_CACHE },
  { key: "spark.yarn.kerberos.relogin.period", source: YARN_KERBEROS },
  { key: "spark.yarn.kerberos.renewal.excludeHadoopFileSystems", source: YARN_KERBEROS },
  { key: "spark.kubernetes.kerberos.krb5.path", source: K8S_KERBEROS },
  { key: "spark.kubernetes.kerberos.krb5.configMapName", source: K8S_KERBEROS },
  { key: "spark.kubernetes.kerberos.tokenSecret.name", source: K8S_KERBEROS },
  { key: "spark.kubernetes.kerberos.tokenSecret.itemKey", source: K8S_KERBEROS },
  // Kubernetes
  { key: "spark.kubernetes.namespace", source: K8S },
  { key: "spark.kubernetes.container.image", source: K8S },
  { key: "spark.kubernetes.driver.container.image", source: K8S },
  { key: "spark.kubernetes.executor.container.image", source: K8S },
  { key: "spark.kubernetes.authenticate.driver.serviceAccountName", source: K8S },
  { key: "spark.kubernetes.driverEnv.[EnvironmentVariableName]", source: K8S },
  { key: "spark.kubernetes.file.upload.path", source: K8S },
  { key: "spark.kubernetes.hadoop.configMapName", source: K8S },
];

/** Hadoop keys accepted after `spark.hadoop.` (hadoop-aws's s3a connector). */
export const DOCUMENTED_S3A_KEYS: readonly DocumentedKey[] = [
  { key: "fs.s3a.impl", source: S3A },
  { key: "fs.s3a.endpoint", source: S3A },
  { key: "fs.s3a.endpoint.region", source: S3A },
  { key: "fs.s3a.path.style.access", source: S3A },
  { key: "fs.s3a.connection.ssl.enabled", source: S3A },
  { key: "fs.s3a.aws.credentials.provider", source: S3A },
  { key: "fs.s3a.access.key", source: S3A },
  { key: "fs.s3a.secret.key", source: S3A },
  { key: "fs.s3a.session.token", source: S3A },
];

/**
 * Hadoop keys for Azure storage accepted after `spark.hadoop.`: per-account keys end with
 * the account host (`[AccountHost]` = `<account>.dfs.core.windows.net` for ABFS,
 * `<account>.blob.core.windows.net` for WASB); WASB's SAS keys name the container too.
 */
export const DOCUMENTED_AZURE_KEYS: readonly DocumentedKey[] = [
  { key: "fs.azure.account.auth.type.[AccountHost]", source: ABFS },
  { key: "fs.azure.account.key.[AccountHost]", source: ABFS },
  { key: "fs.azure.sas.token.provider.type.[AccountHost]", source: ABFS },
  { key: "fs.azure.sas.fixed.token.[AccountHost]", source: ABFS },
  { key: "fs.azure.account.oauth.provider.type.[AccountHost]", source: ABFS },
  { key: "fs.azure.account.oauth2.client.endpoint.[AccountHost]", source: ABFS },
  { key: "fs.azure.account.oauth2.client.id.[AccountHost]", source: ABFS },
  { key: "fs.azure.account.oauth2.client.secret.[AccountHost]", source: ABFS },
  { key: "fs.azure.account.oauth2.msi.tenant.[AccountHost]", source: ABFS },
  { key: "fs.azure.sas.[Container].[AccountHost]", source: WASB },
];

/**
 * True when `key` is a documented Spark key: listed as is, an instance of a documented
 * family (`spark.executorEnv.PEX_ROOT`), or `spark.hadoop.` + a documented s3a or Azure key.
 */
export function isDocumentedSparkKey(key: string): boolean {
  return documentedSourceOf(key) !== undefined;
}

/** The doc a key comes from, or `undefined` when Spark does not document it. */
export function documentedSourceOf(key: string): string | undefined {
  const exact = EXACT.get(key);
  if (exact) return exact;
  if (key.startsWith("spark.hadoop.")) {
    const hadoopKey = key.slice("spark.hadoop.".length);
    return S3A_BY_KEY.get(hadoopKey) ?? AZURE_PATTERNS.find((p) => p.re.test(hadoopKey))?.source;
  }
  for (const { prefix, source } of FAMILIES) {
    const rest = key.slice(prefix.length);
    if (key.startsWith(prefix) && /^[A-Za-z_][A-Za-z0-9_]*$/.test(rest)) return source;
  }
  return undefined;
}

// Helpers.

const EXACT = new Map(DOCUMENTED_SPARK_KEYS.filter((k) => !k.key.includes("[")).map((k) => [k.key, k.source]));
const S3A_BY_KEY = new Map(DOCUMENTED_S3A_KEYS.map((k) => [k.key, k.source]));
const AZURE_PATTERNS = DOCUMENTED_AZURE_KEYS.map((k) => ({
  source: k.source,
  re: new RegExp(
    `^${k.key
      .replace(/[.]/g, "\\.")
      .replace("[AccountHost]", "[a-z0-9]{3,24}\\.(dfs|blob)\\.core\\.(windows\\.net|chinacloudapi\\.cn|usgovcloudapi\\.net)")
      .replace("[Container]", "[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])?")}$`,
  ),
}));
const FAMILIES = DOCUMENTED_SPARK_KEYS.filter((k) => k.key.endsWith("[EnvironmentVariableName]")).map((k) => ({
  prefix: k.key.slice(0, k.key.indexOf("[")),
  source: k.source,
}));
