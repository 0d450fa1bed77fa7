import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { LocalFileSystem } from "./local";
import { runConformanceSuite } from "../test-kit/conformance";

// The preset's testTimeout is not applied under the root multi-project run; the machine is shared.
jest.setTimeout(120_000);

runConformanceSuite("local", async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cp-fs-local-"));
  return { fs: new LocalFileSystem(), root, cleanup: async () => fs.rmSync(root, { recursive: true, force: true }) };
});

describe("LocalFileSystem specifics", () => {
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
