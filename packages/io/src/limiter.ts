import { AbortError, throwIfAborted } from "@cluster-pack/errors";

/**
 * A counting semaphore: at most `max` holders at once, waiters served in order. A waiter
 * whose signal fires leaves the queue with an AbortError.
 */
export class Limiter {
  private active = 0;
  private readonly queue: Array<() => void> = [];

  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError(`Limiter: max must be at least 1, got ${max}`);
  }

  /** Waits for a slot; the returned function gives it back (calling it twice is harmless). */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    throwIfAborted(signal);
    if (this.active >= this.max) {
      await new Promise<void>((resolve, reject) => {
        const go = () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        };
        const onAbort = () => {
          const i = this.queue.indexOf(go);
          if (i >= 0) this.queue.splice(i, 1);
          reject(new AbortError(undefined, { cause: signal!.reason }));
        };
        this.queue.push(go);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    } else {
      this.active++;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      // The slot passes straight to the next waiter: nobody can overtake it meanwhile.
      if (next) next();
      else this.active--;
    };
  }

  /** Runs `fn` in a slot. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/** Options of `forEachLimit`. */
export interface ForEachLimitOptions {
  signal?: AbortSignal;
  /**
   * After the first failure, start no new item (default true) and reject with that
   * failure once the items already running have settled. With false, every item runs and
   * the first failure is thrown at the end.
   */
  stopOnError?: boolean;
}

/**
 * Calls `fn` for every item, at most `limit` at a time, in order of the items. Never
 * leaves work running behind a rejection: it settles only when every started call has.
 */
export async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<unknown>, options: ForEachLimitOptions = {}): Promise<void> {
  const stopOnError = options.stopOnError ?? true;
  let next = 0;
  let failed = false;
  let failure: unknown;
  const worker = async () => {
    while (next < items.length && !(failed && stopOnError)) {
      if (options.signal?.aborted) {
        if (!failed) [failed, failure] = [true, new AbortError(undefined, { cause: options.signal.reason })];
        return;
      }
      const i = next++;
      try {
        await fn(items[i]!, i);
      } catch (err) {
        if (!failed) [failed, failure] = [true, err];
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed) throw failure;
}

/**
 * Awaits every promise (so no work is left running behind a rejection), then resolves to
 * their values in order, or throws the first rejection that is not an AbortError (the
 * error that caused the failure, not the aborts it triggered in its siblings), else the
 * first rejection.
 */
export async function settleAll<T>(promises: Iterable<Promise<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const rejected = settled.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  if (rejected.length) throw (rejected.find((r) => (r.reason as { code?: unknown } | null)?.code !== "ABORT_ERR") ?? rejected[0]!).reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}
