import { execFileSync } from "node:child_process";
import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ZipReader } from "@cluster-pack/zip";
import { zipPath } from "./zip-path";

let tmp: string;
beforeEach(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "cp-zippath-"));
});
afterEach(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

async function tree(root: string): Promise<void> {
  await fsp.mkdir(path.join(root, "sub", "__pycache__"), { recursive: true });
  await fsp.writeFile(path.join(root, "__init__.py"), "X = 1\n");
  await fsp.writeFile(path.join(root, "mod.pyc"), "stale");
  await fsp.writeFile(path.join(root, "sub", "__init__.py"), "from .. import X\nY = X + 1\n");
  await fsp.writeFile(path.join(root, "sub", "__pycache__", "__init__.cpython-311.pyc"), "stale");
  await fsp.writeFile(path.join(root, "run.sh"), "#!/bin/sh\n", { mode: 0o755 });
}

describe("zipPath", () => {
  it("zips a package under its own name without bytecode, importable by zipimport", async () => {
    const pkg = path.join(tmp, "mypkg");
    await tree(pkg);
    const out = await zipPath(pkg, { output: path.join(tmp, "out", "mypkg.zip") });
    const reader = await ZipReader.open(out.path);
    expect(reader.entries.map((e) => e.name)).toEqual(["mypkg/", "mypkg/__init__.py", "mypkg/run.sh", "mypkg/sub/", "mypkg/sub/__init__.py"]);
    expect(reader.getEntry("mypkg/run.sh")!.mode & 0o777).toBe(0o755);
    await reader.close();
    const r = execFileSync("python3", ["-c", "import sys; sys.path.insert(0, sys.argv[1]); import mypkg.sub; print(mypkg.sub.Y, mypkg.__file__)", out.path], { encoding: "utf8" });
    expect(r.trim()).toBe(`2 ${path.join(out.path, "mypkg", "__init__.py")}`);
  });

  it("is byte-identical for the same tree, whatever the file times", async () => {
    const pkg = path.join(tmp, "mypkg");
    await tree(pkg);
    const a = await zipPath(pkg, { output: path.join(tmp, "a.zip") });
    await fsp.utimes(path.join(pkg, "__init__.py"), new Date(2001, 1, 1), new Date(2001, 1, 1));
    const b = await zipPath(pkg, { output: path.join(tmp, "b.zip") });
    expect(b.sha256).toBe(a.sha256);
    expect(await fsp.readFile(b.path)).toEqual(await fsp.readFile(a.path));
  });

  it("can leave the base name out, follows linked directories once and skips dangling links", async () => {
    const pkg = path.join(tmp, "p");
    await tree(pkg);
    await fsp.symlink(pkg, path.join(pkg, "sub", "loop"));
    await fsp.symlink(path.join(tmp, "missing"), path.join(pkg, "dangling.py"));
    const out = await zipPath(pkg, { includeBaseName: false });
    const reader = await ZipReader.open(out.path);
    expect(reader.entries.map((e) => e.name)).toEqual(["__init__.py", "run.sh", "sub/", "sub/__init__.py"]);
    await reader.close();
    await fsp.rm(path.dirname(out.path), { recursive: true });
  });

  it("rejects a missing directory and leaves nothing on abort", async () => {
    await expect(zipPath(path.join(tmp, "nope"))).rejects.toThrow(/not a directory/);
    const pkg = path.join(tmp, "mypkg");
    await tree(pkg);
    const ac = new AbortController();
    ac.abort();
    await expect(zipPath(pkg, { output: path.join(tmp, "out", "x.zip"), signal: ac.signal })).rejects.toMatchObject({ code: "ABORT_ERR" });
    expect(await fsp.readdir(path.join(tmp)).then((d) => d.filter((f) => f !== "mypkg"))).toEqual([]);
  });
});
