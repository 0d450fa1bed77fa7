import type { ErrorsErrorCode } from "@cluster-pack/errors";
import type { IoErrorCode } from "@cluster-pack/io";
import type { PackagingErrorCode } from "@cluster-pack/packaging";
import type { WheelErrorCode } from "@cluster-pack/wheel";
import type { ZipErrorCode } from "@cluster-pack/zip";

/**
 * The error codes @cluster-pack/pip throws or recognises itself (beyond those of the packages it
 * depends on), declared once: a test fails on any `ERR_*` in this package's code that
 * neither this list nor a dependency's declares. Switch on `err.code` with the union.
 */
export const PIP_ERROR_CODES = [
  "ERR_BUILD_CONFIG",
  "ERR_BUILD_FAILED",
  "ERR_BUILD_MISMATCH",
  "ERR_HASHES_REQUIRED",
  "ERR_HASH_MISMATCH",
  "ERR_HTTP_NOT_FOUND",
  "ERR_INDEX",
  "ERR_INDEX_GARBAGE",
  "ERR_INDEX_UNREACHABLE",
  "ERR_INTERPRETER_NOT_FOUND",
  "ERR_INTERPRETER_PROBE",
  "ERR_INVALID_CONSTRAINT",
  "ERR_INVALID_INDEX_URL",
  "ERR_INVALID_TARGET",
  "ERR_LOCK_FILE_MISSING",
  "ERR_LOCK_INVALID",
  "ERR_LOCK_TARGET",
  "ERR_METADATA_INVALID",
  "ERR_METADATA_MISMATCH",
  "ERR_NETWORK",
  "ERR_NO_BUILD_PYTHON",
  "ERR_NO_SOURCES",
  "ERR_PIP_CONFIG",
  "ERR_REQUIREMENTS_FILE",
  "ERR_RESOLUTION_IMPOSSIBLE",
  "ERR_SDIST_INVALID",
  "ERR_SDIST_METADATA",
  "ERR_TRUNCATED",
  "ERR_UNSAFE_PATH",
  "ERR_WHEEL_INVALID",
] as const;

/** Every code an error from @cluster-pack/pip can carry (its own and its dependencies'). */
export type PipErrorCode = (typeof PIP_ERROR_CODES)[number] | ErrorsErrorCode | IoErrorCode | PackagingErrorCode | WheelErrorCode | ZipErrorCode;
