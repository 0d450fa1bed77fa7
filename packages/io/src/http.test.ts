import https from "node:https";
import { httpRequest, httpRequestFollowing, readBody, HttpTimeoutError } from "./http";
import { selfSignedCert, startHttpServer, type SelfSignedCert, type TestHttpServer } from "./test-kit/servers";

const AUTH = `Basic ${Buffer.from("alice:s3cret").toString("base64")}`;
const credentials = () => ({ authorization: AUTH });

describe("httpRequestFollowing: credentials on redirects", () => {
  let target: TestHttpServer;
  let origin: TestHttpServer;
  beforeAll(async () => {
    target = await startHttpServer((_req, res) => res.end("landed"));
    origin = await startHttpServer((req, res) => {
      if (req.url === "/same") return res.writeHead(302, { location: "/final" }).end();
      if (req.url === "/other-port") return res.writeHead(302, { location: `${target.origin}/landing` }).end();
      if (req.url === "/loop") return res.writeHead(302, { location: "/loop" }).end();
      if (req.url === "/ftp") return res.writeHead(302, { location: "ftp://127.0.0.1/x" }).end();
      res.end(`final ${req.headers.authorization ?? "anonymous"}`);
    });
  });
  afterAll(async () => {
    await origin.close();
    await target.close();
  });
  beforeEach(() => {
    origin.requests.length = 0;
    target.requests.length = 0;
  });

  it("keeps credentials on a redirect within the same origin", async () => {
    const res = await httpRequestFollowing(`${origin.origin}/same`, { credentials });
    expect((await readBody(res.body)).toString()).toBe(`final ${AUTH}`);
    expect(origin.requests.map((r) => [r.url, r.headers.authorization])).toEqual([
      ["/same", AUTH],
      ["/final", AUTH],
    ]);
  });

  it("drops credentials and credential-like headers on a redirect to another port", async () => {
    const res = await httpRequestFollowing(`${origin.origin}/other-port`, {
      credentials,
      headers: { "x-api-key": "k3y", cookie: "session=1", accept: "text/html", authorization: "Bearer explicit" },
    });
    expect((await readBody(res.body)).toString()).toBe("landed");
    expect(origin.requests[0]?.headers).toMatchObject({ authorization: "Bearer explicit", "x-api-key": "k3y", cookie: "session=1" });
    const landed = target.requests[0]!;
    expect(landed.url).toBe("/landing");
    expect(landed.headers.authorization).toBeUndefined();
    expect(landed.headers["x-api-key"]).toBeUndefined();
    expect(landed.headers.cookie).toBeUndefined();
    expect(landed.headers.accept).toBe("text/html");
  });

  it("refuses redirect loops and non-http schemes", async () => {
    await expect(httpRequestFollowing(`${origin.origin}/loop`, { maxRedirects: 3 })).rejects.toMatchObject({ code: "ERR_TOO_MANY_REDIRECTS" });
    await expect(httpRequestFollowing(`${origin.origin}/ftp`)).rejects.toMatchObject({ code: "ERR_REDIRECT_REFUSED" });
  });
});

describe("httpRequestFollowing: https origins", () => {
  const made = selfSignedCert();
  const skip = "skip" in made ? made.skip : undefined;
  const cert = made as SelfSignedCert;
  let plain: TestHttpServer;
  let other: TestHttpServer;
  let secure: TestHttpServer;
  let agents: { https: https.Agent };
  beforeAll(async () => {
    if (skip) return;
    plain = await startHttpServer((_req, res) => res.end("plain"));
    other = await startHttpServer((_req, res) => res.end("other https"), { tls: cert });
    secure = await startHttpServer((req, res) => {
      if (req.url === "/to-http") return res.writeHead(302, { location: `${plain.origin}/simple/` }).end();
      if (req.url === "/to-https-port") return res.writeHead(302, { location: `${other.origin}/files/x.whl` }).end();
      res.end("secure");
    }, { tls: cert });
    agents = { https: new https.Agent({ ca: cert.cert }) };
  });
  afterAll(async () => {
    if (skip) return;
    await Promise.all([plain.close(), other.close(), secure.close()]);
  });

  it("a 302 from https to another https port carries no Authorization", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const res = await httpRequestFollowing(`${secure.origin}/to-https-port`, { credentials, agents });
    expect((await readBody(res.body)).toString()).toBe("other https");
    expect(secure.requests[0]?.headers.authorization).toBe(AUTH);
    expect(other.requests).toHaveLength(1);
    expect(other.requests[0]?.headers.authorization).toBeUndefined();
  });

  it("refuses a downgrade from https to http, and when allowed sends no credentials", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    await expect(httpRequestFollowing(`${secure.origin}/to-http`, { credentials, agents })).rejects.toMatchObject({
      code: "ERR_REDIRECT_REFUSED",
      message: expect.stringContaining("from https to plain http"),
    });
    expect(plain.requests).toHaveLength(0);
    const res = await httpRequestFollowing(`${secure.origin}/to-http`, { credentials, agents, allowInsecure: (u) => u.origin === plain.origin });
    expect((await readBody(res.body)).toString()).toBe("plain");
    expect(plain.requests[0]?.headers.authorization).toBeUndefined();
  });
});

describe("httpRequest", () => {
  it("fails a silent server with a retryable timeout and honours aborts mid-body", async () => {
    const server = await startHttpServer((req, res) => {
      if (req.url === "/silent") return; // never answers
      res.writeHead(200, { "content-length": "100" });
      res.write("x".repeat(10)); // and stalls
    });
    try {
      const err = await httpRequest(`${server.origin}/silent`, { timeoutMs: 200 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HttpTimeoutError);
      expect(err).toMatchObject({ code: "ETIMEDOUT" });
      const ac = new AbortController();
      const res = await httpRequest(`${server.origin}/stall`, { signal: ac.signal });
      const reading = readBody(res.body);
      setTimeout(() => ac.abort(), 50);
      await expect(reading).rejects.toMatchObject({ code: "ABORT_ERR" });
    } finally {
      await server.close();
    }
  });
});
