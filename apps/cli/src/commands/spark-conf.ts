import fs from "node:fs";
import { Command, Option } from "commander";
import { InvalidInputError } from "@cluster-pack/errors";
import {
  parseConfArgs,
  parseSparkDefaults,
  pythonEnvironment,
  redactSparkConf,
  s3SettingsFromEnv,
  sparkConfigFor,
  sparkDefaultsLines,
  sparkSessionBuilderSnippet,
  sparkSubmitArgv,
  type ConflictPolicy,
  type EnvironmentKind,
  type PythonEnvironment,
  type SparkConfig,
  type SparkDeployMode,
} from "@cluster-pack/engines";
import type { CommandContext } from "../context";

const FORMATS = ["conf", "argv", "defaults", "builder", "json"] as const;

export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command("spark-conf")
    .description("Print the Spark configuration that runs every Python worker inside a shipped environment.")
    .argument("<archive>", "URL or path of the environment: .pex, .pex.zip, .tar.gz/.tgz/.zip (conda or venv)")
    .argument("[app-args...]", "with --format argv: the application and its arguments, after --")
    .option("--master <url>", "yarn, k8s://https://host:port, spark://host:port, local[N] (default: spark.master of your conf, else yarn)")
    .addOption(new Option("--deploy-mode <mode>", "where the driver runs (default: spark.submit.deployMode of your conf, else client)").choices(["client", "cluster"]))
    .option("--driver-python <path>", "client mode: the driver's local interpreter (default $PYSPARK_DRIVER_PYTHON or python3)")
    .option("--local-python <path>", "local master: an interpreter on this machine with the environment")
    .option("--conf <key=value>", "your Spark conf to merge into (repeatable, as spark-submit --conf)", collect, [])
    .option("--properties-file <file>", "your spark-defaults.conf to merge into")
    .addOption(new Option("--on-conflict <policy>", "when your conf disagrees").choices(["error", "prefer-generated", "prefer-existing"]).default("error"))
    .option("--s3-endpoint <url>", "S3 endpoint for s3a (default $AWS_ENDPOINT_URL_S3 or $AWS_ENDPOINT_URL)")
    .option("--s3-region <region>", "S3 region (default $AWS_REGION or $AWS_DEFAULT_REGION)")
    .option("--s3-path-style", "path-style S3 requests (most non-AWS servers need it)")
    .option("--s3-credentials-provider <class>", "Hadoop credentials provider class")
    .option("--include-secrets", "write $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY(/$AWS_SESSION_TOKEN) into the conf")
    .option("--k8s-upload-path <url>", "spark.kubernetes.file.upload.path for local files in cluster mode")
    .option("--k8s-hadoop-config-map <name>", "ConfigMap with the Hadoop conf pods need for hdfs://")
    .option("--principal <principal>", "Kerberos principal spark-submit logs in with (with --keytab)")
    .option("--keytab <path>", "Kerberos keytab (with --principal)")
    .option("--access-fs <url>", "extra Hadoop file system to get delegation tokens for (repeatable)", collect, [])
    .option("--redact", "mask secret values in the output")
    .addOption(new Option("--format <format>", "output format").choices([...FORMATS]).default("conf"))
    .option("--app-name <name>", "with --format builder: the application name");
  addEnvironmentOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Formats: conf (key=value lines), argv (spark-submit arguments, one per line), defaults
(spark-defaults.conf lines), builder (a SparkSession.builder Python snippet, client mode),
json. Warnings (conflicts resolved by --on-conflict) go to stderr. The builder snippet sets
PYSPARK_PYTHON (and PYSPARK_DRIVER_PYTHON) first: an in-process SparkContext reads those.

Examples:
  cluster-pack spark-conf hdfs://nn/user/me/envs/app.pex --deploy-mode cluster
  cluster-pack spark-conf s3://bucket/envs/env.tar.gz --kind venv --master k8s://https://api:6443 \\
      --deploy-mode cluster --s3-endpoint http://minio:9000 --s3-path-style --format defaults
  cluster-pack spark-conf hdfs://nn/envs/app.pex --code hdfs://nn/code/mylib.zip --format argv -- main.py --n 3
  cluster-pack spark-conf hdfs://nn/envs/app.pex --properties-file conf/spark-defaults.conf --on-conflict prefer-generated`,
  );
  cmd.action((archive: string, appArgs: string[], opts: SparkConfCliOptions) => {
    const config = sparkConfigFromCli(environmentFromOptions(archive, opts), opts);
    for (const w of config.warnings) ctx.log(`warning: ${w}`);
    const render = { redact: Boolean(opts.redact) };
    const conf = render.redact ? redactSparkConf(config.conf) : config.conf;
    if (ctx.json || opts.format === "json") {
      const result = { master: config.master, deployMode: config.deployMode, clusterManager: config.clusterManager, conf: Object.fromEntries(conf), warnings: config.warnings };
      if (ctx.json) ctx.output(result, () => "");
      else ctx.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return;
    }
    let text: string;
    switch (opts.format) {
      case "argv":
        text = sparkSubmitArgv(config, { ...render, application: appArgs[0], args: appArgs.slice(1) }).join("\n");
        break;
      case "defaults":
        text = sparkDefaultsLines(config, render).join("\n");
        break;
      case "builder":
        text = sparkSessionBuilderSnippet(config, { ...render, appName: opts.appName });
        break;
      default:
        text = conf.map(([k, v]) => `${k}=${v}`).join("\n");
    }
    ctx.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
  });
}

/** The Spark options spark-conf takes (upload-env --spark passes the ones it has). */
export interface SparkCliOptions {
  master?: string;
  deployMode?: SparkDeployMode;
  driverPython?: string;
  localPython?: string;
  conf?: string[];
  propertiesFile?: string;
  onConflict?: ConflictPolicy;
  s3Endpoint?: string;
  s3Region?: string;
  s3PathStyle?: boolean;
  s3CredentialsProvider?: string;
  includeSecrets?: boolean;
  k8sUploadPath?: string;
  k8sHadoopConfigMap?: string;
  principal?: string;
  keytab?: string;
  accessFs?: string[];
}

/**
 * The one way the CLI turns an environment and Spark options into a conf: spark-conf and
 * upload-env --spark both call it, so the same archive and store settings give the same
 * conf (S3 settings from the flags, else the AWS variables, when anything is on S3).
 */
export function sparkConfigFromCli(env: PythonEnvironment, opts: SparkCliOptions, environ: NodeJS.ProcessEnv = process.env): SparkConfig {
  const existing = [
    ...(opts.propertiesFile ? parseSparkDefaults(readText(opts.propertiesFile, "--properties-file"), opts.propertiesFile) : []),
    ...parseConfArgs(opts.conf ?? []),
  ];
  const urls = [env.archive.url, ...env.codeArchives.map((c) => c.url), opts.k8sUploadPath ?? ""];
  const s3 = s3SettingsFromEnv(environ, urls.some((u) => /^s3[an]?:\/\//i.test(u)), {
    endpoint: opts.s3Endpoint,
    region: opts.s3Region,
    pathStyle: opts.s3PathStyle,
    credentialsProvider: opts.s3CredentialsProvider,
    includeSecrets: opts.includeSecrets,
  });
  const master = opts.master ?? (existing.some(([k]) => k === "spark.master") ? undefined : "yarn");
  return sparkConfigFor(env, {
    ...(master ? { master } : {}),
    ...(opts.deployMode ? { deployMode: opts.deployMode } : {}),
    driverPython: opts.driverPython ?? environ.PYSPARK_DRIVER_PYTHON,
    localPython: opts.localPython,
    s3,
    kubernetes: { fileUploadPath: opts.k8sUploadPath, hadoopConfigMap: opts.k8sHadoopConfigMap },
    kerberos: { principal: opts.principal, keytab: opts.keytab, accessHadoopFileSystems: opts.accessFs ?? [] },
    existing,
    onConflict: opts.onConflict ?? "error",
  });
}

/** Options every command that takes an environment archive shares. */
export interface EnvironmentCliOptions {
  kind?: EnvironmentKind;
  alias?: string;
  env: string[];
  code: string[];
}

/** Adds --kind, --alias, --env and --code (shared with skein-spec). */
export function addEnvironmentOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--kind <kind>", "environment kind (guessed from the name; venv archives need it)").choices(["pex", "pex-large", "conda", "venv"]))
    .option("--alias <name>", "name in the working directory (default: the PEX file name, else pyenv)")
    .option("--env <NAME=value>", "extra environment variable for every interpreter start (repeatable)", collect, [])
    .option("--code <url>", "code archive (.zip/.py/.egg) shipped beside the environment, on PYTHONPATH (repeatable)", collect, []);
}

/** The PythonEnvironment described by the shared options. */
export function environmentFromOptions(archive: string, opts: EnvironmentCliOptions): PythonEnvironment {
  return pythonEnvironment(archive, { kind: opts.kind, alias: opts.alias, env: keyValues(opts.env, "--env"), codeArchives: opts.code });
}

/** Commander collector for repeatable options. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** NAME=value items to a record, refusing items without "=". */
export function keyValues(items: readonly string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new InvalidInputError(`${flag} "${item}" is not NAME=value: write it as ${flag} NAME=value.`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** An integer option value, or a clear error naming the flag. */
export function intOption(value: string, flag: string): number {
  if (!/^-?\d+$/.test(value)) throw new InvalidInputError(`${flag} "${value}" is not an integer.`);
  return Number(value);
}

// Helpers.

interface SparkConfCliOptions extends Omit<EnvironmentCliOptions, "env">, SparkCliOptions {
  env: string[];
  redact?: boolean;
  format: (typeof FORMATS)[number];
  appName?: string;
}

function readText(file: string, flag: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new InvalidInputError(`${flag} ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}): check the path.`, { cause: err });
  }
}
