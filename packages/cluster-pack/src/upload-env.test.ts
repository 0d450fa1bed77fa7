import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { resolveFileSystem, type FileSystem } from "@cluster-pack/fs";
import { inspectPex } from "@cluster-pack/pex";
import { addEditableRequirements, addPackagedEnvironment } from "./spark";
import { uploadEnv, type UploadEnvOptions } from "./upload-env";
import { startS3Server, startWebHdfsServer, type TestS3Server } from "@cluster-pack/fs/test-kit";
import { sharedVenvFixture, venvFixtureUnavailable, PYTHON311, type VenvFixture } from "./test-kit/venv";

// Real builds, interpreters and servers: the root jest config (multi-project) ignores the preset's testTimeout.
jest.setTimeout(300_000);

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, "../../..");

let fx: VenvFixture | undefined;
let s3: TestS3Server;
let s3fs: FileSystem;
let tmp: string;
let skip: string | undefined;

beforeAll(async () => {
  skip = await venvFixtureUnavailable();
  s3 = await startS3Server({ buckets: ["envs"] });
  s3fs = (await resolveFileSystem("s3://envs/", { s3: s3.clientOptions })).fs;
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "cp-upload-env-"));
  if (!skip) fx = await sharedVenvFixture();
}, 600_000);

afterAll(async () => {
  await fx?.cleanup();
  await s3?.close();
  if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
});

function base(extra: Partial<UploadEnvOptions> = {}): UploadEnvOptions {
  return {
    store: { s3: s3.clientOptions },
    cacheDir: path.join(tmp, "cache"),
    environ: { C_PACK_USER: "me", PATH: process.env.PATH, HOME: process.env.HOME },
    ...extra,
  };
}

async function s3Text(url: string): Promise<string> {
  return (await s3fs.read(url.replace(/^s3a?:\/\//, "/"))).toString("utf8");
}

describe("uploadEnv: a real venv to a local S3 server", () => {
  const packagePath = "s3://envs/user/me/envs/project.pex";

  it("packs the exact installed versions, ships editable code beside it; the second call is two concurrent HEADs and no upload", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const first = await uploadEnv(base({ env: fx!.venv, includeEditable: true, packagePath }));
    expect(first.uploaded).toBe(true);
    expect(first.requirements).toEqual(["python-dateutil==2.9.0.post0", "six==1.17.0"]);
    expect(first.envName).toMatch(/^project-venv_[0-9a-f]{7}$/);
    expect(first.editableArchives).toEqual([
      { name: "myedit", packagePath: `s3://envs/user/me/envs/${first.envName}_editable/myedit.zip`, sha256: expect.stringMatching(/^[0-9a-f]{64}$/), uploaded: true },
    ]);
    const sidecar = JSON.parse(await s3Text("s3://envs/user/me/envs/project.json"));
    // cluster-pack's own form: what `pip list --exclude-editable` shows (seed packages included).
    expect(sidecar).toMatchObject({ python_version: "3.11.7", lock_hash: first.lockHash });
    expect(sidecar.package_installed).toEqual(expect.arrayContaining([...first.requirements, expect.stringMatching(/^pip==/), expect.stringMatching(/^setuptools==/)]));
    expect(sidecar.package_installed).toHaveLength(first.requirements.length + 2);
    expect(first.environment).toMatchObject({ kind: "pex", interpreter: "./project.pex", env: { PEX_ROOT: "./.pex" } });

    s3.requests.length = 0;
    const second = await uploadEnv(base({ env: fx!.venv, includeEditable: true, packagePath }));
    expect(second).toMatchObject({ uploaded: false, lockHash: first.lockHash, packagePath });
    expect(second.editableArchives[0]!.uploaded).toBe(false);
    const envRequests = s3.requests.filter((r) => /\/project\.(pex|json)$/.test(r.path));
    // The archive's HEAD decides; the sidecar's, sent at the same time, only checks it is there.
    expect(envRequests.map((r) => `${r.method} ${path.posix.basename(r.path)}`).sort()).toEqual(["HEAD project.json", "HEAD project.pex"]);
    expect(s3.requests.filter((r) => r.method !== "HEAD" && r.method !== "GET")).toEqual([]);
  });

  it("runs a job exactly as the generated Spark conf says (executor-style), importing the env and the editable code", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const result = await uploadEnv(base({ env: fx!.venv, includeEditable: true, packagePath }));
    const conf = addEditableRequirements(addPackagedEnvironment({}, result, { master: "yarn" }), result);
    // YARN localises spark.yarn.dist.files as `url#alias` into the container's working dir.
    const work = await fsp.mkdtemp(path.join(tmp, "container-"));
    for (const item of conf["spark.yarn.dist.files"]!.split(",")) {
      const [url, alias] = item.split("#") as [string, string];
      await s3fs.get(url.replace(/^s3a:\/\//, "/"), path.join(work, alias));
      await fsp.chmod(path.join(work, alias), 0o755);
    }
    const pythonPath: string[] = [];
    for (const url of conf["spark.submit.pyFiles"]!.split(",")) {
      const name = path.posix.basename(url);
      await s3fs.get(url.replace(/^s3a:\/\//, "/"), path.join(work, name));
      pythonPath.push(name);
    }
    const executorEnv = Object.fromEntries(
      Object.entries(conf)
        .filter(([k]) => k.startsWith("spark.executorEnv."))
        .map(([k, v]) => [k.slice("spark.executorEnv.".length), v]),
    );
    // Spark's worker: `<spark.pyspark.python> -m <module>` in the working dir, pyFiles on PYTHONPATH.
    const { stdout } = await run(conf["spark.pyspark.python"]!, ["-m", "myedit.job", "from-spark"], {
      cwd: work,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...executorEnv, PYTHONPATH: pythonPath.join(":") },
    });
    const out = JSON.parse(stdout.trim());
    expect(out).toMatchObject({ value: 42, dateutil: "2.9.0.post0", six: "1.17.0", argv: ["from-spark"] });
    expect(out.myedit).toBe(path.join(await fsp.realpath(work), "myedit.zip", "myedit", "__init__.py"));
    expect(await fsp.stat(path.join(work, ".pex"))).toBeTruthy();
  });

  it("rebuilds when one requirement changes, and only then", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const p = "s3://envs/user/me/envs/reqs.pex";
    const a = await uploadEnv(base({ requirements: ["six"], target: { interpreter: PYTHON311 }, packagePath: p }));
    const b = await uploadEnv(base({ requirements: ["six", "python-dateutil"], target: { interpreter: PYTHON311 }, packagePath: p }));
    const c = await uploadEnv(base({ requirements: ["python-dateutil", "six"], target: { interpreter: PYTHON311 }, packagePath: p }));
    expect([a.uploaded, b.uploaded, c.uploaded]).toEqual([true, true, false]);
    expect(b.lockHash).not.toBe(a.lockHash);
    expect(c.lockHash).toBe(b.lockHash);
    expect(b.requirements).toEqual(["python-dateutil==2.9.0.post0", "six==1.17.0"]);
  });
});

describe("uploadEnv: cluster-pack's default path on the Hadoop default fs (WebHDFS)", () => {
  it("lands in <fs.defaultFS>/user/<user>/envs/<venv>_<sha1>.pex and is a no-op the second time", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const hdfs = await startWebHdfsServer({ superuser: "me" });
    try {
      const conf = path.join(tmp, "hadoop-conf");
      await fsp.mkdir(conf, { recursive: true });
      await fsp.writeFile(path.join(conf, "core-site.xml"), `<configuration><property><name>fs.defaultFS</name><value>hdfs://mycluster</value></property></configuration>`);
      const nn = new URL(hdfs.namenode);
      await fsp.writeFile(path.join(conf, "hdfs-site.xml"), `<configuration>
  <property><name>dfs.nameservices</name><value>mycluster</value></property>
  <property><name>dfs.ha.namenodes.mycluster</name><value>nn1</value></property>
  <property><name>dfs.namenode.http-address.mycluster.nn1</name><value>${nn.host}</value></property>
</configuration>`);
      const environ = { C_PACK_USER: "me", HADOOP_USER_NAME: "me", HADOOP_CONF_DIR: conf, PATH: process.env.PATH };
      const first = await uploadEnv(base({ env: fx!.venv, environ }));
      expect(first.packagePath).toBe(`hdfs://mycluster/user/me/envs/${first.envName}.pex`);
      expect(first.uploaded).toBe(true);
      expect((await fsp.stat(path.join(hdfs.root, "user/me/envs", `${first.envName}.pex`))).size).toBeGreaterThan(0);
      expect(JSON.parse(await fsp.readFile(path.join(hdfs.root, "user/me/envs", `${first.envName}.json`), "utf8")).lock_hash).toBe(first.lockHash);
      hdfs.requests.length = 0;
      const second = await uploadEnv(base({ env: fx!.venv, environ }));
      expect(second.uploaded).toBe(false);
      expect(hdfs.requests.filter((r) => r.op === "CREATE" || r.op === "RENAME")).toEqual([]);
      // GETFILESTATUS-style lookups of the archive and of its sidecar, concurrently.
      expect(hdfs.requests.filter((r) => r.server === "namenode").length).toBe(2);
    } finally {
      await hdfs.close();
    }
  });
});

describe("uploadEnv: deterministic archives", () => {
  it("two machines (separate caches, no shared lock) build byte-identical PEX files and sidecars", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const a = await uploadEnv(base({ env: fx!.venv, packagePath: path.join(tmp, "det-a", "env.pex"), cacheDir: path.join(tmp, "cache-a") }));
    const b = await uploadEnv(base({ env: fx!.venv, packagePath: path.join(tmp, "det-b", "env.pex"), cacheDir: path.join(tmp, "cache-b") }));
    expect([a.uploaded, b.uploaded]).toEqual([true, true]);
    expect(await fsp.readFile(path.join(tmp, "det-b", "env.pex"))).toEqual(await fsp.readFile(path.join(tmp, "det-a", "env.pex")));
    expect(await fsp.readFile(path.join(tmp, "det-b", "env.json"), "utf8")).toBe(await fsp.readFile(path.join(tmp, "det-a", "env.json"), "utf8"));
  });
});

describe("uploadEnv: pex.compile", () => {
  it("ships bytecode compiled by the packed environment's python: its first start imports the shipped .pyc files", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const packagePath = path.join(tmp, "compiled", "env.pex");
    const cacheDir = path.join(tmp, "compiled-cache");
    const r = await uploadEnv(base({ env: fx!.venv, packagePath, cacheDir, pex: { compile: true } }));
    expect(r.uploaded).toBe(true);
    // Every local cache of the build is under cacheDir: the verified-wheel records, install plans and bytecode.
    expect((await fsp.readdir(path.join(cacheDir, "verified-wheels", "bytecode"), { recursive: true })).some((f) => String(f).endsWith(".zip"))).toBe(true);
    const root = path.join(tmp, "compiled-root");
    const code = "import sys, six; print(sys.implementation.cache_tag); print(six.__cached__)";
    const { stdout } = await run(fx!.python, [packagePath, "-c", code], { env: { PATH: process.env.PATH, PEX_ROOT: root, PYTHONDONTWRITEBYTECODE: "1" } });
    const [tag, cached] = stdout.trim().split("\n");
    expect(cached!.startsWith(root)).toBe(true);
    expect(cached!.endsWith(`six.${tag}.pyc`)).toBe(true);
    expect((await fsp.stat(cached!)).isFile()).toBe(true); // shipped: nothing writes bytecode under PYTHONDONTWRITEBYTECODE=1
    // Without compile it is another archive (uploaded again), and six has no .pyc.
    expect((await uploadEnv(base({ env: fx!.venv, packagePath }))).uploaded).toBe(true);
    const plain = await run(fx!.python, [packagePath, "-c", "import six, os; print(os.path.exists(six.__cached__))"], { env: { PATH: process.env.PATH, PEX_ROOT: path.join(tmp, "plain-root"), PYTHONDONTWRITEBYTECODE: "1", PEX_BYTECODE: "0" } });
    expect(plain.stdout.trim()).toBe("False");
  });

  it("a described target ships bytecode compiled by compilePython; compile: false with compilePython is refused before anything is resolved", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const packagePath = path.join(tmp, "described", "env.pex");
    expect((await uploadEnv(base({ requirements: ["six"], target: { python: "3.11" }, packagePath, pex: { compilePython: PYTHON311 } }))).uploaded).toBe(true);
    expect((await inspectPex(packagePath)).bytecode?.cacheTag).toBe("cpython-311");
    const refused = uploadEnv(base({ requirements: ["six"], target: { python: "3.11" }, packagePath: path.join(tmp, "described", "never.pex"), pex: { compile: false, compilePython: PYTHON311 } }));
    await expect(refused).rejects.toMatchObject({ code: "ERR_INVALID_INPUT", optionNames: ["compile", "compilePython"] });
    await expect(fsp.access(path.join(tmp, "described", "never.pex"))).rejects.toThrow();
  });
});

describe("uploadEnv: 20 processes at once", () => {
  it("build and upload once, every caller gets the same path, no reader sees a partial archive", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    // Child processes run the built code (real separate processes): build this package;
    // its dependencies' dist/ come from the workspace build (`npm test` builds first).
    if (await distIsStale()) await run("npx", ["tsc", "-p", "packages/cluster-pack/tsconfig.build.json"], { cwd: ROOT, timeout: 300_000 });
    const packagePath = "s3://envs/user/me/envs/race.pex";
    const options = base({ env: fx!.venv, packagePath, cacheDir: path.join(tmp, "race-cache") });
    s3.requests.length = 0;
    // A reader polls the object while the writers race: it sees nothing or a complete archive.
    const seen: string[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        try {
          const data = await s3fs.read("/envs/user/me/envs/race.pex");
          seen.push(createHash("sha256").update(data).digest("hex"));
        } catch (err) {
          if ((err as { code?: string }).code !== "ENOENT") throw err;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const children = Array.from({ length: 20 }, () => runChild(options));
    const results = await Promise.all(children);
    // Let the reader see the published archive at least once before it stops.
    for (let i = 0; i < 250 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    polling = false;
    await poller;
    expect(results.filter((r) => r.uploaded)).toHaveLength(1);
    expect(new Set(results.map((r) => r.packagePath))).toEqual(new Set([packagePath]));
    expect(new Set(results.map((r) => r.lockHash)).size).toBe(1);
    // One upload: a single PUT of the (small) archive, one of its sidecar.
    const writes = (key: string) => s3.requests.filter((r) => (r.method === "PUT" || r.method === "POST") && r.path === key).length;
    expect(writes("/envs/user/me/envs/race.pex")).toBe(1);
    expect(writes("/envs/user/me/envs/race.json")).toBe(1);
    const finalSha = createHash("sha256").update(await s3fs.read("/envs/user/me/envs/race.pex")).digest("hex");
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen)).toEqual(new Set([finalSha]));
  }, 600_000);
});

describe("uploadEnv: bad input", () => {
  it("no environment found", async () => {
    await expect(uploadEnv(base({ environ: {}, packagePath: `file://${tmp}/x.pex` }))).rejects.toMatchObject({ code: "ERR_NO_ENVIRONMENT" });
  });

  it("an unwritable package path: a clear error, nothing half-written", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const blocker = path.join(tmp, "a-file");
    await fsp.writeFile(blocker, "not a directory");
    await expect(uploadEnv(base({ env: fx!.venv, packagePath: `file://${blocker}/envs/env.pex` }))).rejects.toMatchObject({
      code: "ERR_PACKAGE_PATH",
      message: expect.stringMatching(/a-file\/envs\/env\.pex/),
      hint: expect.stringMatching(/^choose a package path you can write to/),
    });
    expect((await fsp.readdir(tmp)).filter((f) => f.includes("tmp"))).toEqual([]);
  });

  it("S3 unreachable: fails with the endpoint named, no hang", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    await s3.stop();
    try {
      await expect(uploadEnv(base({ env: fx!.venv, packagePath: "s3://envs/user/me/envs/down.pex" }))).rejects.toMatchObject({
        code: "ERR_STORE",
        message: expect.stringMatching(/s3:\/\/envs\/user\/me\/envs\/down\.pex/),
        hint: expect.stringMatching(/^check that the store is reachable/),
      });
    } finally {
      await s3.start();
    }
  });

  it("an upload failing mid-way (S3 answers 500, then resets) leaves no archive and no sidecar", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    let calls = 0;
    s3.fault = (req) => (req.method !== "HEAD" && req.path.startsWith("/envs/user/me/envs/fail.") ? (calls++ % 2 ? "reset" : { status: 500, code: "InternalError" }) : undefined);
    try {
      await expect(uploadEnv(base({ env: fx!.venv, packagePath: "s3://envs/user/me/envs/fail.pex" }))).rejects.toMatchObject({ code: "ERR_STORE" });
    } finally {
      s3.fault = undefined;
    }
    expect(calls).toBeGreaterThan(0);
    expect(await s3fs.exists("/envs/user/me/envs/fail.pex")).toBe(false);
    expect(await s3fs.exists("/envs/user/me/envs/fail.json")).toBe(false);
  });

  it("aborting during the build publishes nothing", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const ac = new AbortController();
    const target = path.join(tmp, "aborted", "env.pex");
    const promise = uploadEnv(base({ env: fx!.venv, packagePath: target, signal: ac.signal, onProgress: (p) => p.phase === "build" && ac.abort() }));
    await expect(promise).rejects.toMatchObject({ code: "ABORT_ERR" });
    expect(await fsp.readdir(path.dirname(target)).catch(() => [])).toEqual([]);
  });

  it("a package with no wheel for the target", async () => {
    await expect(
      uploadEnv(base({ requirements: ["numpy"], target: { python: "3.11", platform: "macosx_11_0_arm64" }, packagePath: `file://${tmp}/np.pex` })),
    ).rejects.toThrow(/numpy/);
  });
});

interface ChildResult {
  uploaded: boolean;
  packagePath: string;
  lockHash: string;
}

function runChild(options: UploadEnvOptions): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, "test-kit", "upload-env-child.js")], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    child.stderr.on("data", (d: Buffer) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`child exited ${code}: ${err}`));
      else resolve(JSON.parse(out) as ChildResult);
    });
    child.stdin.end(JSON.stringify(options));
  });
}

/** True when a source file of this package is newer than its built entry point (or there is none). */
async function distIsStale(): Promise<boolean> {
  const built = await fsp.stat(path.join(__dirname, "..", "dist", "index.js")).catch(() => null);
  if (!built) return true;
  for (const f of await fsp.readdir(__dirname)) {
    if (!f.endsWith(".ts") || f.endsWith(".test.ts")) continue;
    if ((await fsp.stat(path.join(__dirname, f))).mtimeMs > built.mtimeMs) return true;
  }
  return false;
}
