import fs from "node:fs";
import path from "node:path";
import { XMLParser } from "fast-xml-parser";
import { InvalidInputError, redactUrl } from "@cluster-pack/errors";

/** Hadoop's `*-site.xml` properties, merged (hdfs-site over core-site, like Hadoop loads them). */
export interface HadoopConfig {
  /** Where the files were read from. */
  readonly dir: string;
  get(name: string): string | undefined;
  readonly properties: ReadonlyMap<string, string>;
}

/** Where WebHDFS lives for one `hdfs://` authority. */
export interface WebHdfsEndpoint {
  namenodes: string[];
  /** What `hdfs://<authority>` URLs print. */
  authority: string;
}

/**
 * Reads core-site.xml and hdfs-site.xml from `dir` (default HADOOP_CONF_DIR, then
 * $HADOOP_HOME/etc/hadoop). Returns null when there is no configuration directory.
 */
export function loadHadoopConfig(options: { dir?: string; env?: NodeJS.ProcessEnv } = {}): HadoopConfig | null {
  const env = options.env ?? process.env;
  const dir = options.dir ?? env.HADOOP_CONF_DIR ?? (env.HADOOP_HOME ? path.join(env.HADOOP_HOME, "etc", "hadoop") : undefined);
  if (!dir || !fs.existsSync(dir)) {
    if (options.dir) throw new InvalidInputError(`Hadoop configuration directory ${options.dir} does not exist.`, { hint: "fix the path or unset it." });
    return null;
  }
  const props = new Map<string, string>();
  for (const file of ["core-site.xml", "hdfs-site.xml"]) {
    const full = path.join(dir, file);
    if (!fs.existsSync(full)) continue;
    for (const [k, v] of parseHadoopXml(fs.readFileSync(full, "utf8"), full)) props.set(k, v);
  }
  return { dir, properties: props, get: (name) => expand(props.get(name), props, env) };
}

/** Parses one Hadoop configuration file: `<configuration><property><name/><value/></property>...`. */
export function parseHadoopXml(xml: string, source = "configuration"): Map<string, string> {
  const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: true, isArray: (name) => name === "property", processEntities: true });
  let doc: { configuration?: { property?: { name?: unknown; value?: unknown }[] } | string };
  try {
    doc = parser.parse(xml) as typeof doc;
  } catch (err) {
    throw new InvalidInputError(`${source} is not valid XML (${(err as Error).message}).`, { cause: err, hint: "fix the file." });
  }
  const out = new Map<string, string>();
  const conf = doc.configuration;
  if (conf === undefined) throw new InvalidInputError(`${source} has no <configuration> element; is it a Hadoop *-site.xml file?`);
  for (const p of typeof conf === "object" ? (conf.property ?? []) : []) {
    if (p.name === undefined || p.name === null) continue;
    out.set(String(p.name).trim(), p.value === undefined || p.value === null ? "" : String(p.value).trim());
  }
  return out;
}

/**
 * The WebHDFS namenode URLs for an `hdfs://authority` URL: HA nameservices
 * (`dfs.nameservices`, `dfs.ha.namenodes.<ns>`, `dfs.namenode.http(s)-address.<ns>.<nn>`),
 * a single namenode (`dfs.namenode.http(s)-address`), HTTPS when `dfs.http.policy` is
 * HTTPS_ONLY. Without configuration, the URL's host on Hadoop 3's default port 9870.
 */
export function webHdfsEndpointFor(authority: string, conf: HadoopConfig | null, options: { httpPort?: number } = {}): WebHdfsEndpoint {
  if (conf?.get("dfs.webhdfs.enabled") === "false") {
    throw new InvalidInputError(`WebHDFS is disabled (dfs.webhdfs.enabled=false in ${conf.dir}/hdfs-site.xml); cluster-pack talks to HDFS over WebHDFS, so enable it on the cluster.`);
  }
  let auth = authority;
  if (!auth) {
    const def = conf?.get("fs.defaultFS") ?? conf?.get("fs.default.name");
    if (!def || !/^hdfs:\/\//i.test(def)) {
      throw new InvalidInputError(`hdfs:/// has no namenode and fs.defaultFS is ${def ? `${redactUrl(def)}, not hdfs://` : "not set"}.`, { hint: "write hdfs://<namenode>/path or set HADOOP_CONF_DIR." });
    }
    auth = new URL(def).host;
  }
  const https = conf?.get("dfs.http.policy") === "HTTPS_ONLY";
  const scheme = https ? "https" : "http";
  const key = https ? "dfs.namenode.https-address" : "dfs.namenode.http-address";
  const defaultPort = options.httpPort ?? (https ? 9871 : 9870);
  const host = auth.replace(/:\d+$/, "");
  const nameservices = (conf?.get("dfs.nameservices") ?? conf?.get("dfs.internal.nameservices") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  if (conf && nameservices.includes(host)) {
    const ids = (conf.get(`dfs.ha.namenodes.${host}`) ?? "").split(",").map((s) => s.trim()).filter(Boolean);
    if (ids.length === 0) {
      const single = conf.get(`${key}.${host}`);
      if (!single) throw new InvalidInputError(`Nameservice ${host} has neither dfs.ha.namenodes.${host} nor ${key}.${host} in ${conf.dir}.`, { hint: "add the namenode HTTP address." });
      return { namenodes: [`${scheme}://${single}`], authority: host };
    }
    const namenodes = ids.map((id) => {
      const addr = conf.get(`${key}.${host}.${id}`);
      if (!addr) throw new InvalidInputError(`Namenode ${id} of nameservice ${host} has no ${key}.${host}.${id} in ${conf.dir}.`, { hint: "add it." });
      return `${scheme}://${addr}`;
    });
    return { namenodes, authority: host };
  }
  const configured = conf?.get(key);
  if (configured) {
    const [cHost, cPort] = splitHostPort(configured);
    // 0.0.0.0 means "bind everywhere": the namenode is the URL's host on that port.
    const useHost = cHost === "0.0.0.0" || cHost === "" ? host : cHost;
    if (useHost === host || cHost === "0.0.0.0") return { namenodes: [`${scheme}://${useHost}:${cPort ?? defaultPort}`], authority: auth };
  }
  return { namenodes: [`${scheme}://${host}:${defaultPort}`], authority: auth };
}

/**
 * Resolves a `viewfs://cluster/path` URL through the mount table
 * (`fs.viewfs.mounttable.<cluster>.link.<mount>` and `.linkFallback`) to the target URL.
 */
export function resolveViewFs(url: string, conf: HadoopConfig | null): string {
  const u = new URL(url);
  const cluster = u.host || "default";
  const prefix = `fs.viewfs.mounttable.${cluster}.`;
  if (!conf) throw new InvalidInputError(`Cannot resolve ${redactUrl(url)}: viewfs needs the mount table from core-site.xml.`, { hint: "set HADOOP_CONF_DIR (or pass hadoopConfDir)." });
  const p = decodeURIComponent(u.pathname) || "/";
  let best: { mount: string; target: string } | undefined;
  for (const [k] of conf.properties) {
    if (!k.startsWith(`${prefix}link.`)) continue;
    const mount = k.slice(`${prefix}link.`.length).replace(/\/+$/, "") || "/";
    if ((p === mount || p.startsWith(mount === "/" ? "/" : `${mount}/`)) && (!best || mount.length > best.mount.length)) {
      best = { mount, target: conf.get(k) ?? "" };
    }
  }
  if (best) return joinUrl(best.target, p.slice(best.mount === "/" ? 0 : best.mount.length));
  const fallback = conf.get(`${prefix}linkFallback`);
  if (fallback) return joinUrl(fallback, p);
  throw new InvalidInputError(`${redactUrl(url)} matches no mount point of viewfs cluster "${cluster}" (no ${prefix}link.* or ${prefix}linkFallback in ${conf.dir}/core-site.xml).`, { hint: "use an hdfs:// URL or add the mount." });
}

function joinUrl(target: string, rest: string): string {
  if (!target) throw new InvalidInputError("A viewfs mount points to an empty target.", { hint: "fix core-site.xml." });
  return `${target.replace(/\/+$/, "")}${rest.startsWith("/") || rest === "" ? rest : `/${rest}`}`;
}

function splitHostPort(addr: string): [string, number | undefined] {
  const m = /^(.*?)(?::(\d+))?$/.exec(addr.trim());
  return [m?.[1] ?? "", m?.[2] ? Number(m[2]) : undefined];
}

/** Hadoop's `${name}` substitution from other properties or the environment (`${env.X}`), bounded depth. */
function expand(value: string | undefined, props: Map<string, string>, env: NodeJS.ProcessEnv, depth = 0): string | undefined {
  if (value === undefined || depth > 20 || !value.includes("${")) return value;
  const out = value.replace(/\$\{([^}]+)\}/g, (m, name: string) => {
    if (name.startsWith("env.")) return env[name.slice(4)] ?? m;
    return props.get(name) ?? env[name] ?? m;
  });
  return out === value ? out : expand(out, props, env, depth + 1);
}
