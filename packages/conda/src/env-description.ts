/**
 * What an engine configuration needs to use a packed environment: the archive, the
 * directory it is unpacked into (Spark's `archive#alias`, skein's destination) and the
 * interpreter command relative to the working directory.
 */
export interface PythonEnvDescription {
  archive: string;
  kind: "conda" | "venv";
  /** The directory the archive is unpacked into. */
  dirName: string;
  /** e.g. `pyenv/bin/python`. */
  interpreter: string;
}

/** Describes an archive unpacked into `alias` (default `pyenv`, cluster-pack's name). */
export function describePythonEnv(
  archive: string,
  kind: "conda" | "venv",
  options: { alias?: string | undefined; arcroot?: string | undefined } = {},
): PythonEnvDescription {
  const dirName = options.alias || "pyenv";
  const root = options.arcroot ? `${dirName}/${options.arcroot.replace(/^\/+|\/+$/g, "")}` : dirName;
  return { archive, kind, dirName, interpreter: `${root}/bin/python` };
}
