import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { findEnvironment, getEditableRequirements, parseHeaders, readInstalledDistributions } from "./environment";
import { sharedVenvFixture, venvFixtureUnavailable, PYTHON311, type VenvFixture } from "./test-kit/venv";

// Real builds, interpreters and servers: the root jest config (multi-project) ignores the preset's testTimeout.
jest.setTimeout(300_000);

let tmp: string;
beforeEach(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "cp-env-"));
});
afterEach(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

/** A venv-shaped directory written by hand (no interpreter needed). */
async function handVenv(root: string): Promise<string> {
  const site = path.join(root, "lib", "python3.11", "site-packages");
  await fsp.mkdir(site, { recursive: true });
  await fsp.writeFile(path.join(root, "pyvenv.cfg"), "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.7\n");
  return site;
}

async function distInfo(site: string, dirName: string, files: Record<string, string>): Promise<void> {
  const d = path.join(site, dirName);
  await fsp.mkdir(d, { recursive: true });
  for (const [f, c] of Object.entries(files)) await fsp.writeFile(path.join(d, f), c);
}

describe("findEnvironment", () => {
  it("reads a venv from pyvenv.cfg without running python", async () => {
    const venv = path.join(tmp, "proj");
    const site = await handVenv(venv);
    const env = await findEnvironment({ path: venv });
    expect(env).toEqual({
      prefix: await fsp.realpath(venv),
      kind: "venv",
      name: "proj",
      python: path.join(await fsp.realpath(venv), "bin", "python"),
      pythonVersion: "3.11.7",
      sitePackages: [await fsp.realpath(site)],
    });
  });

  it("uses VIRTUAL_ENV, then CONDA_PREFIX", async () => {
    const venv = path.join(tmp, "v");
    await handVenv(venv);
    const conda = path.join(tmp, "c");
    await fsp.mkdir(path.join(conda, "conda-meta"), { recursive: true });
    await fsp.mkdir(path.join(conda, "lib", "python3.10", "site-packages"), { recursive: true });
    await fsp.writeFile(path.join(conda, "conda-meta", "python-3.10.13-h955ad1f_0.json"), "{}");
    expect((await findEnvironment({ env: { VIRTUAL_ENV: venv, CONDA_PREFIX: conda } })).kind).toBe("venv");
    const c = await findEnvironment({ env: { CONDA_PREFIX: conda } });
    expect(c).toMatchObject({ kind: "conda", pythonVersion: "3.10.13", name: "c" });
  });

  it("fails with a clear error when no environment is active or given", async () => {
    await expect(findEnvironment({ env: {} })).rejects.toMatchObject({ code: "ERR_NO_ENVIRONMENT", message: expect.stringMatching(/VIRTUAL_ENV/), hint: expect.stringMatching(/^activate a virtualenv/) });
    await expect(findEnvironment({ path: path.join(tmp, "nope") })).rejects.toMatchObject({ code: "ERR_NO_ENVIRONMENT" });
    await expect(findEnvironment({ path: tmp })).rejects.toThrow(/not a Python environment/);
  });

  it("asks a given interpreter once for its paths", async () => {
    const env = await findEnvironment({ python: PYTHON311 });
    expect(env.pythonVersion).toBe("3.11.7");
    expect(env.kind).toBe("system");
    expect(env.sitePackages.some((s) => s.endsWith("site-packages"))).toBe(true);
    await expect(findEnvironment({ python: path.join(tmp, "no-python") })).rejects.toMatchObject({ code: "ERR_NO_ENVIRONMENT" });
  });
});

describe("readInstalledDistributions on hand-made layouts", () => {
  it("reads dist-info and egg-info (dir and file), METADATA over the directory name", async () => {
    const venv = path.join(tmp, "v");
    const site = await handVenv(venv);
    await distInfo(site, "Foo_Bar-1.0.dist-info", { METADATA: "Metadata-Version: 2.1\nName: Foo.Bar\nVersion: 1.0\n\nName: NotThis\n", INSTALLER: "uv\n", "top_level.txt": "foo_bar\n" });
    await distInfo(site, "Legacy-2.0-py3.11.egg-info", { "PKG-INFO": "Metadata-Version: 1.1\nName: Legacy\nVersion: 2.0\n" });
    await fsp.writeFile(path.join(site, "Single-3.1.egg-info"), "Metadata-Version: 1.0\nName: single\nVersion: 3.1\n");
    const dists = await readInstalledDistributions(await findEnvironment({ path: venv }));
    expect(dists.map((d) => [d.normalizedName, d.version, d.format, d.installer ?? null])).toEqual([
      ["foo-bar", "1.0", "dist-info", "uv"],
      ["legacy", "2.0", "egg-info", null],
      ["single", "3.1", "egg-info", null],
    ]);
    expect(dists[0]!.topLevel).toEqual(["foo_bar"]);
    expect(dists.every((d) => d.editable === undefined)).toBe(true);
  });

  it("finds PEP 660 editables through the .pth path (src/ layout), skipping namespace packages", async () => {
    const venv = path.join(tmp, "v");
    const site = await handVenv(venv);
    const proj = path.join(tmp, "proj");
    await fsp.mkdir(path.join(proj, "src", "pkg_a", "sub"), { recursive: true });
    await fsp.writeFile(path.join(proj, "src", "pkg_a", "__init__.py"), "");
    await fsp.mkdir(path.join(proj, "src", "nspkg", "inner"), { recursive: true }); // namespace: no __init__.py
    await fsp.writeFile(path.join(proj, "src", "nspkg", "inner", "__init__.py"), "");
    await distInfo(site, "proj-0.1.dist-info", {
      METADATA: "Name: proj\nVersion: 0.1\n",
      "direct_url.json": JSON.stringify({ url: `file://${proj}`, dir_info: { editable: true } }),
    });
    await fsp.writeFile(path.join(site, "__editable__.proj-0.1.pth"), `${path.join(proj, "src")}\n`);
    const [d] = await readInstalledDistributions([site]);
    expect(d!.editable).toEqual({ projectDir: proj, via: "pep660", roots: [await fsp.realpath(path.join(proj, "src"))], packages: { pkg_a: path.join(await fsp.realpath(path.join(proj, "src")), "pkg_a") } });
  });

  it("uses setuptools' strict-mode finder MAPPING when there is no path .pth", async () => {
    const venv = path.join(tmp, "v");
    const site = await handVenv(venv);
    const proj = path.join(tmp, "flat");
    await fsp.mkdir(path.join(proj, "flatpkg"), { recursive: true });
    await fsp.writeFile(path.join(proj, "flatpkg", "__init__.py"), "");
    await fsp.mkdir(path.join(proj, "tests"), { recursive: true });
    await fsp.writeFile(path.join(proj, "tests", "__init__.py"), "");
    await distInfo(site, "flat-1.0.dist-info", {
      METADATA: "Name: flat\nVersion: 1.0\n",
      "direct_url.json": JSON.stringify({ url: `file://${proj}`, dir_info: { editable: true } }),
    });
    await fsp.writeFile(path.join(site, "__editable__.flat-1.0.pth"), "import __editable___flat_1_0_finder; __editable___flat_1_0_finder.install()\n");
    await fsp.writeFile(
      path.join(site, "__editable___flat_1_0_finder.py"),
      `import sys\nMAPPING: dict[str, str] = {'flatpkg': '${path.join(proj, "flatpkg")}'}\nNAMESPACES: dict[str, list[str]] = {}\n`,
    );
    const [d] = await readInstalledDistributions([site]);
    expect(d!.editable?.packages).toEqual({ flatpkg: path.join(proj, "flatpkg") });
  });

  it("falls back to flat layout filtered by top_level.txt when no .pth names the project", async () => {
    const venv = path.join(tmp, "v");
    const site = await handVenv(venv);
    const proj = path.join(tmp, "flat2");
    for (const p of ["good", "tests"]) {
      await fsp.mkdir(path.join(proj, p), { recursive: true });
      await fsp.writeFile(path.join(proj, p, "__init__.py"), "");
    }
    await distInfo(site, "flat2-1.0.dist-info", {
      METADATA: "Name: flat2\nVersion: 1.0\n",
      "top_level.txt": "good\n",
      "direct_url.json": JSON.stringify({ url: `file://${proj}`, dir_info: { editable: true } }),
    });
    const [d] = await readInstalledDistributions([site]);
    expect(d!.editable?.packages).toEqual({ good: path.join(proj, "good") });
  });

  it("finds legacy egg-link and easy-install .pth develop installs", async () => {
    const venv = path.join(tmp, "v");
    const site = await handVenv(venv);
    const a = path.join(tmp, "a");
    await fsp.mkdir(path.join(a, "src", "alpha"), { recursive: true });
    await fsp.writeFile(path.join(a, "src", "alpha", "__init__.py"), "");
    await fsp.mkdir(path.join(a, "src", "alpha.egg-info"));
    await fsp.writeFile(path.join(a, "src", "alpha.egg-info", "PKG-INFO"), "Name: alpha\nVersion: 0.3\n");
    await fsp.writeFile(path.join(site, "alpha.egg-link"), `${path.join(a, "src")}\n.\n`);
    const b = path.join(tmp, "b");
    await fsp.mkdir(path.join(b, "beta"), { recursive: true });
    await fsp.writeFile(path.join(b, "beta", "__init__.py"), "");
    await fsp.mkdir(path.join(b, "beta.egg-info"));
    await fsp.writeFile(path.join(b, "beta.egg-info", "PKG-INFO"), "Name: beta\nVersion: 0.4\n");
    await fsp.writeFile(path.join(site, "easy-install.pth"), `# comment\nimport sys\n${b}\n./relative-missing\n`);
    const dists = await readInstalledDistributions([site]);
    expect(dists.map((d) => [d.name, d.version, d.editable?.via, d.editable?.projectDir])).toEqual([
      ["alpha", "0.3", "egg-link", a],
      ["beta", "0.4", "pth", await fsp.realpath(b)],
    ]);
    expect(await getEditableRequirements({ path: venv })).toEqual({
      alpha: path.join(a, "src", "alpha"),
      beta: path.join(await fsp.realpath(b), "beta"),
    });
  });

  it("rejects a corrupted direct_url.json naming the file", async () => {
    const venv = path.join(tmp, "v");
    const site = await handVenv(venv);
    await distInfo(site, "x-1.dist-info", { METADATA: "Name: x\nVersion: 1\n", "direct_url.json": "{nope" });
    await expect(readInstalledDistributions([site])).rejects.toThrow(/x-1\.dist-info\/direct_url\.json is not valid JSON/);
  });

  it("parses only the header block of METADATA", () => {
    const h = parseHeaders("Name: a\nVersion: 1\nName: b\n\nVersion: 2\n");
    expect([h.get("name"), h.get("version")]).toEqual(["a", "1"]);
  });
});

describe("a real venv with pip installs and a pip -e editable", () => {
  let fx: VenvFixture | undefined;
  let skip: string | undefined;
  beforeAll(async () => {
    skip = await venvFixtureUnavailable();
    if (!skip) fx = await sharedVenvFixture();
  }, 600_000);
  afterAll(async () => {
    await fx?.cleanup();
  });

  it("lists the exact installed versions and the editable src/ package", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const env = await findEnvironment({ path: fx!.venv });
    const dists = await readInstalledDistributions(env);
    const byName = Object.fromEntries(dists.map((d) => [d.normalizedName, d]));
    // Versions straight from the installed METADATA; compare to what pip itself reports.
    const { execFileSync } = await import("node:child_process");
    const pipList = JSON.parse(execFileSync(fx!.python, ["-m", "pip", "list", "--format", "json"], { encoding: "utf8" })) as { name: string; version: string }[];
    for (const p of pipList) expect(byName[p.name.toLowerCase().replace(/[-_.]+/g, "-")]?.version).toBe(p.version);
    expect(dists.length).toBe(pipList.length);
    expect(byName["my-edit"]?.editable?.packages).toEqual({ myedit: path.join(await fsp.realpath(fx!.editableProject), "src", "myedit") });
    expect(byName["six"]?.editable).toBeUndefined();
    expect(await getEditableRequirements(env)).toEqual({ myedit: path.join(await fsp.realpath(fx!.editableProject), "src", "myedit") });
  });

  it("reads setuptools' real flat-layout editable (finder MAPPING), leaving out tests/", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const { execFileSync } = await import("node:child_process");
    const proj = path.join(tmp, "flat-proj");
    await fsp.mkdir(path.join(proj, "flatpkg"), { recursive: true });
    await fsp.mkdir(path.join(proj, "tests"), { recursive: true });
    await fsp.writeFile(path.join(proj, "flatpkg", "__init__.py"), "X = 1\n");
    await fsp.writeFile(path.join(proj, "tests", "__init__.py"), "");
    await fsp.writeFile(
      path.join(proj, "pyproject.toml"),
      '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "flat-proj"\nversion = "0.2.0"\n\n[tool.setuptools]\npackages = ["flatpkg"]\n',
    );
    const venv = path.join(tmp, "flat-venv");
    execFileSync(PYTHON311, ["-m", "venv", venv]);
    execFileSync(path.join(venv, "bin", "python"), ["-m", "pip", "install", "-q", "--index-url", "file:///opt/pypi/simple", "--retries", "0", "-e", proj]);
    const realProj = await fsp.realpath(proj);
    expect(await getEditableRequirements({ path: venv })).toEqual({ flatpkg: path.join(realProj, "flatpkg") });
    const dist = (await readInstalledDistributions(await findEnvironment({ path: venv }))).find((d) => d.name === "flat-proj");
    expect(dist?.editable).toMatchObject({ via: "pep660", projectDir: realProj });
  });
});
