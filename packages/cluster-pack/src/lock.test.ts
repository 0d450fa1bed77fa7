import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { withBuildLock } from "./lock";

let dir: string;
beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "cp-lock-"));
});
afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

describe("withBuildLock", () => {
  it("serialises holders of the same key and not of different keys", async () => {
    const events: string[] = [];
    const hold = (key: string, name: string, ms: number) =>
      withBuildLock(dir, key, {}, async () => {
        events.push(`${name}+`);
        await new Promise((r) => setTimeout(r, ms));
        events.push(`${name}-`);
      });
    await Promise.all([hold("k", "a", 150), new Promise((r) => setTimeout(r, 20)).then(() => hold("k", "b", 10)), hold("other", "c", 10)]);
    expect(events.indexOf("b+")).toBeGreaterThan(events.indexOf("a-"));
    expect(events.indexOf("c-")).toBeLessThan(events.indexOf("a-"));
  });

  it("takes over a lock left by a dead holder once it is stale", async () => {
    // proper-lockfile's lock is `<key>.lock`, kept fresh by its holder's mtime updates.
    const lockDir = path.join(dir, "locks", "k.lock");
    await fsp.mkdir(lockDir, { recursive: true });
    const old = new Date(Date.now() - 60_000);
    await fsp.utimes(lockDir, old, old);
    expect(await withBuildLock(dir, "k", { staleMs: 5_000 }, async () => "ran")).toBe("ran");
  });

  it("stops waiting when aborted", async () => {
    let release!: () => void;
    const holder = withBuildLock(dir, "k", {}, () => new Promise<void>((r) => (release = r)));
    await new Promise((r) => setTimeout(r, 50));
    const ac = new AbortController();
    const waiter = withBuildLock(dir, "k", { signal: ac.signal }, async () => "never");
    setTimeout(() => ac.abort(), 100);
    await expect(waiter).rejects.toMatchObject({ code: "ABORT_ERR" });
    release();
    await holder;
  });
});
