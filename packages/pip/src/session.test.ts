import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PipSession } from "./session";
import { explicitTarget } from "./target";
import { writeWheel, type FakeDist } from "./test-kit/wheels";

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

describe("PipSession: direct references, hash-checking mode, downloads", () => {
  test("constraint files and --pre reach the resolver", async () => {
    await index([
      { name: "a", version: "2.0" },
      { name: "a", version: "1.0" },
      { name: "a", version: "3.0b1" },
    ]);
    fs.writeFileSync(path.join(tmp, "c.txt"), "a<2\nunused==9\n");
    expect(await pins(["a"], { constraintFiles: [path.join(tmp, "c.txt")] })).toEqual(["a==1.0"]);
    expect(await pins(["a"], { pre: true })).toEqual(["a==3.0b1"]);
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
