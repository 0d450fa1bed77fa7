import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { InvalidInputError } from "@cluster-pack/errors";

/** What pip's configuration says about where and how to find packages. */
export interface PipSettings {
  indexUrl: string;
  extraIndexUrls: string[];
  findLinks: string[];
  noIndex: boolean;
  /** Constraint files (`constraint` / PIP_CONSTRAINT). */
  constraints: string[];
  pre: boolean;
  /** PEP 503 names or ":all:" / ":none:" (pip's --only-binary / --no-binary values). */
  onlyBinary: string[];
  noBinary: string[];
  /** Seconds (pip's `timeout`, default 15). */
  timeout: number;
  /** pip's `retries` (default 5). */
  retries: number;
  requireHashes: boolean;
  /** The files that were read, in order (for messages and tests). */
  files: string[];
}

/** Where to look and what to override. Defaults read the real environment. */
export interface PipConfigOptions {
  env?: Record<string, string | undefined>;
  home?: string;
  /** "install" (default) or "download": the command section read after [global]. */
  command?: string;
  /** The interpreter's sys.prefix, for the site config file `<prefix>/pip.conf`. */
  sitePrefix?: string;
  /** Values that win over every file and variable (the CLI's options). */
  overrides?: Partial<Omit<PipSettings, "files">>;
}

export const DEFAULT_INDEX_URL = "https://pypi.org/simple";

/**
 * Reads pip's configuration the way pip does: global files (XDG_CONFIG_DIRS/pip/pip.conf,
 * then /etc/pip.conf), user files (~/.pip/pip.conf then ~/.config/pip/pip.conf, skipped when
 * PIP_CONFIG_FILE names an existing file), the site file, PIP_CONFIG_FILE; later files win
 * key by key; [global] then the command's section; then PIP_* variables; then `overrides`.
 * PIP_CONFIG_FILE=/dev/null disables every file.
 */
export function loadPipConfig(options: PipConfigOptions = {}): PipSettings {
  const env = options.env ?? process.env;
  const home = options.home ?? os.homedir();
  const command = options.command ?? "install";
  const envFile = env.PIP_CONFIG_FILE;
  const files: string[] = [];
  if (envFile !== os.devNull) {
    const xdgDirs = (env.XDG_CONFIG_DIRS || "/etc/xdg").split(path.delimiter).filter(Boolean);
    files.push(...xdgDirs.map((d) => path.join(d, "pip", "pip.conf")), "/etc/pip.conf");
    if (!(envFile && fs.existsSync(envFile))) {
      const xdgHome = env.XDG_CONFIG_HOME || path.join(home, ".config");
      files.push(path.join(home, ".pip", "pip.conf"), path.join(xdgHome, "pip", "pip.conf"));
    }
    if (options.sitePrefix) files.push(path.join(options.sitePrefix, "pip.conf"));
    if (envFile) files.push(envFile);
  }
  // Per file and section, later files override earlier ones key by key (pip's behaviour).
  const merged: Record<string, Record<string, string>> = {};
  const read: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      continue;
    }
    read.push(file);
    for (const [section, values] of Object.entries(parseIni(text, file))) Object.assign((merged[section] ??= {}), values);
  }
  const values: Record<string, string> = { ...merged.global, ...merged[command] };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || !k.startsWith("PIP_") || k === "PIP_CONFIG_FILE") continue;
    values[k.slice(4).toLowerCase().replace(/_/g, "-")] = v;
  }
  const list = (k: string) => (values[k] ?? "").split(/\s+/).filter(Boolean);
  const settings: PipSettings = {
    indexUrl: values["index-url"]?.trim() || DEFAULT_INDEX_URL,
    extraIndexUrls: list("extra-index-url"),
    findLinks: list("find-links"),
    noIndex: bool(values["no-index"], "no-index"),
    constraints: list("constraint"),
    pre: bool(values.pre, "pre"),
    onlyBinary: list("only-binary").flatMap((s) => s.split(",")).filter(Boolean),
    noBinary: list("no-binary").flatMap((s) => s.split(",")).filter(Boolean),
    timeout: num(values.timeout ?? values["default-timeout"], 15, "timeout"),
    retries: num(values.retries, 5, "retries"),
    requireHashes: bool(values["require-hashes"], "require-hashes"),
    files: read,
  };
  return { ...settings, ...stripUndefined(options.overrides ?? {}), files: read };
}

/** Python configparser's subset that pip.conf files use: sections, `k = v` / `k: v`, continuations, comments. */
export function parseIni(text: string, file = "pip.conf"): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let section: string | null = null;
  let lastKey: string | null = null;
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  lines.forEach((raw, i) => {
    if (/^\s*([#;].*)?$/.test(raw)) return;
    if (/^[ \t]/.test(raw) && section && lastKey) {
      const cur = out[section]![lastKey]!;
      out[section]![lastKey] = cur ? `${cur}\n${raw.trim()}` : raw.trim();
      return;
    }
    const sec = /^\[([^\]]+)\]\s*$/.exec(raw);
    if (sec) {
      section = sec[1]!.trim();
      out[section] ??= {};
      lastKey = null;
      return;
    }
    const kv = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(raw);
    if (!kv || !section) {
      throw new InvalidInputError(`${file}:${i + 1}: cannot parse ${JSON.stringify(raw.trim())}; pip.conf lines are "[section]" or "key = value".`, { code: "ERR_PIP_CONFIG" });
    }
    lastKey = kv[1]!.trim().replace(/^--/, "").replace(/_/g, "-").toLowerCase();
    out[section]![lastKey] = kv[2]!.replace(/\s+[;#].*$/, "").trim();
  });
  return out;
}

function bool(v: string | undefined, key: string): boolean {
  if (v === undefined) return false;
  const s = v.trim().toLowerCase();
  if (["1", "yes", "true", "on", "y", "t"].includes(s)) return true;
  if (["0", "no", "false", "off", "n", "f", ""].includes(s)) return false;
  throw new InvalidInputError(`pip setting ${key}=${JSON.stringify(v)} is not a boolean.`, { code: "ERR_PIP_CONFIG", hint: "use true/false, yes/no, on/off or 1/0." });
}

function num(v: string | undefined, dflt: number, key: string): number {
  if (v === undefined || v.trim() === "") return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidInputError(`pip setting ${key}=${JSON.stringify(v)} is not a non-negative number.`, { code: "ERR_PIP_CONFIG" });
  return n;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
