import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { hasErrorCode, InvalidInputError } from "@cluster-pack/errors";
import { pythonEnvironment } from "../environment";
import { pysparkEnv, sparkConfigFor } from "./conf";
import { localisedName, mergeSparkConf, parseConfArgs, parseSparkDefaults, redactSparkConf } from "./merge";
import { sparkDefaultsLines, sparkSessionBuilderSnippet, sparkSubmitArgv } from "./render";

const pex = pythonEnvironment("hdfs://nn/envs/app.pex", { codeArchives: ["hdfs://nn/code/lib.zip"] });

describe("mergeSparkConf (configuration.md: properties merged from defaults, flags and SparkConf)", () => {
  it("keeps the user's order, appends new keys, drops exact duplicates", () => {
    const r = mergeSparkConf(
      [
        ["spark.executor.memory", "4g"],
        ["spark.pyspark.python", "./app.pex"],
      ],
      [
        ["spark.pyspark.python", "./app.pex"],
        ["spark.executorEnv.PEX_ROOT", "./.pex"],
      ],
    );
    expect(r.conf).toEqual([
      ["spark.executor.memory", "4g"],
      ["spark.pyspark.python", "./app.pex"],
      ["spark.executorEnv.PEX_ROOT", "./.pex"],
    ]);
    expect(r.warnings).toEqual([]);
  });

  it("unions comma lists in a stable order (existing first) without duplicates", () => {
    const existing: Array<[string, string]> = [["spark.yarn.dist.files", "hdfs://nn/a.txt, hdfs://nn/b.txt"]];
    const generated: Array<[string, string]> = [["spark.yarn.dist.files", "hdfs://nn/envs/app.pex#app.pex,hdfs://nn/a.txt"]];
    const once = mergeSparkConf(existing, generated);
    expect(once.conf).toEqual([["spark.yarn.dist.files", "hdfs://nn/a.txt,hdfs://nn/b.txt,hdfs://nn/envs/app.pex#app.pex"]]);
    // Merging again is a no-op: same bytes every run.
    expect(mergeSparkConf(once.conf, generated).conf).toEqual(once.conf);
  });

  it("refuses a conflicting scalar by default, naming key, both values and the fix", () => {
    let err: unknown;
    try {
      mergeSparkConf([["spark.pyspark.python", "/usr/bin/python3"]], [["spark.pyspark.python", "./app.pex"]]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(hasErrorCode(err, "ERR_SPARK_CONF_CONFLICT")).toBe(true);
    expect((err as Error).message).toMatch(/spark\.pyspark\.python .*"\/usr\/bin\/python3".*"\.\/app\.pex"\.$/);
    expect((err as InvalidInputError).hint).toMatch(/prefer-generated/);
  });

  it.each([
    ["prefer-generated", "./app.pex", /the generated value wins/],
    ["prefer-existing", "/usr/bin/python3", /your value wins/],
  ] as const)("%s keeps %s and warns which value won", (policy, kept, re) => {
    const r = mergeSparkConf([["spark.pyspark.python", "/usr/bin/python3"]], [["spark.pyspark.python", "./app.pex"]], policy);
    expect(r.conf).toEqual([["spark.pyspark.python", kept]]);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(re);
  });

  it("treats two archives landing under one alias as a conflict, within and across keys", () => {
    expect(() =>
      mergeSparkConf([["spark.yarn.dist.archives", "hdfs://nn/old.tar.gz#pyenv"]], [["spark.yarn.dist.archives", "hdfs://nn/new.tar.gz#pyenv"]]),
    ).toThrow(/spark\.yarn\.dist\.archives .*old\.tar\.gz#pyenv.*new\.tar\.gz#pyenv/);
    expect(() => mergeSparkConf([["spark.archives", "s3a://b/x.zip#pyenv"]], [["spark.yarn.dist.archives", "hdfs://nn/new.tar.gz#pyenv"]])).toThrow(
      /both land as "pyenv"/,
    );
    const r = mergeSparkConf(
      [["spark.yarn.dist.archives", "hdfs://nn/old.tar.gz#pyenv,hdfs://nn/data.zip#data"]],
      [["spark.yarn.dist.archives", "hdfs://nn/new.tar.gz#pyenv"]],
      "prefer-generated",
    );
    expect(r.conf).toEqual([["spark.yarn.dist.archives", "hdfs://nn/new.tar.gz#pyenv,hdfs://nn/data.zip#data"]]);
    expect(r.warnings[0]).toMatch(/the generated one is kept/);
  });

  it("never prints secret values in conflicts (spark.redaction.regex)", () => {
    expect(() => mergeSparkConf([["spark.hadoop.fs.s3a.secret.key", "OLDSECRET"]], [["spark.hadoop.fs.s3a.secret.key", "NEWSECRET"]])).toThrow(
      /\(redacted\)/,
    );
    const r = mergeSparkConf([["spark.hadoop.fs.s3a.secret.key", "OLDSECRET"]], [["spark.hadoop.fs.s3a.secret.key", "NEWSECRET"]], "prefer-existing");
    expect(r.warnings.join("")).not.toMatch(/OLDSECRET|NEWSECRET/);
    expect(redactSparkConf([["spark.hadoop.fs.s3a.access.key", "AK"], ["spark.master", "yarn"]])).toEqual([
      ["spark.hadoop.fs.s3a.access.key", "*********(redacted)"],
      ["spark.master", "yarn"],
    ]);
  });

  it("sparkConfigFor merges into existing conf and reports the policy's warnings", () => {
    const existing = parseConfArgs(["spark.executor.memory=4g", "spark.pyspark.python=python3"]);
    expect(() => sparkConfigFor(pex, { master: "yarn", existing })).toThrow(/already set/);
    const c = sparkConfigFor(pex, { master: "yarn", existing, onConflict: "prefer-generated" });
    expect(c.conf.slice(0, 2)).toEqual([
      ["spark.executor.memory", "4g"],
      ["spark.pyspark.python", "./app.pex"],
    ]);
    expect(c.warnings).toEqual([expect.stringMatching(/spark\.pyspark\.python: your value "python3" .* the generated value wins/)]);
  });

  it("names items as YARN localises them", () => {
    expect(localisedName("hdfs://nn/a/b.tar.gz#env")).toBe("env");
    expect(localisedName("hdfs://nn/a/b.tar.gz")).toBe("b.tar.gz");
    expect(localisedName("https://h/d/x.zip?sig=1")).toBe("x.zip");
    expect(localisedName("hdfs://nn/dir/")).toBe("dir");
    expect(localisedName("plain.py")).toBe("plain.py");
  });
});

describe("spark-defaults.conf and --conf parsing", () => {
  it("reads key value, key=value, comments, escapes and continuations; later lines win", () => {
    const text = [
      "# comment",
      "! other comment",
      "spark.master            yarn",
      "spark.executor.memory=4g",
      "spark.app.name:my app",
      "spark.files  hdfs://nn/a,\\",
      "             hdfs://nn/b",
      "spark.executorEnv.WIN C:\\\\dir",
      "spark.executor.memory 8g",
    ].join("\n");
    expect(parseSparkDefaults(text)).toEqual([
      ["spark.master", "yarn"],
      ["spark.executor.memory", "8g"],
      ["spark.app.name", "my app"],
      ["spark.files", "hdfs://nn/a,hdfs://nn/b"],
      ["spark.executorEnv.WIN", "C:\\dir"],
    ]);
  });
  it("refuses --conf without =", () => {
    expect(() => parseConfArgs(["spark.master"])).toThrow(/--conf "spark.master" is not key=value/);
  });
});

describe("renderers", () => {
  const config = sparkConfigFor(pex, { master: "yarn", deployMode: "cluster" });

  it("spark-submit argv: --master, --deploy-mode, one --conf per entry, then the app", () => {
    expect(sparkSubmitArgv(config, { application: "main.py", args: ["--n", "3"] })).toEqual([
      "--master",
      "yarn",
      "--deploy-mode",
      "cluster",
      "--conf",
      "spark.yarn.dist.files=hdfs://nn/envs/app.pex#app.pex",
      "--conf",
      "spark.submit.pyFiles=hdfs://nn/code/lib.zip",
      "--conf",
      "spark.pyspark.python=./app.pex",
      "--conf",
      "spark.pyspark.driver.python=./app.pex",
      "--conf",
      "spark.executorEnv.PEX_ROOT=./.pex",
      "--conf",
      "spark.yarn.appMasterEnv.PEX_ROOT=./.pex",
      "main.py",
      "--n",
      "3",
    ]);
  });

  it("spark-defaults.conf lines read back to the same conf", () => {
    const tricky = sparkConfigFor(pythonEnvironment("hdfs://nn/e.pex", { env: { ODD: " lead\\back\ttab" } }), { master: "yarn" });
    const lines = sparkDefaultsLines(tricky);
    expect(lines[0]).toMatch(/^spark\.master +yarn$/);
    expect(lines[1]).toMatch(/^spark\.submit\.deployMode +client$/);
    expect(parseSparkDefaults(lines.join("\n"))).toEqual([
      ["spark.master", "yarn"],
      ["spark.submit.deployMode", "client"],
      ...tricky.conf,
    ]);
  });

  it("redacts secrets when asked", () => {
    const withKeys = sparkConfigFor(pythonEnvironment("s3://b/e.pex"), {
      master: "yarn",
      s3: { accessKeyId: "AKIAX", secretAccessKey: "SECRETX", includeSecrets: true },
    });
    expect(sparkSubmitArgv(withKeys).join(" ")).toContain("SECRETX");
    expect(sparkSubmitArgv(withKeys, { redact: true }).join(" ")).not.toMatch(/SECRETX|AKIAX/);
    expect(sparkDefaultsLines(withKeys, { redact: true }).join("\n")).not.toMatch(/SECRETX|AKIAX/);
  });

  it("SparkSession.builder snippet is valid Python (checked by a real interpreter) and client-only", () => {
    const client = sparkConfigFor(pythonEnvironment("hdfs://nn/e.pex", { env: { Q: `quote " and \\ and 'x'` } }), { master: "yarn" });
    const snippet = sparkSessionBuilderSnippet(client, { appName: "demo" });
    expect(snippet).toContain('.config("spark.pyspark.python", "./e.pex")');
    const check = spawnSync(
      "python3",
      [
        "-c",
        [
          "import ast, sys",
          "tree = ast.parse(sys.stdin.read())",
          "calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, 'attr', '') == 'config']",
          "print(dict(reversed([(c.args[0].value, c.args[1].value) for c in calls]))['spark.executorEnv.Q'])",
        ].join("\n"),
      ],
      { input: snippet, encoding: "utf8" },
    );
    if (check.error) throw check.error;
    expect(check.stderr).toBe("");
    expect(check.stdout.trim()).toBe(`quote " and \\ and 'x'`);
    expect(() => sparkSessionBuilderSnippet(config)).toThrow(/client mode/);
  });

  it("the builder snippet sets PYSPARK_PYTHON (and the driver's, in client mode) before the session is created", () => {
    const config = sparkConfigFor(pythonEnvironment("hdfs://nn/e.pex"), { master: "yarn", driverPython: "/usr/bin/python3" });
    expect(pysparkEnv(config)).toEqual({ PYSPARK_PYTHON: "./e.pex", PYSPARK_DRIVER_PYTHON: "/usr/bin/python3" });
    expect(pysparkEnv(sparkConfigFor(pythonEnvironment("hdfs://nn/e.pex"), { master: "yarn", deployMode: "cluster" }))).toEqual({ PYSPARK_PYTHON: "./e.pex" });
    // pyspark is not installed here: a stand-in module records what getOrCreate() sees,
    // which is what SparkContext reads (os.environ["PYSPARK_PYTHON"]).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cp-pyspark-"));
    try {
      fs.mkdirSync(path.join(dir, "pyspark", "sql"), { recursive: true });
      fs.writeFileSync(path.join(dir, "pyspark", "__init__.py"), "");
      fs.writeFileSync(
        path.join(dir, "pyspark", "sql", "__init__.py"),
        [
          "import json, os",
          "class _B:",
          "    def __init__(self): self.conf = {}",
          "    def master(self, m): self.conf['spark.master'] = m; return self",
          "    def appName(self, n): return self",
          "    def config(self, k, v): self.conf[k] = v; return self",
          "    def getOrCreate(self):",
          "        print(json.dumps({k: os.environ.get(k) for k in ('PYSPARK_PYTHON', 'PYSPARK_DRIVER_PYTHON')}))",
          "class SparkSession:",
          "    builder = _B()",
          "",
        ].join("\n"),
      );
      const r = spawnSync("python3", ["-"], { input: sparkSessionBuilderSnippet(config), encoding: "utf8", env: { PATH: process.env.PATH, PYTHONPATH: dir } });
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout)).toEqual({ PYSPARK_PYTHON: "./e.pex", PYSPARK_DRIVER_PYTHON: "/usr/bin/python3" });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
