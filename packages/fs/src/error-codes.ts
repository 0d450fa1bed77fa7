import type { ErrorsErrorCode } from "@cluster-pack/errors";
import type { IoErrorCode } from "@cluster-pack/io";

/**
 * The error codes @cluster-pack/fs throws or recognises itself (beyond those of the packages it
 * depends on), declared once: a test fails on any `ERR_*` in this package's code that
 * neither this list nor a dependency's declares. Switch on `err.code` with the union.
 */
export const FS_ERROR_CODES = [] as const;

/** Every code an error from @cluster-pack/fs can carry (its own and its dependencies'). */
export type FsErrorCode = (typeof FS_ERROR_CODES)[number] | ErrorsErrorCode | IoErrorCode;
