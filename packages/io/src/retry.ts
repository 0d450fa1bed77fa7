import { AbortError } from "@cluster-pack/errors";

/** How an operation is retried: every client of the project (indexes, stores) takes these. */
export interface RetryOptions {
  /** Total attempts including the first (default 5). */
  attempts?: number;
  /** First backoff delay; doubles each attempt, with full jitter (default 100 ms). */
  baseDelayMs?: number;
  /** Cap on one backoff delay (default 5 s). */
  maxDelayMs?: number;
  /**
   * Longest `Retry-After` honoured (default 60 s). A server asking for a longer wait makes
   * the failure final: waiting minutes silently looks like a hang.
   */
  maxRetryAfterMs?: number;
  signal?: AbortSignal;
  /** Called before each backoff with the delay chosen; handy for logs and tests. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/** The defaults every retrying client starts from. */
export const DEFAULT_RETRY: Required<Pick<RetryOptions, "attempts" | "baseDelayMs" | "maxDelayMs" | "maxRetryAfterMs">> = {
  attempts: 5,
  baseDelayMs: 100,
  maxDelayMs: 5000,
  maxRetryAfterMs: 60_000,
};

/**
 * Runs `fn` until it succeeds, `isRetryable` says no, or the attempts run out. Bounded on
 * purpose: a store that stays down must surface as an error, not a hang. Between attempts
 * it sleeps a full-jitter backoff (random in [0, min(max, base * 2^n)]: retries of many
 * clients spread out instead of arriving together), or what the server asked for in
 * `Retry-After` (carried by the error as `retryAfterMs`). An abort ends the sleep at once.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, isRetryable: (err: unknown) => boolean = isTransientError, options: RetryOptions = {}): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? DEFAULT_RETRY.attempts);
  for (let attempt = 1; ; attempt++) {
    throwAborted(options.signal);
    try {
      return await fn(attempt);
    } catch (err) {
      if (options.signal?.aborted) throw abortError(options.signal, err);
      if (attempt >= attempts || !isRetryable(err)) throw err;
      const delay = retryDelay(err, attempt, options);
      if (delay === undefined) throw err;
      options.onRetry?.(err, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}

/**
 * The wait before attempt `attempt + 1`: the error's `retryAfterMs` when the server sent
 * one (undefined when it exceeds `maxRetryAfterMs`: give up), else full-jitter backoff.
 */
export function retryDelay(err: unknown, attempt: number, options: RetryOptions = {}): number | undefined {
  const retryAfter = (err as { retryAfterMs?: unknown } | null)?.retryAfterMs;
  if (typeof retryAfter === "number" && Number.isFinite(retryAfter) && retryAfter >= 0) {
    return retryAfter <= (options.maxRetryAfterMs ?? DEFAULT_RETRY.maxRetryAfterMs) ? retryAfter : undefined;
  }
  const base = options.baseDelayMs ?? DEFAULT_RETRY.baseDelayMs;
  const max = options.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs;
  return Math.random() * Math.min(max, base * 2 ** (attempt - 1));
}

/**
 * A `Retry-After` header (delay-seconds or an HTTP date) in milliseconds from `now`;
 * undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | string[] | null | undefined, now = Date.now()): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Resolves after `ms`, or rejects with AbortError as soon as `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
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

/**
 * What is worth another try: connection resets, refused connections, timeouts (codes and
 * `TimeoutError`s), HTTP 429
 * and 5xx (as `status`, or the AWS SDK's `$metadata`), anything marked `transient`, and
 * the same found in a `cause`. Never an abort.
 */
export function isTransientError(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const e = err as { code?: unknown; name?: unknown; status?: unknown; transient?: unknown; cause?: unknown; message?: unknown };
  if (e.code === "ABORT_ERR") return false;
  if (e.transient === true) return true;
  // The AWS SDK's connection/idle-socket timeouts (smithy's node-http-handler) carry only a name.
  if (e.name === "TimeoutError") return true;
  if (typeof e.code === "string" && TRANSIENT_CODES.has(e.code)) return true;
  if (typeof e.status === "number" && isTransientStatus(e.status)) return true;
  // SDK wrappers ("AWS SDK error wrapper for Error: connect ECONNREFUSED") keep only the message.
  if (typeof e.message === "string" && /socket hang up|\baborted\b|ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|premature close/i.test(e.message)) return true;
  const meta = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (typeof meta === "number" && isTransientStatus(meta)) return true;
  if ((err as { $retryable?: unknown }).$retryable) return true;
  return e.cause !== undefined && e.cause !== err ? isTransientError(e.cause) : false;
}

/** HTTP statuses a retry can cure: 408, 429 and 5xx. */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

function throwAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

function abortError(signal: AbortSignal | undefined, cause?: unknown): AbortError {
  return new AbortError(undefined, { cause: signal?.reason ?? cause });
}
