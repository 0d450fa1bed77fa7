import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { formatRecord, recordHash } from "@cluster-pack/wheel";
import { ZipWriter } from "@cluster-pack/zip";
import { buildPex } from "./index";

jest.setTimeout(120_000);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-pex-memo-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const sha = (p: string) => crypto.createHash("sha256").update(fs.readFileSync(p)).digest("hex");

/** A small wheel; with `lie`, RECORD holds the hash of other content for memo/__init__.py. */
async function craft(out: string, body: string, lie = false): Promise<void> {
  const di = "memo-1.0.dist-info";
  const files: Record<string, string> = {
    [`${di}/METADATA`]: "Metadata-Version: 2.1\nName: memo\nVersion: 1.0\n",
    [`${di}/WHEEL`]: "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    "memo/__init__.py": body,
    "memo/data.py": "# padding\n".repeat(2000),
  };
  const rows = Object.entries(files).map(([p, c]) => ({ path: p, hash: recordHash(p === "memo/__init__.py" && lie ? "VALUE = 'verified'\n" : c), size: Buffer.byteLength(c) }));
  const w = new ZipWriter();
  for (const [p, c] of Object.entries(files)) w.addBuffer(p, c);
  w.addBuffer(`${di}/RECORD`, formatRecord([...rows, { path: `${di}/RECORD` }]));
  await w.writeTo(out);
}

describe("PEX builds with memoised wheel verification", () => {
  it.each(["split", "flat", "packed"] as const)("memoises per wheel sha256 and re-verifies a tampered wheel at the same path (%s)", async (kind) => {
    const cache = path.join(tmp, `cache-${kind}`);
    const whl = path.join(tmp, kind, "memo-1.0-py3-none-any.whl");
    fs.mkdirSync(path.dirname(whl), { recursive: true });
    await craft(whl, "VALUE = 'verified'\n");
    const opts = kind === "packed" ? { layout: "packed" as const } : { structure: kind };
    const out = path.join(tmp, `${kind}.pex`);
    const first = await buildPex(out, { wheels: [whl], verifiedWheelsCache: cache, ...opts });
    expect(first.distributions[0]).toMatchObject({ sha256: sha(whl), verificationMemoised: false });
    const firstBytes = kind === "packed" ? undefined : fs.readFileSync(out);
    const second = await buildPex(out, { wheels: [{ path: whl, sha256: sha(whl) }], verifiedWheelsCache: cache, ...opts });
    expect(second.distributions[0]).toMatchObject({ sha256: sha(whl), verificationMemoised: true });
    if (firstBytes) expect(fs.readFileSync(out).equals(firstBytes)).toBe(true); // memo does not change the output

    // The same path now holds a wheel whose RECORD lies: new content, new sha256, verified, rejected.
    await craft(whl, "VALUE = 'evil'\n", true);
    await expect(buildPex(path.join(tmp, `${kind}-evil.pex`), { wheels: [whl], verifiedWheelsCache: cache, ...opts })).rejects.toThrow(/memo\/__init__.py does not match its RECORD hash/);
    // Its true sha256 given by the caller: not in the memo either, so verified and rejected.
    await expect(buildPex(path.join(tmp, `${kind}-evil.pex`), { wheels: [{ path: whl, sha256: sha(whl) }], verifiedWheelsCache: cache, ...opts })).rejects.toThrow(/does not match its RECORD hash/);
    expect(fs.readdirSync(tmp).filter((f) => f.includes("evil"))).toEqual([]);
    // The good output of before is untouched.
    if (firstBytes) expect(fs.readFileSync(out).equals(firstBytes)).toBe(true);
  });
});

describe("PEX builds replaying cached install plans", () => {
  const planFiles = (cache: string) => (fs.existsSync(path.join(cache, "plans")) ? fs.readdirSync(path.join(cache, "plans"), { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => path.join(d.parentPath, d.name)) : []);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it.each(["split", "flat", "packed"] as const)("gives the bytes of an uncached build, finds the wheel by file identity once its timestamps settle (%s)", async (kind) => {
    const cache = path.join(tmp, `plans-${kind}`);
    const whl = path.join(tmp, `plans-${kind}`, "memo-1.0-py3-none-any.whl");
    fs.mkdirSync(path.dirname(whl), { recursive: true });
    await craft(whl, "VALUE = 'planned'\n");
    const opts = kind === "packed" ? { layout: "packed" as const } : { structure: kind };
    const bytesOf = (p: string) => (kind === "packed" ? Buffer.from(JSON.stringify(fs.readdirSync(p, { recursive: true }).sort().map((f) => [f, fs.statSync(path.join(p, String(f))).isFile() ? sha(path.join(p, String(f))) : "dir"]))) : fs.readFileSync(p));
    const reference = path.join(tmp, `plans-${kind}-ref.pex`);
    await buildPex(reference, { wheels: [whl], verifiedWheelsCache: false, ...opts });

    const out = path.join(tmp, `plans-${kind}.pex`);
    const first = await buildPex(out, { wheels: [whl], verifiedWheelsCache: cache, ...opts });
    expect(first.distributions[0]).toMatchObject({ verificationMemoised: false, planReplayed: false });
    expect(planFiles(cache)).toHaveLength(1);
    // Just written: its timestamps could hide a rewrite in the same tick, so it is hashed, not looked up.
    const second = await buildPex(out, { wheels: [whl], verifiedWheelsCache: cache, ...opts });
    expect(second.distributions[0]).toMatchObject({ verificationMemoised: true, planReplayed: false });
    // Its sha256 from the caller: the plan is replayed at once.
    const hinted = await buildPex(out, { wheels: [{ path: whl, sha256: sha(whl) }], verifiedWheelsCache: cache, ...opts });
    expect(hinted.distributions[0]).toMatchObject({ sha256: sha(whl), verificationMemoised: true, planReplayed: true });
    expect(bytesOf(out).equals(bytesOf(reference))).toBe(true);
    // Two seconds on, the identity (inode, size, mtime, ctime) is recorded and found.
    await sleep(2100);
    await buildPex(out, { wheels: [whl], verifiedWheelsCache: cache, ...opts });
    const warm = await buildPex(out, { wheels: [whl], verifiedWheelsCache: cache, ...opts });
    expect(warm.distributions[0]).toMatchObject({ sha256: sha(whl), verificationMemoised: true, planReplayed: true });
    expect(warm.info.distributions).toEqual(first.info.distributions);
    expect(bytesOf(out).equals(bytesOf(reference))).toBe(true);

    // Rewritten in place (same size, lying RECORD): a new identity, so hashed, verified and rejected.
    await craft(whl, "VALUE = 'evilxxx'\n", true);
    await expect(buildPex(path.join(tmp, `plans-${kind}-evil.pex`), { wheels: [whl], verifiedWheelsCache: cache, ...opts })).rejects.toThrow(/does not match its RECORD hash/);
  });

  it("rebuilds without plans when a cached plan no longer matches its wheel, and repairs it; ignores a corrupt one", async () => {
    const cache = path.join(tmp, "plans-damaged");
    const whl = path.join(tmp, "plans-damaged", "memo-1.0-py3-none-any.whl");
    fs.mkdirSync(path.dirname(whl), { recursive: true });
    await craft(whl, "VALUE = 'planned'\n");
    const reference = path.join(tmp, "damaged-ref.pex");
    await buildPex(reference, { wheels: [whl], verifiedWheelsCache: false });
    const out = path.join(tmp, "damaged.pex");
    await buildPex(out, { wheels: [whl], verifiedWheelsCache: cache });
    const [planFile] = planFiles(cache);
    const plan = JSON.parse(fs.readFileSync(planFile!, "utf8")) as { entries: (string | number)[][] };
    // Every raw span shifted by one byte: valid JSON, wrong offsets.
    for (const e of plan.entries) {
      if (e.length !== 8) continue;
      e[6] = (e[6] as number) + 1;
      e[7] = (e[7] as number) + 1;
    }
    fs.writeFileSync(planFile!, JSON.stringify(plan));
    const hint = { path: whl, sha256: sha(whl) };
    const rebuilt = await buildPex(out, { wheels: [hint], verifiedWheelsCache: cache });
    expect(rebuilt.distributions[0]).toMatchObject({ verificationMemoised: true, planReplayed: false });
    expect(fs.readFileSync(out).equals(fs.readFileSync(reference))).toBe(true);
    const again = await buildPex(out, { wheels: [hint], verifiedWheelsCache: cache });
    expect(again.distributions[0]).toMatchObject({ planReplayed: true });
    expect(fs.readFileSync(out).equals(fs.readFileSync(reference))).toBe(true);

    fs.writeFileSync(planFile!, "{not json");
    const corrupt = await buildPex(out, { wheels: [hint], verifiedWheelsCache: cache });
    expect(corrupt.distributions[0]).toMatchObject({ verificationMemoised: true, planReplayed: false });
    expect(fs.readFileSync(out).equals(fs.readFileSync(reference))).toBe(true);
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith(".damaged"))).toEqual([]);
  });
});
