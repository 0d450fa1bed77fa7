// Issue 15 through the real commands: one output-exists rule for every command that writes
// a file; a PEX keeps its exec bit through local publish, fs cp and downloads; a store URL
// without its "//" is refused everywhere a store path is taken.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startS3Server, type TestS3Server } from "@cluster-pack/fs/test-kit";
import { EXIT } from "./context";
import { runCli, s3Environment } from "./test-kit";

jest.setTimeout(180_000);

let tmp: string;
let pex: string;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cli-outputs-"));
  pex = path.join(tmp, "bare.pex");
  expect((await runCli("pex", "build", "-o", pex)).code).toBe(0);
  fs.mkdirSync(path.join(tmp, "src"));
  fs.writeFileSync(path.join(tmp, "src", "a.txt"), "a\n");
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const mode = (p: string) => fs.statSync(p).mode & 0o777;
/** Runs a PEX as a user would (./env.pex), from its own directory. */
const runs = (file: string) => spawnSync(`./${path.basename(file)}`, ["-c", "print('ran')"], { cwd: path.dirname(file), encoding: "utf8", env: { ...process.env, PEX_ROOT: path.join(tmp, "pex-root") } });

describe("an existing output is replaced only with --force", () => {
  test.each([
    ["pex build", (out: string) => ["pex", "build", "-o", out]],
    ["zip create", (out: string) => ["zip", "create", out, path.join(tmp, "src")]],
    ["fs cp", (out: string) => ["fs", "cp", pex, out]],
  ])("%s", async (_name, args) => {
    const out = path.join(tmp, `existing-${Math.random()}`);
    fs.writeFileSync(out, "the user's file");
    const refused = await runCli(...args(out));
    expect([refused.code, refused.err]).toEqual([EXIT.USAGE, `cluster-pack: ${out} already exists.\ncluster-pack: hint: choose another output path, or pass --force to replace it.\n`]);
    expect(fs.readFileSync(out, "utf8")).toBe("the user's file");
    // Refused before any work: no temporary was left beside it.
    expect(fs.readdirSync(tmp).filter((f) => f.includes(".cp-tmp-"))).toEqual([]);
    const forced = await runCli(...args(out), "--force");
    expect(forced.code).toBe(0);
    expect(fs.readFileSync(out, "utf8")).not.toBe("the user's file");
  });

  test("conda pack and venv pack refuse before looking at the environment, as conda-pack does (-f is --force there)", async () => {
    const out = path.join(tmp, "env.tar.gz");
    fs.writeFileSync(out, "mine");
    for (const group of ["conda", "venv"]) {
      const r = await runCli(group, "pack", "-p", path.join(tmp, "src"), "-o", out);
      expect([r.code, r.err]).toEqual([EXIT.USAGE, `cluster-pack: ${out} already exists.\ncluster-pack: hint: choose another output path, or pass --force to replace it.\n`]);
      // With -f the rule lets it through: the failure is now about the environment.
      expect((await runCli(group, "pack", "-p", path.join(tmp, "src"), "-o", out, "-f")).err).not.toContain("already exists");
    }
    expect(fs.readFileSync(out, "utf8")).toBe("mine");
  });

  test("lock -o and download -d: refused before resolving; a download already in place with the expected sha256 is kept", async () => {
    const links = path.join(tmp, "links");
    fs.mkdirSync(links);
    const { writeWheel } = await import("@cluster-pack/pip/test-kit");
    const wheel = await writeWheel(links, { name: "demo", version: "1.0" });
    const common = ["--isolated", "--no-index", "-f", links, "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "--cache-dir", path.join(tmp, "cache")];
    const lockFile = path.join(tmp, "pylock.toml");
    fs.writeFileSync(lockFile, "# mine\n");
    const refused = await runCli("lock", "demo", "-o", lockFile, ...common);
    expect([refused.code, refused.err]).toEqual([EXIT.USAGE, `cluster-pack: ${lockFile} already exists.\ncluster-pack: hint: choose another output path, or pass --force to replace it.\n`]);
    expect(fs.readFileSync(lockFile, "utf8")).toBe("# mine\n");
    expect((await runCli("lock", "demo", "-o", lockFile, "--force", ...common)).code).toBe(0);
    expect(fs.readFileSync(lockFile, "utf8")).toContain('name = "demo"');

    const dest = path.join(tmp, "dest");
    expect((await runCli("download", "demo", "-d", dest, ...common)).code).toBe(0);
    // The same verified file again: nothing to lose, no --force needed.
    expect((await runCli("download", "demo", "-d", dest, ...common)).code).toBe(0);
    const placed = path.join(dest, path.basename(wheel));
    fs.rmSync(placed);
    fs.writeFileSync(placed, "edited by the user");
    const changed = await runCli("download", "demo", "-d", dest, ...common);
    expect([changed.code, changed.err]).toEqual([EXIT.USAGE, `cluster-pack: ${placed} already exists.\ncluster-pack: hint: choose another output path, or pass --force to replace it.\n`]);
    expect(fs.readFileSync(placed, "utf8")).toBe("edited by the user");
    expect((await runCli("download", "demo", "-d", dest, "--force", ...common)).code).toBe(0);
    expect(fs.readFileSync(placed)).toEqual(fs.readFileSync(wheel));
  });
});

describe("a PEX stays executable: ./env.pex runs after", () => {
  let server: TestS3Server;
  const saved = { ...process.env };
  beforeAll(async () => {
    server = await startS3Server({ buckets: ["modes"] });
    Object.assign(process.env, s3Environment(server.endpoint));
  });
  afterAll(async () => {
    process.env = saved;
    await server.close();
  });

  test("local publish (upload-zip to a file:// store), fs cp local -> local, and a download from S3", async () => {
    expect(mode(pex) & 0o111).not.toBe(0);
    const published = path.join(tmp, "store", "envs", "published.pex");
    expect((await runCli("upload-zip", pex, "-o", `file://${published}`)).code).toBe(0);
    expect(mode(published)).toBe(mode(pex));
    expect(runs(published).stdout).toBe("ran\n");

    const copied = path.join(tmp, "copies", "copied.pex");
    expect((await runCli("fs", "cp", pex, copied)).code).toBe(0);
    expect(mode(copied)).toBe(mode(pex));
    expect(runs(copied).stdout).toBe("ran\n");

    expect((await runCli("fs", "cp", pex, "s3://modes/envs/env.pex")).code).toBe(0);
    const downloaded = path.join(tmp, "downloads", "env.pex");
    expect((await runCli("fs", "cp", "s3://modes/envs/env.pex", downloaded)).code).toBe(0);
    expect(mode(downloaded) & 0o111).not.toBe(0);
    expect(runs(downloaded).stdout).toBe("ran\n");
    // A file that is not a script comes down without exec bits.
    const data = path.join(tmp, "data.bin");
    fs.writeFileSync(data, "PK\x03\x04 not a script");
    expect((await runCli("fs", "cp", data, "s3://modes/data.bin")).code).toBe(0);
    expect((await runCli("fs", "cp", "s3://modes/data.bin", path.join(tmp, "downloads", "data.bin"))).code).toBe(0);
    expect(mode(path.join(tmp, "downloads", "data.bin")) & 0o111).toBe(0);
  });
});

describe("a store URL without its // is refused everywhere a store path is taken, and nothing is written", () => {
  test.each([
    [["fs", "ls", "s3:/x/envs"], "s3:/x/envs"],
    [["fs", "stat", "s3:/x/env.pex"], "s3:/x/env.pex"],
    [["fs", "cp", "<pex>", "s3:/x/env.pex"], "s3:/x/env.pex"],
    [["fs", "check", "hdfs:/user/me/env.pex"], "hdfs:/user/me/env.pex"],
    [["upload-zip", "<pex>", "-o", "s3:/x/env.pex"], "s3:/x/env.pex"],
    [["upload-env", "six", "-o", "s3:/x"], "s3:/x"],
    [["spark-conf", "s3:/x/env.pex"], "s3:/x/env.pex"],
    [["spark-conf", "hdfs://nn/env.pex", "--code", "s3:/x/code.zip"], "s3:/x/code.zip"],
    [["skein-spec", "s3:/x/env.pex", "--module", "m"], "s3:/x/env.pex"],
  ])("%j", async (shape, url) => {
    const cwd = process.cwd();
    process.chdir(tmp);
    const before = fs.readdirSync(tmp).sort();
    try {
      const r = await runCli(...shape.map((a) => (a === "<pex>" ? pex : a)));
      const scheme = url.slice(0, url.indexOf(":"));
      expect([r.code, r.err, r.out]).toEqual([EXIT.USAGE, `cluster-pack: ${url} is not a valid URL: ${scheme} URLs start with ${scheme}:// (two slashes).\ncluster-pack: hint: for a local path with a colon in it, write ./${url}.\n`, ""]);
      expect(fs.readdirSync(tmp).sort()).toEqual(before);
    } finally {
      process.chdir(cwd);
    }
  });

  test("written as a path, the same characters are a local path", async () => {
    const cwd = process.cwd();
    process.chdir(tmp);
    try {
      expect((await runCli("fs", "cp", pex, "./s3:/x/env.pex")).code).toBe(0);
      expect(fs.existsSync(path.join(tmp, "s3:", "x", "env.pex"))).toBe(true);
    } finally {
      process.chdir(cwd);
    }
  });
});
