import type { ErrorsErrorCode } from "@cluster-pack/errors";

/**
 * The error codes @cluster-pack/packaging throws or recognises itself (beyond those of the packages it
 * depends on), declared once: a test fails on any `ERR_*` in this package's code that
 * neither this list nor a dependency's declares. Switch on `err.code` with the union.
 */
export const PACKAGING_ERROR_CODES = [
  "ERR_FILENAME_MISMATCH",
  "ERR_INVALID_DISTRIBUTION_NAME",
  "ERR_INVALID_HASH",
  "ERR_INVALID_MARKER",
  "ERR_INVALID_NAME",
  "ERR_INVALID_REQUIREMENT",
  "ERR_INVALID_SDIST_NAME",
  "ERR_INVALID_SPECIFIER",
  "ERR_INVALID_TAG",
  "ERR_INVALID_VERSION",
  "ERR_INVALID_WHEEL_NAME",
  "ERR_UNSAFE_FILENAME",
] as const;

/** Every code an error from @cluster-pack/packaging can carry (its own and its dependencies'). */
export type PackagingErrorCode = (typeof PACKAGING_ERROR_CODES)[number] | ErrorsErrorCode;
