import type { ErrorsErrorCode } from "@cluster-pack/errors";
import type { IoErrorCode } from "@cluster-pack/io";
import type { PackagingErrorCode } from "@cluster-pack/packaging";
import type { ZipErrorCode } from "@cluster-pack/zip";

/**
 * The error codes @cluster-pack/conda throws or recognises itself (beyond those of the packages it
 * depends on), declared once: a test fails on any `ERR_*` in this package's code that
 * neither this list nor a dependency's declares. Switch on `err.code` with the union.
 */
export const CONDA_ERROR_CODES = [
  "ERR_BAD_ARCROOT",
  "ERR_BAD_DEST_PREFIX",
  "ERR_BAD_ENV_NAME",
  "ERR_BAD_FORMAT",
  "ERR_BAD_LEVEL",
  "ERR_BAD_OPTION",
  "ERR_BAD_OUTPUT",
  "ERR_BAD_THREADS",
  "ERR_COMPRESSION",
  "ERR_CORRUPT_ENV",
  "ERR_CORRUPT_RECORD",
  "ERR_EDITABLE_PACKAGES",
  "ERR_FILE_CHANGED",
  "ERR_FILE_VANISHED",
  "ERR_MISSING_FILES",
  "ERR_NAME_NOT_UTF8",
  "ERR_NOT_A_CONDA_ENV",
  "ERR_NOT_A_VENV",
  "ERR_NO_BASE_PYTHON",
  "ERR_OUTPUT_IN_ENV",
  "ERR_PREFIX_TOO_LONG",
  "ERR_READ",
  "ERR_SYMLINK_OUTSIDE",
  "ERR_TOOL_MISSING",
] as const;

/** Every code an error from @cluster-pack/conda can carry (its own and its dependencies'). */
export type CondaErrorCode = (typeof CONDA_ERROR_CODES)[number] | ErrorsErrorCode | IoErrorCode | PackagingErrorCode | ZipErrorCode;
