import { setTimeout as sleep } from "node:timers/promises";
import { checkAborted, toAbortError } from "./errors";

export interface RetryOptions {
  /** Total attempts including the first (default 5). */
  attempts?: number;
  /** First backoff delay; doubles each attempt, with full jitter (default 100 ms). */
  baseDelayMs?: number;
  /** Cap on one backoff delay (default 5 s). */
  maxDelayMs?: number;
  signal?: AbortSignal;
  /** Called before each backoff; handy for logs and tests. */
  onRetry?: (err: unknown, attempt: number) => void;
}

/** Resolved retry settings: every adapter takes `retry?: RetryOptions`. */
export const DEFAULT_RETRY: Required<Pick<RetryOptions, "attempts" | "baseDelayMs" | "maxDelayMs">> = {
  attempts: 5,
  baseDelayMs: 100,
  maxDelayMs: 5000,
};

/**
 * Runs `fn` until it succeeds, `isRetryable` says no, or the attempts run out. Bounded on
 * purpose: a store that stays down must surface as an error, not a hang.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  isRetryable: (err: unknown) => boolean,
  options: RetryOptions = {},
): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? DEFAULT_RETRY.attempts);
  const base = options.baseDelayMs ?? DEFAULT_RETRY.baseDelayMs;
  const max = options.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs;
  for (let attempt = 1; ; attempt++) {
    checkAborted(options.signal);
    try {
      return await fn(attempt);
    } catch (err) {
      if (options.signal?.aborted) throw toAbortError(options.signal, err);
      if (attempt >= attempts || !isRetryable(err)) throw err;
      options.onRetry?.(err, attempt);
      const delay = Math.random() * Math.min(max, base * 2 ** (attempt - 1));
      try {
        await sleep(delay, undefined, { signal: options.signal });
      } catch {
        throw toAbortError(options.signal, err);
      }
    }
  }
}

const TRANSIENT_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

/** Connection resets, refused connections, timeouts, HTTP 429 and 5xx: worth another try. */
export function isTransientError(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const e = err as { code?: unknown; status?: unknown; transient?: unknown; cause?: unknown; message?: unknown };
  if (e.transient === true) return true;
  if (typeof e.code === "string" && TRANSIENT_CODES.has(e.code)) return true;
  if (typeof e.status === "number" && (e.status === 429 || e.status >= 500)) return true;
  // SDK wrappers ("AWS SDK error wrapper for Error: connect ECONNREFUSED") keep only the message.
  if (typeof e.message === "string" && e.code !== "ABORT_ERR" && /socket hang up|\baborted\b|ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|premature close/i.test(e.message)) return true;
  const meta = (err as { $metadata?: { httpStatusCode?: number }; $retryable?: unknown }).$metadata?.httpStatusCode;
  if (typeof meta === "number" && (meta === 429 || meta >= 500)) return true;
  if ((err as { $retryable?: unknown }).$retryable) return true;
  return e.cause !== undefined && e.cause !== err ? isTransientError(e.cause) : false;
}
