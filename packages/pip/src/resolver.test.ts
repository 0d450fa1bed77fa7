import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PipSession } from "./session";
import { explicitTarget } from "./target";
import { writeWheel, type FakeDist } from "./test-kit/wheels";
import { ResolutionImpossibleError } from "./resolver";
import { startIndexServer } from "./test-kit/index-server";

let tmp: string;
let links: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-resolve-"));
  links = path.join(tmp, "links");
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function index(dists: FakeDist[]): Promise<void> {
  for (const d of dists) await writeWheel(links, d);
}

function session(extra: Partial<ConstructorParameters<typeof PipSession>[0]> = {}): PipSession {
  return new PipSession({ pipConfig: false, noIndex: true, findLinks: [links], cacheDir: path.join(tmp, "cache"), target: explicitTarget({ python: "3.11" }), ...extra });
}

async function pins(reqs: string[], extra: Partial<ConstructorParameters<typeof PipSession>[0]> = {}, files: string[] = []): Promise<string[]> {
  const s = session(extra);
  const r = await s.resolve(await s.readInput({ requirements: reqs, files }));
  return r.packages.map((p) => `${p.name}==${p.version}${p.extras.length ? `[${p.extras.join(",")}]` : ""}`);
}

describe("resolver behaviour", () => {
  test("backtracks to a compatible combination", async () => {
    await index([
      { name: "a", version: "2.0", requires: ["b<1"] },
      { name: "a", version: "1.0", requires: ["b>=1"] },
      { name: "b", version: "0.9" },
      { name: "b", version: "1.5" },
      { name: "c", version: "1.0", requires: ["b>=1"] },
    ]);
    expect(await pins(["a", "c"])).toEqual(["a==1.0", "b==1.5", "c==1.0"]);
  });

  test("impossible sets are explained step by step", async () => {
    await index([
      { name: "a", version: "2.0", requires: ["b<1"] },
      { name: "b", version: "0.9" },
      { name: "b", version: "2.0" },
      { name: "c", version: "1.0", requires: ["b>=2"] },
    ]);
    const err = await pins(["a==2.0", "c"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResolutionImpossibleError);
    const text = (err as ResolutionImpossibleError).explanation;
    if (process.env.SHOW) console.log(text);
    expect(text).toMatch(/a==2\.0 depends on b<1/);
    expect(text).toMatch(/c depends on b>=2|c==1\.0 depends on b>=2/);
    expect(text).toMatch(/you require a==2\.0/);
    expect((err as Error).message).toMatch(/^No solution satisfies the requirements:/);
  });

  test("missing packages are named with the sources searched", async () => {
    await index([{ name: "a", version: "1.0", requires: ["ghost>=1"] }]);
    const err = (await pins(["a"]).catch((e: unknown) => e)) as ResolutionImpossibleError;
    if (process.env.SHOW) console.log(err.explanation);
    expect(err.explanation).toMatch(/ghost.*(not found|no usable version).*searched/s);
  });

  test("extras stay on the base version and pull their dependencies", async () => {
    await index([
      { name: "web", version: "2.0", extras: { socks: ["pysocks>=1"] } },
      { name: "web", version: "1.0", extras: { socks: ["pysocks>=1"] } },
      { name: "pysocks", version: "1.7" },
      { name: "app", version: "1.0", requires: ["web[socks]<2"] },
    ]);
    expect(await pins(["app", "web"])).toEqual(["app==1.0", "pysocks==1.7", "web==1.0[socks]"]);
    expect(await pins(["web[Socks]"])).toEqual(["pysocks==1.7", "web==2.0[socks]"]);
  });

  test("markers select dependencies for the target", async () => {
    await index([
      { name: "a", version: "1.0", requires: ["winonly; sys_platform == 'win32'", "py311; python_version >= '3.11'"] },
      { name: "py311", version: "1.0" },
    ]);
    expect(await pins(["a"])).toEqual(["a==1.0", "py311==1.0"]);
    expect(await pins(["a; python_version < '3'"])).toEqual([]);
  });

  test("constraints limit versions but never add packages", async () => {
    await index([
      { name: "a", version: "2.0" },
      { name: "a", version: "1.0" },
      { name: "b", version: "1.0" },
    ]);
    fs.writeFileSync(path.join(tmp, "c.txt"), "a<2\nb==1.0\nunused==9\n");
    expect(await pins(["a"], { constraintFiles: [path.join(tmp, "c.txt")] })).toEqual(["a==1.0"]);
  });

  test("pre-release policy: stable preferred, pre-release only when necessary or with --pre", async () => {
    await index([
      { name: "a", version: "1.0" },
      { name: "a", version: "2.0b1" },
      { name: "onlypre", version: "1.0a1" },
    ]);
    expect(await pins(["a>=1.0a1"])).toEqual(["a==1.0"]);
    expect(await pins(["a>1.0"])).toEqual(["a==2.0b1"]);
    expect(await pins(["onlypre"])).toEqual(["onlypre==1.0a1"]);
    expect(await pins(["a"], { pre: true })).toEqual(["a==2.0b1"]);
  });

  test("yanked versions: ignored unless pinned with ==, and the explanation says so", async () => {
    const served = path.join(tmp, "served");
    await writeWheel(served, { name: "y", version: "1.0" });
    await writeWheel(served, { name: "y", version: "2.0" });
    const server = await startIndexServer(new Map([["y", fs.readdirSync(served).sort().map((f) => ({ path: path.join(served, f), yanked: f.includes("2.0") ? "broken build" : false }))]]));
    try {
      const opts = { noIndex: false, indexUrl: server.url, findLinks: [] };
      expect(await pins(["y"], opts)).toEqual(["y==1.0"]);
      expect(await pins(["y==2.0"], opts)).toEqual(["y==2.0"]);
      const err = (await pins(["y>1"], opts).catch((e: unknown) => e)) as ResolutionImpossibleError;
      expect(err.explanation).toMatch(/1 yanked version\(s\) ignored \(pin one with == to use it\)/);
    } finally {
      await server.close();
    }
  });

  test("direct references: a local wheel path is the only candidate", async () => {
    await index([{ name: "a", version: "2.0" }]);
    const own = await writeWheel(path.join(tmp, "own"), { name: "a", version: "1.5" });
    expect(await pins([own])).toEqual(["a==1.5"]);
    expect(await pins([`a @ file://${own}`])).toEqual(["a==1.5"]);
  });

  test("hash-checking mode requires every package pinned and hashed", async () => {
    await index([{ name: "a", version: "1.0", requires: ["b"] }, { name: "b", version: "1.0" }]);
    const digest = (n: string) => crypto.createHash("sha256").update(fs.readFileSync(path.join(links, n))).digest("hex");
    fs.writeFileSync(path.join(tmp, "r1.txt"), "a>=1 --hash=sha256:" + digest("a-1.0-py3-none-any.whl") + "\n");
    const s1 = session();
    await expect(s1.resolve(await s1.readInput({ files: [path.join(tmp, "r1.txt")] }))).rejects.toThrow(/Hash-checking mode needs every requirement pinned with ==/);
    fs.writeFileSync(path.join(tmp, "r2.txt"), `a==1.0 --hash=sha256:${digest("a-1.0-py3-none-any.whl")}\n`);
    const s2 = session();
    const in2 = await s2.readInput({ files: [path.join(tmp, "r2.txt")] });
    const res2 = await s2.resolve(in2);
    await expect(s2.download(res2, in2)).rejects.toThrow(/b==1.0 is not pinned with --hash/);
    fs.writeFileSync(path.join(tmp, "r3.txt"), `a==1.0 --hash=sha256:${digest("a-1.0-py3-none-any.whl")}\nb==1.0 --hash=sha256:${"0".repeat(64)}\n`);
    const s3 = session();
    const in3 = await s3.readInput({ files: [path.join(tmp, "r3.txt")] });
    await expect(s3.download(await s3.resolve(in3), in3)).rejects.toThrow(/b-1.0-py3-none-any.whl: sha256:[0-9a-f]{64} matches none of the pinned hashes/);
  });

  test("download -d copies verified files; an aborted resolution stops with AbortError", async () => {
    await index([{ name: "a", version: "1.0", requires: ["b"] }, { name: "b", version: "1.0" }]);
    const s = session();
    const input = await s.readInput({ requirements: ["a"] });
    const files = await s.download(await s.resolve(input), input, path.join(tmp, "out"));
    expect(fs.readdirSync(path.join(tmp, "out")).sort()).toEqual(["a-1.0-py3-none-any.whl", "b-1.0-py3-none-any.whl"]);
    expect(files.every((f) => f.sha256.length === 64)).toBe(true);
    const ac = new AbortController();
    ac.abort();
    const aborted = session({ signal: ac.signal });
    await expect(aborted.resolve(await aborted.readInput({ requirements: ["a"] }))).rejects.toMatchObject({ code: "ABORT_ERR" });
  });
});
