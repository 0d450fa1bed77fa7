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
