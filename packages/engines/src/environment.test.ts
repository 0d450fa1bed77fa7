import { InvalidInputError } from "@cluster-pack/errors";
import { daskCommands } from "./dask";
import { baseName, codePythonPath, guessKind, pythonEnvironment, shippedResources } from "./environment";
import { rayRuntimeEnvFor, rayStartCommand } from "./ray";
import { shellJoin, shellQuote } from "./shell";
import { toS3, toS3a, urlScheme } from "./uri";

// Defaults follow cluster-pack's get_pyenv_usage_from_archive (REFERENCE.md section 1).
describe("pythonEnvironment (cluster-pack get_pyenv_usage_from_archive rules)", () => {
  it.each([
    ["hdfs://nn/user/u/envs/app.pex", "pex", "app.pex", "file", "./app.pex", { PEX_ROOT: "./.pex" }],
    ["s3://b/envs/app.pex.zip", "pex-large", "pyenv", "archive", "pyenv/__main__.py", { PEX_ROOT: "./.pex" }],
    ["hdfs://nn/envs/conda-env.tar.gz", "conda", "pyenv", "archive", "pyenv/bin/python", {}],
    ["/local/envs/env.tgz", "conda", "pyenv", "archive", "pyenv/bin/python", {}],
    ["https://h/envs/env.zip?x=1", "conda", "pyenv", "archive", "pyenv/bin/python", {}],
  ])("%s -> %s, alias %s (%s), interpreter %s", (url, kind, alias, type, interpreter, env) => {
    const e = pythonEnvironment(url);
    expect(e.kind).toBe(kind);
    expect(e.archive).toEqual({ url, alias, type });
    expect(e.interpreter).toBe(interpreter);
    expect(e.env).toEqual(env);
  });

  it("takes an explicit venv kind, alias and extra env over the defaults", () => {
    const e = pythonEnvironment("hdfs://nn/envs/v.tar.gz", { kind: "venv", alias: "venv", env: { FOO: "1" } });
    expect(e.kind).toBe("venv");
    expect(e.interpreter).toBe("venv/bin/python");
    expect(e.env).toEqual({ FOO: "1" });
    const p = pythonEnvironment("hdfs://nn/envs/a.pex", { env: { PEX_ROOT: "/tmp/pex", PEX_VERBOSE: "1" } });
    expect(p.env).toEqual({ PEX_ROOT: "/tmp/pex", PEX_VERBOSE: "1" });
  });

  it("ships code archives beside the environment and puts them on PYTHONPATH", () => {
    const e = pythonEnvironment("hdfs://nn/envs/a.pex", { codeArchives: ["hdfs://nn/code/mylib.zip", "s3://b/other.py"] });
    expect(e.codeArchives).toEqual([
      { url: "hdfs://nn/code/mylib.zip", alias: "mylib.zip", type: "file" },
      { url: "s3://b/other.py", alias: "other.py", type: "file" },
    ]);
    expect(codePythonPath(e)).toEqual(["mylib.zip", "other.py"]);
  });

  it.each([
    ["", /empty/],
    ["hdfs://nn/envs/environment", /Cannot tell what kind/],
  ])("refuses %j", (url, re) => {
    expect(() => pythonEnvironment(url)).toThrow(InvalidInputError);
    expect(() => pythonEnvironment(url)).toThrow(re);
  });

  it("refuses bad aliases, env names, code archives and name clashes", () => {
    expect(() => pythonEnvironment("a.tar.gz", { alias: "../up" })).toThrow(/Invalid alias/);
    expect(() => pythonEnvironment("a.tar.gz", { alias: "a,b" })).toThrow(/Invalid alias/);
    expect(() => pythonEnvironment("a.tar.gz", { env: { "1BAD": "x" } })).toThrow(/environment variable name/);
    expect(() => pythonEnvironment("a.tar.gz", { codeArchives: ["src/dir"] })).toThrow(/\.zip, \.egg or \.py/);
    expect(() => pythonEnvironment("a.tar.gz", { codeArchives: ["x/c.zip", "y/c.zip"] })).toThrow(/both land as "c.zip"/);
    expect(() => pythonEnvironment("a.tar.gz", { kind: "pex" })).toThrow(/tar archive, not a PEX/);
  });

  it("never puts credentials of the URL in messages", () => {
    expect(() => pythonEnvironment("https://user:s3cret@h/env")).toThrow(/\*\*\*@h/);
    expect(() => pythonEnvironment("https://user:s3cret@h/env")).not.toThrow(/s3cret/);
  });

  it("guesses kinds and base names", () => {
    expect(guessKind("x/y.PEX")).toBe("pex");
    expect(guessKind("y.tar.zst")).toBe("conda");
    expect(guessKind("y.whl")).toBeUndefined();
    expect(baseName("s3://b/k/env.pex?v=1#frag")).toBe("env.pex");
  });
});

describe("layers fetched into a node directory (layersDir)", () => {
  const layer = (c: string) => `s3://b/envs/layers/${c.repeat(64)}.zip`;
  const env = pythonEnvironment("s3://b/envs/app.pex", { layers: [layer("a"), layer("b")], layersDir: "/local/cp-layers/" });

  it("points PEX_LAYERS_PATH at it and stops shipping the layers per container", () => {
    expect(env.layersDir).toBe("/local/cp-layers");
    expect(env.env).toEqual({ PEX_ROOT: "./.pex", PEX_LAYERS_PATH: "/local/cp-layers" });
    expect(shippedResources(env).map((r) => r.alias)).toEqual(["app.pex"]);
    // Without layersDir the layers travel beside the PEX, as before.
    expect(shippedResources(pythonEnvironment("s3://b/envs/app.pex", { layers: [layer("a")] })).map((r) => r.alias)).toEqual(["app.pex", `${"a".repeat(64)}.zip`]);
  });

  it("reaches the processes Dask and Ray start: scheduler, workers, Ray nodes and runtime_env", () => {
    const dask = daskCommands(env, { schedulerAddress: "tcp://10.0.0.5:8786" });
    expect(dask.worker.env.PEX_LAYERS_PATH).toBe("/local/cp-layers");
    expect(dask.scheduler.env.PEX_LAYERS_PATH).toBe("/local/cp-layers");
    expect(rayStartCommand(env, { head: true }).env.PEX_LAYERS_PATH).toBe("/local/cp-layers");
    expect(rayRuntimeEnvFor(env, { localisedAt: "/srv/job" }).env_vars).toMatchObject({ PEX_LAYERS_PATH: "/local/cp-layers", PEX_ROOT: "/srv/job/.pex", PEX_VENV: "1" });
  });

  it("refuses a relative or \":\"-separated directory, and a directory without layers", () => {
    for (const dir of ["cp-layers", "./x", "/a:/b", ""]) {
      expect(() => pythonEnvironment("s3://b/envs/app.pex", { layers: [layer("a")], layersDir: dir })).toThrow(
        expect.objectContaining({ message: expect.stringMatching(/`layersDir` .* is not an absolute directory/), hint: expect.stringMatching(/^give a directory on a local disk every node has/) }),
      );
    }
    expect(() => pythonEnvironment("s3://b/envs/app.pex", { layersDir: "/x" })).toThrow(expect.objectContaining({ message: expect.stringMatching(/has no layers\.$/), hint: "pass its `layers`, or drop `layersDir`." }));
  });
});

describe("uri and shell helpers", () => {
  it("rewrites s3 and s3n to s3a and back", () => {
    expect(toS3a("s3://b/k")).toBe("s3a://b/k");
    expect(toS3a("S3N://b/k")).toBe("s3a://b/k");
    expect(toS3a("hdfs://nn/k")).toBe("hdfs://nn/k");
    expect(toS3("s3a://b/k")).toBe("s3://b/k");
    expect(urlScheme("C:/x")).toBeUndefined();
    expect(urlScheme("/x")).toBeUndefined();
    expect(urlScheme("HDFS://x")).toBe("hdfs");
  });
  it("quotes for POSIX shells", () => {
    expect(shellQuote("pyenv/bin/python")).toBe("pyenv/bin/python");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote("")).toBe("''");
    expect(shellJoin(["./a.pex", "-m", "m", "a b"])).toBe("./a.pex -m m 'a b'");
  });
});
