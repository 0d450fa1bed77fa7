import type { ErrorsErrorCode } from "@cluster-pack/errors";
import type { IoErrorCode } from "@cluster-pack/io";
import type { PackagingErrorCode } from "@cluster-pack/packaging";
import type { WheelErrorCode } from "@cluster-pack/wheel";
import type { ZipErrorCode } from "@cluster-pack/zip";

/**
 * The error codes @cluster-pack/pex throws or recognises itself (beyond those of the packages it
 * depends on), declared once: a test fails on any `ERR_*` in this package's code that
 * neither this list nor a dependency's declares. Switch on `err.code` with the union.
 */
export const PEX_ERROR_CODES = [
  "ERR_BYTECODE_COMPILE",
  "ERR_BYTECODE_INTERPRETER",
  "ERR_NOT_A_PEX",
  "ERR_PEX_INFO",
  "ERR_SYMLINK_OUTSIDE",
] as const;

/** Every code an error from @cluster-pack/pex can carry (its own and its dependencies'). */
export type PexErrorCode = (typeof PEX_ERROR_CODES)[number] | ErrorsErrorCode | IoErrorCode | PackagingErrorCode | WheelErrorCode | ZipErrorCode;
