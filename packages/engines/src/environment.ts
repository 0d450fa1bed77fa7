import { InvalidInputError, redactUrl } from "@cluster-pack/errors";
import { urlScheme } from "./uri";

/**
 * How a packed environment travels and starts:
 * - `pex`: one executable PEX file, shipped as a file (not unpacked), run as `./<file>.pex`;
 * - `pex-large`: a PEX too large for zipimport, shipped as a zipped directory and unpacked
 *   under the alias, run as `<alias>/__main__.py`;
 * - `conda`: a conda-pack archive, unpacked under the alias, run as `<alias>/bin/python`;
 * - `venv`: a venv-pack archive, same layout as conda.
 */
export type EnvironmentKind = "pex" | "pex-large" | "conda" | "venv";

/** Where a shipped file lands in the container's working directory and how. */
export interface ShippedResource {
  /** Remote location (hdfs://, s3://, https://, or a local path for local/K8s uploads). */
  url: string;
  /** Name in the working directory (YARN "link name", Spark `#alias`, skein file key). */
  alias: string;
  /** `archive` resources are unpacked into a directory named `alias`; `file`s are copied. */
  type: "archive" | "file";
}

/** One packed environment, as every engine module needs it. */
export interface PythonEnvironment {
  kind: EnvironmentKind;
  /** The environment itself: a file for `pex`, an archive otherwise. */
  archive: ShippedResource;
  /**
   * The interpreter command after localisation, relative to the container's working
   * directory (`./env.pex`, `pyenv/bin/python`, `pyenv/__main__.py`).
   */
  interpreter: string;
  /** Variables the interpreter needs on every node (`PEX_ROOT=./.pex` for PEX files). */
  env: Record<string, string>;
  /**
   * Code under development shipped beside the environment (zips of editable installs),
   * so the heavy dependency archive stays cached while code changes. Each is put on
   * `PYTHONPATH` as a zip (zipimport), never unpacked.
   */
  codeArchives: ShippedResource[];
  /**
   * A layered PEX's layers (`<store>/layers/<sha256>.zip`): files shipped beside the PEX
   * under their own names, where its runtime finds them. Each is immutable and named by
   * its content, so an engine that caches localised files by path (YARN) fetches an
   * unchanged layer once per node, not once per job. Empty for every other environment.
   */
  layers?: ShippedResource[];
  /**
   * Where the layers are fetched on each node instead of shipped per container
   * (`fetchLayers` of the cluster-pack package, run by the node's launcher before it
   * starts the engine's processes): one directory of `<sha256>.zip` per node, shared by
   * every job, found by the PEX through `PEX_LAYERS_PATH`. Unset: layers are shipped.
   */
  layersDir?: string;
}

/**
 * Where a PEX extracts its distributions:
 * - `container` (default): `PEX_ROOT=./.pex` in the working directory, private to the
 *   container and removed with it;
 * - `{ node: dir }`: a node-level root shared by the containers of one user on a node
 *   (`PEX_NODE_ROOT=dir`; the runtime uses `<dir>/cp-pex-<uid>`, created 0700 and refused
 *   when it belongs to someone else), so the second container, or the next job whose
 *   environment shares layers, starts warm. Safe only where every container of a node
 *   runs as its submitting user (see the engines README).
 */
export type PexRootMode = "container" | { node: string };

export interface PythonEnvironmentOptions {
  /** Overrides the kind guessed from the file name (required for a venv archive). */
  kind?: EnvironmentKind;
  /** Directory (or file name for a PEX) in the working directory; defaults as cluster-pack. */
  alias?: string;
  /** Extra variables for every interpreter start; merged over the kind's defaults. */
  env?: Record<string, string>;
  /** Zips of editable/under-development code shipped beside the environment. */
  codeArchives?: string[];
  /** A layered PEX's layer files (URLs), shipped beside it. */
  layers?: string[];
  /**
   * An absolute node directory the layers are fetched into by content hash (for engines
   * without a per-file localiser: Dask, Ray): sets `PEX_LAYERS_PATH`, and
   * `shippedResources` no longer lists the layers.
   */
  layersDir?: string;
  /** PEX files only: a container-local (default) or a node-level extraction root. */
  pexRoot?: PexRootMode;
}

/** cluster-pack's default directory for unpacked environments. */
export const DEFAULT_ENV_ALIAS = "pyenv";

/**
 * Describes how an environment at `url` is shipped and started, following cluster-pack's
 * `get_pyenv_usage_from_archive`: a `.pex` file runs as `./<file>.pex` without unpacking;
 * a `.pex.zip` is unpacked to `pyenv` and runs as `pyenv/__main__.py`; conda/venv
 * archives are unpacked to `pyenv` and run as `pyenv/bin/python`.
 */
export function pythonEnvironment(url: string, options: PythonEnvironmentOptions = {}): PythonEnvironment {
  if (typeof url !== "string" || url.trim() === "") {
    throw new InvalidInputError("The environment archive URL is empty.", { hint: "pass the path or URL of a .pex, .pex.zip, .tar.gz, .tgz or .zip archive." });
  }
  // A malformed URL (`s3:/x/env.pex`) is refused here, not shipped as a path.
  urlScheme(url);
  const name = baseName(url);
  const kind = options.kind ?? guessKind(url);
  if (!kind) {
    throw new InvalidInputError(
      `Cannot tell what kind of environment "${redactUrl(url)}" is from its name "${name}".`,
      { optionNames: ["kind"], hint: 'use a .pex, .pex.zip, .tar.gz, .tgz, .tar or .zip file, or pass `kind` ("pex", "pex-large", "conda" or "venv").' },
    );
  }
  if (kind === "pex" && /\.(tar\.gz|tgz|tar)$/i.test(name)) {
    throw new InvalidInputError(`"${redactUrl(url)}" is a tar archive, not a PEX file.`, { optionNames: ["kind"], hint: `pass \`kind\` "conda" or "venv", or the .pex file itself.` });
  }
  const alias = checkAlias(options.alias ?? (kind === "pex" ? name : DEFAULT_ENV_ALIAS), "alias");
  const interpreter = kind === "pex" ? `./${alias}` : kind === "pex-large" ? `${alias}/__main__.py` : `${alias}/bin/python`;
  const isPex = kind === "pex" || kind === "pex-large";
  const defaults: Record<string, string> = isPex ? pexRootEnv(options.pexRoot ?? "container") : {};
  if (!isPex && options.pexRoot !== undefined) throw new InvalidInputError(`pexRoot applies to PEX files; "${redactUrl(url)}" is a ${kind} archive.`, { hint: "drop pexRoot." });
  const layersDir = options.layersDir === undefined ? undefined : checkLayersDir(options.layersDir, options.layers, url);
  const env = { ...defaults, ...(layersDir ? { PEX_LAYERS_PATH: layersDir } : {}), ...checkEnv(options.env ?? {}) };
  const codeArchives = (options.codeArchives ?? []).map((u) => (urlScheme(u), codeArchive(u)));
  if (options.layers?.length && kind !== "pex") {
    throw new InvalidInputError(`Layers belong to a layered PEX file (kind "pex"), not to a ${kind} environment ("${redactUrl(url)}").`, { hint: "drop layers or pass the layered .pex." });
  }
  const layers = (options.layers ?? []).map((u) => (urlScheme(u), { url: u, alias: checkAlias(baseName(u), "layer file name"), type: "file" as const }));
  const seen = new Set<string>([alias]);
  for (const c of [...codeArchives, ...layers]) {
    if (seen.has(c.alias)) {
      throw new InvalidInputError(
        `Two shipped resources would both land as "${c.alias}" in the working directory (${redactUrl(c.url)}).`,
        { hint: "rename one of the code archives or choose another environment alias." },
      );
    }
    seen.add(c.alias);
  }
  return {
    kind,
    archive: { url, alias, type: kind === "pex" ? "file" : "archive" },
    interpreter,
    env,
    codeArchives,
    layers,
    ...(layersDir ? { layersDir } : {}),
  };
}

/**
 * Everything a launcher localises for this environment: the environment, its layers
 * (unless they are fetched into `layersDir` on each node), the code archives.
 */
export function shippedResources(env: PythonEnvironment): ShippedResource[] {
  return [env.archive, ...(env.layersDir ? [] : (env.layers ?? [])), ...env.codeArchives];
}

function pexRootEnv(mode: PexRootMode): Record<string, string> {
  if (mode === "container") return { PEX_ROOT: "./.pex" };
  const dir = typeof mode === "object" && mode ? mode.node : undefined;
  if (typeof dir !== "string" || !dir.startsWith("/") || /[\0:]/.test(dir)) {
    throw new InvalidInputError(`pexRoot ${JSON.stringify(mode)} is not "container" or { node: "/absolute/dir" } (a directory every node has, e.g. /tmp or a local disk).`);
  }
  return { PEX_NODE_ROOT: dir };
}

/** The `PYTHONPATH` entries for the code archives, relative to the working directory. */
export function codePythonPath(env: PythonEnvironment): string[] {
  return env.codeArchives.map((c) => c.alias);
}

/** Guesses the kind from the file name; `undefined` when the name says nothing. */
export function guessKind(url: string): EnvironmentKind | undefined {
  const name = baseName(url).toLowerCase();
  if (name.endsWith(".pex")) return "pex";
  if (name.endsWith(".pex.zip")) return "pex-large";
  if (/\.(tar\.gz|tgz|tar|zip|tar\.bz2|tar\.xz|tar\.zst)$/.test(name)) return "conda";
  return undefined;
}

/** The last path segment of a URL or path, without query or fragment. */
export function baseName(url: string): string {
  const noQuery = url.replace(/[?#].*$/, "").replace(/\/+$/, "");
  const i = noQuery.lastIndexOf("/");
  return i >= 0 ? noQuery.slice(i + 1) : noQuery;
}

// Helpers.

function codeArchive(url: string): ShippedResource {
  const name = baseName(url);
  if (!/\.(zip|egg|py)$/i.test(name)) {
    throw new InvalidInputError(
      `Code archive "${redactUrl(url)}" is not a .zip, .egg or .py file (it is put on PYTHONPATH as is).`,
      { hint: "zip the source directory first." },
    );
  }
  return { url, alias: checkAlias(name, "code archive name"), type: "file" };
}

function checkAlias(alias: string, what: string): string {
  // The alias becomes a directory in the working directory and part of `path#alias`:
  // anything that could escape it or break comma-separated lists is refused.
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(alias) || alias === "." || alias === "..") {
    throw new InvalidInputError(
      `Invalid ${what} "${alias}".`,
      { hint: `use letters, digits, ".", "_" and "-" only (no "/", ",", "#" or spaces), not starting with ".".` },
    );
  }
  return alias;
}

function checkLayersDir(dir: string, layers: string[] | undefined, url: string): string {
  if (!layers?.length) throw new InvalidInputError(`\`layersDir\` "${dir}" is given but "${redactUrl(url)}" has no layers.`, { optionNames: ["layersDir", "layers"], hint: "pass its `layers`, or drop `layersDir`." });
  // One entry of PEX_LAYERS_PATH (":"-separated), the same on every node.
  if (typeof dir !== "string" || !dir.startsWith("/") || /[\0:]/.test(dir)) {
    throw new InvalidInputError(`\`layersDir\` ${JSON.stringify(dir)} is not an absolute directory without ":".`, { optionNames: ["layersDir"], hint: "give a directory on a local disk every node has (e.g. /tmp/cp-layers)." });
  }
  return dir.replace(/(.)\/+$/, "$1");
}

function checkEnv(env: Record<string, string>): Record<string, string> {
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
      throw new InvalidInputError(`Invalid environment variable name "${k}".`, { hint: `use letters, digits and "_", not starting with a digit.` });
    }
    if (typeof v !== "string") {
      throw new InvalidInputError(`Environment variable ${k} must be a string, got ${typeof v}.`);
    }
  }
  return env;
}
