import fs from "node:fs";
import os from "node:os";
import path from "node:path";
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
    await expect(readPyLock(f)).rejects.toThrow(/Cannot read lock file/);
  });
});
