import type { CondaErrorCode } from "@cluster-pack/conda";
import type { EnginesErrorCode } from "@cluster-pack/engines";
import type { ErrorsErrorCode } from "@cluster-pack/errors";
import type { FsErrorCode } from "@cluster-pack/fs";
import type { IoErrorCode } from "@cluster-pack/io";
import type { PexErrorCode } from "@cluster-pack/pex";
import type { PipErrorCode } from "@cluster-pack/pip";
import type { ZipErrorCode } from "@cluster-pack/zip";
import type { ClusterPackErrorCode } from "cluster-pack";

/**
 * The error codes @cluster-pack/cli throws or recognises itself (beyond those of the packages it
 * depends on), declared once: a test fails on any `ERR_*` in this package's code that
 * neither this list nor a dependency's declares. Switch on `err.code` with the union.
 */
export const CLI_ERROR_CODES = [
  "ERR_INTERRUPTED",
  "ERR_PEX_VERIFY",
  "ERR_UNKNOWN",
  "ERR_USAGE",
] as const;

/** Every code an error from @cluster-pack/cli can carry (its own and its dependencies'). */
export type CliErrorCode = (typeof CLI_ERROR_CODES)[number] | CondaErrorCode | EnginesErrorCode | ErrorsErrorCode | FsErrorCode | IoErrorCode | PexErrorCode | PipErrorCode | ZipErrorCode | ClusterPackErrorCode;
