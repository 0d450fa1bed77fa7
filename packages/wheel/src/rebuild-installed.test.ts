/**
 * Wheels rebuilt from real installations: a `python -m venv` into which pip installed a
 * local project (console script, a `#!python` script, a data file) and six from the
 * configured mirror. The rebuilt wheel is installed again by our installer into a fresh
 * directory and by pip into a fresh venv, and must give the installed files back.
 */
import { execFile } from "node:child_process";
import fs, { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { pythonInterpreter } from "@cluster-pack/io/test-kit";
import { ZipReader } from "@cluster-pack/zip";
import { installWheel } from "./install";
import { ERR_NOT_REBUILDABLE, rebuildInstalledWheel, type InstalledLayout } from "./rebuild-installed";

jest.setTimeout(300_000);
const run = promisify(execFile);
const PYTHON = pythonInterpreter("3.11")?.python ?? "";
const PIP = ["-m", "pip", "install", "-q", "--index-url", "file:///opt/pypi/simple", "--retries", "0", "--timeout", "5"];

let tmp: string;
let venv: string;
let layout: InstalledLayout;
let site: string;
let skip: string | undefined;

beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "cp-rebuild-"));
  if (!PYTHON) {
    skip = "no pyenv CPython 3.11 to make the venv with";
    return;
  }
  const project = path.join(tmp, "local-pkg");
  await writeProject(project);
  venv = path.join(tmp, "venv");
  await run(PYTHON, ["-m", "venv", venv]);
  try {
    await run(path.join(venv, "bin", "python"), [...PIP, project, "six"], { timeout: 240_000 });
  } catch (err) {
    skip = `pip could not install from the configured mirror: ${(err as Error).message.split("\n")[0]}`;
    return;
  }
  site = await fsp.realpath(path.join(venv, "lib", "python3.11", "site-packages"));
  const prefix = await fsp.realpath(venv);
  layout = { prefix, sitePackages: [site], scripts: path.join(prefix, "bin"), headers: path.join(prefix, "include", "site", "python3.11"), data: prefix };
}, 300_000);

afterAll(async () => {
  if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
});

describe("rebuildInstalledWheel", () => {
  it("gives back the installed files: scripts and data under .data/, #!python restored, launchers and installer files left out", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const out = path.join(tmp, "out1");
    const wheel = await rebuildInstalledWheel(path.join(site, "local_pkg-1.0.dist-info"), { layout, outputDir: out });
    expect(wheel).toMatchObject({ filename: "local_pkg-1.0-py3-none-any.whl", name: "local-pkg", version: "1.0", cached: false });
    const reader = await ZipReader.open(wheel.path);
    try {
      expect(reader.entries.filter((e) => !e.isDirectory).map((e) => e.name).sort()).toEqual([
        "local_pkg-1.0.data/data/share/localpkg/note.txt",
        "local_pkg-1.0.data/scripts/raw-script",
        "local_pkg-1.0.dist-info/METADATA",
        "local_pkg-1.0.dist-info/RECORD",
        "local_pkg-1.0.dist-info/WHEEL",
        "local_pkg-1.0.dist-info/entry_points.txt",
        "local_pkg-1.0.dist-info/top_level.txt",
        "localpkg/__init__.py",
      ]);
      const script = await reader.readEntry(reader.getEntry("local_pkg-1.0.data/scripts/raw-script")!);
      expect(script.toString()).toBe('#!python\nprint("raw script")\n');
      expect(reader.getEntry("local_pkg-1.0.data/scripts/raw-script")!.mode & 0o111).not.toBe(0);
    } finally {
      await reader.close();
    }

    // Our installer verifies the new RECORD and lays the files out again.
    const target = path.join(tmp, "reinstalled");
    const scheme = { purelib: path.join(target, "site"), platlib: path.join(target, "site"), scripts: path.join(target, "bin"), headers: path.join(target, "include"), data: target };
    await installWheel(wheel.path, { scheme, interpreter: "/usr/bin/python3" });
    expect(await fsp.readFile(path.join(target, "site", "localpkg", "__init__.py"), "utf8")).toBe(await fsp.readFile(path.join(site, "localpkg", "__init__.py"), "utf8"));
    expect(await fsp.readFile(path.join(target, "share", "localpkg", "note.txt"), "utf8")).toBe("note\n");
    expect((await fsp.readFile(path.join(target, "bin", "raw-script"), "utf8")).split("\n")[0]).toBe("#!/usr/bin/python3");
    expect(await fsp.readFile(path.join(target, "bin", "local-hello"), "utf8")).toContain("from localpkg import main");

    // And pip accepts it as a wheel (its own RECORD check) and the code runs.
    const other = path.join(tmp, "venv2");
    await run(PYTHON, ["-m", "venv", other]);
    await run(path.join(other, "bin", "python"), ["-m", "pip", "install", "-q", "--no-index", wheel.path]);
    const { stdout } = await run(path.join(other, "bin", "local-hello"));
    expect(stdout).toBe("hello from localpkg\n");
  });

  it("is byte-deterministic, and a cached rebuild is reused only after the installed files are checked again", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const distInfo = path.join(site, "six-1.17.0.dist-info");
    const a = await rebuildInstalledWheel(distInfo, { layout, outputDir: path.join(tmp, "da") });
    const b = await rebuildInstalledWheel(distInfo, { layout, outputDir: path.join(tmp, "db") });
    expect(a.filename).toBe("six-1.17.0-py2.py3-none-any.whl");
    expect(await fsp.readFile(a.path)).toEqual(await fsp.readFile(b.path));
    expect(a.sha256).toBe(b.sha256);

    const cacheDir = path.join(tmp, "cache");
    const first = await rebuildInstalledWheel(distInfo, { layout, cacheDir });
    const second = await rebuildInstalledWheel(distInfo, { layout, cacheDir });
    expect([first.cached, second.cached]).toEqual([false, true]);
    expect(second.path).toBe(first.path);
    expect(await fsp.readFile(first.path)).toEqual(await fsp.readFile(a.path));
  });

  it("names a distribution whose files changed since install, with the fix; the cache does not hide it", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const copy = await copiedVenv("changed");
    const distInfo = path.join(copy.site, "six-1.17.0.dist-info");
    const cacheDir = path.join(tmp, "cache-changed");
    await rebuildInstalledWheel(distInfo, { layout: copy.layout, cacheDir });
    // Same size, other bytes: only the hash can tell.
    const six = path.join(copy.site, "six.py");
    const text = await fsp.readFile(six, "utf8");
    await fsp.writeFile(six, text.replace("__version__", "__VERSION__"));
    for (const options of [{ cacheDir }, { outputDir: path.join(tmp, "changed-out") }]) {
      const err = (await rebuildInstalledWheel(distInfo, { layout: copy.layout, ...options }).then(
        () => new Error("rebuilt a changed distribution"),
        (e: unknown) => e as Error,
      )) as Error & { code?: string; hint?: string };
      expect(err).toMatchObject({ code: ERR_NOT_REBUILDABLE });
      expect(err.message).toContain("six 1.17.0");
      expect(err.message).toContain("six.py changed since it was installed");
      expect(err.hint).toContain('pip install --force-reinstall --no-deps "six==1.17.0"');
      expect(err.hint).toContain("--from-index");
    }
    expect(await fsp.readdir(path.join(tmp, "changed-out")).catch(() => [])).toEqual([]);
  });

  it("a warm rebuild proves unchanged installed files by identity (no re-read); any change to a file is hashed again and caught", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const copy = await copiedVenv("proof");
    const distInfo = path.join(copy.site, "six-1.17.0.dist-info");
    const cacheDir = path.join(tmp, "cache-proof");
    const six = path.join(copy.site, "six.py");
    // Identities younger than 2 s are racy and never recorded (io's rule): let them age.
    await new Promise((r) => setTimeout(r, 2_100));
    expect((await rebuildInstalledWheel(distInfo, { layout: copy.layout, cacheDir })).cached).toBe(false);
    const reads = () => {
      const streams = jest.spyOn(fs, "createReadStream");
      const whole = jest.spyOn(fs.promises, "readFile");
      return () => {
        const n = [...streams.mock.calls, ...whole.mock.calls].filter((c) => String(c[0]) === six).length;
        streams.mockRestore();
        whole.mockRestore();
        return n;
      };
    };
    let count = reads();
    expect((await rebuildInstalledWheel(distInfo, { layout: copy.layout, cacheDir })).cached).toBe(true);
    expect(count()).toBe(0); // proven by its identity, not read
    // Same size, other bytes, even the old mtime put back: ctime still moves, so it is hashed again.
    const st = await fsp.stat(six);
    await fsp.writeFile(six, (await fsp.readFile(six, "utf8")).replace("__version__", "__VERSION__"));
    await fsp.utimes(six, st.atime, st.mtime);
    count = reads();
    await expect(rebuildInstalledWheel(distInfo, { layout: copy.layout, cacheDir })).rejects.toThrow(/six\.py changed since it was installed/);
    expect(count()).toBe(1);
  });

  it("names a distribution without RECORD, and one whose RECORD points outside the environment", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const copy = await copiedVenv("norecord");
    const distInfo = path.join(copy.site, "six-1.17.0.dist-info");
    await fsp.rm(path.join(distInfo, "RECORD"));
    await expect(rebuildInstalledWheel(distInfo, { layout: copy.layout, outputDir: tmp })).rejects.toMatchObject({
      code: ERR_NOT_REBUILDABLE,
      message: expect.stringMatching(/six 1\.17\.0 .* has no RECORD .*\.$/),
      hint: expect.stringMatching(/--force-reinstall/),
    });
    await fsp.writeFile(path.join(distInfo, "RECORD"), "../../../../../../etc/passwd,sha256=AAAA,1\n");
    await expect(rebuildInstalledWheel(distInfo, { layout: copy.layout, outputDir: tmp })).rejects.toMatchObject({
      code: ERR_NOT_REBUILDABLE,
      message: expect.stringContaining("outside the environment"),
    });
  });
});

/** A copy of the venv's site-packages to break without touching the shared one. */
async function copiedVenv(name: string): Promise<{ site: string; layout: InstalledLayout }> {
  const prefix = path.join(tmp, name);
  const copySite = path.join(prefix, "lib", "python3.11", "site-packages");
  await fsp.mkdir(copySite, { recursive: true });
  for (const entry of ["six.py", "six-1.17.0.dist-info"]) await fsp.cp(path.join(site, entry), path.join(copySite, entry), { recursive: true });
  return { site: copySite, layout: { prefix, sitePackages: [copySite], scripts: path.join(prefix, "bin"), headers: path.join(prefix, "include", "site", "python3.11"), data: prefix } };
}

async function writeProject(dir: string): Promise<void> {
  await fsp.mkdir(path.join(dir, "src", "localpkg"), { recursive: true });
  await fsp.mkdir(path.join(dir, "bin"), { recursive: true });
  await fsp.mkdir(path.join(dir, "data"), { recursive: true });
  await fsp.writeFile(
    path.join(dir, "pyproject.toml"),
    [
      "[build-system]",
      'requires = ["setuptools>=61"]',
      'build-backend = "setuptools.build_meta"',
      "",
      "[project]",
      'name = "local-pkg"',
      'version = "1.0"',
      "",
      "[project.scripts]",
      'local-hello = "localpkg:main"',
      "",
      "[tool.setuptools]",
      'script-files = ["bin/raw-script"]',
      'package-dir = {"" = "src"}',
      'packages = ["localpkg"]',
      "",
      "[tool.setuptools.data-files]",
      '"share/localpkg" = ["data/note.txt"]',
      "",
    ].join("\n"),
  );
  await fsp.writeFile(path.join(dir, "src", "localpkg", "__init__.py"), 'def main():\n    print("hello from localpkg")\nVALUE = 7\n');
  await fsp.writeFile(path.join(dir, "bin", "raw-script"), '#!python\nprint("raw script")\n', { mode: 0o755 });
  await fsp.writeFile(path.join(dir, "data", "note.txt"), "note\n");
}
