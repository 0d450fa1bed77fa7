import type { CondaErrorCode } from "@cluster-pack/conda";
import type { EnginesErrorCode } from "@cluster-pack/engines";
import type { ErrorsErrorCode } from "@cluster-pack/errors";
import type { FsErrorCode } from "@cluster-pack/fs";
import type { IoErrorCode } from "@cluster-pack/io";
import type { PackagingErrorCode } from "@cluster-pack/packaging";
import type { PexErrorCode } from "@cluster-pack/pex";
import type { PipErrorCode } from "@cluster-pack/pip";
import type { WheelErrorCode } from "@cluster-pack/wheel";
import type { ZipErrorCode } from "@cluster-pack/zip";

/**
 * The error codes cluster-pack throws or recognises itself (beyond those of the packages it
 * depends on), declared once: a test fails on any `ERR_*` in this package's code that
 * neither this list nor a dependency's declares. Switch on `err.code` with the union.
 */
export const CLUSTER_PACK_ERROR_CODES = [
  "ERR_DOWNLOAD",
  "ERR_GC_TOO_LARGE",
  "ERR_GC_UNREADABLE",
  "ERR_LAYER",
  "ERR_NO_ENVIRONMENT",
  "ERR_NO_WHEEL",
  "ERR_PACKAGE_PATH",
  "ERR_PYTHON_PROBE",
  "ERR_STORE",
] as const;

/** Every code an error from cluster-pack can carry (its own and its dependencies'). */
export type ClusterPackErrorCode = (typeof CLUSTER_PACK_ERROR_CODES)[number] | CondaErrorCode | EnginesErrorCode | ErrorsErrorCode | FsErrorCode | IoErrorCode | PackagingErrorCode | PexErrorCode | PipErrorCode | WheelErrorCode | ZipErrorCode;
