import { createHash } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { loadHadoopConfig } from "@cluster-pack/fs";
import type { InstalledEnvironment } from "./environment";

export interface NamingOptions {
  /** Environment variables (C_PACK_USER, HADOOP_CONF_DIR...); default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** cluster-pack's user: `C_PACK_USER`, else the login name. */
export function getUser(options: NamingOptions = {}): string {
  const env = options.env ?? process.env;
  if (env.C_PACK_USER) return env.C_PACK_USER;
  try {
    return os.userInfo().username;
  } catch {
    // No passwd entry (containers running as an arbitrary uid).
    return env.USER ?? env.LOGNAME ?? "nobody";
  }
}

/**
 * cluster-pack's environment name: `<basename>_<sha1(real path)[:7]>` for a venv or conda
 * env (so many projects' `.venv` never collide), `default` without one.
 */
export function getEnvName(env: InstalledEnvironment | undefined): string {
  if (!env || env.kind === "system") return "default";
  const short = createHash("sha1").update(env.prefix, "utf8").digest("hex").slice(0, 7);
  return `${path.basename(env.prefix)}_${short}`;
}

/**
 * The default file system: `fs.defaultFS` from `$HADOOP_CONF_DIR/core-site.xml` (as
 * cluster-pack's get_default_fs), else a local directory
 * (`$XDG_DATA_HOME/cluster-pack` or `~/.local/share/cluster-pack`) as a file:// URL.
 */
export async function getDefaultFs(options: NamingOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  // Hadoop's own files and precedence (HADOOP_CONF_DIR, then $HADOOP_HOME/etc/hadoop), read by @cluster-pack/fs.
  const conf = loadHadoopConfig({ env });
  const value = conf?.get("fs.defaultFS") ?? conf?.get("fs.default.name");
  if (value) return value.replace(/\/+$/, "");
  const base = env.XDG_DATA_HOME ?? path.join(os.homedir(), ".local", "share");
  return pathToFileURL(path.join(base, "cluster-pack")).href;
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
