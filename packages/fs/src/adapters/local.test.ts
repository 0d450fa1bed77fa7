import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { LocalFileSystem } from "./local";
import { MemoryFileSystem } from "./memory";
import { runConformanceSuite } from "../test-kit/conformance";

// The preset's testTimeout is not applied under the root multi-project run; the machine is shared.
jest.setTimeout(120_000);

runConformanceSuite("local", async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cp-fs-local-"));
  return { fs: new LocalFileSystem(), root, cleanup: async () => fs.rmSync(root, { recursive: true, force: true }) };
});

describe("LocalFileSystem specifics", () => {
  it("drops metadata once the file is rewritten, even at the same size with its mtime restored", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "cp-fs-local-"));
    try {
      const lfs = new LocalFileSystem();
      const f = path.join(root, "env.tar.gz");
      await lfs.write(f, "archive-v1", { metadata: { lock: "abc" } });
      expect((await lfs.head(f))!.metadata).toEqual({ lock: "abc" });
      // What "upload only when changed" must not be fooled by: same size, same mtime, new bytes.
      execFileSync("touch", ["-r", f, `${f}.stamp`]);
      fs.writeFileSync(f, "archive-v2");
      execFileSync("touch", ["-r", `${f}.stamp`, f]);
      expect((await lfs.head(f))!.metadata).toEqual({});
      // A rename carries valid metadata along, and only valid metadata.
      await lfs.write(f, "archive-v3", { metadata: { lock: "def" } });
      await lfs.rename(f, path.join(root, "moved.tar.gz"));
      expect((await lfs.head(path.join(root, "moved.tar.gz")))!.metadata).toEqual({ lock: "def" });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("hides metadata sidecars and maps permission errors to EACCES", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "cp-fs-local-"));
    try {
      const lfs = new LocalFileSystem();
      await lfs.write(path.join(root, "f"), "x", { metadata: { k: "v" } });
      expect(fs.readdirSync(root).sort()).toEqual([".f.cp-meta.json", "f"]);
      expect((await lfs.list(root)).map((e) => e.name)).toEqual(["f"]);
      expect(await lfs.head(path.join(root, "f"))).toMatchObject({ metadata: { k: "v" }, size: 1 });
      if (process.getuid?.() === 0) return; // root ignores permission bits
      fs.mkdirSync(path.join(root, "ro"));
      fs.chmodSync(path.join(root, "ro"), 0o500);
      await expect(lfs.write(path.join(root, "ro", "x"), "y")).rejects.toMatchObject({ code: "EACCES", driver: "local" });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("publish with consume", () => {
  it("moves a local file given away into place (same inode, no copy), with its mode, metadata and sidecar; another filesystem is copied", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "cp-fs-consume-"));
    try {
      const lfs = new LocalFileSystem();
      const built = path.join(root, "build", "env.pex");
      fs.mkdirSync(path.dirname(built));
      fs.writeFileSync(built, "#!/usr/bin/env python3\nprint(1)\n");
      fs.chmodSync(built, 0o750);
      const ino = fs.statSync(built).ino;
      const dest = path.join(root, "store", "envs", "env.pex");
      const progress: number[] = [];
      const r = await lfs.publish(built, dest, { consume: true, metadata: { lock: "abc" }, sidecar: { content: "{}" }, onProgress: (p) => progress.push(p.bytesDone) });
      expect(fs.existsSync(built)).toBe(false);
      expect(fs.statSync(dest).ino).toBe(ino);
      expect(fs.statSync(dest).mode & 0o777).toBe(0o750);
      expect(r.size).toBe(fs.statSync(dest).size);
      expect(progress).toEqual([r.size]);
      expect((await lfs.head(dest))!.metadata).toEqual({ lock: "abc" });
      expect((await lfs.isUpToDate(dest, { metadata: { lock: "abc" }, size: r.size })).upToDate).toBe(true);
      expect(fs.readFileSync(path.join(root, "store", "envs", "env.json"), "utf8")).toBe("{}");
      // No overwrite: an existing object stays, the local file too.
      fs.writeFileSync(built, "other");
      await expect(lfs.publish(built, dest, { consume: true, overwrite: false })).rejects.toMatchObject({ code: "EEXIST" });
      expect(fs.readFileSync(dest, "utf8")).toContain("print(1)");
      expect(fs.existsSync(built)).toBe(true);
      // Without consume the local file is left as it was.
      await lfs.publish(built, path.join(root, "store", "copy.pex"));
      expect(fs.readFileSync(built, "utf8")).toBe("other");
      // From another filesystem (tmpfs) a rename cannot work: the bytes are copied.
      if (fs.existsSync("/dev/shm") && fs.statSync("/dev/shm").dev !== fs.statSync(root).dev) {
        const elsewhere = fs.mkdtempSync(path.join("/dev/shm", "cp-fs-consume-"));
        try {
          fs.writeFileSync(path.join(elsewhere, "env.pex"), "from tmpfs");
          await lfs.publish(path.join(elsewhere, "env.pex"), dest, { consume: true, metadata: { lock: "def" } });
          expect(fs.readFileSync(dest, "utf8")).toBe("from tmpfs");
          expect((await lfs.head(dest))!.metadata).toEqual({ lock: "def" });
        } finally {
          fs.rmSync(elsewhere, { recursive: true, force: true });
        }
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("permission bits through publish and get", () => {
  it("publish keeps the file's mode; get keeps a local source's mode and makes a #! file from a mode-less store executable", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "cp-fs-mode-"));
    const mode = (p: string) => fs.statSync(p).mode & 0o777;
    const umask = 0o666 & ~mode((fs.writeFileSync(path.join(root, "probe"), ""), path.join(root, "probe")));
    try {
      const lfs = new LocalFileSystem();
      const pex = path.join(root, "env.pex");
      fs.writeFileSync(pex, "#!/usr/bin/env python3\nprint(1)\n", { mode: 0o755 });
      fs.chmodSync(pex, 0o755);
      await lfs.publish(pex, path.join(root, "store", "env.pex"));
      expect(mode(path.join(root, "store", "env.pex"))).toBe(0o755 & ~umask);
      await lfs.get(path.join(root, "store", "env.pex"), path.join(root, "back.pex"));
      expect(mode(path.join(root, "back.pex"))).toBe(0o755 & ~umask);
      const priv = path.join(root, "secret.txt");
      fs.writeFileSync(priv, "x");
      fs.chmodSync(priv, 0o600);
      await lfs.get(priv, path.join(root, "secret-copy.txt"));
      expect(mode(path.join(root, "secret-copy.txt"))).toBe(0o600);
      // A store without modes: the content decides.
      const mem = new MemoryFileSystem();
      await mem.write("/b/env.pex", "#!/usr/bin/env python3\n");
      await mem.write("/b/data.zip", "PK\x03\x04");
      await mem.get("/b/env.pex", path.join(root, "from-store.pex"));
      await mem.get("/b/data.zip", path.join(root, "from-store.zip"));
      expect(mode(path.join(root, "from-store.pex"))).toBe(0o755 & ~umask);
      expect(mode(path.join(root, "from-store.zip")) & 0o111).toBe(0);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
