import type { ErrorsErrorCode } from "@cluster-pack/errors";

/**
 * The error codes @cluster-pack/engines throws or recognises itself (beyond those of the packages it
 * depends on), declared once: a test fails on any `ERR_*` in this package's code that
 * neither this list nor a dependency's declares. Switch on `err.code` with the union.
 */
export const ENGINES_ERROR_CODES = [
  "ERR_SPARK_CONF_CONFLICT",
] as const;

/** Every code an error from @cluster-pack/engines can carry (its own and its dependencies'). */
export type EnginesErrorCode = (typeof ENGINES_ERROR_CODES)[number] | ErrorsErrorCode;
