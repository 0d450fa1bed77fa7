import fs from "node:fs";
import { Option, type Command } from "commander";
import type { ConflictPolicy, PythonEnvironment, SparkConfig, SparkDeployMode } from "@cluster-pack/engines";
import type { CommandContext } from "../context";
import { helpText } from "../help";
import { lib } from "../lib";
import { addEnvironmentOptions, environmentFromOptions, libraryOptions, repeatable, type EnvironmentCliOptions } from "../options";

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
    .addOption(repeatable("--conf <key=value>", "your Spark conf to merge into (as spark-submit --conf)"))
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
    .addOption(repeatable("--access-fs <url>", "extra Hadoop file system to get delegation tokens for"))
    .option("--redact", "mask secret values in the output")
    .addOption(new Option("--format <format>", "output format").choices([...FORMATS]).default("conf"))
    .option("--app-name <name>", "with --format builder: the application name");
  addEnvironmentOptions(cmd);
  libraryOptions(cmd, { localPython: "--local-python", "kubernetes.fileUploadPath": "--k8s-upload-path", "kubernetes.hadoopConfigMap": "--k8s-hadoop-config-map" });
  cmd.addHelpText(
    "after",
    helpText({
      notes: `Formats: conf (key=value lines), argv (spark-submit arguments, one per line), defaults
(spark-defaults.conf lines), builder (a SparkSession.builder Python snippet, client mode),
json. Warnings (conflicts resolved by --on-conflict) go to stderr. The builder snippet sets
PYSPARK_PYTHON (and PYSPARK_DRIVER_PYTHON) first: an in-process SparkContext reads those.
A local archive is shipped from this machine, so it must exist.`,
      examples: [
        "cluster-pack spark-conf hdfs://nn/user/me/envs/app.pex --deploy-mode cluster",
        "cluster-pack spark-conf s3://bucket/envs/env.tar.gz --kind venv \\",
        "    --master k8s://https://api:6443 --deploy-mode cluster \\",
        "    --s3-endpoint http://minio:9000 --s3-path-style --format defaults",
        "cluster-pack spark-conf hdfs://nn/envs/app.pex --code hdfs://nn/code/mylib.zip --format argv \\",
        "    -- main.py --n 3",
        "cluster-pack spark-conf hdfs://nn/envs/app.pex --properties-file conf/spark-defaults.conf \\",
        "    --on-conflict prefer-generated",
      ],
    }),
  );
  cmd.action((archive: string, appArgs: string[], opts: SparkConfCliOptions) => {
    const config = sparkConfigFromCli(environmentFromOptions(archive, opts), opts);
    for (const w of config.warnings) ctx.log(`warning: ${w}`);
    const render = { redact: Boolean(opts.redact) };
    const conf = render.redact ? lib.engines().redactSparkConf(config.conf) : config.conf;
    if (ctx.json || opts.format === "json") {
      const result = { master: config.master, deployMode: config.deployMode, clusterManager: config.clusterManager, conf: Object.fromEntries(conf), warnings: config.warnings };
      if (ctx.json) ctx.output(result, () => "");
      else ctx.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return;
    }
    const engines = lib.engines();
    let text: string;
    switch (opts.format) {
      case "argv":
        text = engines.sparkSubmitArgv(config, { ...render, application: appArgs[0], args: appArgs.slice(1) }).join("\n");
        break;
      case "defaults":
        text = engines.sparkDefaultsLines(config, render).join("\n");
        break;
      case "builder":
        text = engines.sparkSessionBuilderSnippet(config, { ...render, appName: opts.appName });
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
  const engines = lib.engines();
  const existing = [
    ...(opts.propertiesFile ? engines.parseSparkDefaults(readText(opts.propertiesFile, "--properties-file"), opts.propertiesFile) : []),
    ...engines.parseConfArgs(opts.conf ?? []),
  ];
  const urls = [env.archive.url, ...env.codeArchives.map((c) => c.url), opts.k8sUploadPath ?? ""];
  const s3 = engines.s3SettingsFromEnv(environ, urls.some((u) => /^s3[an]?:\/\//i.test(u)), {
    endpoint: opts.s3Endpoint,
    region: opts.s3Region,
    pathStyle: opts.s3PathStyle,
    credentialsProvider: opts.s3CredentialsProvider,
    includeSecrets: opts.includeSecrets,
  });
  const master = opts.master ?? (existing.some(([k]) => k === "spark.master") ? undefined : "yarn");
  return engines.sparkConfigFor(env, {
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

// Helpers.

interface SparkConfCliOptions extends EnvironmentCliOptions, SparkCliOptions {
  redact?: boolean;
  format: (typeof FORMATS)[number];
  appName?: string;
}

function readText(file: string, flag: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    throw lib.io().unreadableFile(file, err, { what: flag });
  }
}
