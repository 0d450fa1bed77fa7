import { execFileSync, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startIndexServer, writeWheel, type IndexServer, type ServedFile } from "@cluster-pack/pip/test-kit";
import { runCli } from "./test-kit";

// The download cache corrupted in its stores, through the real CLI (download, pex build,
// resolve) against a real index on loopback serving a real wheel (six, fetched through
// pip's configuration) and test-kit wheels; PEX files run with a real interpreter.
jest.setTimeout(300_000);

const pipConfig = spawnSync("python3", ["-m", "pip", "config", "list"], { encoding: "utf8" });
const noPip = pipConfig.status !== 0 || (!/index-url|find-links/.test(pipConfig.stdout) && !process.env.PIP_INDEX_URL);
if (noPip) console.warn("skipping the CLI cache-corruption tests: pip has no index or find-links configured to fetch a real wheel from");

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-cli-vcache-"));
const savedEnv = { ...process.env };
afterAll(() => {
  process.env = savedEnv;
  fs.rmSync(tmp, { recursive: true, force: true });
});

const sha = (f: string) => crypto.createHash("sha256").update(fs.readFileSync(f)).digest("hex");
const wheelsIn = (cache: string) => fs.readdirSync(path.join(cache, "dists-v2", "sha256"), { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => path.join(d.parentPath, d.name));

/** A flipped byte, or a same-size edit with the mtime restored (caught only by ctime / inode). */
function damage(file: string, how: "flip" | "same-size-restored-mtime"): void {
  const stamp = `${file}.stamp`;
  execFileSync("touch", ["-r", file, stamp]);
  fs.chmodSync(file, 0o644);
  const fd = fs.openSync(file, "r+");
  const at = Math.floor(fs.fstatSync(fd).size / 2);
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, at);
  b[0]! ^= 0x20;
  fs.writeSync(fd, b, 0, 1, at);
  fs.closeSync(fd);
  if (how === "same-size-restored-mtime") execFileSync("touch", ["-r", stamp, file]);
  fs.rmSync(stamp);
}

(noPip ? describe.skip : describe)("a corrupted download cache through the CLI", () => {
  let server: IndexServer;
  let six: string;
  let cache: string;
  const fileGets = () => server.requests.filter((r) => r.path.startsWith("/files/six-") && r.status === 200).length;

  beforeAll(async () => {
    const dl = path.join(tmp, "dl");
    const r = spawnSync("python3", ["-m", "pip", "download", "-q", "--only-binary=:all:", "--no-deps", "-d", dl, "six"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`pip download six failed: ${r.stderr}`);
    six = path.join(dl, fs.readdirSync(dl).find((f) => f.endsWith(".whl"))!);
    const app = await writeWheel(path.join(tmp, "kit"), { name: "app", version: "1.0", requires: ["lib>=2"] });
    const lib = await writeWheel(path.join(tmp, "kit"), { name: "lib", version: "2.1" });
    const projects = new Map<string, ServedFile[]>([
      ["six", [{ path: six }]],
      ["app", [{ path: app }]],
      ["lib", [{ path: lib }]],
    ]);
    // Pages stay fresh for 10 minutes (as PyPI's): warm runs do not ask for them again.
    server = await startIndexServer(projects, { pageCacheControl: "max-age=600" });
    cache = path.join(tmp, "cache");
    // pip's configuration is only this index; `pex build` uses $CLUSTER_PACK_CACHE.
    for (const k of Object.keys(process.env)) if (k.startsWith("PIP_")) delete process.env[k];
    Object.assign(process.env, { PIP_CONFIG_FILE: os.devNull, PIP_INDEX_URL: server.url, CLUSTER_PACK_CACHE: cache });
  });
  afterAll(() => server?.close());

  const index = () => ["-i", server.url, "--cache-dir", cache, "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64"];

  test("download: a damaged cached wheel is fetched again; the file handed out is a copy the user may edit", async () => {
    const dest = path.join(tmp, "d1");
    const first = await runCli("download", "six", "-d", dest, ...index());
    expect(first.code).toBe(0);
    const out = path.join(dest, path.basename(six));
    expect(sha(out)).toBe(sha(six));
    const [entry] = wheelsIn(cache);
    expect(fs.statSync(out).ino).not.toBe(fs.statSync(entry!).ino);
    // Editing the downloaded file cannot reach the cache (it was a hard link before).
    fs.appendFileSync(out, "user edit");
    expect(sha(entry!)).toBe(sha(six));
    // Past the racy window, a hit records the entry's identity; then a same-size edit with the
    // mtime restored (what a size+mtime check cannot see).
    await new Promise((r) => setTimeout(r, 2100));
    expect((await runCli("download", "six", "-d", path.join(tmp, "d2"), ...index())).code).toBe(0);
    expect(fileGets()).toBe(1);
    for (const how of ["same-size-restored-mtime", "flip"] as const) {
      damage(entry!, how);
      const again = await runCli("--json", "download", "six", "-d", path.join(tmp, `d-${how}`), ...index());
      expect(again.code).toBe(0);
      expect(JSON.parse(again.out).files).toEqual([expect.objectContaining({ name: "six", sha256: sha(six) })]);
      expect(sha(path.join(tmp, `d-${how}`, path.basename(six)))).toBe(sha(six));
      expect(sha(entry!)).toBe(sha(six));
    }
    expect(fileGets()).toBe(3);
  });

  test("pex build: a damaged cached wheel never makes a PEX; it is fetched again and the PEX is the good one", async () => {
    const good = path.join(tmp, "good.pex");
    const a = await runCli("--json", "pex", "build", "six", "-o", good);
    expect(a.err).toBe("");
    expect(a.code).toBe(0);
    const goodHash = JSON.parse(a.out).pexHash as string;
    const [entry] = wheelsIn(cache);
    damage(entry!, "flip");
    const rebuilt = path.join(tmp, "rebuilt.pex");
    const b = await runCli("--json", "pex", "build", "six", "-o", rebuilt);
    expect(b.code).toBe(0);
    expect(JSON.parse(b.out).pexHash).toBe(goodHash);
    expect(sha(rebuilt)).toBe(sha(good));
    const run = spawnSync(rebuilt, ["-c", "import six; print(six.__version__)"], { encoding: "utf8", env: { ...process.env, PEX_ROOT: path.join(tmp, "pex-root") } });
    expect(run.stdout.trim()).toBe(path.basename(six).split("-")[1]);
  });

  test("resolve: a damaged METADATA in the pack is read again, never resolved from", async () => {
    const first = await runCli("resolve", "app", ...index());
    expect(first.out.trim().split("\n")).toEqual(["app==1.0", "lib==2.1"]);
    const packs = path.join(cache, "packs-v2");
    for (const p of fs.readdirSync(packs)) {
      const f = path.join(packs, p);
      fs.writeFileSync(f, fs.readFileSync(f, "utf8").replace("Requires-Dist: lib>=2", "Requires-Dist: lix>=2"));
    }
    const second = await runCli("resolve", "app", ...index());
    expect(second.code).toBe(0);
    expect(second.out.trim().split("\n")).toEqual(["app==1.0", "lib==2.1"]);
  });

  test("with the index gone, a damaged cached wheel is a clear error (exit 1) and no PEX is written", async () => {
    const [entry] = wheelsIn(cache);
    await server.close();
    damage(entry!, "flip");
    const out = path.join(tmp, "never.pex");
    const r = await runCli("pex", "build", "six", "-o", out);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^cluster-pack: 127\\.0\\.0\\.1:\\d+: connection refused \\(ECONNREFUSED\\)`));
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(tmp).filter((f) => f.includes("never.pex"))).toEqual([]);
    // The damaged entry was evicted, not left for a later run to trust.
    expect(fs.existsSync(entry!)).toBe(false);
    const d = await runCli("download", "six", "-d", path.join(tmp, "d-gone"), ...index());
    expect(d.code).toBe(1);
    expect(fs.existsSync(path.join(tmp, "d-gone", path.basename(six)))).toBe(false);
  });
});
