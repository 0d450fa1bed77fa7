import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DigestMemo, identityOf, sha256File, shardedPath } from "./identity";

describe("shardedPath", () => {
  const sha = "ab".padEnd(64, "0");

  it("puts an entry under the first two hex digits of its key", () => {
    expect(shardedPath("/c", sha)).toBe(path.join("/c", "ab", sha));
    expect(shardedPath("/c", sha, `${sha}.json`)).toBe(path.join("/c", "ab", `${sha}.json`));
  });

  it("refuses a key that is not a lowercase hex digest (a claimed hash cannot name a path)", () => {
    for (const key of ["", "a", "../../etc", "AB".padEnd(64, "0"), `${sha}/x`, "zz"]) {
      expect(() => shardedPath("/c", key)).toThrow(TypeError);
    }
  });

  it("refuses a name that is not one path component", () => {
    for (const name of ["../x", "a/b", "a\\b", ".", "..", "a\0b"]) {
      expect(() => shardedPath("/c", sha, name)).toThrow(TypeError);
    }
  });
});

describe("identityOf: the racy rule", () => {
  const s = 1_000_000_000n;
  const st = (mtimeNs: bigint, ctimeNs: bigint) => ({ dev: 1n, ino: 2n, size: 3n, mtimeNs, ctimeNs }) as unknown as import("node:fs").BigIntStats;
  const now = 1_000_000n * s;

  it("an identity under 2 s old with mtime and ctime together is racy (a write in that tick would not show)", () => {
    expect(identityOf("/f", st(now - s, now - s), now).racy).toBe(true);
    expect(identityOf("/f", st(now - s, now - s / 2n), now).racy).toBe(true);
  });

  it("an identity 2 s old, or with mtime and ctime 2 s apart (no write sets them apart), is not", () => {
    expect(identityOf("/f", st(now - 2n * s, now - 2n * s), now).racy).toBe(false);
    expect(identityOf("/f", st(now - 10n * s, now - s / 10n), now).racy).toBe(false);
    expect(identityOf("/f", st(now + 5n * s, now - s / 10n), now).racy).toBe(false); // mtime set in the future
  });
});

describe("DigestMemo.publishVerified", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cp-memo-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A fresh file "bytes", published at `<dir>/f` through publishVerified. */
  async function published() {
    const memo = new DigestMemo(path.join(dir, "stat"));
    const temp = path.join(dir, "t");
    const target = path.join(dir, "f");
    fs.writeFileSync(temp, "bytes");
    const sha = await sha256File(temp);
    await memo.publishVerified(temp, target, sha);
    expect(fs.existsSync(temp)).toBe(false);
    return { memo, target, sha };
  }

  it("publishes a fresh file with its identity recorded at once, and any later write is seen", async () => {
    const { memo, target, sha } = await published();
    expect((await memo.lookup(target)).sha256).toBe(sha); // without the fixed mtime: racy, no record
    // A write right away (same second) gives mtime = ctime = now: another identity, no record.
    fs.writeFileSync(target, "other");
    expect((await memo.lookup(target)).sha256).toBeUndefined();
    expect(await memo.verify(target, sha)).toBe(false);
  });

  it("a write of the same size that restores the fixed mtime still changes ctime", async () => {
    const { memo, target, sha } = await published();
    expect((await memo.lookup(target)).sha256).toBe(sha);
    const before = fs.statSync(target);
    await new Promise((r) => setTimeout(r, 20));
    fs.writeFileSync(target, "BYTES");
    fs.utimesSync(target, before.atime, before.mtime);
    expect((await memo.lookup(target)).sha256).toBeUndefined();
  });
});
