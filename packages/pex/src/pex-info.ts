import { createHash } from "node:crypto";
import { IntegrityError } from "@cluster-pack/errors";
import { checkDistributionFilename, ensureAscii, isValidHexDigest } from "@cluster-pack/packaging";

export type InheritPath = "false" | "prefer" | "fallback";

/**
 * PEX-INFO, the JSON manifest of a PEX, with the fields pex itself writes
 * (pex/pex_info.py). Unknown fields of files written by other tools are kept in `raw`
 * and written back unchanged.
 */
export interface PexInfo {
  buildProperties: Record<string, unknown>;
  /** sha1 of the user code. */
  codeHash?: string;
  /** Wheel file name -> fingerprint (cache key of the installed wheel chroot). */
  distributions: Record<string, string>;
  /** sha1 of PEX-INFO before this field was added; the runtime's cache key. */
  pexHash?: string;
  requirements: string[];
  interpreterConstraints: string[];
  /** `module` or `module:function`. */
  entryPoint?: string;
  script?: string;
  inheritPath: InheritPath;
  stripPexEnv: boolean;
  venv: boolean;
  /** pex's --include-tools (PEX-INFO `include_tools`): `PEX_TOOLS=1 ./x.pex venv DIR` is allowed. */
  includeTools: boolean;
  injectArgs: string[];
  injectEnv: Record<string, string>;
  bootstrapHash?: string;
  depsAreWheelFiles: boolean;
  pexPath?: string;
  pexRoot?: string;
  /** Every field as read (snake_case keys), including ones this interface does not name. */
  raw: Record<string, unknown>;
}

/** Parses PEX-INFO text (pex's or ours). `source` names the file in errors. */
export function parsePexInfo(text: string, source = "PEX-INFO"): PexInfo {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new IntegrityError(`${source}: PEX-INFO is not valid JSON (${(err as Error).message}); the PEX is damaged.`, { cause: err });
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new IntegrityError(`${source}: PEX-INFO must be a JSON object.`);
  const r = raw as Record<string, unknown>;
  const str = (k: string): string | undefined => (typeof r[k] === "string" && r[k] !== "" ? (r[k] as string) : undefined);
  const strList = (k: string): string[] => {
    const v = r[k];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw new IntegrityError(`${source}: PEX-INFO field ${k} must be a list.`);
    // pex 0.8 wrote requirements as [req, repo, dynamic] triples; the first item is the requirement.
    return v.map((x) => (Array.isArray(x) ? String(x[0]) : String(x)));
  };
  const distributions = (r.distributions ?? {}) as Record<string, string>;
  if (typeof distributions !== "object" || Array.isArray(distributions)) throw new IntegrityError(`${source}: PEX-INFO field distributions must be an object.`);
  // The runtime makes paths of these (.deps/<wheel>, installed_wheels/<fingerprint>/<wheel>): each goes through the one check.
  for (const [wheel, fingerprint] of Object.entries(distributions)) {
    try {
      checkDistributionFilename(wheel, { kind: "wheel" });
    } catch (err) {
      throw new IntegrityError(`${source}: PEX-INFO distributions key refused: ${(err as Error).message} The PEX is damaged or malicious.`, { code: "ERR_PEX_INFO", cause: err });
    }
    if (typeof fingerprint !== "string" || !isValidHexDigest("sha1", fingerprint)) {
      throw new IntegrityError(`${source}: PEX-INFO fingerprint of ${wheel} is ${JSON.stringify(fingerprint)}, not 40 hex digits (sha1). The PEX is damaged or malicious.`, { code: "ERR_PEX_INFO" });
    }
  }
  const inherit = r.inherit_path;
  const inheritPath: InheritPath = inherit === true || inherit === "prefer" ? "prefer" : inherit === "fallback" ? "fallback" : "false";
  const info: PexInfo = {
    buildProperties: (r.build_properties as Record<string, unknown>) ?? {},
    distributions: { ...distributions },
    requirements: strList("requirements"),
    interpreterConstraints: strList("interpreter_constraints"),
    inheritPath,
    stripPexEnv: r.strip_pex_env == null ? true : Boolean(r.strip_pex_env),
    venv: Boolean(r.venv),
    includeTools: Boolean(r.include_tools),
    injectArgs: strList("inject_args"),
    injectEnv: (r.inject_env as Record<string, string>) ?? {},
    depsAreWheelFiles: Boolean(r.deps_are_wheel_files),
    raw: r,
  };
  const optional: [keyof PexInfo, string][] = [
    ["codeHash", "code_hash"],
    ["pexHash", "pex_hash"],
    ["entryPoint", "entry_point"],
    ["script", "script"],
    ["bootstrapHash", "bootstrap_hash"],
    ["pexPath", "pex_path"],
    ["pexRoot", "pex_root"],
  ];
  for (const [key, field] of optional) {
    const v = str(field);
    if (v !== undefined) (info as unknown as Record<string, unknown>)[key] = v;
  }
  for (const field of ["pex_hash", "code_hash", "bootstrap_hash"]) {
    const v = str(field);
    if (v !== undefined && !isValidHexDigest("sha1", v)) throw new IntegrityError(`${source}: PEX-INFO field ${field} is ${JSON.stringify(v)}, not 40 hex digits (sha1). The PEX is damaged or malicious.`, { code: "ERR_PEX_INFO" });
  }
  checkLayers(r, info.distributions, source);
  return info;
}

/**
 * One layer of a layered PEX: a distribution installed as in a PEX's `.deps/<wheel>`,
 * shipped as its own zip file beside the PEX (PEX-INFO `cluster_pack.layers`).
 */
export interface PexLayer {
  /** The wheel file name (a key of `distributions`). */
  wheel: string;
  /** The layer's file name: `<sha256>.zip` as cluster-pack writes it. */
  file: string;
  /** sha256 (hex) of the layer file. */
  sha256: string;
  /** Bytes of the layer file. */
  size: number;
}

/** The layers of a layered PEX, sorted by wheel (empty for every other layout). Checked by parsePexInfo. */
export function pexLayers(info: PexInfo): PexLayer[] {
  const layers = (info.raw.cluster_pack as { layers?: Record<string, { file: string; sha256: string; size: number }> } | undefined)?.layers ?? {};
  return Object.keys(layers)
    .sort(cmp)
    .map((wheel) => ({ wheel, file: layers[wheel]!.file, sha256: layers[wheel]!.sha256, size: layers[wheel]!.size }));
}

/** The PEX-INFO value of a layer (what `pexLayers` reads back). */
export function layerField(layer: Omit<PexLayer, "wheel">): { file: string; sha256: string; size: number } {
  return { file: layer.file, sha256: layer.sha256, size: layer.size };
}

/** A layer file name is one plain path component (it is looked up in directories). */
export const LAYER_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,254}$/;

/**
 * `cluster_pack.layers`: every key a listed distribution, each file name one safe path
 * component, each sha256 64 hex digits, each size a byte count; in the layered layout
 * every distribution has a layer. The runtime applies the same rules (pex_info.py).
 */
function checkLayers(r: Record<string, unknown>, distributions: Record<string, string>, source: string): void {
  const cp = r.cluster_pack;
  if (cp === undefined || cp === null) return;
  const bad = (what: string) => new IntegrityError(`${source}: PEX-INFO ${what}. The PEX is damaged or malicious.`, { code: "ERR_PEX_INFO" });
  if (typeof cp !== "object" || Array.isArray(cp)) throw bad("field cluster_pack is not an object");
  const { layers, layout } = cp as { layers?: unknown; layout?: unknown };
  if (layers === undefined || layers === null) {
    if (layout === "layered" && Object.keys(distributions).length) throw bad("says the layout is layered but lists no cluster_pack.layers");
    return;
  }
  if (typeof layers !== "object" || Array.isArray(layers)) throw bad("field cluster_pack.layers is not an object");
  const files = new Set<string>();
  for (const [wheel, layer] of Object.entries(layers as Record<string, unknown>)) {
    if (!(wheel in distributions)) throw bad(`cluster_pack.layers names ${JSON.stringify(wheel)}, which is not one of its distributions`);
    const l = layer as { file?: unknown; sha256?: unknown; size?: unknown } | null;
    if (!l || typeof l !== "object") throw bad(`layer of ${wheel} is not an object`);
    if (typeof l.file !== "string" || !LAYER_FILE_NAME.test(l.file) || l.file.includes("..")) throw bad(`layer file name of ${wheel} is ${JSON.stringify(l.file)}, not one plain file name`);
    if (typeof l.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(l.sha256)) throw bad(`layer sha256 of ${wheel} is ${JSON.stringify(l.sha256)}, not 64 lowercase hex digits`);
    if (typeof l.size !== "number" || !Number.isSafeInteger(l.size) || l.size < 22) throw bad(`layer size of ${wheel} is ${JSON.stringify(l.size)}, not the byte count of a zip`);
    if (files.has(l.file)) throw bad(`two layers share the file name ${l.file}`);
    files.add(l.file);
  }
  if (layout === "layered") {
    const missing = Object.keys(distributions).filter((w) => !(w in (layers as object)));
    if (missing.length) throw bad(`says the layout is layered but has no layer for ${missing.join(", ")}`);
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The snake_case JSON object of a PexInfo (unknown raw fields kept). */
export function pexInfoToJson(info: PexInfo): Record<string, unknown> {
  const out: Record<string, unknown> = { ...info.raw };
  // A field the file did not have stays absent while it has its default value, so that
  // re-serialising a PEX-INFO written by another pex version reproduces it (and its hash).
  const set = (k: string, v: unknown, dflt?: unknown) => {
    if (!(k in info.raw) && dflt !== undefined && JSON.stringify(v) === JSON.stringify(dflt)) return;
    // pex writes absent values as null; keep whichever form the file had.
    if (v === undefined) {
      if (info.raw[k] === null) out[k] = null;
      else delete out[k];
    } else out[k] = v;
  };
  set("build_properties", info.buildProperties, {});
  set("code_hash", info.codeHash);
  set("distributions", info.distributions, {});
  set("pex_hash", info.pexHash);
  set("requirements", [...info.requirements].sort(), []);
  set("interpreter_constraints", [...info.interpreterConstraints].sort(), []);
  set("entry_point", info.entryPoint);
  set("script", info.script);
  set("inherit_path", info.inheritPath, "false");
  set("strip_pex_env", info.stripPexEnv, true);
  set("venv", info.venv, false);
  set("include_tools", info.includeTools, false);
  set("inject_args", info.injectArgs, []);
  set("inject_env", info.injectEnv, {});
  set("bootstrap_hash", info.bootstrapHash);
  set("deps_are_wheel_files", info.depsAreWheelFiles, false);
  set("pex_path", info.pexPath);
  set("pex_root", info.pexRoot);
  return out;
}

/** The fields a PEX-INFO written by this package always carries (pex 2.x writes them too). */
export const STANDARD_FIELDS = ["build_properties", "distributions", "requirements", "interpreter_constraints", "inherit_path", "strip_pex_env", "venv", "inject_args", "inject_env", "deps_are_wheel_files"];

/**
 * PEX-INFO text exactly as pex writes it: Python's `json.dumps(data, sort_keys=True)`
 * (", " and ": " separators, non-ASCII escaped), so hashes computed over it agree.
 */
export function formatPexInfo(info: PexInfo | Record<string, unknown>): string {
  return pythonJsonDumps("raw" in info && "distributions" in info && "buildProperties" in info ? pexInfoToJson(info as PexInfo) : info);
}

/** pex's definition: sha1 of the dumped PEX-INFO without `pex_hash`. */
export function computePexHash(info: PexInfo): string {
  const json = pexInfoToJson(info);
  delete json.pex_hash;
  return createHash("sha1").update(pythonJsonDumps(json)).digest("hex");
}

/** `json.dumps(value, sort_keys=True)` of CPython, byte for byte (ints, no floats). */
export function pythonJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError("PEX-INFO cannot hold non-finite numbers");
    return Number.isInteger(value) ? String(value) : pythonFloat(value);
  }
  if (typeof value === "string") return pythonString(value);
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(", ")}]`;
  if (typeof value === "object") {
    const keys = Object.keys(value as object)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${keys.map((k) => `${pythonString(k)}: ${pythonJsonDumps((value as Record<string, unknown>)[k])}`).join(", ")}}`;
  }
  throw new TypeError(`PEX-INFO cannot hold a ${typeof value}`);
}

function pythonString(s: string): string {
  return ensureAscii(JSON.stringify(s));
}

function pythonFloat(n: number): string {
  const s = String(n);
  return /[.eE]/.test(s) ? s.replace(/e\+?/, "e+").replace("e+-", "e-") : `${s}.0`;
}
