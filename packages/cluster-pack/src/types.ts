import type { PythonEnvironment } from "@cluster-pack/engines";
import type { PublishedLayer } from "./layers";

export type PackerName = "pex" | "conda" | "venv";
/** `rebuild`: wheels rebuilt from the installed files (packing an environment as installed). */
export type UploadPhase = "resolve" | "download" | "rebuild" | "build" | "upload";

/** Progress of one phase: `done`/`total` in bytes or items; `total` may be unknown. */
export interface UploadProgress {
  phase: UploadPhase;
  done: number;
  total?: number;
  unit: "bytes" | "items";
  /** A short description of what is being worked on (a file, a package). */
  detail?: string;
}

export interface EditableArchive {
  /** Top-level import package shipped. */
  name: string;
  /** Where the zip was uploaded. */
  packagePath: string;
  sha256: string;
  /** False when the remote zip was already identical. */
  uploaded: boolean;
}

export interface UploadEnvResult {
  /** Where the environment archive is (the caller's URL form). */
  packagePath: string;
  /** cluster-pack's environment name (`<venv>_<sha1[:7]>` or `default`). */
  envName: string;
  /** How engines ship and start it (for @cluster-pack/engines' Spark/skein/Dask/Ray builders). */
  environment: PythonEnvironment;
  editableArchives: EditableArchive[];
  /** False when the remote copy was already up to date (no build, no upload). */
  uploaded: boolean;
  /** The pins the archive holds, and the hash that decides whether it must be rebuilt. */
  requirements: string[];
  lockHash: string;
  /** Layered layout: every layer the environment needs, and whether this call uploaded it. */
  layers?: PublishedLayer[];
}
