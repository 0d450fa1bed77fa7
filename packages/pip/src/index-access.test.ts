import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { IntegrityError, InvalidInputError } from "@cluster-pack/errors";
import { DistributionCache } from "./cache";
import { HttpClient, NetworkError } from "./http";
import { MetadataFetcher } from "./metadata";
import { FindLinks, SimpleIndex, parseProjectPage } from "./simple-index";
import { PackageFinder } from "./finder";
import { PipSession } from "./session";
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
      <a href="x-1.0.tar.gz#sha256=${"AB12".repeat(16)}" data-requires-python="&gt;=3.8" data-yanked>x-1.0.tar.gz</a>
      <a href="x-1.0-py3-none-any.whl" data-dist-info-metadata="true">w</a>
      <a href="README.txt">readme</a></body></html>`;
    const files = parseProjectPage(html, "text/html", "https://idx.example/simple/x/", "idx");
    expect(files.map((f) => f.url)).toEqual(["https://files.example/dl/x-1.0.tar.gz", "https://files.example/dl/x-1.0-py3-none-any.whl"]);
    expect(files[0]).toMatchObject({ requiresPython: ">=3.8", yanked: "", hashes: { sha256: "ab12".repeat(16) }, kind: "sdist" });
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

describe("untrusted file names and hashes (the choke point at the index)", () => {
  const TRAVERSAL = "adv-1.0-py3-none-any.x/../../../some/dir/evil.whl";
  async function served(entries: Array<{ dist: FakeDist; filename?: string; listedSha256?: string }>, project = "adv"): Promise<Map<string, ServedFile[]>> {
    const files: ServedFile[] = [];
    for (const e of entries) files.push({ path: await writeWheel(path.join(tmp, "wheels"), e.dist), filename: e.filename, listedSha256: e.listedSha256 });
    return new Map([[project, files]]);
  }

  test.each([true, false])("JSON=%s: a traversal name (an anchor's %%2F decoded) refuses the page, naming the file and the page", async (json) => {
    const server = await startIndexServer(await served([{ dist: { name: "adv", version: "1.0" } }, { dist: { name: "adv", version: "1.1" }, filename: TRAVERSAL }]), { json });
    try {
      const err = (await new SimpleIndex(server.url, new HttpClient({ retries: 0 })).projectFiles("adv").catch((e: unknown) => e)) as Error & { code: string };
      expect(err).toBeInstanceOf(IntegrityError);
      expect(err.code).toBe("ERR_UNSAFE_FILENAME");
      expect(err.message).toBe(
        `Refusing the index page ${server.url}/adv/: Unsafe distribution file name "${TRAVERSAL}": it contains '/'; a wheel or sdist file name is a single path component. The index is broken or malicious; nothing was downloaded from this page.`,
      );
      // The anchor really carried %2F: the page says so, the name only appears after decoding.
      if (!json) expect(server.requests.map((r) => r.path)).toEqual(["/simple/adv/"]);
    } finally {
      await server.close();
    }
  });

  test("backslashes, control characters, dot names in a page are refused too", () => {
    // (A raw "\\" or "/.." in an href is resolved by the URL parser; encoded, it reaches the name.)
    for (const name of ["..%5C..%5Cadv-1.0-py3-none-any.whl", "adv-1.0-py3-none-any.whl%00.txt", "adv-1.0-py3-none-any%0A.whl", ".adv-1.0-py3-none-any.whl", "%2Eadv-1.0-py3-none-any.whl"]) {
      const html = `<html><body><a href="https://files.example/${name}">x</a></body></html>`;
      expect(() => parseProjectPage(html, "text/html", "https://idx.example/simple/adv/", "idx", "adv")).toThrow(/Refusing the index page https:\/\/idx.example\/simple\/adv\/: Unsafe distribution file name/);
    }
    for (const filename of ["..", ".", "../adv-1.0-py3-none-any.whl", "adv\\..\\..\\adv-1.0-py3-none-any.whl"]) {
      const json = JSON.stringify({ files: [{ filename, url: "https://files.example/adv-1.0-py3-none-any.whl" }] });
      expect(() => parseProjectPage(json, "application/vnd.pypi.simple.v1+json", "https://idx.example/simple/adv/", "idx", "adv")).toThrow(/Unsafe distribution file name/);
    }
    // Links to directories (autoindex "Parent Directory") name no file: skipped.
    expect(parseProjectPage(`<a href="../">Parent</a><a href="./">.</a>`, "text/html", "https://idx.example/simple/adv/", "idx", "adv")).toEqual([]);
    // Malformed percent-encoding gives no name at all: the link is skipped, as a non-distribution link is.
    expect(parseProjectPage(`<a href="adv-1.0-py3-none-any%E0%A4%A.whl">x</a>`, "text/html", "https://idx.example/simple/adv/", "idx", "adv")).toEqual([]);
  });

  test.each([true, false])("JSON=%s: files of another project on a project's page are dropped, not used as that project", async (json) => {
    const server = await startIndexServer(await served([{ dist: { name: "adv", version: "1.0" } }, { dist: { name: "evilpkg", version: "9.0" } }, { dist: { name: "_adv", version: "2.0" }, filename: "_adv-2.0-py3-none-any.whl" }]), { json });
    try {
      const files = await new SimpleIndex(server.url, new HttpClient({ retries: 0 })).projectFiles("adv");
      expect(files.map((f) => [f.filename, f.name, f.version.toString()])).toEqual([["adv-1.0-py3-none-any.whl", "adv", "1.0"]]);
      // Resolved through the finder, the foreign wheel is not a candidate of adv.
      const finder = new PackageFinder({ sources: [new SimpleIndex(server.url, new HttpClient({ retries: 0 }))], target: explicitTarget({ python: "3.11" }), metadata: new MetadataFetcher({ http: new HttpClient() }) });
      expect((await finder.candidates("adv")).candidates.map((c) => c.version.toString())).toEqual(["1.0"]);
    } finally {
      await server.close();
    }
  });

  test.each([true, false])("JSON=%s: a malformed sha256 (it would become a cache path) refuses the page", async (json) => {
    const server = await startIndexServer(await served([{ dist: { name: "adv", version: "1.0" }, listedSha256: "../../../../tmp/x" }]), { json });
    try {
      const err = (await new SimpleIndex(server.url, new HttpClient({ retries: 0 })).projectFiles("adv").catch((e: unknown) => e)) as Error & { code: string };
      expect(err.code).toBe("ERR_INVALID_HASH");
      expect(err.message).toBe(
        `Refusing the index page ${server.url}/adv/: the file "adv-1.0-py3-none-any.whl": the sha256 hash "../../../../tmp/x" is not 64 hex digits. The index is broken or malicious; nothing was downloaded from this page.`,
      );
    } finally {
      await server.close();
    }
  });

  test("hashes of other algorithms: known ones checked, unknown ones ignored, PEP 658 hashes checked", () => {
    const page = (frag: string, meta = "") => `<a href="adv-1.0-py3-none-any.whl#${frag}"${meta}>x</a>`;
    const parse = (html: string) => parseProjectPage(html, "text/html", "https://i/simple/adv/", "i", "adv");
    expect(parse(page(`md5=${"A".repeat(32)}`))[0]!.hashes).toEqual({ md5: "a".repeat(32) });
    expect(parse(page("egg=adv"))[0]!.hashes).toEqual({});
    expect(() => parse(page("sha512=abcd"))).toThrow(/the sha512 hash "abcd" is not 128 hex digits/);
    expect(() => parse(page(`sha256=${"a".repeat(64)}`, ' data-core-metadata="sha256=zz"'))).toThrow(/the core metadata of the file "adv-1.0-py3-none-any.whl": the sha256 hash "zz" is not 64 hex digits/);
    const json = JSON.stringify({ files: [{ filename: "adv-1.0-py3-none-any.whl", url: "adv-1.0-py3-none-any.whl", hashes: { sha256: "a".repeat(64), blake2b_256: "whatever" }, size: -5 }] });
    const [f] = parseProjectPage(json, "application/vnd.pypi.simple.v1+json", "https://i/simple/adv/", "i", "adv");
    expect(f!.hashes).toEqual({ sha256: "a".repeat(64) });
    expect(f!.size).toBeUndefined();
  });

  test("find-links directories: names that are not distributions are skipped", async () => {
    const dir = path.join(tmp, "links");
    await writeWheel(dir, { name: "adv", version: "1.0" });
    for (const junk of [".DS_Store", "README.txt", "adv-1.1-py3-none-any.whl\n", ".adv-1.2-py3-none-any.whl", "adv-1.3-py3-none-any..whl"]) fs.writeFileSync(path.join(dir, junk), "x");
    expect((await new FindLinks(dir, new HttpClient()).projectFiles("adv")).map((f) => f.filename)).toEqual(["adv-1.0-py3-none-any.whl"]);
  });

  test("a refused page stops the resolution, even when another source has the project (the finder would call it unreachable)", async () => {
    const links = path.join(tmp, "links");
    await writeWheel(links, { name: "adv", version: "1.0" });
    const server = await startIndexServer(await served([{ dist: { name: "adv", version: "2.0" }, filename: TRAVERSAL }]));
    try {
      const session = new PipSession({ pipConfig: false, indexUrl: server.url, findLinks: [links], cacheDir: path.join(tmp, "cache"), target: explicitTarget({ python: "3.11" }), retries: 0 });
      const err = (await session.resolve(await session.readInput({ requirements: ["adv"] })).catch((e: unknown) => e)) as Error & { code: string };
      expect(err).toBeInstanceOf(IntegrityError);
      expect(err.code).toBe("ERR_UNSAFE_FILENAME");
      expect(err.message).toMatch(new RegExp(`^Refusing the index page ${server.url}/adv/: Unsafe distribution file name`));
      expect(fs.existsSync(path.join(tmp, "some"))).toBe(false);
      // Nothing was cached or downloaded, and no pack of the refused pages was written.
      expect(fs.existsSync(path.join(tmp, "cache")) ? fs.readdirSync(path.join(tmp, "cache"), { recursive: true }) : []).toEqual([]);
    } finally {
      await server.close();
    }
  });

  test("a direct URL requirement is input: its file name is checked the same way (exit 2 errors)", async () => {
    const session = new PipSession({ pipConfig: false, noIndex: true, findLinks: [path.join(tmp, "none")], cacheDir: path.join(tmp, "cache"), target: explicitTarget({ python: "3.11" }) });
    const resolveOne = async (req: string) => session.resolve(await session.readInput({ requirements: [req] })).catch((e: unknown) => e as Error);
    const traversal = await resolveOne("adv @ https://files.example/adv-1.0-py3-none-any.x%2F..%2F..%2Fevil.whl");
    expect(traversal).toBeInstanceOf(InvalidInputError);
    expect((traversal as Error).message).toBe(
      `adv @ https://files.example/adv-1.0-py3-none-any.x%2F..%2F..%2Fevil.whl: Unsafe distribution file name "adv-1.0-py3-none-any.x/../../evil.whl": it contains '/'; a wheel or sdist file name is a single path component.`,
    );
    expect((traversal as InvalidInputError).hint).toBe("give the URL of a wheel or sdist of adv (name-version-tags.whl or name-version.tar.gz).");
    expect(((await resolveOne("adv @ https://files.example/evilpkg-1.0-py3-none-any.whl")) as Error).message).toMatch(/"evilpkg-1.0-py3-none-any.whl" is a file of project evilpkg, not of adv/);
    expect(((await resolveOne("adv @ https://files.example/adv-1.0-py3-none-any.whl#sha256=xyz")) as Error).message).toMatch(/the URL fragment hash: the sha256 hash "xyz" is not 64 hex digits/);
  });

  test("the cache refuses a hand-made DistributionFile whose name or sha256 would escape it", async () => {
    const cache = new DistributionCache(path.join(tmp, "cache"), new HttpClient());
    expect(() => cache.pathFor("a".repeat(64), "../../evil.whl")).toThrow(`Refusing to cache "../../evil.whl": it contains '/'.`);
    expect(() => cache.pathFor("../../x", "adv-1.0-py3-none-any.whl")).toThrow(/comes with a sha256 that is not 64 hex digits/);
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
