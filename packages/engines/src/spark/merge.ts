import { InvalidInputError } from "@cluster-pack/errors";

/** Spark conf as ordered entries: order is kept so output is stable and reviewable. */
export type SparkConfEntries = ReadonlyArray<readonly [string, string]>;

/** What to do when the user's conf and the generated conf disagree on a value. */
export type ConflictPolicy = "error" | "prefer-generated" | "prefer-existing";

export interface MergeResult {
  conf: Array<[string, string]>;
  /** One line per conflict resolved by policy, naming the key and which value won. */
  warnings: string[];
}

/**
 * Keys whose values are comma-separated lists (Spark splits them on ","). Merging takes
 * the union, existing items first in their order, then new items in theirs; an exact
 * duplicate is dropped. Sets are never used, so the output order is stable (cluster-pack
 * merged through a Python set and its lists came out in a different order each run).
 */
export const LIST_KEYS: ReadonlySet<string> = new Set([
  "spark.archives",
  "spark.files",
  "spark.submit.pyFiles",
  "spark.jars",
  "spark.jars.packages",
  "spark.jars.excludes",
  "spark.jars.repositories",
  "spark.yarn.dist.archives",
  "spark.yarn.dist.files",
  "spark.yarn.dist.jars",
  "spark.yarn.tags",
  "spark.kerberos.access.hadoopFileSystems",
]);

/**
 * List keys whose items land in the container's working directory under a name
 * (`url#alias`, else the file name): two different URLs landing under one name is a
 * conflict even across keys (`spark.archives` vs `spark.yarn.dist.archives`).
 */
export const LOCALISED_KEYS: ReadonlySet<string> = new Set([
  "spark.archives",
  "spark.files",
  "spark.submit.pyFiles",
  "spark.yarn.dist.archives",
  "spark.yarn.dist.files",
]);

/**
 * Merges `generated` into `existing`, keeping the existing order and appending new keys
 * in generated order. Equal values merge silently; list values are unioned; a real
 * disagreement follows `policy`: `error` throws an InvalidInputError naming the key and
 * both values, the `prefer-*` policies keep one and say so in `warnings`. Values of keys
 * that look secret (Spark's `spark.redaction.regex` default) never appear in messages.
 */
export function mergeSparkConf(existing: SparkConfEntries, generated: SparkConfEntries, policy: ConflictPolicy = "error"): MergeResult {
  const warnings: string[] = [];
  const out = new Map<string, string>();
  for (const [k, v] of existing) out.set(k, v);
  for (const [key, value] of generated) {
    const current = out.get(key);
    if (current === undefined) {
      out.set(key, value);
    } else if (current === value) {
      continue;
    } else if (LIST_KEYS.has(key)) {
      out.set(key, joinList(unionList(key, splitList(current), splitList(value), policy, warnings)));
    } else {
      const winner = resolve(key, current, value, policy);
      out.set(key, winner);
      warnings.push(
        `Spark conf ${key}: your value ${shown(key, current)} and the generated value ${shown(key, value)} differ; ` +
          `${winner === value ? "the generated" : "your"} value wins (conflict policy "${policy}").`,
      );
    }
  }
  checkLocalisedNames(out, policy, warnings);
  return { conf: [...out.entries()], warnings };
}

/** Splits a Spark comma list, dropping empty items and surrounding blanks. */
export function splitList(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** The name a `url#alias` item gets in the working directory. */
export function localisedName(item: string): string {
  const hash = item.lastIndexOf("#");
  if (hash >= 0) return item.slice(hash + 1);
  let end = item.indexOf("?");
  if (end < 0) end = item.length;
  while (end > 0 && item[end - 1] === "/") end--;
  return item.slice(item.lastIndexOf("/", end - 1) + 1, end);
}

/** True for keys whose values must not be shown: Spark's default redaction (`(?i)secret|password|token|access[.]?key`) and Azure's key/SAS keys. */
export function isSecretKey(key: string): boolean {
  // Spark's spark.redaction.regex default, plus Azure's account keys and WASB SAS keys (fs.azure.sas.<container>.<host>).
  return /secret|password|token|access[.]?key|account[.]key|[.]sas[.]/i.test(key);
}

/** The conf with secret values replaced by `*********(redacted)`, as Spark's UI shows them. */
export function redactSparkConf(conf: SparkConfEntries): Array<[string, string]> {
  return conf.map(([k, v]) => [k, isSecretKey(k) ? "*********(redacted)" : v]);
}

/**
 * Reads conf entries from `spark-defaults.conf` text (Java properties as Spark reads
 * them: `key value`, `key=value` or `key:value`, `#`/`!` comments, `\` escapes and
 * line continuations). Later lines win, as in Java's Properties.
 */
export function parseSparkDefaults(text: string, source = "spark-defaults.conf"): Array<[string, string]> {
  const entries = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = (lines[i] ?? "").replace(/^\s+/, "");
    if (line === "" || line.startsWith("#") || line.startsWith("!")) continue;
    // A line ending in an odd number of backslashes continues on the next line.
    while (/(^|[^\\])(\\\\)*\\$/.test(line) && i + 1 < lines.length) {
      line = line.slice(0, -1) + (lines[++i] ?? "").replace(/^\s+/, "");
    }
    const m = /^((?:\\.|[^\s=:\\])+)\s*[=:\s]\s*(.*)$/.exec(line) ?? /^((?:\\.|[^\s=:\\])+)$/.exec(line);
    if (!m || m[1] === undefined) {
      throw new InvalidInputError(`${source}, line ${i + 1}: cannot read a "key value" pair.`, { hint: "fix or remove the line." });
    }
    entries.set(unescapeProperty(m[1]), unescapeProperty(m[2] ?? ""));
  }
  return [...entries.entries()];
}

/** Reads `key=value` items as given to `spark-submit --conf`. */
export function parseConfArgs(items: readonly string[]): Array<[string, string]> {
  return items.map((item) => {
    const eq = item.indexOf("=");
    if (eq <= 0) {
      throw new InvalidInputError(`--conf "${item}" is not key=value.`, { hint: "write it as --conf spark.some.key=value." });
    }
    return [item.slice(0, eq).trim(), item.slice(eq + 1)] as [string, string];
  });
}

// Helpers.

function resolve(key: string, current: string, generated: string, policy: ConflictPolicy): string {
  if (policy === "prefer-generated") return generated;
  if (policy === "prefer-existing") return current;
  throw new InvalidInputError(
    `Spark conf ${key} is already set to ${shown(key, current)} but the environment needs ${shown(key, generated)}.`,
    { code: "ERR_SPARK_CONF_CONFLICT", hint: 'remove it from your conf, or choose which value wins (conflict policy "prefer-generated" or "prefer-existing").' },
  );
}

function unionList(key: string, current: string[], added: string[], policy: ConflictPolicy, warnings: string[]): string[] {
  const out = [...current];
  const seen = new Set(out);
  // Index by localised name once: lists can hold thousands of files.
  const byName = LOCALISED_KEYS.has(key) ? new Map(out.map((o, i) => [localisedName(o), i])) : undefined;
  for (const item of added) {
    if (seen.has(item)) continue;
    const name = byName ? localisedName(item) : "";
    const clash = byName?.get(name);
    if (clash !== undefined) {
      const existingItem = out[clash] as string;
      const winner = resolve(key, existingItem, item, policy);
      warnings.push(
        `Spark conf ${key}: "${existingItem}" and the generated "${item}" both land as "${name}" in the working directory; ` +
          `${winner === item ? "the generated" : "your"} one is kept (conflict policy "${policy}").`,
      );
      out[clash] = winner;
      seen.add(winner);
      continue;
    }
    byName?.set(name, out.length);
    out.push(item);
    seen.add(item);
  }
  return out;
}

function checkLocalisedNames(conf: Map<string, string>, policy: ConflictPolicy, warnings: string[]): void {
  const owner = new Map<string, { key: string; item: string }>();
  for (const [key, value] of conf) {
    if (!LOCALISED_KEYS.has(key)) continue;
    for (const item of splitList(value)) {
      const name = localisedName(item);
      const prev = owner.get(name);
      if (prev && prev.item !== item) {
        const message =
          `"${prev.item}" (${prev.key}) and "${item}" (${key}) both land as "${name}" in the working directory`;
        if (policy === "error") {
          throw new InvalidInputError(`${message}.`, {
            code: "ERR_SPARK_CONF_CONFLICT",
            hint: "ship one of them under another alias (url#other) or remove one.",
          });
        }
        warnings.push(`${message}; which one the container sees depends on Spark's localisation order, so rename one.`);
      }
      owner.set(name, { key, item });
    }
  }
}

function joinList(items: string[]): string {
  return items.join(",");
}

function shown(key: string, value: string): string {
  return isSecretKey(key) ? "(redacted)" : JSON.stringify(value);
}

function unescapeProperty(s: string): string {
  return s.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_m, c: string) => {
    if (c.length === 5) return String.fromCharCode(parseInt(c.slice(1), 16));
    return c === "t" ? "\t" : c === "n" ? "\n" : c === "r" ? "\r" : c === "f" ? "\f" : c;
  });
}
