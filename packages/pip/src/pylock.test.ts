import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { InvalidInputError } from "@cluster-pack/errors";
import { PipSession } from "./session";
import { explicitTarget } from "./target";
import { writeWheel } from "./test-kit/wheels";
import { fetchLocked, formatPyLock, lockFromResolution, readPyLock, selectFromLock, writePyLock } from "./pylock";

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-lock-"));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("PEP 751 pylock.toml", () => {
  test("write, read back, install from the lock with no resolution, fail on tampering", async () => {
    const links = path.join(tmp, "links");
    await writeWheel(links, { name: "a", version: "1.0", requires: ["b"] });
    await writeWheel(links, { name: "b", version: "2.0" });
    await writeWheel(links, { name: "b", version: "2.0", tag: "cp311-cp311-win_amd64" });
    const target = explicitTarget({ python: "3.11" });
    const s = new PipSession({ pipConfig: false, noIndex: true, findLinks: [links], cacheDir: path.join(tmp, "cache"), target });
    const res = await s.resolve(await s.readInput({ requirements: ["a"] }));
    const lock = await lockFromResolution(res, s.cache);
    const file = path.join(tmp, "pylock.toml");
    await writePyLock(file, lock);
    const text = fs.readFileSync(file, "utf8");
    expect(text).toMatch(/lock-version = "1.0"/);
    expect(text).toMatch(/sys_platform == \\"linux\\"/);
    // Deterministic output.
    expect(formatPyLock(await lockFromResolution(res, s.cache))).toBe(text);
    const back = await readPyLock(file);
    expect(back.packages.map((p) => `${p.name}==${p.version}`)).toEqual(["a==1.0", "b==2.0"]);
    expect(back.packages[0]!.dependencies).toEqual(["b"]);
    // b has a linux wheel and a windows wheel (only the linux one is compatible and locked).
    expect(back.packages[1]!.wheels.map((w) => w.name)).toEqual(["b-2.0-py3-none-any.whl"]);
    const sel = selectFromLock(back, target);
    const got = await fetchLocked(sel, s.cache, { dest: path.join(tmp, "site") });
    expect(got.map((g) => path.basename(g.path))).toEqual(["a-1.0-py3-none-any.whl", "b-2.0-py3-none-any.whl"]);
    // Wrong target.
    expect(() => selectFromLock(back, explicitTarget({ python: "3.12", platform: "win_amd64" }))).toThrow(/does not match the target/);
    // A file that changed after locking.
    const bPath = back.packages[1]!.wheels[0]!.path!;
    fs.writeFileSync(bPath, "tampered");
    const fresh = new PipSession({ pipConfig: false, noIndex: true, findLinks: [links], cacheDir: path.join(tmp, "cache2"), target });
    await expect(fetchLocked(selectFromLock(back, target), fresh.cache)).rejects.toThrow(/b-2.0-py3-none-any.whl.*(index \(or lock\) lists|matches none of the pinned hashes)/);
    fs.rmSync(bPath);
    await expect(fetchLocked(selectFromLock(back, target), fresh.cache)).rejects.toThrow(/locked file .*b-2.0-py3-none-any.whl of b 2.0 does not exist/);
  });

  test("invalid locks are named clearly", async () => {
    const f = path.join(tmp, "pylock.toml");
    fs.writeFileSync(f, 'lock-version = "2.0"\n');
    await expect(readPyLock(f)).rejects.toThrow(/lock-version "2.0" is not supported/);
    fs.writeFileSync(f, 'lock-version = "1.0"\n[[packages]]\nname = "a"\nversion = "1"\n[[packages.wheels]]\nurl = "https://x/a-1-py3-none-any.whl"\n');
    await expect(readPyLock(f)).rejects.toThrow(/packages\[0\] \(a\) wheels\[0\] has no hashes/);
    fs.writeFileSync(f, "not toml [");
    await expect(readPyLock(f)).rejects.toThrow(`${f} is not a valid TOML lock file`);
    await expect(readPyLock(`${f}.missing`)).rejects.toThrow(expect.objectContaining({ message: `lock file ${f}.missing does not exist.`, hint: "check the path." }));
  });

  test("every file name, URL and hash of a lock goes through the choke point before a path is made of it", async () => {
    const f = path.join(tmp, "pylock.toml");
    const SHA = "ab".repeat(32);
    const lockWith = (file: string, pkg = 'name = "adv"\nversion = "1.0"') => {
      fs.writeFileSync(f, `lock-version = "1.0"\n[[packages]]\n${pkg}\n[[packages.wheels]]\n${file}\n`);
      return readPyLock(f);
    };
    const refused = async (file: string, message: string, pkg?: string, hint?: string) => {
      const err = (await lockWith(file, pkg).catch((e: unknown) => e)) as InvalidInputError;
      expect(err).toBeInstanceOf(InvalidInputError);
      expect(err.code).toBe("ERR_LOCK_INVALID");
      expect(err.message).toBe(`${f}: ${message}`);
      if (hint !== undefined) expect(err.hint).toBe(hint);
    };
    const FIX = "lock again, or fix the entry.";
    const hashes = `hashes = { sha256 = "${SHA}" }`;
    await refused(
      `name = "adv-1.0-py3-none-any.x/../../../some/dir/evil.whl"\nurl = "https://x/adv-1.0-py3-none-any.whl"\n${hashes}`,
      `packages[0] (adv) wheels[0]: Unsafe distribution file name "adv-1.0-py3-none-any.x/../../../some/dir/evil.whl": it contains '/'; a wheel or sdist file name is a single path component.`,
      undefined,
      FIX,
    );
    // Without a name, the URL's last segment (percent-decoded) is the name.
    await refused(`url = "https://x/adv-1.0-py3-none-any.x%2F..%2F..%2Fevil.whl"\n${hashes}`, `packages[0] (adv) wheels[0]: Unsafe distribution file name "adv-1.0-py3-none-any.x/../../evil.whl": it contains '/'; a wheel or sdist file name is a single path component.`, undefined, FIX);
    await refused(`name = "evilpkg-1.0-py3-none-any.whl"\nurl = "https://x/e.whl"\n${hashes}`, `packages[0] (adv) wheels[0]: "evilpkg-1.0-py3-none-any.whl" is a file of project evilpkg, not of adv.`, undefined, FIX);
    await refused(`name = "adv-2.0-py3-none-any.whl"\nurl = "https://x/a.whl"\n${hashes}`, `packages[0] (adv) wheels[0]: "adv-2.0-py3-none-any.whl" is version 2.0, not 1.0.`, undefined, FIX);
    await refused(`name = "adv-1.0.tar.gz"\nurl = "https://x/a.tgz"\n${hashes}`, `packages[0] (adv) wheels[0]: "adv-1.0.tar.gz" is an sdist, not a wheel as expected.`, undefined, FIX);
    await refused(`name = "adv-1.0-py3-none-any.whl"\nurl = "https://x/a.whl"\nhashes = { sha256 = "../../x" }`, `packages[0] (adv) wheels[0] hashes: the sha256 hash "../../x" is not 64 hex digits.`);
    await refused(`name = "adv-1.0-py3-none-any.whl"\nurl = "https://x/a.whl"\nhashes = { blake2b = "00" }`, `packages[0] (adv) wheels[0] has no hashes (md5, sha1, sha224, sha256, sha384, sha512); locks must pin every file by hash.`);
    await refused(`name = "adv-1.0-py3-none-any.whl"\nurl = "ftp://x/a.whl"\n${hashes}`, `packages[0] (adv) wheels[0] url "ftp://x/a.whl" is not an http(s):// or file:// URL.`);
    await refused(`name = "adv-1.0-py3-none-any.whl"\nurl = "https://x/a.whl"\nsize = -1\n${hashes}`, `packages[0] (adv) wheels[0] size -1 is not a byte count.`);
    await refused(`url = "https://x/a.whl"\n${hashes}`, `packages[0] name "../adv" is not a valid project name.`, 'name = "../adv"\nversion = "1.0"');
    await refused(`url = "https://x/a.whl"\n${hashes}`, `packages[0] (adv) version "1.0/../x" is not a PEP 440 version.`, 'name = "adv"\nversion = "1.0/../x"');
    // Accepted: names compare normalised, versions by PEP 440.
    const ok = await lockWith(`name = "Adv-1.0.0-py3-none-any.whl"\nurl = "https://x/Adv-1.0.0-py3-none-any.whl"\n${hashes}`);
    expect(ok.packages[0]!.wheels[0]).toEqual({ name: "Adv-1.0.0-py3-none-any.whl", url: "https://x/Adv-1.0.0-py3-none-any.whl", hashes: { sha256: SHA } });
  });

  test("selectFromLock holds a lock built in memory to the same check", () => {
    const lock = { lockVersion: "1.0", environments: [], createdBy: "test", packages: [{ name: "adv", version: "1.0", dependencies: [], wheels: [{ name: "../../adv-1.0-py3-none-any.whl", url: "https://x/a.whl", hashes: { sha256: "ab".repeat(32) } }] }] };
    expect(() => selectFromLock(lock, explicitTarget({ python: "3.11" }), "mem.toml")).toThrow(`mem.toml: adv 1.0: Unsafe distribution file name "../../adv-1.0-py3-none-any.whl": it contains '/'; a wheel or sdist file name is a single path component.`);
  });
});
