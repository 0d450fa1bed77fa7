import fs from "node:fs";
import path from "node:path";
import { findCondaEnvironment, parseHasPrefixLine, readCondaEnvironment, remapNoarch } from "./conda-env";
import { describePythonEnv } from "./env-description";
import { describeWithKit, makeCondaEnv, tempDir, TEXT_PLACEHOLDER, BINARY_PLACEHOLDER } from "./test-kit";

jest.setTimeout(120_000);

test("remapNoarch", () => {
  expect(remapNoarch("site-packages/six.py", "3.11")).toBe("lib/python3.11/site-packages/six.py");
  expect(remapNoarch("python-scripts/tool", "3.11")).toBe("bin/tool");
  expect(remapNoarch("share/x", "3.11")).toBe("share/x");
});

test("parseHasPrefixLine: full, quoted and path-only forms", () => {
  expect(parseHasPrefixLine("/opt/ph binary lib/libx.so")).toEqual({ placeholder: "/opt/ph", mode: "binary", path: "lib/libx.so" });
  expect(parseHasPrefixLine('"/opt/p h" text "share/a b.txt"')).toEqual({ placeholder: "/opt/p h", mode: "text", path: "share/a b.txt" });
  expect(parseHasPrefixLine("bin/tool")).toEqual({ placeholder: "/opt/anaconda1anaconda2anaconda3", mode: "text", path: "bin/tool" });
});

test("findCondaEnvironment: named envs under the usual roots and environments.txt", async () => {
  const home = tempDir("home");
  try {
    const mk = (p: string) => fs.mkdirSync(path.join(p, "conda-meta"), { recursive: true });
    mk(path.join(home, "miniforge3"));
    mk(path.join(home, "miniforge3", "envs", "app"));
    mk(path.join(home, "elsewhere", "registered"));
    fs.mkdirSync(path.join(home, ".conda"));
    fs.writeFileSync(path.join(home, ".conda", "environments.txt"), `${path.join(home, "elsewhere", "registered")}\n`);
    const env = { HOME: home };
    expect(await findCondaEnvironment("app", env)).toBe(path.join(home, "miniforge3", "envs", "app"));
    expect(await findCondaEnvironment("base", env)).toBe(path.join(home, "miniforge3"));
    expect(await findCondaEnvironment("registered", env)).toBe(path.join(home, "elsewhere", "registered"));
    await expect(findCondaEnvironment("nope", env)).rejects.toMatchObject({ code: "ERR_NOT_A_CONDA_ENV" });
    await expect(findCondaEnvironment("a/b", env)).rejects.toMatchObject({ code: "ERR_BAD_ENV_NAME" });
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test("describePythonEnv", () => {
  expect(describePythonEnv("/x/env.tar.gz", "conda")).toEqual({ archive: "/x/env.tar.gz", kind: "conda", dirName: "pyenv", interpreter: "pyenv/bin/python" });
  expect(describePythonEnv("/x/v.zip", "venv", { alias: "venv", arcroot: "/root/" }).interpreter).toBe("venv/root/bin/python");
});

const d = describeWithKit("readCondaEnvironment kit tests");
d("readCondaEnvironment on kit environments", () => {
  let root: string;
  beforeAll(() => {
    root = tempDir("read");
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test("classifies managed, noarch, legacy, generated, uncached and unmanaged files", async () => {
    const kit = makeCondaEnv({ root: path.join(root, "c"), pipPackage: false });
    const env = await readCondaEnvironment(kit.prefix);
    const rel = (p: string) => env.entries.find((e) => e.path === p)?.relocation;
    expect(env.pythonVersion).toBe(kit.pythonVersion);
    expect(env.packages.map((p) => p.name).sort()).toEqual(["clib", "noarchpkg", "oldpkg", "python", "uncachedpkg"]);
    // paths.json (via the record's paths_data) with the cache copy as the source.
    const clib = rel(kit.compiledBinary ? "bin/clib-prefix" : "lib/libclib.so");
    expect(clib).toMatchObject({ kind: "placeholder", placeholder: BINARY_PLACEHOLDER, mode: "binary" });
    expect((clib as { source: string }).source.startsWith(kit.pkgsDir)).toBe(true);
    // info/has_prefix of the legacy package.
    expect(rel("bin/oldtool")).toMatchObject({ kind: "placeholder", placeholder: TEXT_PLACEHOLDER, mode: "text" });
    expect(rel("share/oldpkg/notes.txt")).toEqual({ kind: "none" });
    // noarch: cache paths remapped into lib/pythonX.Y/site-packages; generated entry point scanned.
    expect(rel(`lib/python${kit.pythonVersion}/site-packages/noarchpkg/cli.py`)).toEqual({ kind: "none" });
    expect(rel("bin/noarchpkg-cli")).toEqual({ kind: "scan" });
    // Uncached and no paths in its record: the env's own file, scanned for the prefix.
    expect(env.uncachedPackages).toEqual(["uncachedpkg-0.3-0"]);
    expect(rel("share/uncached/info.txt")).toEqual({ kind: "scan" });
    expect(rel("etc/unmanaged.cfg")).toEqual({ kind: "scan" });
    expect(env.missingFiles).toEqual([]);
    expect(env.editableInstalls).toEqual([]);
  });

  test("a managed file edited after install is packed from the environment, still relocated", async () => {
    const kit = makeCondaEnv({ root: path.join(root, "edited"), pipPackage: false });
    fs.appendFileSync(path.join(kit.prefix, "etc/clib.conf"), "user_setting = 1\n");
    const env = await readCondaEnvironment(kit.prefix);
    const entry = env.entries.find((e) => e.path === "etc/clib.conf")!;
    expect(entry.relocation).toEqual({ kind: "placeholder", placeholder: env.prefix, mode: "text", source: entry.absolute });
    expect(env.warnings.join("\n")).toContain("etc/clib.conf");
    // Untouched files still come from the cache.
    const cfg = env.entries.find((e) => e.path === `bin/python${kit.pythonVersion}-config`)!;
    expect((cfg.relocation as { source: string }).source.startsWith(kit.pkgsDir)).toBe(true);
  });

  test("two python records are refused", async () => {
    const kit = makeCondaEnv({ root: path.join(root, "two"), pipPackage: false });
    const meta = path.join(kit.prefix, "conda-meta");
    const py = fs.readdirSync(meta).find((f) => f.startsWith("python-"))!;
    fs.copyFileSync(path.join(meta, py), path.join(meta, "python-3.0.0-0.json"));
    await expect(readCondaEnvironment(kit.prefix)).rejects.toMatchObject({ code: "ERR_CORRUPT_ENV" });
  });
});
