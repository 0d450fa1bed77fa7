import type { ErrorsErrorCode } from "@cluster-pack/errors";

/**
 * The error codes @cluster-pack/io throws or recognises itself (beyond those of the packages it
 * depends on), declared once: a test fails on any `ERR_*` in this package's code that
 * neither this list nor a dependency's declares. Switch on `err.code` with the union.
 */
export const IO_ERROR_CODES = [
  "ERR_ACCESS_DENIED",
  "ERR_BAD_REDIRECT",
  "ERR_CLOSED",
  "ERR_FILE_NOT_FOUND",
  "ERR_FILE_NOT_READABLE",
  "ERR_HTTP_RANGE",
  "ERR_HTTP_RANGE_UNSUPPORTED",
  "ERR_HTTP_STATUS",
  "ERR_INVALID_URL",
  "ERR_NOT_FOUND",
  "ERR_NO_SPACE",
  "ERR_OUTPUT_EXISTS",
  "ERR_OUT_OF_BOUNDS",
  "ERR_REDIRECT_REFUSED",
  "ERR_RESPONSE_TOO_LARGE",
  "ERR_SOURCE_CHANGED",
  "ERR_TOO_MANY_REDIRECTS",
] as const;

/** Every code an error from @cluster-pack/io can carry (its own and its dependencies'). */
export type IoErrorCode = (typeof IO_ERROR_CODES)[number] | ErrorsErrorCode;
