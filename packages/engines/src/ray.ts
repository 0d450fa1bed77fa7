import { InvalidInputError, redactUrl } from "@cluster-pack/errors";
import type { PythonEnvironment } from "./environment";
import { toS3, urlScheme } from "./uri";

export interface RayRuntimeEnvOptions {
  /** The job's working directory: a remote `.zip` URI, or a local directory uploaded by Ray. */
  workingDir?: string;
  /**
   * The interpreter for workers, as a command (Ray's `py_executable`). Takes precedence
   * over `localisedAt`.
   */
  pyExecutable?: string;
  /**
   * Ray cannot unpack an environment archive itself: the directory on every node where
   * the environment was localised (a shared mount, or unpacked by the node's launcher),
   * i.e. the directory holding `pyenv/` or `env.pex`.
   */
  localisedAt?: string;
  envVars?: Record<string, string>;
}

/** A Ray `runtime_env` (Ray docs, "Environment Dependencies" / "API Reference"). */
export interface RayRuntimeEnv {
  working_dir?: string;
  py_modules?: string[];
  py_executable?: string;
  env_vars?: Record<string, string>;
}

/**
 * The `runtime_env` that runs Ray workers inside the environment: the code archives as
 * `py_modules` (zip URIs; Ray speaks `s3://`, not `s3a://`), the interpreter as
 * `py_executable`, the environment's variables as `env_vars`.
 */
export function rayRuntimeEnvFor(env: PythonEnvironment, options: RayRuntimeEnvOptions = {}): RayRuntimeEnv {
  const out: RayRuntimeEnv = {};
  if (options.workingDir) out.working_dir = rayUri(options.workingDir, "working_dir", true);
  if (env.codeArchives.length) out.py_modules = env.codeArchives.map((c) => rayUri(c.url, "py_modules", false));
  if (options.pyExecutable) {
    out.py_executable = options.pyExecutable;
  } else if (options.localisedAt) {
    if (!options.localisedAt.startsWith("/")) {
      throw new InvalidInputError(`Ray localisedAt "${options.localisedAt}" must be an absolute directory on every node (workers start in their own working directory).`);
    }
    out.py_executable = `${options.localisedAt.replace(/\/+$/, "")}/${env.interpreter.replace(/^\.\//, "")}`;
  } else {
    throw new InvalidInputError(
      `Ray does not unpack environment archives (${env.kind}, ${redactUrl(env.archive.url)}): pass localisedAt (where every node has it unpacked) or pyExecutable.`,
    );
  }
  const vars = { ...env.env, ...(options.envVars ?? {}) };
  if (env.kind === "pex" || env.kind === "pex-large") {
    // Workers start in per-job directories: an absolute PEX_ROOT keeps one cache per node.
    if (vars.PEX_ROOT === "./.pex" && options.localisedAt) vars.PEX_ROOT = `${options.localisedAt.replace(/\/+$/, "")}/.pex`;
  }
  if (Object.keys(vars).length) out.env_vars = vars;
  return out;
}

// Helpers.

const RAY_SCHEMES = new Set(["s3", "gs", "http", "https", "file"]);

function rayUri(url: string, field: string, allowDir: boolean): string {
  const u = toS3(url);
  const scheme = urlScheme(u);
  if (scheme === undefined) {
    if (allowDir || /\.(zip|whl)$/i.test(u)) return u;
  } else if (RAY_SCHEMES.has(scheme) && /\.(zip|whl)$/i.test(u.replace(/[?#].*$/, ""))) {
    return u;
  }
  throw new InvalidInputError(
    `Ray ${field} "${redactUrl(url)}" must be a .zip (or .whl) at an s3://, gs://, http(s):// or file:// URI${allowDir ? ", or a local directory" : ""}: ` +
      `Ray cannot read ${scheme ?? "this path"} there; upload a zip to S3 or HTTP.`,
  );
}
