import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { DistributionCache } from "./cache";
import { HttpClient, NetworkError } from "./http";
import { MetadataFetcher } from "./metadata";
import { FindLinks, SimpleIndex, parseProjectPage } from "./simple-index";
import { PackageFinder } from "./finder";
import { explicitTarget } from "./target";
import { startIndexServer, type ServedFile } from "./test-kit/index-server";
import { metadataText, writeWheel, type FakeDist } from "./test-kit/wheels";

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-index-"));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function project(dists: Array<FakeDist & Partial<ServedFile>>, opts: { pep658?: boolean } = {}): Promise<Map<string, ServedFile[]>> {
  const m = new Map<string, ServedFile[]>();
  for (const d of dists) {
    const p = await writeWheel(path.join(tmp, "wheels"), d);
    const list = m.get(d.name) ?? [];
    list.push({ path: p, requiresPython: d.requiresPython, yanked: d.yanked, metadata: opts.pep658 ? metadataText(d) : undefined, wrongHash: d.wrongHash });
    m.set(d.name, list);
  }
  return m;
}

describe("simple index pages", () => {
  test.each([true, false])("JSON=%s: hashes, requires-python, yanked, core-metadata", async (json) => {
    const server = await startIndexServer(await project([{ name: "a", version: "1.0", requiresPython: "<4,>=3.8" }, { name: "a", version: "2.0", yanked: "broken" }], { pep658: true }), { json });
    try {
      const files = await new SimpleIndex(server.url, new HttpClient({ retries: 0 })).projectFiles("A");
      expect(files.map((f) => f.version.toString())).toEqual(["1.0", "2.0"]);
      expect(files[0]!.requiresPython).toBe("<4,>=3.8");
      expect(files[0]!.hashes.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(files[1]!.yanked).toBe("broken");
      expect(files[0]!.coreMetadata).toEqual({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect(server.requests[0]!.path).toBe("/simple/a/");
    } finally {
      await server.close();
    }
  });

  test("HTML details: <base>, entities, bare attributes, non-distribution links ignored", () => {
    const html = `<html><head><base href="https://files.example/dl/"></head><body>
      <a href="x-1.0.tar.gz#sha256=AB12" data-requires-python="&gt;=3.8" data-yanked>x-1.0.tar.gz</a>
      <a href="x-1.0-py3-none-any.whl" data-dist-info-metadata="true">w</a>
      <a href="README.txt">readme</a></body></html>`;
    const files = parseProjectPage(html, "text/html", "https://idx.example/simple/x/", "idx");
    expect(files.map((f) => f.url)).toEqual(["https://files.example/dl/x-1.0.tar.gz", "https://files.example/dl/x-1.0-py3-none-any.whl"]);
    expect(files[0]).toMatchObject({ requiresPython: ">=3.8", yanked: "", hashes: { sha256: "ab12" }, kind: "sdist" });
    expect(files[1]!.coreMetadata).toBe(true);
  });

  test("garbage answers are clear errors", async () => {
    expect(() => parseProjectPage("\u0000\u0001binary junk", "application/octet-stream", "http://i/simple/x/", "i")).toThrow(/neither HTML nor PEP 691 JSON/);
    expect(() => parseProjectPage("{not json", "application/vnd.pypi.simple.v1+json", "http://i/simple/x/", "i")).toThrow(/invalid JSON/);
    const server = await startIndexServer(await project([{ name: "a", version: "1.0" }]), { garbage: "%PDF-1.4 garbage" });
    try {
      await expect(new SimpleIndex(server.url, new HttpClient({ retries: 0 })).projectFiles("a")).rejects.toThrow(/neither HTML nor PEP 691 JSON/);
    } finally {
      await server.close();
    }
  });

  test("find-links pointing at an HTML page over HTTP", async () => {
    const server = await startIndexServer(await project([{ name: "a", version: "1.0" }, { name: "a", version: "1.1" }]), { json: false });
    try {
      const fl = new FindLinks(`${server.url}/a/`, new HttpClient({ retries: 0 }));
      expect((await fl.projectFiles("a")).map((f) => f.version.toString())).toEqual(["1.0", "1.1"]);
      expect(await fl.projectFiles("other")).toEqual([]);
      // The page is read once for every project asked.
      expect(server.requests.filter((r) => r.path === "/simple/a/")).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  test("file:// index and find-links directory", async () => {
    const wheel = await writeWheel(path.join(tmp, "fl"), { name: "b", version: "1.5" });
    const simple = path.join(tmp, "simple", "b");
    fs.mkdirSync(simple, { recursive: true });
    fs.writeFileSync(path.join(simple, "index.html"), `<a href="${pathToFileURL(wheel).href}">b-1.5-py3-none-any.whl</a>`);
    const http = new HttpClient();
    expect((await new SimpleIndex(pathToFileURL(path.join(tmp, "simple")).href, http).projectFiles("b")).map((f) => f.filename)).toEqual(["b-1.5-py3-none-any.whl"]);
    expect(await new SimpleIndex(pathToFileURL(path.join(tmp, "simple")).href, http).projectFiles("missing")).toEqual([]);
    expect((await new FindLinks(path.join(tmp, "fl"), http).projectFiles("B")).map((f) => f.version.toString())).toEqual(["1.5"]);
  });
});

describe("metadata: PEP 658, range reads, full download", () => {
  const target = explicitTarget({ python: "3.11" });
  test.each([
    ["pep658", { pep658: true }, {}],
    ["range", {}, {}],
    ["download", {}, { ranges: false }],
  ] as const)("%s", async (origin, projOpts, serverOpts) => {
    const server = await startIndexServer(await project([{ name: "a", version: "1.0", requires: ["b>=2; python_version >= '3'"] }], projOpts), serverOpts);
    try {
      const http = new HttpClient({ retries: 0 });
      const cache = new DistributionCache(path.join(tmp, "cache"), http);
      const fetcher = new MetadataFetcher({ http, cacheDir: path.join(tmp, "cache"), download: async (f) => (await cache.fetch(f)).path });
      const finder = new PackageFinder({ sources: [new SimpleIndex(server.url, http)], target, metadata: fetcher });
      const [c] = (await finder.candidates("a")).candidates;
      const meta = await finder.metadata(c!);
      expect(meta.requiresDist.map((r) => r.key)).toEqual(["b"]);
      expect(fetcher.stats[origin]).toBe(1);
      if (origin === "range") expect(server.requests.some((r) => r.status === 206)).toBe(true);
      // A second fetcher finds it in the disk cache without touching the server.
      await http.flush();
      const before = server.requests.length;
      const again = new MetadataFetcher({ http, cacheDir: path.join(tmp, "cache") });
      await again.get(c!.file);
      expect(again.stats.cache).toBe(1);
      expect(server.requests.length).toBe(before);
    } finally {
      await server.close();
    }
  });

  test("a truncated wheel is a clear error", async () => {
    const projects = await project([{ name: "a", version: "1.0" }]);
    const p = projects.get("a")![0]!.path;
    fs.writeFileSync(p, fs.readFileSync(p).subarray(0, 100));
    const server = await startIndexServer(projects);
    try {
      const http = new HttpClient({ retries: 0 });
      const fetcher = new MetadataFetcher({ http });
      const finder = new PackageFinder({ sources: [new SimpleIndex(server.url, http)], target, metadata: fetcher });
      const [c] = (await finder.candidates("a")).candidates;
      await expect(finder.metadata(c!)).rejects.toThrow(/a-1\.0-py3-none-any\.whl|zip|central directory|end of central/i);
    } finally {
      await server.close();
    }
  });
});

describe("HTTP behaviour", () => {
  test("credentials from the URL are sent and never printed", async () => {
    const server = await startIndexServer(await project([{ name: "a", version: "1.0" }]), { auth: { user: "u", password: "s3cret" } });
    try {
      const ok = await new SimpleIndex(server.url.replace("http://", "http://u:s3cret@"), new HttpClient({ retries: 0 })).projectFiles("a");
      expect(ok).toHaveLength(1);
      const bad = new SimpleIndex(server.url.replace("http://", "http://u:wrong-pw@"), new HttpClient({ retries: 0 }));
      const err = await bad.projectFiles("a").catch((e: Error) => e);
      expect(String((err as Error).message)).toMatch(/HTTP 401/);
      expect(String((err as Error).message)).not.toMatch(/wrong-pw/);
    } finally {
      await server.close();
    }
  });

  test(".netrc credentials", async () => {
    const server = await startIndexServer(await project([{ name: "a", version: "1.0" }]), { auth: { user: "nu", password: "np" } });
    try {
      const netrc = path.join(tmp, "netrc");
      fs.writeFileSync(netrc, "machine 127.0.0.1\n  login nu\n  password np\n");
      expect(await new SimpleIndex(server.url, new HttpClient({ retries: 0, netrc })).projectFiles("a")).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  test("ETag revalidation serves index pages from the cache on 304", async () => {
    const server = await startIndexServer(await project([{ name: "a", version: "1.0" }]));
    try {
      const http = new HttpClient({ retries: 0, cacheDir: path.join(tmp, "c") });
      const first = await http.getText(`${server.url}/a/`, { accept: "text/html" });
      await http.flush();
      const second = await new HttpClient({ retries: 0, cacheDir: path.join(tmp, "c") }).getText(`${server.url}/a/`, { accept: "text/html" });
      expect(first.fromCache).toBe(false);
      expect(second.fromCache).toBe(true);
      expect(second.body).toBe(first.body);
      expect(server.requests.map((r) => r.status)).toEqual([200, 304]);
    } finally {
      await server.close();
    }
  });

  test("transient 503s are retried with backoff", async () => {
    const server = await startIndexServer(await project([{ name: "a", version: "1.0" }]), { failFirst: 2 });
    try {
      const files = await new SimpleIndex(server.url, new HttpClient({ retries: 3, backoffMs: 10 })).projectFiles("a");
      expect(files).toHaveLength(1);
      expect(server.requests.map((r) => r.status)).toEqual([503, 503, 200]);
    } finally {
      await server.close();
    }
  });

  test("a server that never answers times out with a clear error (no hang)", async () => {
    const server = await startIndexServer(new Map(), { hang: true });
    try {
      const err = await new SimpleIndex(server.url, new HttpClient({ retries: 1, timeout: 0.3, backoffMs: 10 })).projectFiles("a").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NetworkError);
      expect((err as Error).message).toMatch(/no answer within 0.3 s.*after 2 attempts/s);
    } finally {
      await server.close();
    }
  });

  test("an unreachable index fails the resolution clearly when it is the only source", async () => {
    const server = await startIndexServer(new Map());
    const url = server.url;
    await server.close();
    const finder = new PackageFinder({ sources: [new SimpleIndex(url, new HttpClient({ retries: 0 }))], target: explicitTarget({ python: "3.11" }), metadata: new MetadataFetcher({ http: new HttpClient() }) });
    await expect(finder.candidates("a")).rejects.toThrow(/Cannot list a: every package source failed.*connection refused/s);
  });
});

describe("content-addressed cache", () => {
  test("downloads are verified, stored by sha256, reused; wrong hashes leave nothing behind", async () => {
    const server = await startIndexServer(await project([{ name: "a", version: "1.0" }, { name: "bad", version: "1.0", wrongHash: true }]));
    try {
      const http = new HttpClient({ retries: 0 });
      const cache = new DistributionCache(path.join(tmp, "cache"), http);
      const [a] = await new SimpleIndex(server.url, http).projectFiles("a");
      const first = await cache.fetch(a!);
      expect(first.hit).toBe(false);
      expect(first.path).toContain(path.join("dists-v2", "sha256", a!.hashes.sha256!.slice(0, 2), a!.hashes.sha256!));
      const second = await cache.fetch(a!);
      expect(second.hit).toBe(true);
      await expect(cache.fetch(a!, { allowed: [`sha256:${"1".repeat(64)}`] })).rejects.toThrow(/matches none of the pinned hashes/);
      const [bad] = await new SimpleIndex(server.url, http).projectFiles("bad");
      await expect(cache.fetch(bad!)).rejects.toThrow(/sha256 is [0-9a-f]{64} but the index \(or lock\) lists 0{64}/);
      const leftovers = fs.readdirSync(path.join(tmp, "cache", "dists-v2", "tmp"));
      expect(leftovers).toEqual([]);
      // Concurrent fetches of the same file (as from several processes) all succeed with identical content.
      const other = new DistributionCache(path.join(tmp, "cache2"), http);
      const results = await Promise.all([other.fetch(a!), other.fetch(a!), other.fetch(a!)]);
      expect(new Set(results.map((r) => r.sha256)).size).toBe(1);
      expect(fs.readFileSync(results[0]!.path)).toEqual(fs.readFileSync(first.path));
    } finally {
      await server.close();
    }
  });
});
