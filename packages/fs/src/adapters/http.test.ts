import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { HttpFileSystem } from "./http";
import { openRandomAccess } from "../resolve";

// The preset's testTimeout is not applied under the root multi-project run; the machine is shared.
jest.setTimeout(120_000);

/** A static file server with Range/ETag support and switchable faults. */
async function serve(files: Record<string, Buffer>) {
  const state = { fail503: 0, resetAfter: -1, ignoreRange: false, requests: [] as http.IncomingHttpHeaders[] };
  const server = http.createServer((req, res) => {
    state.requests.push(req.headers);
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/secret") {
      res.writeHead(403).end("Forbidden");
      return;
    }
    if (state.fail503 > 0) {
      state.fail503--;
      res.writeHead(503).end("busy");
      return;
    }
    const body = files[url.pathname];
    if (!body) {
      res.writeHead(404).end("Not Found");
      return;
    }
    const headers = { etag: '"v1"', "last-modified": new Date(0).toUTCString(), "accept-ranges": "bytes", "x-amz-meta-lock": "abc" };
    const m = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? ""));
    let start = 0;
    let end = body.length - 1;
    if (m && !state.ignoreRange) {
      // bytes=N-M, bytes=N- and the suffix form bytes=-N, as real servers serve them.
      start = m[1] === "" ? Math.max(0, body.length - Number(m[2])) : Number(m[1]);
      end = m[1] !== "" && m[2] ? Math.min(Number(m[2]), body.length - 1) : body.length - 1;
      if (start >= body.length) {
        res.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
        return;
      }
      res.writeHead(206, { ...headers, "content-length": String(end - start + 1), "content-range": `bytes ${start}-${end}/${body.length}` });
    } else {
      res.writeHead(200, { ...headers, "content-length": String(body.length) });
    }
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    const slice = body.subarray(start, end + 1);
    if (state.resetAfter >= 0) {
      const cut = state.resetAfter;
      state.resetAfter = -1;
      res.write(slice.subarray(0, cut), () => res.socket?.destroy());
      return;
    }
    res.end(slice);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { origin, state, close: () => new Promise((r) => server.close(r)) };
}

describe("HttpFileSystem (read-only, real server on loopback)", () => {
  const data = randomBytes(1_000_000);
  let srv: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    srv = await serve({ "/pkg/six.whl": data });
  });
  afterAll(() => srv.close());

  it("stats, heads and reads ranges", async () => {
    const h = new HttpFileSystem(srv.origin);
    expect(await h.stat("/pkg/six.whl")).toMatchObject({ name: "six.whl", size: data.length, isFile: true, etag: '"v1"' });
    expect(await h.head("/pkg/six.whl")).toMatchObject({ metadata: { lock: "abc" }, size: data.length });
    expect(await h.read("/pkg/six.whl", { offset: 500, length: 10 })).toEqual(data.subarray(500, 510));
    expect(await h.read("/pkg/six.whl")).toEqual(data);
    expect(await h.isUpToDate("/pkg/six.whl", { metadata: { lock: "abc" }, size: data.length })).toMatchObject({ upToDate: true });
  });

  it("serves the zip reader's RandomAccessSource contract by URL", async () => {
    const ra = await openRandomAccess(`${srv.origin}/pkg/six.whl`);
    expect(ra.size).toBe(data.length);
    expect(ra.name).toBe(`${srv.origin}/pkg/six.whl`);
    expect(await ra.read(data.length - 22, 22)).toEqual(data.subarray(data.length - 22));
  });

  it("maps 404/403 and refuses writes", async () => {
    const h = new HttpFileSystem(srv.origin, { headers: { authorization: "Bearer very-secret" } });
    await expect(h.stat("/nope")).rejects.toMatchObject({ code: "ENOENT", driver: "http" });
    expect(await h.head("/nope")).toBeNull();
    const err = await h.read("/secret").catch((e) => e);
    expect(err).toMatchObject({ code: "EACCES" });
    expect(err.message).not.toContain("very-secret");
    await expect(h.write("/x", "y")).rejects.toMatchObject({ code: "EROFS" });
    await expect(h.publish(__filename, "/x")).rejects.toMatchObject({ code: "EROFS" });
    await expect(h.list("/")).rejects.toMatchObject({ code: "ENOTSUP" });
  });

  it("retries 503 and resumes after a connection reset", async () => {
    const h = new HttpFileSystem(srv.origin, { retry: { baseDelayMs: 5 } });
    srv.state.fail503 = 2;
    expect(await h.read("/pkg/six.whl", { offset: 0, length: 100 })).toEqual(data.subarray(0, 100));
    srv.state.requests.length = 0;
    srv.state.resetAfter = 200_000;
    expect(await h.read("/pkg/six.whl")).toEqual(data);
    expect(srv.state.requests.map((r) => r.range)).toEqual([undefined, "bytes=200000-"]);
  });

  it("says so when the server ignores Range", async () => {
    const h = new HttpFileSystem(srv.origin);
    srv.state.ignoreRange = true;
    try {
      await expect(h.read("/pkg/six.whl", { offset: 10, length: 10 })).rejects.toThrow(/ignored the Range header/);
    } finally {
      srv.state.ignoreRange = false;
    }
  });
});
