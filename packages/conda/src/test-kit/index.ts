/**
 * Builds realistic conda environments without conda, the way conda lays them out: a
 * package cache (`pkgs/<dist>/` with `info/paths.json`, or the older `info/files` +
 * `info/has_prefix`), an environment whose files were "linked" from it with the prefix
 * substituted (text) or NUL-padded (binary), `conda-meta/*.json` records, and a real
 * interpreter so the packed environment can be run after unpacking.
 */
import { execFileSync, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pythonInterpreter } from "@cluster-pack/io/test-kit";
import type * as JestGlobals from "@jest/globals";
import { replaceBinary, replaceText } from "../relocate";

/** conda-build's long binary placeholder: 255 characters, so any real prefix fits. */
export const BINARY_PLACEHOLDER = `/opt/conda/conda-bld/clib_1700000000000/_h_env_${"placehold_".repeat(30)}`.slice(0, 255);
export const TEXT_PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3";
/** An unmanaged text file with the prefix, at a path too long for a plain ustar header. */
export const LONG_PATH = `share/${"d".repeat(120)}/${"e".repeat(100)}/${"f".repeat(60)}.txt`;

export interface CondaEnvKitOptions {
  /** A fresh directory; the kit creates `pkgs/` and `envs/<name>/` in it. */
  root: string;
  envName?: string;
  /** pixi/rattler style: no conda-meta/history, `link` null, paths in the records, cache found by search. */
  pixi?: boolean;
  /** A record lists a file that is not on disk. */
  missingFile?: boolean;
  /** An editable install (pip's `__editable__` .pth and direct_url.json). */
  editable?: boolean;
  /** pip-install this package from the configured index into the env (default "tabulate"; false: none). */
  pipPackage?: string | false;
}

export interface CondaEnvKit {
  root: string;
  prefix: string;
  pkgsDir: string;
  pythonVersion: string;
  /** The interpreter the env's bin/python is linked from. */
  basePython: string;
  /** Whether the pip package could be installed (no index configured: false). */
  pipInstalled: boolean;
  /** Whether bin/clib-prefix is a compiled program (gcc present) rather than data. */
  compiledBinary: boolean;
}

/**
 * A pyenv CPython (from the shared finder) with its stdlib beside it, hardlinked into an env
 * it finds its prefix there. 3.11 first (the mirror's wheels are cp311), then nearby versions.
 */
export function findKitInterpreter(): { python: string; version: string; home: string } | null {
  for (const minor of ["3.11", "3.12", "3.10", "3.13", "3.9"]) {
    const found = pythonInterpreter(minor);
    if (!found) continue;
    const python = `${found.prefix}/bin/python${minor}`;
    if (fs.existsSync(python) && fs.existsSync(`${found.prefix}/lib/python${minor}/os.py`)) return { python, version: minor, home: found.prefix };
  }
  return null;
}

/** `describe` when a kit interpreter exists, else `describe.skip` with a warning saying why. */
export function describeWithKit(what: string): typeof JestGlobals.describe.skip {
  // Jest's own, required only here so the rest of the kit loads outside jest.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer (@jest/globals), loaded on use
  const { describe } = require("@jest/globals") as typeof JestGlobals;
  if (findKitInterpreter()) return describe;
  console.warn(`skipping ${what}: no pyenv CPython 3.9-3.13 (with its stdlib) to put in the test environment`);
  return describe.skip;
}

export function makeCondaEnv(options: CondaEnvKitOptions): CondaEnvKit {
  const interp = findKitInterpreter();
  if (!interp) throw new Error("no pyenv CPython 3.9-3.13 found (the test-kit finder of @cluster-pack/io)");
  const { version: py, home } = interp;
  const root = options.root;
  const pkgsDir = options.pixi ? path.join(root, "rattler-cache", "pkgs") : path.join(root, "pkgs");
  const prefix = path.join(root, "envs", options.envName ?? "myenv");
  fs.mkdirSync(path.join(prefix, "conda-meta"), { recursive: true });
  fs.mkdirSync(pkgsDir, { recursive: true });
  const ctx: Ctx = { prefix, pkgsDir, py, pixi: Boolean(options.pixi) };

  // python: the real interpreter (hardlinked, else copied), its stdlib as links, python3.X-config.
  const stdlib: PkgFile[] = [];
  for (const name of fs.readdirSync(`${home}/lib/python${py}`).sort()) {
    if (name === "site-packages" || name === "__pycache__" || name === "test") continue;
    stdlib.push({ path: `lib/python${py}/${name}`, symlink: `${home}/lib/python${py}/${name}` });
  }
  installPackage(ctx, {
    name: "python",
    version: path.basename(home),
    build: "h1234567_0_cpython",
    files: [
      // Like conda's python, the interpreter binary carries the binary placeholder, so
      // conda-unpack must rewrite the very file that runs it (here in trailing data, which
      // the ELF loader ignores; the copy keeps the real interpreter runnable).
      {
        path: `bin/python${py}`,
        bytes: Buffer.concat([fs.readFileSync(interp.python), Buffer.from(`\0${BINARY_PLACEHOLDER}/lib/python${py}\0`), Buffer.alloc(16)]),
        exec: true,
        placeholder: BINARY_PLACEHOLDER,
        mode: "binary",
      },
      { path: "bin/python", symlink: `python${py}` },
      { path: "bin/python3", symlink: `python${py}` },
      {
        path: `bin/python${py}-config`,
        exec: true,
        text: `#!/bin/sh\n# python-config of the conda python\nprefix_build="${TEXT_PLACEHOLDER}"\ncase "$1" in\n  --prefix) echo "$prefix_build" ;;\n  --includes) echo "-I$prefix_build/include/python${py}" ;;\n  *) echo "usage: $0 --prefix|--includes" ;;\nesac\n`,
        placeholder: TEXT_PLACEHOLDER,
        mode: "text",
      },
      { path: `lib/python${py}/site-packages/README.txt`, text: "This directory exists so that 3rd party packages can be installed here.\n" },
      ...stdlib,
    ],
  });

  // clib: a compiled program with the 255-character binary placeholder, a text config, data.
  const compiled = compileClib();
  installPackage(ctx, {
    name: "clib",
    version: "1.0",
    build: "0",
    files: [
      compiled
        ? { path: "bin/clib-prefix", bytes: compiled, exec: true, placeholder: BINARY_PLACEHOLDER, mode: "binary" }
        : {
            path: "lib/libclib.so",
            bytes: Buffer.concat([Buffer.from("\x7fELF-fake\0"), Buffer.from(`${BINARY_PLACEHOLDER}/share/clib/data.txt\0`), Buffer.alloc(64, 7)]),
            placeholder: BINARY_PLACEHOLDER,
            mode: "binary",
          },
      { path: "etc/clib.conf", text: `data_dir = ${TEXT_PLACEHOLDER}/share/clib\nname = clib\n`, placeholder: TEXT_PLACEHOLDER, mode: "text" },
      { path: "share/clib/data.txt", text: "plain data, no prefix\n" },
    ],
  });

  // oldpkg: the pre-paths.json layout (info/files + info/has_prefix), a script with a prefix shebang.
  installPackage(ctx, {
    name: "oldpkg",
    version: "2.0",
    build: "0",
    legacyInfo: true,
    files: [
      {
        path: "bin/oldtool",
        exec: true,
        text: `#!${TEXT_PLACEHOLDER}/bin/python${py} -s\nimport sys\nprint("oldtool", sys.prefix, ${JSON.stringify(TEXT_PLACEHOLDER)})\n`,
        placeholder: TEXT_PLACEHOLDER,
        mode: "text",
      },
      { path: "share/oldpkg/notes.txt", text: "notes\n" },
    ],
  });

  // noarchpkg: noarch: python, entry point and .pyc generated at link time.
  const sp = `lib/python${py}/site-packages`;
  installPackage(ctx, {
    name: "noarchpkg",
    version: "1.0",
    build: "pyh_0",
    noarch: true,
    files: [
      { path: "site-packages/noarchpkg/__init__.py", text: "VERSION = '1.0'\n" },
      { path: "site-packages/noarchpkg/cli.py", text: "import sys\n\ndef main():\n    print('noarchpkg-cli', sys.prefix)\n    return 0\n" },
      { path: "site-packages/noarchpkg-1.0.dist-info/METADATA", text: "Metadata-Version: 2.1\nName: noarchpkg\nVersion: 1.0\n" },
      { path: "site-packages/noarchpkg-1.0.dist-info/INSTALLER", text: "conda\n" },
    ],
    generated: [
      {
        path: "bin/noarchpkg-cli",
        exec: true,
        text: `#!${prefix}/bin/python${py}\n# -*- coding: utf-8 -*-\nimport re\nimport sys\n\nfrom noarchpkg.cli import main\n\nif __name__ == '__main__':\n    sys.argv[0] = re.sub(r'(-script\\.pyw?|\\.exe)?$', '', sys.argv[0])\n    sys.exit(main())\n`,
        pathType: "unix_python_entry_point",
      },
    ],
  });
  // .pyc compiled by the real interpreter inside the env (they embed the prefix, in binary).
  execFileSync(path.join(prefix, "bin", "python"), ["-m", "compileall", "-q", path.join(prefix, sp, "noarchpkg")]);
  const pycDir = path.join(prefix, sp, "noarchpkg", "__pycache__");
  const pycs = fs.readdirSync(pycDir).map((f) => `${sp}/noarchpkg/__pycache__/${f}`);
  appendRecordFiles(ctx, "noarchpkg-1.0-pyh_0", pycs, "pyc_file");

  // A package whose cache directory is gone; its text file carries the prefix.
  installPackage(ctx, {
    name: "uncachedpkg",
    version: "0.3",
    build: "0",
    dropCache: true,
    files: [{ path: "share/uncached/info.txt", text: `installed in ${TEXT_PLACEHOLDER}\n`, placeholder: TEXT_PLACEHOLDER, mode: "text" }],
  });

  if (options.missingFile) {
    installPackage(ctx, { name: "brokenpkg", version: "1.0", build: "0", files: [{ path: "share/broken/gone.txt", text: "soon gone\n" }] });
    fs.rmSync(path.join(prefix, "share/broken/gone.txt"));
  }

  // Unmanaged files: what users and tools leave around.
  write(path.join(prefix, "etc/unmanaged.cfg"), `# written by hand\nroot = ${prefix}\n`);
  write(path.join(prefix, "share/unmanaged.bin"), Buffer.concat([Buffer.from([0, 1, 2, 3]), Buffer.from(prefix), Buffer.from([0])]));
  fs.mkdirSync(path.join(prefix, "share/empty-dir"), { recursive: true });
  // A path over 100 bytes (ustar name field) and over 255 (needs a pax header).
  write(path.join(prefix, LONG_PATH), `root=${prefix}\n`);
  write(path.join(prefix, "etc/conda/activate.d/kit.sh"), 'export KIT_ACTIVATED="yes"\n');
  write(path.join(prefix, "etc/conda/deactivate.d/kit.sh"), "unset KIT_ACTIVATED\n");
  if (!options.pixi) {
    write(path.join(prefix, "conda-meta/history"), `==> 2024-01-01 00:00:00 <==\n# cmd: conda create -p ${prefix} python clib\n+defaults::python-${path.basename(home)}\n`);
  }

  let pipInstalled = false;
  const pipPackage = options.pipPackage ?? "tabulate";
  if (pipPackage) {
    const r = spawnSync(
      path.join(prefix, "bin", "python"),
      ["-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", "--no-compile", "--no-warn-script-location", pipPackage],
      // PIP_RETRIES=0: an unreachable default index must not cost retries; the configured mirror answers.
      { env: { ...process.env, PYTHONPATH: `${home}/lib/python${py}/site-packages`, PIP_DISABLE_PIP_VERSION_CHECK: "1", PIP_RETRIES: "0" }, encoding: "utf8" },
    );
    pipInstalled = r.status === 0;
  }

  if (options.editable) {
    const src = path.join(root, "src", "myproj");
    write(path.join(src, "myproj", "__init__.py"), "X = 1\n");
    write(path.join(prefix, sp, "__editable__.myproj-0.1.pth"), `${src}\n`);
    write(path.join(prefix, sp, "myproj-0.1.dist-info", "METADATA"), "Metadata-Version: 2.1\nName: myproj\nVersion: 0.1\n");
    write(path.join(prefix, sp, "myproj-0.1.dist-info", "direct_url.json"), JSON.stringify({ url: `file://${src}`, dir_info: { editable: true } }));
  }
  return { root, prefix, pkgsDir, pythonVersion: py, basePython: interp.python, pipInstalled, compiledBinary: compiled !== null };
}

// ---------------------------------------------------------------------------------------

interface Ctx {
  prefix: string;
  pkgsDir: string;
  py: string;
  pixi: boolean;
}

interface PkgFile {
  path: string;
  text?: string;
  bytes?: Buffer;
  hardlink?: string;
  symlink?: string;
  exec?: boolean;
  placeholder?: string;
  mode?: "text" | "binary";
  pathType?: string;
}

interface Pkg {
  name: string;
  version: string;
  build: string;
  files: PkgFile[];
  /** Files created at link time (not in the package cache). */
  generated?: PkgFile[];
  noarch?: boolean;
  legacyInfo?: boolean;
  dropCache?: boolean;
}

function installPackage(ctx: Ctx, pkg: Pkg): void {
  const version = pkg.version;
  const dist = `${pkg.name}-${version}-${pkg.build}`;
  const cache = path.join(ctx.pkgsDir, dist);
  const installedPaths: string[] = [];
  const pathsData: Record<string, unknown>[] = [];
  const cachePaths: Record<string, unknown>[] = [];
  for (const f of pkg.files) {
    const installed = pkg.noarch
      ? f.path.replace(/^site-packages\//, `lib/python${ctx.py}/site-packages/`).replace(/^python-scripts\//, "bin/")
      : f.path;
    const cp = path.join(cache, f.path);
    const ep = path.join(ctx.prefix, installed);
    fs.mkdirSync(path.dirname(cp), { recursive: true });
    fs.mkdirSync(path.dirname(ep), { recursive: true });
    if (f.symlink !== undefined) {
      fs.symlinkSync(f.symlink, cp);
      fs.symlinkSync(f.symlink, ep);
    } else if (f.hardlink !== undefined) {
      linkOrCopy(f.hardlink, cp);
      linkOrCopy(f.hardlink, ep);
    } else {
      const content = f.bytes ?? Buffer.from(f.text ?? "");
      fs.writeFileSync(cp, content, { mode: f.exec ? 0o755 : 0o644 });
      if (f.placeholder) {
        const linked = f.mode === "binary" ? replaceBinary(content, f.placeholder, ctx.prefix, f.path) : replaceText(content, f.placeholder, ctx.prefix);
        fs.writeFileSync(ep, linked, { mode: f.exec ? 0o755 : 0o644 });
      } else {
        // conda hardlinks files without a prefix from the cache.
        fs.linkSync(cp, ep);
      }
    }
    installedPaths.push(installed);
    const info: Record<string, unknown> = { _path: f.path, path_type: f.symlink !== undefined ? "softlink" : "hardlink" };
    if (f.placeholder) Object.assign(info, { prefix_placeholder: f.placeholder, file_mode: f.mode ?? "text" });
    cachePaths.push(info);
    pathsData.push({ ...info, _path: installed });
  }
  for (const g of pkg.generated ?? []) {
    write(path.join(ctx.prefix, g.path), g.text ?? "", g.exec ? 0o755 : 0o644);
    installedPaths.push(g.path);
    pathsData.push({ _path: g.path, path_type: g.pathType ?? "hardlink" });
  }
  fs.mkdirSync(path.join(cache, "info"), { recursive: true });
  fs.writeFileSync(path.join(cache, "info", "index.json"), JSON.stringify({ name: pkg.name, version, build: pkg.build, ...(pkg.noarch ? { noarch: "python" } : {}) }));
  if (pkg.legacyInfo) {
    fs.writeFileSync(path.join(cache, "info", "files"), `${pkg.files.map((f) => f.path).join("\n")}\n`);
    const hp = pkg.files.filter((f) => f.placeholder).map((f) => `${f.placeholder} ${f.mode ?? "text"} ${f.path}`);
    fs.writeFileSync(path.join(cache, "info", "has_prefix"), `${hp.join("\n")}\n`);
  } else {
    fs.writeFileSync(path.join(cache, "info", "paths.json"), JSON.stringify({ paths: cachePaths, paths_version: 1 }, null, 2));
  }
  if (pkg.noarch) {
    fs.writeFileSync(path.join(cache, "info", "link.json"), JSON.stringify({ noarch: { type: "python", entry_points: ["noarchpkg-cli = noarchpkg.cli:main"] } }));
  }
  const record: Record<string, unknown> = {
    name: pkg.name,
    version,
    build: pkg.build,
    build_number: 0,
    channel: "https://conda.anaconda.org/conda-forge/linux-64",
    fn: `${dist}.tar.bz2`,
    files: installedPaths,
    ...(pkg.noarch ? { noarch: "python" } : {}),
  };
  if (ctx.pixi) {
    // rattler: no link, paths recorded in the record, the cache found by searching.
    Object.assign(record, { link: null, paths_data: { paths: pathsData, paths_version: 1 } });
  } else {
    Object.assign(record, { link: { source: cache, type: 1 }, extracted_package_dir: cache });
    // conda writes paths_data too, except for the older records; keep one of each.
    if (pkg.name === "clib") Object.assign(record, { paths_data: { paths: pathsData, paths_version: 1 } });
  }
  fs.writeFileSync(path.join(ctx.prefix, "conda-meta", `${dist}.json`), JSON.stringify(record, null, 2));
  if (pkg.dropCache) fs.rmSync(cache, { recursive: true, force: true });
}

function appendRecordFiles(ctx: Ctx, dist: string, files: string[], pathType: string): void {
  const file = path.join(ctx.prefix, "conda-meta", `${dist}.json`);
  const record = JSON.parse(fs.readFileSync(file, "utf8"));
  record.files.push(...files);
  if (record.paths_data) record.paths_data.paths.push(...files.map((f) => ({ _path: f, path_type: pathType })));
  fs.writeFileSync(file, JSON.stringify(record, null, 2));
}

function compileClib(): Buffer | null {
  const gcc = spawnSync("cc", ["--version"]);
  if (gcc.status !== 0) return null;
  const dir = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), "clib-"));
  try {
    const src = path.join(dir, "clib.c");
    fs.writeFileSync(
      src,
      `#include <stdio.h>\nstatic const char data_path[] = "${BINARY_PLACEHOLDER}/share/clib/data.txt";\nint main(void) { puts(data_path); return 0; }\n`,
    );
    const out = path.join(dir, "clib");
    const r = spawnSync("cc", ["-O0", "-o", out, src]);
    return r.status === 0 ? fs.readFileSync(out) : null;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function linkOrCopy(from: string, to: string): void {
  try {
    fs.linkSync(from, to);
  } catch {
    fs.copyFileSync(from, to);
    fs.chmodSync(to, 0o755);
  }
}

function write(file: string, content: string | Buffer, mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content, { mode });
}

// ---------------------------------------------------------------------------------------
// Helpers for tests that unpack archives with the real tools.

/** A fresh directory under the OS temp dir (symlinks resolved), removed by `cleanup`. */
export function tempDir(label: string): string {
  return fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), `cp-conda-${label}-`));
}

/** Extracts `archive` into `dest` (created) with the system tar or unzip. */
export function extractArchive(archive: string, dest: string): void {
  fs.mkdirSync(dest, { recursive: true });
  if (archive.endsWith(".zip")) execFileSync("unzip", ["-q", archive, "-d", dest]);
  else if (archive.endsWith(".tar.zst")) execFileSync("sh", ["-c", `zstd -dc "$1" | tar xf - -C "$2"`, "sh", archive, dest]);
  else execFileSync("tar", ["xf", archive, "-C", dest]);
}

/** Files under `dir` (not following links) whose bytes contain `needle`, relative paths. */
export function filesContaining(dir: string, needle: string): string[] {
  const out: string[] = [];
  const bytes = Buffer.from(needle);
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && fs.readFileSync(p).includes(bytes)) out.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/** sha256 of every file under `dir`, keyed by relative path (links by their target). */
export function treeDigest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const rel = path.relative(dir, p);
      if (e.isDirectory()) walk(p);
      else if (e.isSymbolicLink()) out[rel] = `-> ${fs.readlinkSync(p)}`;
      else if (e.isFile()) out[rel] = crypto.createHash("sha256").update(fs.readFileSync(p)).digest("hex");
    }
  };
  walk(dir);
  return out;
}

/** The error `p` rejects with (fails the test when it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; hint?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string; hint?: string };
  }
  throw new Error("expected a rejection");
}
