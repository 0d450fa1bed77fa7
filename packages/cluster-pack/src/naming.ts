import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { accessSync, constants as fsConstants, existsSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { InvalidInputError } from "@cluster-pack/errors";
import { loadHadoopConfig } from "@cluster-pack/fs";
import type { InstalledEnvironment } from "./environment";

export interface NamingOptions {
  /** Environment variables (C_PACK_USER, HADOOP_CONF_DIR, PATH...); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Hadoop configuration directories tried after HADOOP_CONF_DIR / HADOOP_HOME (default: the distributions' /etc/hadoop/conf). */
  hadoopConfDirs?: string[];
  signal?: AbortSignal;
}

/** cluster-pack's user: `C_PACK_USER` (blanks stripped; empty means unset), else the login name. */
export function getUser(options: NamingOptions = {}): string {
  const env = options.env ?? process.env;
  const given = env.C_PACK_USER?.trim();
  if (given) {
    // It becomes a path segment of every default package path.
    if (!/^[A-Za-z0-9._@][A-Za-z0-9._@$-]*$/.test(given) || /^\.\.?$/.test(given)) {
      throw new InvalidInputError(`C_PACK_USER "${given}" is not a user name (letters, digits, ".", "_", "-", "@", "$"; no "/" or blanks inside).`, { hint: "fix or unset it." });
    }
    return given;
  }
  try {
    return os.userInfo().username;
  } catch {
    // No passwd entry (containers running as an arbitrary uid).
    return env.USER ?? env.LOGNAME ?? "nobody";
  }
}

/**
 * cluster-pack's environment name: `<basename>_<sha1(real path)[:7]>` for a venv packed as
 * a PEX (so many projects' `.venv` never collide), the conda env's own name (the prefix's
 * basename, as its conda packer) for the conda packer, `default` without one.
 */
export function getEnvName(env: InstalledEnvironment | undefined, packer?: string): string {
  if (!env || env.kind === "system") return "default";
  if (packer === "conda") return path.basename(env.prefix);
  const short = createHash("sha1").update(env.prefix, "utf8").digest("hex").slice(0, 7);
  return `${path.basename(env.prefix)}_${short}`;
}

/**
 * The default file system, as cluster-pack's get_default_fs finds it: `fs.defaultFS` from
 * the Hadoop configuration (`$HADOOP_CONF_DIR`, `$HADOOP_HOME/etc/hadoop`, then the
 * distributions' `/etc/hadoop/conf`), else what `hdfs getconf -confKey fs.defaultFS`
 * says when the Hadoop client is on PATH (its own conf lookup, e.g. from hadoop-env.sh),
 * else a local directory (`$XDG_DATA_HOME/cluster-pack` or `~/.local/share/cluster-pack`)
 * as a file:// URL.
 */
export async function getDefaultFs(options: NamingOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  // Hadoop's own files and precedence, read by @cluster-pack/fs.
  const confs = [() => loadHadoopConfig({ env }), ...(options.hadoopConfDirs ?? ["/etc/hadoop/conf"]).map((dir) => () => (existsSync(dir) ? loadHadoopConfig({ dir, env }) : null))];
  for (const load of confs) {
    const conf = load();
    const value = conf?.get("fs.defaultFS") ?? conf?.get("fs.default.name");
    if (value) return value.replace(/\/+$/, "");
  }
  const fromCli = await hdfsGetconf(env, options.signal);
  if (fromCli) return fromCli.replace(/\/+$/, "");
  const base = env.XDG_DATA_HOME ?? path.join(os.homedir(), ".local", "share");
  return pathToFileURL(path.join(base, "cluster-pack")).href;
}

/** `hdfs getconf -confKey fs.defaultFS` when `hdfs` is on PATH; undefined when absent or failing. */
async function hdfsGetconf(env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<string | undefined> {
  const hdfs = (env.PATH ?? "").split(path.delimiter).filter(Boolean).map((d) => path.join(d, "hdfs")).find((p) => isExecutable(p));
  if (!hdfs) return undefined;
  return new Promise((resolve) => {
    execFile(hdfs, ["getconf", "-confKey", "fs.defaultFS"], { env, signal, timeout: 60_000, maxBuffer: 1 << 20 }, (err, stdout) => {
      // The JVM may log before the value: the value is the last non-empty line.
      const value = String(stdout).trim().split(/\r?\n/).pop()?.trim();
      resolve(!err && value && /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : undefined);
    });
  });
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, fsConstants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** `<defaultFs>/user/<user>/envs/<name>.<extension>`, cluster-pack's default package path. */
export function defaultPackagePath(defaultFs: string, user: string, envName: string, extension: string): string {
  return `${defaultFs.replace(/\/+$/, "")}/user/${user}/envs/${envName}.${extension}`;
}

/** The metadata sidecar beside an archive: the last suffix becomes `.json` (`env.pex` -> `env.json`), as cluster-pack does. */
export function sidecarPath(packagePath: string): string {
  const q = packagePath.search(/[?#]/);
  const base = q >= 0 ? packagePath.slice(0, q) : packagePath;
  const rest = q >= 0 ? packagePath.slice(q) : "";
  const slash = base.lastIndexOf("/");
  const name = base.slice(slash + 1);
  const dot = name.lastIndexOf(".");
  const stem = dot > 0 ? name.slice(0, dot) : name;
  return `${base.slice(0, slash + 1)}${stem}.json${rest}`;
}
