import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DistributionCache, placeFile } from "./cache";
import { HttpClient } from "./http";
import { PipSession } from "./session";
import { SimpleIndex, type DistributionFile } from "./simple-index";
import { explicitTarget } from "./target";
import { startIndexServer, type IndexServer, type ServedFile } from "./test-kit/index-server";
import { metadataText, writeWheel, type FakeDist } from "./test-kit/wheels";

// A cache corrupted in each of its stores, a malicious index (truncated bodies, lying
// metadata), against the real DistributionCache / PipSession and a real server on loopback.

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-vcache-"));
});
afterEach(() => {
  // Cache entries are read-only files in writable directories: rm handles them.
  fs.rmSync(tmp, { recursive: true, force: true });
});

const sha = (b: Buffer) => crypto.createHash("sha256").update(b).digest("hex");

async function serve(dists: Array<FakeDist & Partial<ServedFile>>, options: { json?: boolean } = {}): Promise<IndexServer> {
  const m = new Map<string, ServedFile[]>();
  for (const d of dists) {
    const p = await writeWheel(path.join(tmp, "wheels", d.name, d.version), d);
    m.set(d.name, [...(m.get(d.name) ?? []), { path: p, noHash: d.noHash, truncateTo: d.truncateTo, cutAt: d.cutAt, metadata: d.metadata }]);
  }
  return startIndexServer(m, options);
}

const fileGets = (server: IndexServer, name: string) => server.requests.filter((r) => r.path === `/files/${name}` && r.status === 200).length;

/** Waits until files written now are past the racy window (2 s), so their identity can be recorded. */
const pastRacyWindow = () => new Promise((r) => setTimeout(r, 2100));

/** Damages a cached file in one of the ways a disk, a user or a tool does. */
function damage(file: string, how: "flip" | "truncate" | "replace" | "same-size-restored-mtime" | "same-size-new-inode"): void {
  const before = fs.statSync(file, { bigint: true });
  // touch -r copies timestamps to the nanosecond (utimes from JS numbers loses precision).
  const stamp = `${file}.stamp`;
  execFileSync("touch", ["-r", file, stamp]);
  const data = fs.readFileSync(file);
  const flipped = Buffer.from(data);
  flipped[flipped.length >> 1]! ^= 0x01;
  fs.chmodSync(file, 0o644);
  if (how === "flip") fs.writeFileSync(file, flipped);
  else if (how === "truncate") fs.truncateSync(file, data.length >> 1);
  else if (how === "replace") {
    fs.writeFileSync(`${file}.new`, Buffer.concat([data, Buffer.from("junk")]));
    fs.renameSync(`${file}.new`, file);
  } else if (how === "same-size-restored-mtime") {
    const fd = fs.openSync(file, "r+");
    fs.writeSync(fd, flipped, flipped.length >> 1, 1, flipped.length >> 1);
    fs.closeSync(fd);
    execFileSync("touch", ["-r", stamp, file]);
  } else {
    fs.writeFileSync(`${file}.new`, flipped);
    execFileSync("touch", ["-r", stamp, `${file}.new`]);
    fs.renameSync(`${file}.new`, file);
  }
  if (how === "same-size-restored-mtime" || how === "same-size-new-inode") {
    // What a size+mtime cache would see: nothing changed.
    const after = fs.statSync(file, { bigint: true });
    expect([after.size, after.mtimeNs]).toEqual([before.size, before.mtimeNs]);
  }
  fs.rmSync(stamp);
}

describe("DistributionCache: a hit is trusted only for the bytes verified", () => {
  test.each(["flip", "truncate", "replace", "same-size-restored-mtime", "same-size-new-inode"] as const)("a cached wheel damaged (%s) is evicted and fetched again, never used", async (how) => {
    const server = await serve([{ name: "a", version: "1.0" }]);
    try {
      const http = new HttpClient({ retries: 0 });
      const cache = new DistributionCache(path.join(tmp, "cache"), http);
      const [a] = await new SimpleIndex(server.url, http).projectFiles("a");
      const good = fs.readFileSync(path.join(tmp, "wheels", "a", "1.0", a!.filename));
      const first = await cache.fetch(a!);
      expect(first).toMatchObject({ hit: false, sha256: sha(good) });
      // Read-only in the cache.
      expect(fs.statSync(first.path).mode & 0o222).toBe(0);
      await pastRacyWindow();
      // A hit: hashed once (no identity record yet), then recorded by identity.
      expect(await cache.fetch(a!)).toMatchObject({ hit: true, path: first.path });
      expect(fs.readdirSync(path.join(tmp, "cache", "dists-v2", "stat"))).toHaveLength(1);
      expect(await cache.fetch(a!)).toMatchObject({ hit: true });
      expect(fileGets(server, a!.filename)).toBe(1);
      damage(first.path, how);
      const again = await cache.fetch(a!);
      expect(again).toMatchObject({ hit: false, repaired: true, path: first.path, sha256: sha(good) });
      expect(fs.readFileSync(again.path).equals(good)).toBe(true);
      expect(fileGets(server, a!.filename)).toBe(2);
    } finally {
      await server.close();
    }
  });

  test("a damaged entry whose index is gone is a clear error, and is not used", async () => {
    const server = await serve([{ name: "a", version: "1.0" }]);
    const http = new HttpClient({ retries: 0 });
    const cache = new DistributionCache(path.join(tmp, "cache"), http);
    const [a] = await new SimpleIndex(server.url, http).projectFiles("a");
    const first = await cache.fetch(a!);
    await server.close();
    damage(first.path, "flip");
    await expect(cache.fetch(a!)).rejects.toMatchObject({ code: "ERR_NETWORK", message: expect.stringMatching(/connection refused/) });
    expect(fs.existsSync(first.path)).toBe(false);
  });

  test("a pin in another algorithm re-hashes the entry (identity records hold sha256 only)", async () => {
    const server = await serve([{ name: "a", version: "1.0" }]);
    try {
      const http = new HttpClient({ retries: 0 });
      const cache = new DistributionCache(path.join(tmp, "cache"), http);
      const [a] = await new SimpleIndex(server.url, http).projectFiles("a");
      const first = await cache.fetch(a!);
      const sha512 = crypto.createHash("sha512").update(fs.readFileSync(first.path)).digest("hex");
      expect(await cache.fetch(a!, { allowed: [`sha512:${sha512}`] })).toMatchObject({ hit: true });
      await expect(cache.fetch(a!, { allowed: [`sha512:${"0".repeat(128)}`] })).rejects.toThrow(/matches none of the pinned hashes/);
    } finally {
      await server.close();
    }
  });

  test("placeFile hands out a copy: editing it leaves the cache intact", async () => {
    const server = await serve([{ name: "a", version: "1.0" }]);
    try {
      const http = new HttpClient({ retries: 0 });
      const cache = new DistributionCache(path.join(tmp, "cache"), http);
      const [a] = await new SimpleIndex(server.url, http).projectFiles("a");
      const got = await cache.fetch(a!);
      const out = path.join(tmp, "out", a!.filename);
      fs.mkdirSync(path.dirname(out));
      await placeFile(got.path, out);
      expect(fs.statSync(out).ino).not.toBe(fs.statSync(got.path).ino);
      expect(fs.statSync(out).nlink).toBe(1);
      expect(fs.statSync(out).mode & 0o777).toBe(0o644);
      fs.appendFileSync(out, "edited");
      expect(sha(fs.readFileSync(got.path))).toBe(got.sha256);
      expect(await cache.fetch(a!)).toMatchObject({ hit: true, sha256: got.sha256 });
    } finally {
      await server.close();
    }
  });
});

describe("DistributionCache: only complete downloads are admitted", () => {
  const cached = () => {
    const dir = path.join(tmp, "cache", "dists-v2");
    return ["sha256", "urls"].flatMap((d) => (fs.existsSync(path.join(dir, d)) ? fs.readdirSync(path.join(dir, d)) : []));
  };

  test("a body cut short without Content-Length, from an index without hashes, is refused and not cached; the fixed server is then used", async () => {
    const server = await serve([{ name: "a", version: "1.0", noHash: true, truncateTo: 100 }], { json: false });
    try {
      const http = new HttpClient({ retries: 0 });
      const cache = new DistributionCache(path.join(tmp, "cache"), http);
      const [a] = await new SimpleIndex(server.url, http).projectFiles("a");
      expect(a!.hashes).toEqual({});
      const err = await cache.fetch(a!).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "ERR_TRUNCATED", message: expect.stringMatching(/^a-1\.0-py3-none-any\.whl from http:\/\/127\.0\.0\.1:\d+\/files\/a-1\.0-py3-none-any\.whl is not a complete archive .*Nothing was cached/) });
      expect(cached()).toEqual([]);
      expect(fs.readdirSync(path.join(tmp, "cache", "dists-v2", "tmp"))).toEqual([]);
      // The server is fixed: the next run downloads the whole file.
      server.projects.get("a")![0]!.truncateTo = undefined;
      const good = await cache.fetch(a!);
      expect(good.hit).toBe(false);
      expect(good.sha256).toBe(sha(fs.readFileSync(path.join(tmp, "wheels", "a", "1.0", a!.filename))));
      // Remembered by URL (no hash to find it by) and trusted again next time.
      expect(await cache.fetch(a!)).toMatchObject({ hit: true, sha256: good.sha256 });
    } finally {
      await server.close();
    }
  });

  test("a body shorter than its Content-Length, or than the size the index declares, is refused", async () => {
    const server = await serve([{ name: "a", version: "1.0", noHash: true, cutAt: 50 }]);
    try {
      const http = new HttpClient({ retries: 0 });
      const cache = new DistributionCache(path.join(tmp, "cache"), http);
      const [a] = await new SimpleIndex(server.url, http).projectFiles("a");
      expect(a!.size).toBeGreaterThan(50);
      await expect(cache.fetch(a!)).rejects.toMatchObject({ code: "ERR_NETWORK", message: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/files\/a-1\.0-py3-none-any\.whl: the connection broke after 50 of \d+ bytes \(aborted, ECONNRESET\); nothing was kept\.$/), hint: "try again." });
      expect(cached()).toEqual([]);
      // A PEP 691 size claim is held against a body that looks complete.
      const sized: DistributionFile = { ...a!, size: a!.size! + 1 };
      server.projects.get("a")![0]!.cutAt = undefined;
      await expect(cache.fetch(sized)).rejects.toMatchObject({ code: "ERR_SIZE_MISMATCH", message: expect.stringMatching(/downloaded \d+ bytes but the index \(or lock\) says \d+/) });
      expect(cached()).toEqual([]);
    } finally {
      await server.close();
    }
  });
});

describe("PipSession: page and METADATA caches, PEP 658 against the wheel", () => {
  const target = explicitTarget({ python: "3.11" });
  const session = (server: IndexServer) => new PipSession({ pipConfig: false, indexUrl: server.url, cacheDir: path.join(tmp, "cache"), target, retries: 0 });
  async function resolveAndDownload(server: IndexServer, reqs: string[]) {
    const s = session(server);
    const input = await s.readInput({ requirements: reqs });
    const resolution = await s.resolve(input);
    return { s, resolution, files: await s.download(resolution, input) };
  }
  const packFile = () => {
    const dir = path.join(tmp, "cache", "packs-v2");
    return path.join(dir, fs.readdirSync(dir)[0]!);
  };

  test("a damaged page or METADATA in the pack is a miss: refetched, never resolved from", async () => {
    const server = await serve([{ name: "app", version: "1.0", requires: ["lib"], metadata: metadataText({ name: "app", version: "1.0", requires: ["lib"] }) }, { name: "lib", version: "2.0" }], { json: false });
    try {
      const first = await resolveAndDownload(server, ["app"]);
      expect(first.resolution.packages.map((p) => `${p.name}==${p.version}`)).toEqual(["app==1.0", "lib==2.0"]);
      // Corrupt the cached METADATA of app (its dependency) and the page of lib (its hash), in place.
      const text = fs.readFileSync(packFile(), "utf8");
      const damaged = text.replace("Requires-Dist: lib", "Requires-Dist: lix").replace(/(lib-2\.0-py3-none-any\.whl#sha256=)([0-9a-f])/, (_m, pre: string, c: string) => pre + (c === "0" ? "1" : "0"));
      expect(damaged).not.toBe(text);
      fs.writeFileSync(packFile(), damaged);
      const before = server.requests.length;
      const second = await resolveAndDownload(server, ["app"]);
      expect(second.resolution.packages.map((p) => `${p.name}==${p.version}`)).toEqual(["app==1.0", "lib==2.0"]);
      expect(second.s.metadata.stats.cache).toBe(1);
      expect(second.files.map((f) => f.sha256)).toEqual(first.files.map((f) => f.sha256));
      const refetched = server.requests.slice(before).map((r) => r.path);
      expect(refetched).toEqual(expect.arrayContaining(["/simple/lib/", "/files/app-1.0-py3-none-any.whl.metadata"]));
    } finally {
      await server.close();
    }
  });

  test("PEP 658 metadata that differs from the wheel's own METADATA is an IntegrityError naming the wheel and the index; the lie is not kept", async () => {
    const lie = metadataText({ name: "app", version: "1.0", requires: ["lib", "extra-dep"] });
    const server = await serve([{ name: "app", version: "1.0", requires: ["lib"], metadata: lie }, { name: "lib", version: "2.0" }, { name: "extra-dep", version: "1.0" }]);
    try {
      const s = session(server);
      const input = await s.readInput({ requirements: ["app"] });
      const resolution = await s.resolve(input);
      expect(s.metadata.stats.pep658).toBe(1);
      expect(resolution.packages.map((p) => p.name)).toEqual(["app", "extra-dep", "lib"]);
      const err = await s.download(resolution, input).catch((e: unknown) => e);
      expect(err).toMatchObject({
        name: "IntegrityError",
        code: "ERR_METADATA_MISMATCH",
        message: expect.stringContaining(`app-1.0-py3-none-any.whl: the PEP 658 metadata file served by ${server.url}/ differs from the wheel's own METADATA (line 5: index "Requires-Dist: extra-dep", wheel (nothing))`),
      });
      // The index is fixed: the next run reads the metadata afresh and agrees with the wheel.
      server.projects.get("app")![0]!.metadata = metadataText({ name: "app", version: "1.0", requires: ["lib"] });
      const fixed = await resolveAndDownload(server, ["app"]);
      expect(fixed.resolution.packages.map((p) => p.name)).toEqual(["app", "lib"]);
      expect(fixed.s.metadata.stats.pep658).toBe(1);
      // An agreement is remembered: a warm run does not open the wheel again, and passes.
      const warm = await resolveAndDownload(server, ["app"]);
      expect(warm.s.metadata.stats.cache).toBe(2);
      expect(fs.readdirSync(path.join(tmp, "cache", "metadata-v2", "agrees"), { recursive: true }).length).toBeGreaterThan(0);
    } finally {
      await server.close();
    }
  });

  test("METADATA read by range requests is checked against the downloaded wheel too", async () => {
    const server = await serve([{ name: "a", version: "1.0", noHash: true }], { json: false });
    try {
      const s = session(server);
      const input = await s.readInput({ requirements: ["a"] });
      const resolution = await s.resolve(input);
      expect(s.metadata.stats.range).toBe(1);
      // The file on the index changes between the range read and the download (no hash pins it).
      await writeWheel(path.join(tmp, "wheels", "a", "1.0"), { name: "a", version: "1.0", requires: ["surprise"] });
      await expect(s.download(resolution, input)).rejects.toMatchObject({ code: "ERR_METADATA_MISMATCH", message: expect.stringMatching(/a-1\.0-py3-none-any\.whl: the METADATA read by range requests served by .* differs from the wheel's own METADATA \(line 4: index \(nothing\), wheel "Requires-Dist: surprise"\)/) });
    } finally {
      await server.close();
    }
  });
});
