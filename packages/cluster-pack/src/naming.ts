import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
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
  const confDir = env.HADOOP_CONF_DIR ?? (env.HADOOP_HOME ? path.join(env.HADOOP_HOME, "etc", "hadoop") : undefined);
  if (confDir) {
    const xml = await fsp.readFile(path.join(confDir, "core-site.xml"), "utf8").catch(() => undefined);
    const value = xml === undefined ? undefined : hadoopProperty(xml, "fs.defaultFS") ?? hadoopProperty(xml, "fs.default.name");
    if (value) return value.replace(/\/+$/, "");
  }
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

/** Reads one `<property><name>key</name><value>v</value></property>` from a Hadoop XML file. */
export function hadoopProperty(xml: string, key: string): string | undefined {
  const props = xml.replace(/<!--[\s\S]*?-->/g, "").match(/<property>[\s\S]*?<\/property>/g) ?? [];
  let found: string | undefined;
  for (const p of props) {
    const name = /<name>\s*([^<]*?)\s*<\/name>/.exec(p)?.[1];
    const value = /<value>\s*([^<]*?)\s*<\/value>/.exec(p)?.[1];
    // Hadoop: a later definition overrides an earlier one.
    if (name === key && value !== undefined) found = decodeXml(value);
  }
  return found;
}

function decodeXml(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos);/g, (_, e: string) => ({ lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" })[e]!);
}
