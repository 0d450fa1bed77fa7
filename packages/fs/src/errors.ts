import { AbortError, ClusterPackError, redactUrl } from "@cluster-pack/errors";

/**
 * Node-shaped error codes every adapter maps its store's errors to, so callers handle
 * local disk, S3 and HDFS alike (the yarn fslib approach).
 */
export type FsErrorCode =
  | "ENOENT"
  | "EEXIST"
  | "EACCES"
  | "ENOTDIR"
  | "EISDIR"
  | "ENOTEMPTY"
  | "EROFS"
  | "ENOTSUP"
  | "EINVAL"
  | "ENOSPC"
  | "EIO";

/**
 * A filesystem error: `code` is a Node code, `driver` the adapter that raised it, `path`
 * the redacted location, and `cause` the store's own error (AWS SDK error, WebHDFS
 * RemoteException, Node system error).
 */
export class FsError extends ClusterPackError {
  readonly driver: string;
  readonly path: string;
  readonly op: string;

  constructor(
    code: FsErrorCode,
    details: { driver: string; op: string; path: string; message: string; cause?: unknown; hint?: string },
  ) {
    super(code, `[${details.driver}] ${code}: ${details.message} (${details.op} ${redactUrl(details.path)})`, {
      cause: details.cause,
      ...(details.hint === undefined ? {} : { hint: details.hint }),
    });
    this.driver = details.driver;
    this.path = redactUrl(details.path);
    this.op = details.op;
  }
}

/** True when `err` carries this Node-style code (FsError, Node system error, or anything shaped so). */
export function isFsError(err: unknown, code?: FsErrorCode): boolean {
  if (typeof err !== "object" || err === null) return false;
  const c = (err as { code?: unknown }).code;
  return code === undefined ? typeof c === "string" && /^E[A-Z]+$/.test(c) : c === code;
}

/** Converts an abort (whatever shape the library used) into the project's AbortError. */
export function toAbortError(signal: AbortSignal | undefined, cause?: unknown): AbortError {
  return new AbortError(undefined, { cause: signal?.reason ?? cause });
}

/** Throws an AbortError when `signal` is aborted. */
export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw toAbortError(signal);
}
