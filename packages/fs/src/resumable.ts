import { setTimeout as sleep } from "node:timers/promises";
import { Readable } from "node:stream";
import { toAbortError } from "./errors";
import { DEFAULT_RETRY, isTransientError, withRetry, type RetryOptions } from "./retry";

export interface OpenedRange {
  stream: Readable;
  /** Exclusive end offset this response promises (to detect a response cut short). */
  end?: number;
}

/**
 * A download that survives connection resets: after a transient failure it re-opens the
 * object at the first byte not yet delivered (HTTP Range), so callers see one unbroken
 * stream. The first open happens before returning, so ENOENT surfaces at the call.
 * `open` should pin the version (S3 If-Match) so a resumed read never mixes two objects.
 */
export async function resumableStream(
  open: (position: number, end: number | undefined, signal?: AbortSignal) => Promise<OpenedRange>,
  options: { offset?: number; length?: number; signal?: AbortSignal; retry?: RetryOptions },
): Promise<Readable> {
  const signal = options.signal;
  const end = options.length === undefined ? undefined : (options.offset ?? 0) + options.length;
  let pos = options.offset ?? 0;
  const attempts = options.retry?.attempts ?? DEFAULT_RETRY.attempts;
  let current = await withRetry(() => open(pos, end, signal), isTransientError, { ...options.retry, signal });

  async function* chunks(): AsyncGenerator<Buffer> {
    let failures = 0;
    try {
      for (;;) {
        try {
          for await (const chunk of current.stream as AsyncIterable<Buffer>) {
            pos += chunk.length;
            yield chunk;
          }
          if (current.end !== undefined && pos < current.end) {
            throw Object.assign(new Error(`response ended at byte ${pos}, before ${current.end}`), { transient: true });
          }
          return;
        } catch (err) {
          if (signal?.aborted) throw toAbortError(signal, err);
          failures += 1;
          if (!isTransientError(err) || failures >= attempts) throw err;
          current.stream.destroy();
          try {
            await sleep(Math.random() * Math.min(DEFAULT_RETRY.maxDelayMs, (options.retry?.baseDelayMs ?? DEFAULT_RETRY.baseDelayMs) * 2 ** failures), undefined, { signal });
          } catch {
            throw toAbortError(signal, err);
          }
          current = await withRetry(() => open(pos, end, signal), isTransientError, { ...options.retry, signal });
        }
      }
    } finally {
      current.stream.destroy();
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}
