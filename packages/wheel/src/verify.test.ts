import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { IntegrityError } from "@cluster-pack/errors";
import { ZipReader, ZipWriter } from "@cluster-pack/zip";
import { addWheelToZip, formatRecord, recordHash, WheelVerifier, type RecordCheck } from "./index";
import { verifiedMarkerPath } from "./verify";
import { downloadWheels, pipIndexUnavailable } from "@cluster-pack/io/test-kit";

jest.setTimeout(120_000);

const noPip = pipIndexUnavailable();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-wheel-verify-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A wheel with one big deflated module (so the worker inflates), optionally with a lying RECORD. */
async function craft(out: string, opts: { tamper?: boolean; body?: string; big?: number } = {}): Promise<void> {
  const di = "memo-1.0.dist-info";
  const body = opts.body ?? "x = 1\n";
  const big = "# padding\n".repeat(opts.big ?? 1000);
  const files: Record<string, string> = {
    [`${di}/METADATA`]: "Metadata-Version: 2.1\nName: memo\nVersion: 1.0\n",
    [`${di}/WHEEL`]: "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    "memo/__init__.py": body,
    "memo/big.py": big,
  };
  const rows = Object.entries(files).map(([p, c]) => ({ path: p, hash: recordHash(p === "memo/__init__.py" && opts.tamper ? "x = 1\n" : c), size: Buffer.byteLength(c) }));
  const w = new ZipWriter();
  for (const [p, c] of Object.entries(files)) w.addBuffer(p, c);
  w.addBuffer(`${di}/RECORD`, formatRecord([...rows, { path: `${di}/RECORD` }]));
  await w.writeTo(out);
}

async function checksOf(wheel: string): Promise<{ checks: RecordCheck[]; close: () => Promise<void> }> {
  const reader = await ZipReader.open(wheel);
  const res = await addWheelToZip(new ZipWriter(), reader, path.basename(wheel), { prefix: "x/", deferVerification: true });
  return { checks: res.checks, close: () => reader.close() };
}

const sha = (f: string) => crypto.createHash("sha256").update(fs.readFileSync(f)).digest("hex");

describe("WheelVerifier", () => {
  it("verifies an unknown wheel, memoises it by content, and re-verifies (and rejects) a tampered file at the same path", async () => {
    const cacheDir = path.join(tmp, "memo1");
    const whl = path.join(tmp, "memo-1.0-py3-none-any.whl");
    await craft(whl);
    const v = new WheelVerifier({ cacheDir, threads: 2 });
    try {
      const a = await checksOf(whl);
      expect(a.checks.map((c) => c.record.path).sort()).toEqual(["memo-1.0.dist-info/METADATA", "memo-1.0.dist-info/WHEEL", "memo/__init__.py", "memo/big.py"]);
      expect(await v.verify(whl, "memo-1.0-py3-none-any.whl", a.checks)).toEqual({ sha256: sha(whl), memoised: false });
      expect(fs.existsSync(verifiedMarkerPath(cacheDir, sha(whl)))).toBe(true);
      expect(await v.verify(whl, "memo-1.0-py3-none-any.whl", a.checks)).toEqual({ sha256: sha(whl), memoised: true });
      await a.close();

      // Same path, other content whose RECORD lies: a new sha256, so verified again, and rejected.
      await craft(whl, { tamper: true, body: "x = 2\n" });
      const b = await checksOf(whl);
      await expect(v.verify(whl, "memo-1.0-py3-none-any.whl", b.checks)).rejects.toThrow(IntegrityError);
      await expect(v.verify(whl, "memo-1.0-py3-none-any.whl", b.checks)).rejects.toThrow(/memo\/__init__.py does not match its RECORD hash/);
      expect(fs.existsSync(verifiedMarkerPath(cacheDir, sha(whl)))).toBe(false);
      await b.close();
    } finally {
      await v.close();
    }
  });

  it("keys the memo by sha256 only: a copy elsewhere is memoised, a given sha256 skips hashing, a wrong one is refused", async () => {
    const cacheDir = path.join(tmp, "memo2");
    const whl = path.join(tmp, "a", "memo-1.0-py3-none-any.whl");
    fs.mkdirSync(path.dirname(whl), { recursive: true });
    await craft(whl, { body: "y = 3\n" });
    const copy = path.join(tmp, "b", "memo-1.0-py3-none-any.whl");
    fs.mkdirSync(path.dirname(copy), { recursive: true });
    fs.copyFileSync(whl, copy);
    const v = new WheelVerifier({ cacheDir });
    try {
      const a = await checksOf(whl);
      // A wrong sha256 for an unverified wheel: the real one is computed and must match.
      await expect(v.verify(whl, "memo-1.0-py3-none-any.whl", a.checks, { sha256: "0".repeat(64) })).rejects.toThrow(/sha256 is [0-9a-f]{64} but 0{64} was given/);
      expect(fs.existsSync(cacheDir)).toBe(false);
      expect((await v.verify(whl, "w", a.checks)).memoised).toBe(false);
      expect((await v.verify(copy, "w", a.checks)).memoised).toBe(true);
      expect((await v.verify(copy, "w", a.checks, { sha256: sha(whl).toUpperCase() })).memoised).toBe(true);
      await a.close();
      // cacheDir false: never memoised.
      const fresh = new WheelVerifier({ cacheDir: false });
      const c = await checksOf(whl);
      try {
        expect((await fresh.verify(whl, "w", c.checks)).memoised).toBe(false);
      } finally {
        await fresh.close();
        await c.close();
      }
    } finally {
      await v.close();
    }
  });

  it("rejects an entry that inflates to another size than RECORD says", async () => {
    const whl = path.join(tmp, "size", "memo-1.0-py3-none-any.whl");
    fs.mkdirSync(path.dirname(whl), { recursive: true });
    await craft(whl);
    const a = await checksOf(whl);
    const lying = a.checks.map((c) => (c.record.path === "memo/big.py" ? { ...c, record: { ...c.record, size: c.record.size! + 1 } } : c));
    const v = new WheelVerifier({ cacheDir: false });
    try {
      await expect(v.verify(whl, "memo-1.0-py3-none-any.whl", lying)).rejects.toThrow(/memo\/big.py is \d+ bytes but RECORD says \d+/);
    } finally {
      await v.close();
      await a.close();
    }
  });

  (noPip ? it.skip : it)("verifies a real wheel (six) in the workers", async () => {
    const [whl] = downloadWheels(["six"]);
    const a = await checksOf(whl!);
    const v = new WheelVerifier({ cacheDir: path.join(tmp, "memo3") });
    try {
      expect(await v.verify(whl!, path.basename(whl!), a.checks)).toEqual({ sha256: sha(whl!), memoised: false });
    } finally {
      await v.close();
      await a.close();
    }
  });
});
