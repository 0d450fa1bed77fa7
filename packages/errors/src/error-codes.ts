/**
 * The codes @cluster-pack/errors gives (ABORT_ERR, the two defaults, ERR_WORKER for an
 * error without a code rebuilt from data) and the Node.js codes the project switches on.
 * Every package declares its codes the same way (`src/error-codes.ts`), and a test fails on
 * any `ERR_*` in a package's code that neither it nor a package it depends on declares.
 */
export const ERRORS_ERROR_CODES = ["ABORT_ERR", "ERR_INTEGRITY", "ERR_INVALID_INPUT", "ERR_STREAM_PREMATURE_CLOSE", "ERR_WORKER"] as const;

/** Every code an error from @cluster-pack/errors can carry. */
export type ErrorsErrorCode = (typeof ERRORS_ERROR_CODES)[number];
