import { InvalidInputError } from "@cluster-pack/errors";
import { pysparkEnv, type SparkConfig } from "./conf";
import { redactSparkConf } from "./merge";

export interface RenderOptions {
  /** Replace secret values (access keys, tokens) by a placeholder; for logs and screens. */
  redact?: boolean;
}

export interface SparkSubmitOptions extends RenderOptions {
  /** The application: a .py file or a URL, and its arguments. Omit to get the options only. */
  application?: string;
  args?: readonly string[];
}

/**
 * `spark-submit` arguments: `--master`, `--deploy-mode`, then one `--conf key=value` per
 * entry (spark-submit accepts every property through --conf), then the application.
 */
export function sparkSubmitArgv(config: SparkConfig, options: SparkSubmitOptions = {}): string[] {
  const argv = ["--master", config.master, "--deploy-mode", config.deployMode];
  for (const [k, v] of entries(config, options)) argv.push("--conf", `${k}=${v}`);
  if (options.application) argv.push(options.application, ...(options.args ?? []));
  return argv;
}

/**
 * `spark-defaults.conf` lines (`key value`, Java properties escaping), with
 * `spark.master` and `spark.submit.deployMode` first.
 */
export function sparkDefaultsLines(config: SparkConfig, options: RenderOptions = {}): string[] {
  const all: Array<[string, string]> = [
    ["spark.master", config.master],
    ["spark.submit.deployMode", config.deployMode],
    ...entries(config, options).filter(([k]) => k !== "spark.master" && k !== "spark.submit.deployMode"),
  ];
  const width = Math.max(...all.map(([k]) => k.length));
  return all.map(([k, v]) => `${escapeKey(k).padEnd(width)} ${escapeValue(v)}`);
}

/**
 * A Python snippet building a SparkSession with this conf. A builder starts the driver
 * in the calling Python process, so it is client mode only; it first sets
 * `PYSPARK_PYTHON` / `PYSPARK_DRIVER_PYTHON` (see pysparkEnv), which an in-process
 * SparkContext reads instead of `spark.pyspark.python`.
 */
export function sparkSessionBuilderSnippet(config: SparkConfig, options: RenderOptions & { appName?: string } = {}): string {
  if (config.deployMode !== "client") {
    throw new InvalidInputError(
      "A SparkSession.builder runs the driver in the calling Python process (client mode), and this conf is for cluster mode.",
      { hint: "generate it with deploy mode client, or use the spark-submit argv or spark-defaults.conf for cluster mode." },
    );
  }
  const lines = ["import os", "", "from pyspark.sql import SparkSession", ""];
  for (const [k, v] of Object.entries(pysparkEnv(config))) lines.push(`os.environ[${py(k)}] = ${py(v)}`);
  lines.push("", "spark = (", "    SparkSession.builder", `    .master(${py(config.master)})`);
  if (options.appName) lines.push(`    .appName(${py(options.appName)})`);
  for (const [k, v] of entries(config, options)) {
    if (k === "spark.master" || k === "spark.submit.deployMode") continue;
    lines.push(`    .config(${py(k)}, ${py(v)})`);
  }
  lines.push("    .getOrCreate()", ")");
  return `${lines.join("\n")}\n`;
}

// Helpers.

function entries(config: SparkConfig, options: RenderOptions): Array<[string, string]> {
  return options.redact ? redactSparkConf(config.conf) : config.conf;
}

/** A Python string literal: JSON string syntax is a subset of Python's. */
function py(s: string): string {
  return JSON.stringify(s);
}

function escapeKey(k: string): string {
  return k.replace(/[\\=: #!]/g, (c) => `\\${c}`);
}

function escapeValue(v: string): string {
  // Java properties: backslash escapes, control characters, and leading blanks (which
  // the reader would strip) must be escaped; everything else is literal.
  return v
    .replace(/\\/g, "\\\\")
    .replace(/\n/g, "\\n")
    .replace(/\r/g, "\\r")
    .replace(/\t/g, "\\t")
    .replace(/^ /, "\\ ");
}
