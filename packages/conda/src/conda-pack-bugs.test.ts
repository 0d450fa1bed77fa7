/**
 * One test per conda-pack 0.9.2 bug listed in the reference (section 3), proving this
 * packer does not have it.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { packCondaEnvironment } from "./pack-conda";
import { zstdArgs } from "./compress";
import { describeWithKit, extractArchive, findKitInterpreter, makeCondaEnv, tempDir, treeDigest, type CondaEnvKit } from "./test-kit";

jest.setTimeout(180_000);

const interp = findKitInterpreter();
const d = describeWithKit("conda-pack bug tests");

let root: string;
let kit: CondaEnvKit;
let pixi: CondaEnvKit;
beforeAll(() => {
  if (!interp) return;
  root = tempDir("bugs");
  kit = makeCondaEnv({ root: path.join(root, "conda"), pipPackage: false });
  pixi = makeCondaEnv({ root: path.join(root, "pixi"), pixi: true, pipPackage: false });
});
afterAll(() => {
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout.trim();
}

d("conda-pack bugs we do not have", () => {
  test("1. tar formats work without conda-meta/history (pixi/rattler envs, link null)", async () => {
    expect(fs.existsSync(path.join(pixi.prefix, "conda-meta", "history"))).toBe(false);
    for (const format of ["tar.gz", "tar.bz2", "tar.xz", "tar.zst", "tar"] as const) {
      const out = path.join(root, `pixi.${format}`);
      // The rattler cache is found through packageCacheDirs (records have no link.source).
      const result = await packCondaEnvironment({ prefix: pixi.prefix, output: out, packageCacheDirs: [pixi.pkgsDir] });
      expect(result.warnings.filter((w) => w.includes("not in any package cache"))).toEqual([expect.stringContaining("uncachedpkg")]);
      const dir = path.join(root, "deploy-pixi", format, "env");
      extractArchive(out, dir);
      run(`${dir}/bin/conda-unpack`, []);
      expect(run(`${dir}/bin/python`, ["-c", "import sys, noarchpkg; print(sys.prefix)"])).toBe(dir);
      if (pixi.compiledBinary) expect(run(`${dir}/bin/clib-prefix`, [])).toBe(`${dir}/share/clib/data.txt`);
    }
  });

  test("2. tar.gz is reproducible: no helper file with a fresh mtime", async () => {
    const a = await packCondaEnvironment({ prefix: kit.prefix, output: path.join(root, "r1.tar.gz") });
    await new Promise((r) => setTimeout(r, 1100));
    const b = await packCondaEnvironment({ prefix: kit.prefix, output: path.join(root, "r2.tar.gz") });
    expect(b.sha256).toBe(a.sha256);
    // Including the generated files (conda-unpack, activate, deactivate).
    const listing = run("tar", ["-tvzf", path.join(root, "r2.tar.gz")]).split("\n");
    for (const f of ["bin/conda-unpack", "bin/activate", "bin/deactivate"]) {
      expect(listing.find((l) => l.endsWith(` ${f}`))).toContain("1980-01-01 00:00");
    }
  });

  test("3. no-archive never hardlinks from the package cache, so unpacking cannot rewrite the cache", async () => {
    const before = treeDigest(kit.pkgsDir);
    const out = path.join(root, "noarchive-env");
    await packCondaEnvironment({ prefix: kit.prefix, output: out, format: "no-archive" });
    // Every regular file is a separate inode from the cache's and the env's.
    const cacheInodes = new Set<number>();
    for (const rel of Object.keys(treeDigest(kit.pkgsDir))) {
      const st = fs.lstatSync(path.join(kit.pkgsDir, rel));
      if (st.isFile()) cacheInodes.add(st.ino);
    }
    for (const rel of Object.keys(treeDigest(out))) {
      const st = fs.lstatSync(path.join(out, rel));
      if (st.isFile()) expect(cacheInodes.has(st.ino)).toBe(false);
    }
    run(`${out}/bin/conda-unpack`, []);
    expect(treeDigest(kit.pkgsDir)).toEqual(before);
    expect(fs.readFileSync(path.join(out, "etc/clib.conf"), "utf8")).toContain(out);
  });

  test("4. zstd honours the compression level and the thread count", async () => {
    const fast = await packCondaEnvironment({ prefix: kit.prefix, output: path.join(root, "l1.tar.zst"), compressLevel: 1 });
    const small = await packCondaEnvironment({ prefix: kit.prefix, output: path.join(root, "l19.tar.zst"), compressLevel: 19, threads: 2 });
    expect(small.size).toBeLessThan(fast.size);
    // zstd writes the level-dependent window into the frame header: a different level is visible.
    expect(fast.sha256).not.toBe(small.sha256);
    // The thread count reaches zstd (its multi-threaded output does not depend on it, by design).
    expect(zstdArgs(19, 2)).toEqual(expect.arrayContaining(["-19", "-T2"]));
    expect(zstdArgs(22, 4)).toEqual(expect.arrayContaining(["--ultra", "-22", "-T4"]));
  });

  test("5. conda-unpack fixes every bin/python* record, python3.X-config included", async () => {
    const out = path.join(root, "py.tar");
    await packCondaEnvironment({ prefix: kit.prefix, output: out });
    const dir = path.join(root, "deploy-py", "env");
    extractArchive(out, dir);
    const cfg = `${dir}/bin/python${kit.pythonVersion}-config`;
    expect(fs.readFileSync(cfg, "utf8")).toContain("/opt/anaconda1anaconda2anaconda3");
    expect(fs.readFileSync(`${dir}/bin/conda-unpack`, "utf8")).toContain(`"bin/python${kit.pythonVersion}-config"`);
    // bin/python3.X itself carries the binary placeholder and runs conda-unpack.
    const interpreter = `${dir}/bin/python${kit.pythonVersion}`;
    const before = fs.statSync(interpreter);
    expect(fs.readFileSync(`${dir}/bin/conda-unpack`, "utf8")).toContain(`"bin/python${kit.pythonVersion}"`);
    run(`${dir}/bin/conda-unpack`, []);
    expect(run(cfg, ["--prefix"])).toBe(dir);
    expect(run(cfg, ["--includes"])).toBe(`-I${dir}/include/python${kit.pythonVersion}`);
    // Rewritten through a new file renamed over it (never in place: the running process
    // keeps its inode), same size, new prefix inside, and it still runs.
    const after = fs.statSync(interpreter);
    expect(after.ino).not.toBe(before.ino);
    expect(after.size).toBe(before.size);
    expect(after.mode & 0o777).toBe(0o755);
    expect(fs.readFileSync(interpreter).includes(Buffer.from(`${dir}/lib/python${kit.pythonVersion}\0`))).toBe(true);
    expect(run(interpreter, ["-c", "import sys; print(sys.prefix)"])).toBe(dir);
  });
});
