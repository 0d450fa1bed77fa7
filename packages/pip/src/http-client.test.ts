import crypto from "node:crypto";
import { getEventListeners } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { HttpClient, NetworkError } from "./http";

jest.setTimeout(30_000);

/** A loopback server for one file with ranges and ETags, plus redirects and misbehaviours on request. */
async function serve(initial: Buffer) {
  let data = initial;
  const seen: Array<{ path: string; range?: string; authorization?: string }> = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    seen.push({ path: url.pathname, range: req.headers.range, authorization: req.headers.authorization });
    const etag = `"${crypto.createHash("sha1").update(data).digest("hex")}"`;
    if (url.pathname === "/redirect") return void res.writeHead(302, { location: `http://localhost:${port}/page` }).end();
    if (url.pathname === "/relative") return void res.writeHead(301, { location: "/page" }).end();
    if (url.pathname === "/page") return void res.writeHead(200, { "content-type": "text/html" }).end("<html>page</html>");
    if (url.pathname === "/stall") {
      res.writeHead(200, { "content-type": "text/html", "content-length": "100" });
      res.write("partial");
      return; // never finishes
    }
    if (url.pathname === "/no-ranges") return void res.writeHead(200, { "content-length": data.length }).end(data);
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
    if (!range) return void res.writeHead(200, { etag }).end(data);
    if (req.headers["if-match"] && req.headers["if-match"] !== etag) return void res.writeHead(412).end();
    const start = range[1] === "" ? Math.max(0, data.length - Number(range[2])) : Number(range[1]);
    const end = range[1] === "" ? data.length - 1 : Math.min(Number(range[2]), data.length - 1);
    res.writeHead(206, { etag, "content-range": `bytes ${start}-${end}/${data.length}` }).end(data.subarray(start, end + 1));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    replace(next: Buffer) {
      data = next;
    },
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

const bytes = crypto.randomBytes(10_000);

describe("HttpClient over node:http", () => {
  test("dozens of concurrent downloads on one caller signal (a cold pex build) stay under Node's 10-listener warning", async () => {
    // Node prints MaxListenersExceededWarning when an 11th abort listener is added to one
    // signal; count the caller signal's listeners while every download is under way.
    const s = await serve(bytes);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pip-listeners-"));
    try {
      fs.writeFileSync(path.join(dir, "f.whl"), bytes);
      const client = new HttpClient({ retries: 0, concurrency: 16 });
      const signal = new AbortController().signal;
      let total = 0;
      let most = 0;
      const count = (c: Uint8Array) => {
        total += c.length;
        most = Math.max(most, getEventListeners(signal, "abort").length);
      };
      // file: URLs (a local mirror, find-links) and http ones, more at once than the limiter runs.
      await Promise.all([
        ...Array.from({ length: 24 }, () => client.stream(pathToFileURL(path.join(dir, "f.whl")).href, count, { signal })),
        ...Array.from({ length: 24 }, (_, i) => client.stream(`${s.url}/f${i}.whl`, count, { signal })),
      ]);
      expect(total).toBe(48 * bytes.length);
      expect(most).toBeLessThanOrEqual(10);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      await s.close();
    }
  });

  test("rangeSource: the tail comes with the first request, earlier ranges are fetched exactly", async () => {
    const s = await serve(bytes);
    try {
      const src = await new HttpClient({ retries: 0 }).rangeSource(`${s.url}/f.whl`, { tailSize: 1000 });
      expect(src.size).toBe(bytes.length);
      expect(await src.read(9500, 500)).toEqual(bytes.subarray(9500));
      expect(s.seen).toHaveLength(1);
      expect(await src.read(100, 2000)).toEqual(bytes.subarray(100, 2100));
      expect(s.seen.map((r) => r.range)).toEqual(["bytes=-1000", "bytes=100-2099"]);
      await expect(src.read(9000, 2000)).rejects.toMatchObject({ code: "ERR_OUT_OF_BOUNDS" });
    } finally {
      await s.close();
    }
  });

  test("rangeSource: a file replaced between reads fails instead of mixing versions", async () => {
    const s = await serve(bytes);
    try {
      const src = await new HttpClient({ retries: 0 }).rangeSource(`${s.url}/f.whl`, { tailSize: 1000 });
      s.replace(crypto.randomBytes(10_000));
      await expect(src.read(0, 100)).rejects.toMatchObject({ code: "ERR_SOURCE_CHANGED" });
    } finally {
      await s.close();
    }
  });

  test("rangeSource: a server that ignores Range is reported as such (callers then download)", async () => {
    const s = await serve(bytes);
    try {
      await expect(new HttpClient({ retries: 0 }).rangeSource(`${s.url}/no-ranges`)).rejects.toMatchObject({ code: "ERR_HTTP_RANGE_UNSUPPORTED" });
    } finally {
      await s.close();
    }
  });

  test("redirects are followed; the final URL is reported; credentials do not follow to another host", async () => {
    const s = await serve(bytes);
    try {
      const client = new HttpClient({ retries: 0 });
      const viaRelative = await client.getText(`${s.url}/relative`);
      expect(viaRelative.body).toBe("<html>page</html>");
      expect(viaRelative.url).toBe(`${s.url}/page`);
      const creds = s.url.replace("http://", "http://u:pw@");
      const viaOtherHost = await client.getText(`${creds}/redirect`);
      expect(viaOtherHost.url).toMatch(/^http:\/\/localhost:\d+\/page$/);
      expect(s.seen.find((r) => r.path === "/redirect")?.authorization).toMatch(/^Basic /);
      expect(s.seen.filter((r) => r.path === "/page").at(-1)?.authorization).toBeUndefined();
    } finally {
      await s.close();
    }
  });

  test("a response that stalls mid-body fails after the timeout (no hang); an abort stops a request", async () => {
    const s = await serve(bytes);
    try {
      const err = await new HttpClient({ retries: 0, timeout: 0.3 }).getText(`${s.url}/stall`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NetworkError);
      expect((err as Error).message).toMatch(/stalled for 0.3 s/);
      const ac = new AbortController();
      const pending = new HttpClient({ retries: 0 }).getText(`${s.url}/stall`, { signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      await expect(pending).rejects.toMatchObject({ code: "ABORT_ERR" });
    } finally {
      await s.close();
    }
  });
});
