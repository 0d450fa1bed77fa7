import type { ErrorsErrorCode } from "@cluster-pack/errors";
import type { IoErrorCode } from "@cluster-pack/io";

/**
 * The error codes @cluster-pack/zip throws or recognises itself (beyond those of the packages it
 * depends on), declared once: a test fails on any `ERR_*` in this package's code that
 * neither this list nor a dependency's declares. Switch on `err.code` with the union.
 */
export const ZIP_ERROR_CODES = [
  "ERR_ARCHIVE_TOO_LARGE",
  "ERR_CORRUPT_ENTRY",
  "ERR_CORRUPT_ZIP",
  "ERR_CRC_MISMATCH",
  "ERR_DUPLICATE_ENTRY",
  "ERR_ENTRY_TOO_LARGE",
  "ERR_HEADER_MISMATCH",
  "ERR_INVALID_ENTRY",
  "ERR_INVALID_OPTION",
  "ERR_NOT_A_ZIP",
  "ERR_NO_SUCH_ENTRY",
  "ERR_OUTPUT",
  "ERR_OVERLAPPING_ENTRIES",
  "ERR_SIZE_MISMATCH",
  "ERR_TARGET",
  "ERR_TARGET_NOT_EMPTY",
  "ERR_TOO_MANY_ENTRIES",
  "ERR_UNLISTED_DATA",
  "ERR_UNSAFE_ENTRY_NAME",
  "ERR_UNSAFE_SYMLINK",
  "ERR_UNSUPPORTED_ZIP",
  "ERR_WORKER_CRASHED",
] as const;

/** Every code an error from @cluster-pack/zip can carry (its own and its dependencies'). */
export type ZipErrorCode = (typeof ZIP_ERROR_CODES)[number] | ErrorsErrorCode | IoErrorCode;
