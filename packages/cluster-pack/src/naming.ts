import { createHash } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { InvalidInputError } from "@cluster-pack/errors";
import { loadHadoopConfig } from "@cluster-pack/fs";
import type { InstalledEnvironment } from "./environment";

export interface NamingOptions {
  /** Environment variables (C_PACK_USER, HADOOP_CONF_DIR...); default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** cluster-pack's user: `C_PACK_USER` (blanks stripped; empty means unset), else the login name. */
export function getUser(options: NamingOptions = {}): string {
  const env = options.env ?? process.env;
  const given = env.C_PACK_USER?.trim();
  if (given) {
    // It becomes a path segment of every default package path.
    if (!/^[A-Za-z0-9._@][A-Za-z0-9._@$-]*$/.test(given) || /^\.\.?$/.test(given)) {
      throw new InvalidInputError(`C_PACK_USER "${given}" is not a user name (letters, digits, ".", "_", "-", "@", "$"; no "/" or blanks inside): fix or unset it.`);
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
