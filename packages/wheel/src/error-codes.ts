import type { ErrorsErrorCode } from "@cluster-pack/errors";
import type { IoErrorCode } from "@cluster-pack/io";
import type { PackagingErrorCode } from "@cluster-pack/packaging";
import type { ZipErrorCode } from "@cluster-pack/zip";

/**
 * The error codes @cluster-pack/wheel throws or recognises itself (beyond those of the packages it
 * depends on), declared once: a test fails on any `ERR_*` in this package's code that
 * neither this list nor a dependency's declares. Switch on `err.code` with the union.
 */
export const WHEEL_ERROR_CODES = [
  "ERR_NOT_REBUILDABLE",
  "ERR_WHEEL_MISLABELLED",
] as const;

/** Every code an error from @cluster-pack/wheel can carry (its own and its dependencies'). */
export type WheelErrorCode = (typeof WHEEL_ERROR_CODES)[number] | ErrorsErrorCode | IoErrorCode | PackagingErrorCode | ZipErrorCode;
