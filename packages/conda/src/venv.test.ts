import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { packVenv, parsePyvenvCfg, relocateVenvScript } from "./venv";
import { extractArchive, filesContaining, findKitInterpreter, tempDir } from "./test-kit";

jest.setTimeout(180_000);

const interp = findKitInterpreter();
let root: string;
let venv: string;
let pipOk = false;
let skipReason: string | null = interp ? null : "no pyenv CPython under /root/.pyenv/versions to make a venv from";

function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout.trim();
}

beforeAll(() => {
  root = tempDir("venv");
  if (!interp) return;
  venv = path.join(root, "build", "venv");
  // --without-pip: ensurepip costs seconds; the base interpreter's pip installs into it (--python).
  const made = spawnSync(interp.python, ["-m", "venv", "--without-pip", venv], { encoding: "utf8" });
  if (made.status !== 0) {
    skipReason = `python -m venv failed: ${made.stderr}`;
    return;
  }
  // A real wheel with a console script, from the configured pip index.
  // (PIP_RETRIES=0: the default index is unreachable here, the configured mirror answers.)
  const pip = spawnSync(interp.python, ["-m", "pip", "--python", `${venv}/bin/python`, "install", "-q", "--no-deps", "tabulate"], {
    encoding: "utf8",
    env: { ...process.env, PIP_RETRIES: "0", PIP_DISABLE_PIP_VERSION_CHECK: "1" },
  });
  pipOk = pip.status === 0;
  if (!pipOk) console.warn(`venv tests run without tabulate: pip could not install it from the configured index (${pip.stderr.trim().split("\n").pop()})`);
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const t = (name: string, fn: () => Promise<void>) =>
  test(name, async () => {
    if (skipReason) {
      console.warn(`skipping "${name}": ${skipReason}`);
      return;
    }
    await fn();
  });

/** A directory holding only a python<X.Y> from another installation: the target machine's. */
function targetPythonDir(version: string): string | null {
  for (const p of [`/usr/bin/python${version}`, `/usr/local/bin/python${version}`]) if (fs.existsSync(p)) return path.dirname(p);
  return null;
}

t("path mode: the unpacked venv runs the target's python from PATH, scripts work without activation", async () => {
  const out = path.join(root, "venv.tar.gz");
  const result = await packVenv({ prefix: venv, output: out, threads: 2 });
  expect(result.env).toEqual({ archive: out, kind: "venv", dirName: "pyenv", interpreter: "pyenv/bin/python" });
  const dir = path.join(root, "deploy", "somewhere", "much", "deeper", "pyenv");
  extractArchive(out, dir);
  // No link to the build interpreter is left.
  for (const name of ["python", "python3", `python${interp!.version}`]) {
    expect(fs.lstatSync(`${dir}/bin/${name}`).isSymbolicLink()).toBe(false);
  }
  // Prefer a different installation of the same version (Debian's), else the same one.
  const pathDir = targetPythonDir(interp!.version) ?? path.dirname(interp!.python);
  const PATH = `${pathDir}:/usr/bin:/bin`;
  const out1 = run(`${dir}/bin/python`, ["-c", "import sys; print(sys.prefix); print(sys.base_prefix); print(sys.executable)"], { PATH }).split("\n");
  expect(out1[0]).toBe(dir);
  expect(out1[2]).toBe(`${dir}/bin/python`);
  if (pathDir.startsWith("/usr")) expect(out1[1]).toBe(path.dirname(pathDir));
  if (pipOk) {
    expect(run(`${dir}/bin/python`, ["-c", "import tabulate, sys; print(tabulate.__file__.startswith(sys.prefix))"], { PATH })).toBe("True");
    // The console script runs with the venv's interpreter, no activation and no venv on PATH.
    expect(run(`${dir}/bin/tabulate`, ["--help"], { PATH })).toContain("Usage: tabulate");
  }
  // activate computes VIRTUAL_ENV from where it is.
  const act = run("bash", ["-c", `. "${dir}/bin/activate" && echo "$VIRTUAL_ENV" && python -c "import sys; print(sys.prefix)"`], { PATH });
  expect(act.split("\n")).toEqual([dir, dir]);
  // The build path survives only in pyvenv.cfg's informational lines and bytecode.
  const left = filesContaining(dir, venv).filter((f) => !f.endsWith(".pyc"));
  expect(left.filter((f) => f !== "pyvenv.cfg")).toEqual([]);
  // Without a matching python on PATH, a clear message.
  const missing = spawnSync(`${dir}/bin/python`, ["-c", "1"], { encoding: "utf8", env: { PATH: "/nonexistent" } });
  expect(missing.status).toBe(127);
  expect(missing.stderr).toContain(`python${interp!.version} was not found on PATH`);
});

t("ship mode: the venv carries its interpreter and runs with no Python on PATH", async () => {
  const out = path.join(root, "ship.tar.zst");
  const result = await packVenv({ prefix: venv, output: out, interpreter: "ship", compressLevel: 1, threads: 2 });
  expect(result.warnings).toEqual([]);
  const dir = path.join(root, "deploy-ship", "elsewhere", "pyenv");
  extractArchive(out, dir);
  const PATH = "/nonexistent:/bin";
  const lines = run(`${dir}/bin/python`, ["-c", "import sys, ssl, json; print(sys.prefix); print(sys.base_prefix)"], { PATH }).split("\n");
  expect(lines).toEqual([dir, `${dir}/base-python`]);
  expect(fs.existsSync(`${dir}/base-python/lib/python${interp!.version}/site-packages`)).toBe(false);
  if (pipOk) expect(run(`${dir}/bin/tabulate`, ["--help"], { PATH })).toContain("Usage: tabulate");
});

t("keep mode keeps venv-pack's links to the build interpreter", async () => {
  const out = path.join(root, "keep.zip");
  const result = await packVenv({ prefix: venv, output: out, interpreter: "keep" });
  expect(result.warnings.join("\n")).toContain("outside the environment");
  const dir = path.join(root, "deploy-keep", "env");
  extractArchive(out, dir);
  expect(fs.lstatSync(`${dir}/bin/python`).isSymbolicLink()).toBe(true);
  expect(run(`${dir}/bin/python`, ["-c", "import sys; print(sys.prefix)"])).toBe(dir);
});

t("reproducible and refuses editable installs unless told", async () => {
  const a = await packVenv({ prefix: venv, output: path.join(root, "a.tar.zst"), threads: 1 });
  const b = await packVenv({ prefix: venv, output: path.join(root, "b.tar.zst"), threads: 2 });
  expect(b.sha256).toBe(a.sha256);
  const copy = path.join(root, "editable-venv");
  fs.cpSync(venv, copy, { recursive: true, verbatimSymlinks: true });
  const sp = fs.readdirSync(`${copy}/lib`).find((d) => d.startsWith("python"))!;
  fs.writeFileSync(`${copy}/lib/${sp}/site-packages/myproj.pth`, `${path.join(root, "src", "myproj")}\n`);
  await expect(packVenv({ prefix: copy, output: path.join(root, "e.tar") })).rejects.toMatchObject({ code: "ERR_EDITABLE_PACKAGES" });
  const ok = await packVenv({ prefix: copy, output: path.join(root, "e.tar"), ignoreEditablePackages: true });
  expect(ok.warnings.join("\n")).toContain("myproj");
});

describe("pure helpers", () => {
  test("parsePyvenvCfg", () => {
    expect(parsePyvenvCfg("home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.7\n")).toEqual({
      home: "/usr/bin",
      "include-system-site-packages": "false",
      version: "3.11.7",
    });
  });

  test("relocateVenvScript: python shebangs become a sibling-interpreter preamble", () => {
    const script = Buffer.from("#!/v/env/bin/python -E\nimport sys\nprint(1)\n");
    const out = relocateVenvScript("bin/tool", script, "/v/env")!.toString();
    expect(out).toBe(`#!/bin/sh\n'''exec' "$(dirname -- "$0")/python" -E "$0" "$@"\n' '''\nimport sys\nprint(1)\n`);
    expect(relocateVenvScript("bin/other", Buffer.from("#!/usr/bin/python3\n"), "/v/env")).toBeNull();
    expect(relocateVenvScript("bin/tool", Buffer.from("#!/v/env/bin/perl -w\nprint 1;\n"), "/v/env")!.toString()).toBe("#!/usr/bin/env -S perl -w\nprint 1;\n");
    const act = relocateVenvScript("bin/activate", Buffer.from(`VIRTUAL_ENV="/v/env"\nexport VIRTUAL_ENV\n`), "/v/env")!.toString();
    expect(act).not.toContain("/v/env");
    expect(act).toContain("BASH_SOURCE");
  });
});
