import { AbortError } from "@cluster-pack/errors";
import { forEachLimit, Limiter, settleAll } from "./limiter";

const tick = () => new Promise((r) => setImmediate(r));

describe("Limiter", () => {
  it("never lets more than max run, and serves waiters in order", async () => {
    const limiter = new Limiter(2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        limiter.run(async () => {
          order.push(i);
          running++;
          peak = Math.max(peak, running);
          await tick();
          running--;
        }),
      ),
    );
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it("an aborted waiter leaves the queue; a double release is harmless", async () => {
    const limiter = new Limiter(1);
    const release = await limiter.acquire();
    const ac = new AbortController();
    const waiting = limiter.acquire(ac.signal);
    const next = limiter.acquire();
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: "ABORT_ERR" });
    release();
    release();
    const releaseNext = await next;
    let third = false;
    void limiter.acquire().then(() => (third = true));
    await tick();
    expect(third).toBe(false);
    releaseNext();
    await tick();
    expect(third).toBe(true);
  });
});

describe("forEachLimit", () => {
  it("runs every item at most `limit` at a time", async () => {
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    await forEachLimit([1, 2, 3, 4, 5], 3, async (x) => {
      running++;
      peak = Math.max(peak, running);
      await tick();
      seen.push(x);
      running--;
    });
    expect(peak).toBe(3);
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5]);
  });

  it("starts nothing after a failure and settles only when running items have", async () => {
    const started: number[] = [];
    let finishedSlow = false;
    await expect(
      forEachLimit([0, 1, 2, 3, 4], 2, async (x) => {
        started.push(x);
        if (x === 0) throw new Error("first fails");
        await tick();
        await tick();
        finishedSlow = true;
      }),
    ).rejects.toThrow("first fails");
    expect(started).toEqual([0, 1]);
    expect(finishedSlow).toBe(true);
  });

  it("stops at an abort", async () => {
    const ac = new AbortController();
    const done: number[] = [];
    const p = forEachLimit([1, 2, 3, 4], 1, async (x) => {
      done.push(x);
      if (x === 2) ac.abort();
    }, { signal: ac.signal });
    await expect(p).rejects.toMatchObject({ code: "ABORT_ERR" });
    expect(done).toEqual([1, 2]);
  });
});

describe("settleAll", () => {
  it("resolves to the values in order once all settled", async () => {
    const slow = new Promise<number>((r) => setTimeout(() => r(1), 20));
    await expect(settleAll([slow, Promise.resolve(2)])).resolves.toEqual([1, 2]);
  });
  it("waits for every promise before throwing, and throws the cause rather than the aborts it triggered", async () => {
    let finished = false;
    const running = new Promise<void>((r) => setTimeout(() => ((finished = true), r()), 30));
    const abort = Promise.reject(new AbortError());
    const cause = new Promise<never>((_, j) => setTimeout(() => j(new Error("disk full")), 5));
    await expect(settleAll([abort, cause, running])).rejects.toThrow("disk full");
    expect(finished).toBe(true);
    await expect(settleAll([Promise.reject(new AbortError()), Promise.resolve(1)])).rejects.toBeInstanceOf(AbortError);
  });
});
