import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { packCondaEnvironment } from "./pack-conda";
import type { ArchiveFormat } from "./archive";
import { describeWithKit, extractArchive, filesContaining, findKitInterpreter, LONG_PATH, makeCondaEnv, tempDir, treeDigest, type CondaEnvKit } from "./test-kit";

jest.setTimeout(180_000);

const interp = findKitInterpreter();
const d = describeWithKit("conda round trips");

let root: string;
let kit: CondaEnvKit;

beforeAll(() => {
  if (!interp) return;
  root = tempDir("rt");
  kit = makeCondaEnv({ root: path.join(root, "build") });
});
afterAll(() => {
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout.trim();
}

/** Everything a user relies on after unpacking somewhere else. */
function verifyRelocated(dir: string) {
  const PATH = `${dir}/bin:${process.env.PATH}`;
  expect(run(`${dir}/bin/python`, ["-c", "import sys, noarchpkg; print(sys.prefix)"])).toBe(dir);
  expect(run(`${dir}/bin/noarchpkg-cli`, [], { PATH })).toBe(`noarchpkg-cli ${dir}`);
  // A shebang with an option (-s) kept through env -S; the text placeholder in its body replaced.
  expect(fs.readFileSync(`${dir}/bin/oldtool`, "utf8").split("\n")[0]).toBe(`#!/usr/bin/env -S python${kit.pythonVersion} -s`);
  expect(run(`${dir}/bin/oldtool`, [], { PATH })).toBe(`oldtool ${dir} ${dir}`);
  if (kit.pipInstalled) {
    expect(fs.readFileSync(`${dir}/bin/tabulate`, "utf8").split("\n")[0]).toBe("#!/usr/bin/env python");
    expect(run(`${dir}/bin/tabulate`, ["--help"], { PATH })).toContain("Usage: tabulate");
  }
  if (kit.compiledBinary) {
    // The binary's string now names the new prefix; NUL padding kept the file size.
    expect(run(`${dir}/bin/clib-prefix`, [])).toBe(`${dir}/share/clib/data.txt`);
    expect(fs.statSync(`${dir}/bin/clib-prefix`).size).toBe(fs.statSync(`${kit.prefix}/bin/clib-prefix`).size);
  }
  expect(run(`${dir}/bin/python${kit.pythonVersion}-config`, ["--prefix"])).toBe(dir);
  expect(fs.readFileSync(`${dir}/etc/clib.conf`, "utf8")).toContain(`data_dir = ${dir}/share/clib`);
  expect(fs.readFileSync(`${dir}/etc/unmanaged.cfg`, "utf8")).toContain(`root = ${dir}`);
  expect(fs.readFileSync(`${dir}/share/uncached/info.txt`, "utf8")).toBe(`installed in ${dir}\n`);
  expect(fs.readlinkSync(`${dir}/bin/python`)).toBe(`python${kit.pythonVersion}`);
  expect(fs.statSync(`${dir}/share/empty-dir`).isDirectory()).toBe(true);
  expect(fs.readFileSync(`${dir}/${LONG_PATH}`, "utf8")).toBe(`root=${dir}\n`);
  // The old prefix survives only where it must: compiled bytecode and an unmanaged binary
  // (both left alone, as conda-pack does), and the records inside conda-unpack itself.
  const left = filesContaining(dir, kit.prefix).filter((f) => !f.endsWith(".pyc"));
  // (conda-meta records keep the packages' own placeholders: they describe the packages.)
  const notMeta = (f: string) => f !== "bin/conda-unpack" && !f.startsWith("conda-meta/");
  expect(left.filter((f) => f !== "bin/conda-unpack")).toEqual(["share/unmanaged.bin"]);
  // No placeholder is left anywhere.
  expect(filesContaining(dir, "/opt/anaconda1anaconda2anaconda3").filter(notMeta)).toEqual([]);
  expect(filesContaining(dir, "_h_env_placehold").filter(notMeta)).toEqual([]);
}

const FORMATS: ArchiveFormat[] = ["tar.gz", "zip", "tar.zst", "tar.bz2", "tar.xz", "tar"];

d("pack, extract elsewhere and deeper, conda-unpack, run", () => {
  test.each(FORMATS)("%s", async (format) => {
    const cacheBefore = treeDigest(kit.pkgsDir);
    const envBefore = treeDigest(kit.prefix);
    const out = path.join(root, `env.${format}`);
    const result = await packCondaEnvironment({ prefix: kit.prefix, output: out, threads: 2 });
    expect(result.format).toBe(format);
    expect(result.env).toEqual({ archive: out, kind: "conda", dirName: "pyenv", interpreter: "pyenv/bin/python" });
    if (format !== "tar.zst") {
      // Python's readers agree on the entry count (tarfile for tars, zipfile for zip).
      const reader = format === "zip" ? "import zipfile,sys; print(len(zipfile.ZipFile(sys.argv[1]).namelist()))" : "import tarfile,sys; print(len(tarfile.open(sys.argv[1]).getnames()))";
      expect(Number(run("python3", ["-c", reader, out]))).toBe(result.entries);
    }
    const dir = path.join(root, "deploy", format.replace(".", "_"), "a", "much", "deeper", "place", "pyenv");
    extractArchive(out, dir);
    expect(fs.readFileSync(`${dir}/etc/clib.conf`, "utf8")).toContain("/opt/anaconda1anaconda2anaconda3");
    run(`${dir}/bin/conda-unpack`, []);
    verifyRelocated(dir);
    // Running it again changes nothing and still succeeds.
    run(`${dir}/bin/conda-unpack`, []);
    expect(treeDigest(kit.pkgsDir)).toEqual(cacheBefore);
    expect(treeDigest(kit.prefix)).toEqual(envBefore);
  });

  test("no-archive writes a relocatable copy and leaves the cache and the env alone", async () => {
    const cacheBefore = treeDigest(kit.pkgsDir);
    const out = path.join(root, "deploy", "noarchive", "x", "pyenv");
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const result = await packCondaEnvironment({ prefix: kit.prefix, output: out, format: "no-archive" });
    expect(result.sha256).toBeNull();
    run(`${out}/bin/conda-unpack`, []);
    verifyRelocated(out);
    expect(treeDigest(kit.pkgsDir)).toEqual(cacheBefore);
  });

  test("destPrefix relocates at pack time: no conda-unpack, runs where it lands", async () => {
    const dest = path.join(root, "fixed", "location", "env");
    const out = path.join(root, "dest.tar.gz");
    const result = await packCondaEnvironment({ prefix: kit.prefix, output: out, destPrefix: dest });
    expect(result.relocatedFiles).toBeGreaterThan(5);
    extractArchive(out, dest);
    expect(fs.existsSync(`${dest}/bin/conda-unpack`)).toBe(false);
    expect(run(`${dest}/bin/python${kit.pythonVersion}-config`, ["--prefix"])).toBe(dest);
    expect(run(`${dest}/bin/noarchpkg-cli`, [])).toBe(`noarchpkg-cli ${dest}`);
    if (kit.compiledBinary) expect(run(`${dest}/bin/clib-prefix`, [])).toBe(`${dest}/share/clib/data.txt`);
    expect(filesContaining(dest, kit.prefix).filter((f) => !f.endsWith(".pyc"))).toEqual(["share/unmanaged.bin"]);
  });

  test("arcroot puts the environment in a directory of the archive", async () => {
    const out = path.join(root, "arcroot.tar.gz");
    const result = await packCondaEnvironment({ prefix: kit.prefix, output: out, arcroot: "envs/myenv", alias: "environment" });
    expect(result.env.interpreter).toBe("environment/envs/myenv/bin/python");
    const dir = path.join(root, "deploy", "arcroot");
    extractArchive(out, dir);
    run(`${dir}/envs/myenv/bin/conda-unpack`, []);
    expect(run(`${dir}/envs/myenv/bin/python`, ["-c", "import sys; print(sys.prefix)"])).toBe(`${dir}/envs/myenv`);
  });

  test("activate and deactivate set and restore PATH, CONDA_PREFIX and run activate.d", async () => {
    const out = path.join(root, "act.tar");
    await packCondaEnvironment({ prefix: kit.prefix, output: out });
    const dir = path.join(root, "deploy", "act");
    extractArchive(out, dir);
    run(`${dir}/bin/conda-unpack`, []);
    for (const shell of ["sh", "bash"]) {
      const script = `. "${dir}/bin/activate" && echo "$CONDA_PREFIX|$KIT_ACTIVATED|$(command -v python)" && deactivate && echo "after|\${CONDA_PREFIX:-unset}|\${KIT_ACTIVATED:-unset}|$PATH"`;
      const lines = run(shell, ["-c", script], { PATH: "/usr/bin:/bin" }).split("\n");
      expect(lines[0]).toBe(`${dir}|yes|${dir}/bin/python`);
      expect(lines[1]).toBe("after|unset|unset|/usr/bin:/bin");
    }
  });

  test("include/exclude filters apply in order with fnmatch semantics", async () => {
    const out = path.join(root, "filtered.tar");
    await packCondaEnvironment({
      prefix: kit.prefix,
      output: out,
      filters: [{ exclude: "share/*" }, { include: "share/clib/*.txt" }, { exclude: "*.pyc" }],
    });
    const names = run("tar", ["tf", out]).split("\n");
    expect(names).toContain("share/clib/data.txt");
    expect(names).not.toContain("share/oldpkg/notes.txt");
    expect(names).not.toContain("share/unmanaged.bin");
    expect(names.some((n) => n.endsWith(".pyc"))).toBe(false);
    expect(names).toContain("share/clib/");
  });

  test("dereferenceSymlinks stores the interpreter instead of the link", async () => {
    const out = path.join(root, "deref.tar");
    await packCondaEnvironment({ prefix: kit.prefix, output: out, dereferenceSymlinks: true, filters: [{ exclude: "lib/*" }] });
    const listing = run("tar", ["tvf", out]);
    const line = listing.split("\n").find((l) => l.endsWith(" bin/python"))!;
    expect(line.startsWith("-rwxr-xr-x")).toBe(true);
  });

  test("output is byte-identical across runs, thread counts and file timestamps", async () => {
    for (const format of ["tar.gz", "zip", "tar.zst", "tar.xz", "tar.bz2"] as const) {
      const a = await packCondaEnvironment({ prefix: kit.prefix, output: path.join(root, `det-a.${format}`), threads: 1 });
      // Touch every file: conda-pack's tar.gz picked up a fresh mtime for a helper file.
      const now = new Date();
      for (const f of ["etc/clib.conf", "etc/unmanaged.cfg", "share/clib/data.txt"]) fs.utimesSync(path.join(kit.prefix, f), now, now);
      const b = await packCondaEnvironment({ prefix: kit.prefix, output: path.join(root, `det-b.${format}`), threads: 2 });
      expect(b.sha256).toBe(a.sha256);
      expect(fs.readFileSync(path.join(root, `det-b.${format}`)).equals(fs.readFileSync(path.join(root, `det-a.${format}`)))).toBe(true);
    }
    // Timestamps, owners and modes are normalised in the tar headers.
    const listing = run("tar", ["--numeric-owner", "-tvzf", path.join(root, "det-a.tar.gz")]).split("\n");
    for (const l of listing) expect(l).toMatch(/^[-dl]rw[-x]r[-w-][-x]r[-w-][-x] 0\/0 +\d+ 1980-01-01 00:00 /);
  });
});
