import { InvalidInputError } from "@cluster-pack/errors";
import { stringify as yamlStringify } from "yaml";
import { codePythonPath, shippedResources, type PythonEnvironment } from "./environment";
import { shellJoin } from "./shell";
import { hasKerberosSettings } from "./spark/conf";
import { hadoopFsRoot, toS3a } from "./uri";

/** A file entry of a skein spec (`files: {dest: {source, type}}`). */
export interface SkeinFile {
  source: string;
  /** `archive` (.zip, .tar.gz, .tgz are unpacked into a directory named by the key) or `file`. */
  type: "archive" | "file";
  visibility?: "public" | "private" | "application";
}

export interface SkeinResources {
  /** MiB as a number, or a size string skein accepts (`"2 GiB"`, `"512 MiB"`). */
  memory: number | string;
  vcores: number;
  gpus?: number;
}

export interface SkeinServiceOptions {
  resources: SkeinResources;
  instances?: number;
  /** Run `<interpreter> -m <module> <args>`; or give `script` instead. */
  module?: string;
  args?: readonly string[];
  /** A shell script run as is in the container (after the environment is localised). */
  script?: string;
  /** Extra variables; `PYTHONPATH` is appended to the code archives' path. */
  env?: Record<string, string>;
  /** Extra files, shipped beside the environment. */
  files?: Record<string, string | SkeinFile>;
  /** Restarts allowed after failures (skein: -1 = unlimited, default 0). */
  maxRestarts?: number;
  nodeLabel?: string;
  depends?: readonly string[];
}

export interface SkeinKerberosOptions {
  /** Principal and keytab (a path on the submitting machine) for `skein.Client(principal=, keytab=)`. */
  principal?: string;
  keytab?: string;
  /**
   * Hadoop file systems to get delegation tokens for (`file_systems`); skein always gets
   * one for `fs.defaultFS`. The tokens are what containers use, so no ticket is copied.
   * With any Kerberos setting, the HDFS the environment and code archives live on is added.
   */
  fileSystems?: readonly string[];
}

export interface SkeinSpecOptions {
  name?: string;
  queue?: string;
  user?: string;
  nodeLabel?: string;
  /** Application master attempts before YARN fails the application (skein default 1). */
  maxAttempts?: number;
  tags?: readonly string[];
  services: Record<string, SkeinServiceOptions>;
  kerberos?: SkeinKerberosOptions;
}

/** A skein ApplicationSpec, with skein's own field names. */
export interface SkeinApplicationSpec {
  name: string;
  queue: string;
  user?: string;
  node_label?: string;
  max_attempts: number;
  tags?: string[];
  file_systems?: string[];
  services: Record<string, SkeinServiceSpec>;
}

export interface SkeinServiceSpec {
  instances: number;
  max_restarts: number;
  node_label?: string;
  depends?: string[];
  resources: { memory: number | string; vcores: number; gpus?: number };
  files: Record<string, SkeinFile>;
  env: Record<string, string>;
  script: string;
}

export interface SkeinSubmission {
  spec: SkeinApplicationSpec;
  /** Keyword arguments for `skein.Client(...)` (Kerberos login on the submitting side). */
  client: { principal?: string; keytab?: string };
}

/**
 * A skein application spec (jcrist/skein "Specification") in which every service ships
 * the environment (archive unpacked under its alias, or the PEX as a file) and the code
 * archives, exports the environment's variables, and starts through its interpreter.
 * `s3://` sources become `s3a://` because YARN localises through Hadoop's filesystems.
 */
export function skeinSpecFor(env: PythonEnvironment, options: SkeinSpecOptions): SkeinSubmission {
  const names = Object.keys(options.services ?? {});
  if (names.length === 0) throw new InvalidInputError("A skein spec needs at least one service.", { hint: "add one under services." });
  const maxAttempts = options.maxAttempts ?? 1;
  checkInt(maxAttempts, 1, "max_attempts");
  const services: Record<string, SkeinServiceSpec> = {};
  for (const name of names) {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
      throw new InvalidInputError(`skein service name "${name}" may only use letters, digits, ".", "_" and "-".`);
    }
    services[name] = serviceSpec(env, name, options.services[name] as SkeinServiceOptions, names);
  }
  const spec: SkeinApplicationSpec = { name: options.name ?? "cluster-pack", queue: options.queue ?? "default", max_attempts: maxAttempts, services };
  if (options.user) spec.user = options.user;
  if (options.nodeLabel) spec.node_label = options.nodeLabel;
  if (options.tags?.length) spec.tags = [...options.tags];
  const kerberos = options.kerberos ?? {};
  if (Boolean(kerberos.principal) !== Boolean(kerberos.keytab)) {
    throw new InvalidInputError("Kerberos login needs both a principal and a keytab (or neither, to use the ticket cache from kinit).");
  }
  // A secure cluster: YARN needs tokens for the file systems the environment and code live on.
  const fileSystems = (kerberos.fileSystems ?? []).map(toS3a);
  if (hasKerberosSettings(kerberos)) {
    for (const r of shippedResources(env)) {
      const root = hadoopFsRoot(r.url);
      if (root && !fileSystems.includes(root)) fileSystems.push(root);
    }
  }
  if (fileSystems.length) spec.file_systems = fileSystems;
  const client: SkeinSubmission["client"] = {};
  if (kerberos.principal) {
    client.principal = kerberos.principal;
    client.keytab = kerberos.keytab;
  }
  return { spec: reorder(spec), client };
}

/** The spec as YAML, keys in skein's documented order, byte-identical for equal specs. */
export function skeinSpecYaml(spec: SkeinApplicationSpec): string {
  return yamlStringify(spec, { lineWidth: 0, indent: 2, sortMapEntries: false });
}

/** The spec as JSON (skein reads both). */
export function skeinSpecJson(spec: SkeinApplicationSpec): string {
  return `${JSON.stringify(spec, null, 2)}\n`;
}

/** The command a service runs: `<interpreter> -m module args`, shell-quoted. */
export function pythonModuleCommand(env: PythonEnvironment, module: string, args: readonly string[] = []): string[] {
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(module)) {
    throw new InvalidInputError(`"${module}" is not a Python module name (dotted identifiers, e.g. my_package.main).`);
  }
  return [env.interpreter, "-m", module, ...args];
}

/** Environment variables for a container: the environment's, the code path, then the user's. */
export function containerEnv(env: PythonEnvironment, extra: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = { ...env.env };
  const path = codePythonPath(env);
  for (const [k, v] of Object.entries(extra)) {
    if (k === "PYTHONPATH") continue;
    out[k] = v;
  }
  const userPath = extra.PYTHONPATH ? [extra.PYTHONPATH] : [];
  if (path.length || userPath.length) out.PYTHONPATH = [...path, ...userPath].join(":");
  return out;
}

// Helpers.

function serviceSpec(env: PythonEnvironment, name: string, s: SkeinServiceOptions, all: string[]): SkeinServiceSpec {
  const where = `skein service "${name}"`;
  if (!s || !s.resources) throw new InvalidInputError(`${where} needs resources (memory and vcores).`);
  if (Boolean(s.module) === Boolean(s.script)) {
    throw new InvalidInputError(`${where} needs exactly one of module (run by the environment's interpreter) or script.`);
  }
  const instances = s.instances ?? 1;
  checkInt(instances, 0, `${where} instances`);
  const maxRestarts = s.maxRestarts ?? 0;
  checkInt(maxRestarts, -1, `${where} max_restarts`);
  checkInt(s.resources.vcores, 1, `${where} vcores`);
  if (s.resources.gpus !== undefined) checkInt(s.resources.gpus, 0, `${where} gpus`);
  const memory = s.resources.memory;
  if (typeof memory === "number" ? !Number.isInteger(memory) || memory < 1 : !/^\s*\d+(\.\d+)?\s*(k|m|g|t|p)?(i?b)?\s*$/i.test(memory)) {
    throw new InvalidInputError(`${where} memory "${String(memory)}" is not a size.`, { hint: `give MiB as a number or a string like "2 GiB".` });
  }
  for (const dep of s.depends ?? []) {
    if (!all.includes(dep) || dep === name) throw new InvalidInputError(`${where} depends on "${dep}", which is not another service of this spec.`);
  }
  const files: Record<string, SkeinFile> = {
    [env.archive.alias]: { source: toS3a(env.archive.url), type: env.archive.type },
  };
  for (const l of env.layers ?? []) files[l.alias] = { source: toS3a(l.url), type: "file" };
  for (const c of env.codeArchives) files[c.alias] = { source: toS3a(c.url), type: "file" };
  for (const [dest, f] of Object.entries(s.files ?? {})) {
    if (files[dest]) throw new InvalidInputError(`${where} file "${dest}" would replace the shipped ${dest === env.archive.alias ? "environment" : (env.layers ?? []).some((l) => l.alias === dest) ? "layer" : "code archive"}.`, { hint: "pick another destination." });
    if (dest.includes("..") || dest.startsWith("/")) throw new InvalidInputError(`${where} file destination "${dest}" must be a relative path inside the container.`);
    const file = typeof f === "string" ? { source: f, type: /\.(zip|tar\.gz|tgz)$/i.test(f) ? "archive" : "file" } : f;
    if (file.type !== "archive" && file.type !== "file") throw new InvalidInputError(`${where} file "${dest}" has type "${String(file.type)}".`, { hint: "use archive or file." });
    files[dest] = { ...file, source: toS3a(file.source) } as SkeinFile;
  }
  const script = s.module ? shellJoin(pythonModuleCommand(env, s.module, s.args)) : (s.script as string);
  const out: SkeinServiceSpec = {
    instances,
    max_restarts: maxRestarts,
    resources: { memory, vcores: s.resources.vcores, ...(s.resources.gpus ? { gpus: s.resources.gpus } : {}) },
    files,
    env: containerEnv(env, s.env),
    script,
  };
  if (s.nodeLabel) out.node_label = s.nodeLabel;
  if (s.depends?.length) out.depends = [...s.depends];
  return out;
}

function checkInt(v: number, min: number, what: string): void {
  if (!Number.isInteger(v) || v < min) throw new InvalidInputError(`${what} must be an integer >= ${min}, got ${String(v)}.`);
}

/** Puts keys in the order skein's documentation lists them, for readable, stable output. */
function reorder(spec: SkeinApplicationSpec): SkeinApplicationSpec {
  const order = ["name", "queue", "user", "node_label", "max_attempts", "tags", "file_systems", "services"] as const;
  const out: Record<string, unknown> = {};
  for (const k of order) if (spec[k] !== undefined) out[k] = spec[k];
  const services: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(spec.services)) {
    const so: Record<string, unknown> = {};
    for (const k of ["instances", "max_restarts", "node_label", "depends", "resources", "files", "env", "script"] as const) {
      if (s[k] !== undefined) so[k] = s[k];
    }
    services[name] = so;
  }
  out.services = services;
  return out as unknown as SkeinApplicationSpec;
}
