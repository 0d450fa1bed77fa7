import {
  mergeSparkConf,
  pythonEnvironment,
  pysparkEnv,
  s3aConf,
  sparkConfigFor,
  toS3a,
  type ConflictPolicy,
  type PythonEnvironment,
  type S3Settings,
  type SparkConfigOptions,
} from "@cluster-pack/engines";
import type { EditableArchive, UploadEnvResult } from "./types";

/** A Spark conf: ordered entries or a plain object (insertion order is kept). */
export type SparkConfInput = Record<string, string> | ReadonlyArray<readonly [string, string]>;

export interface SparkHelperOptions extends Omit<SparkConfigOptions, "existing" | "master"> {
  /** Default: the conf's `spark.master`, else `yarn` as cluster-pack. */
  master?: string;
}

/**
 * cluster-pack's `add_packaged_environment`: the conf that ships `env` (an uploadEnv
 * result, an engine description, or an archive URL) and runs every Python worker in it,
 * merged into `conf` (your keys first; conflicts follow `onConflict`, default error).
 */
export function addPackagedEnvironment(
  conf: SparkConfInput,
  env: UploadEnvResult | PythonEnvironment | string,
  options: SparkHelperOptions = {},
): Record<string, string> {
  const description = typeof env === "string" ? pythonEnvironment(env) : "environment" in env ? env.environment : env;
  // Code archives are added by addEditableRequirements, as in cluster-pack.
  const withoutCode: PythonEnvironment = { ...description, codeArchives: [] };
  const existing = entriesOf(conf);
  const { master = existing.some(([k]) => k === "spark.master") ? undefined : "yarn", ...rest } = options;
  return Object.fromEntries(sparkConfigFor(withoutCode, { ...rest, ...(master ? { master } : {}), existing }).conf);
}

/**
 * The variables a Python process must set before it creates its own SparkSession with
 * `conf` (a notebook, a script run with plain `python`): PySpark's SparkContext takes the
 * executors' interpreter from `PYSPARK_PYTHON`, not from `spark.pyspark.python`. Client
 * mode (the conf's `spark.submit.deployMode`, default) also gets `PYSPARK_DRIVER_PYTHON`.
 *
 * ```python
 * os.environ.update(env)  # env = pysparkEnvironment(conf), e.g. passed as JSON
 * spark = SparkSession.builder.config(map=conf).getOrCreate()
 * ```
 */
export function pysparkEnvironment(conf: SparkConfInput): Record<string, string> {
  const entries = entriesOf(conf);
  const mode = entries.find(([k]) => k === "spark.submit.deployMode")?.[1] === "cluster" ? "cluster" : "client";
  return pysparkEnv({ conf: entries, deployMode: mode });
}

/**
 * cluster-pack's `add_editable_requirements`: the editable code zips shipped by uploadEnv
 * go on `spark.submit.pyFiles` (on every worker's PYTHONPATH), merged as a stable list.
 */
export function addEditableRequirements(
  conf: SparkConfInput,
  editable: UploadEnvResult | readonly EditableArchive[] | readonly string[],
  options: { onConflict?: ConflictPolicy } = {},
): Record<string, string> {
  const list = Array.isArray(editable) ? editable : (editable as UploadEnvResult).editableArchives;
  const urls = list.map((e: EditableArchive | string) => (typeof e === "string" ? e : e.packagePath));
  if (urls.length === 0) return Object.fromEntries(entriesOf(conf));
  const env = pythonEnvironment("unused.pex", { codeArchives: urls });
  const generated: Array<[string, string]> = [["spark.submit.pyFiles", env.codeArchives.map((c) => toS3a(c.url)).join(",")]];
  return Object.fromEntries(mergeSparkConf(entriesOf(conf), generated, options.onConflict ?? "error").conf);
}

/**
 * cluster-pack's `add_s3_params`: the s3a connector settings (endpoint, path style,
 * credentials provider; keys only with `includeSecrets`), merged into `conf`.
 */
export function addS3Params(conf: SparkConfInput, s3: S3Settings, options: { onConflict?: ConflictPolicy } = {}): Record<string, string> {
  return Object.fromEntries(mergeSparkConf(entriesOf(conf), s3aConf(s3), options.onConflict ?? "error").conf);
}

function entriesOf(conf: SparkConfInput): Array<[string, string]> {
  return Array.isArray(conf) ? conf.map(([k, v]) => [k, v] as [string, string]) : Object.entries(conf as Record<string, string>);
}
