import { AbortError } from "@cluster-pack/errors";
import { httpGet, retryingTransport, readBody } from "./http";
import { isTransientError, parseRetryAfter, retryDelay, sleep, withRetry } from "./retry";
import { startHttpServer } from "./test-kit/servers";

describe("withRetry", () => {
  it("stops after the attempts, with full-jitter delays under the doubling cap", async () => {
    const delays: number[] = [];
    let calls = 0;
    const err = Object.assign(new Error("reset"), { code: "ECONNRESET" });
    await expect(
      withRetry(
        async () => {
          calls++;
          throw err;
        },
        isTransientError,
        { attempts: 4, baseDelayMs: 1, maxDelayMs: 3, onRetry: (_e, _n, d) => delays.push(d) },
      ),
    ).rejects.toBe(err);
    expect(calls).toBe(4);
    expect(delays).toHaveLength(3);
    [1, 2, 3].forEach((cap, i) => {
      expect(delays[i]).toBeGreaterThanOrEqual(0);
      expect(delays[i]).toBeLessThanOrEqual(cap);
    });
  });

  it("does not retry what is not transient, nor an abort", async () => {
    let calls = 0;
    await expect(withRetry(async () => { calls++; throw new Error("bad request"); }, isTransientError, { attempts: 5 })).rejects.toThrow("bad request");
    expect(calls).toBe(1);
    expect(isTransientError(new AbortError())).toBe(false);
    expect(isTransientError({ status: 503 })).toBe(true);
    expect(isTransientError({ status: 404 })).toBe(false);
    expect(isTransientError({ cause: { code: "ETIMEDOUT" } })).toBe(true);
  });

  it("ends a backoff sleep as soon as the signal fires", async () => {
    const ac = new AbortController();
    const pending = withRetry(async () => { throw Object.assign(new Error("down"), { transient: true }); }, isTransientError, { attempts: 3, baseDelayMs: 60_000, maxDelayMs: 60_000, signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await expect(pending).rejects.toMatchObject({ code: "ABORT_ERR" });
    await expect(sleep(10, AbortSignal.abort())).rejects.toBeInstanceOf(AbortError);
  });

  it("waits what Retry-After asks for, and gives up on an unreasonable wait", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    expect(parseRetryAfter(new Date(Date.now() + 10_000).toUTCString(), Date.now())).toBeGreaterThan(8000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(retryDelay({ retryAfterMs: 1500 }, 1)).toBe(1500);
    expect(retryDelay({ retryAfterMs: 10 * 60_000 }, 1, { maxRetryAfterMs: 60_000 })).toBeUndefined();
  });

  it("retries 503 answers of a real server, honouring Retry-After, then succeeds", async () => {
    let n = 0;
    const server = await startHttpServer((_req, res) => {
      if (++n < 3) return res.writeHead(503, { "retry-after": "0" }).end("busy");
      res.end("ok");
    });
    try {
      const delays: number[] = [];
      const get = retryingTransport(httpGet, { attempts: 3, baseDelayMs: 60_000, onRetry: (_e, _n, d) => delays.push(d) });
      const res = await get(`${server.origin}/x`, {});
      expect((await readBody(res.body)).toString()).toBe("ok");
      // Retry-After: 0 replaced the 60 s backoff.
      expect(delays).toEqual([0, 0]);
      n = -10;
      await expect(retryingTransport(httpGet, { attempts: 2 })(`${server.origin}/x`, {})).rejects.toMatchObject({ code: "ERR_HTTP_STATUS", status: 503 });
    } finally {
      await server.close();
    }
  });
});
