// Issue 11 item 8 and issue 15 through the real commands: the same exit code for the same
// kind of failure in every command (2: bad usage or input, 1: the operation failed), one
// line on stderr naming the input once, and the error as JSON with --json.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startS3Server, type TestS3Server } from "@cluster-pack/fs/test-kit";
import { EXIT } from "./context";
import { runCli, s3Environment } from "./test-kit";

jest.setTimeout(180_000);

let tmp: string;
let truncated: string;
let pex: string;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cli-exit-codes-"));
  // A real PEX (a bare interpreter: no index needed), and the same bytes cut short.
  pex = path.join(tmp, "bare.pex");
  const built = await runCli("pex", "build", "-o", pex);
  expect([built.code, built.err]).toEqual([0, "note: no wheels and no sources: the PEX will be a bare interpreter\n"]);
  truncated = path.join(tmp, "truncated.pex");
  const bytes = fs.readFileSync(pex);
  fs.writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The exit code, and stderr as one line that names `subject` exactly once (then, at most, the fix as a `hint:` line). */
async function expectOneLine(args: string[], code: number, subject: string): Promise<string> {
  const r = await runCli(...args);
  const lines = r.err.split("\n").filter(Boolean).filter((l, i) => !(i === 1 && l.startsWith("cluster-pack: hint: ")));
  expect({ args, code: r.code, lines: lines.length, prefixed: lines[0]?.startsWith("cluster-pack: ") }).toEqual({ args, code, lines: 1, prefixed: true });
  expect({ args, namedTimes: r.err.split(subject).length - 1 }).toEqual({ args, namedTimes: 1 });
  return r.err;
}

describe("a truncated PEX: exit 2 and one line naming it once, from every command that reads it", () => {
  test.each([
    ["pex", "inspect"],
    ["pex", "verify"],
    ["zip", "list"],
    ["zip", "verify"],
    ["zip", "extract", "<pex>", "<out>"],
    ["upload-zip", "<pex>", "-o", "<store>"],
  ])("%s %s", async (...shape) => {
    const out = path.join(tmp, `out-${Math.random()}`);
    const args = shape.map((a) => (a === "<pex>" ? truncated : a === "<out>" ? out : a === "<store>" ? `file://${out}/env.pex` : a));
    if (!args.includes(truncated)) args.push(truncated);
    await expectOneLine(args, EXIT.USAGE, "truncated.pex");
    // Nothing was written for it.
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe("a missing input file: exit 2 and one line naming it once", () => {
  const missing = (name: string) => path.join(tmp, "missing", name);
  test.each([
    [["pex", "inspect", "<f>"], "nope.pex"],
    [["pex", "verify", "<f>"], "nope.pex"],
    [["pex", "build", "<f>", "-o", "x.pex"], "nope.whl"],
    [["zip", "list", "<f>"], "nope.zip"],
    [["zip", "verify", "<f>"], "nope.zip"],
    [["zip", "extract", "<f>", "dir"], "nope.zip"],
    [["zip", "create", "x.zip", "<f>"], "nope-dir"],
    [["upload-zip", "<f>", "-o", "file:///tmp/never/env.pex"], "nope.pex"],
    [["spark-conf", "<f>"], "nope.pex"],
    [["spark-conf", "hdfs://nn/env.pex", "--code", "<f>"], "nope.zip"],
    [["spark-conf", "hdfs://nn/env.pex", "--properties-file", "<f>"], "nope.conf"],
    [["skein-spec", "<f>", "--module", "m"], "nope.pex"],
    [["fs", "cp", "<f>", "x.pex"], "nope.pex"],
    [["fs", "stat", "<f>"], "nope.pex"],
    [["fs", "ls", "<f>"], "nope-dir"],
    [["resolve", "-r", "<f>", "--isolated"], "nope.txt"],
    [["lock", "-r", "<f>", "--isolated"], "nope.txt"],
    [["download", "-r", "<f>", "-d", "dest", "--isolated"], "nope.txt"],
    [["download", "--from-lock", "<f>", "-d", "dest", "--python-version", "3.11"], "nope.toml"],
    [["conda", "pack", "-p", "<f>", "-o", "x.tar.gz"], "nope-env"],
    [["venv", "pack", "-p", "<f>", "-o", "x.tar.gz"], "nope-env"],
    [["upload-env", "--env", "<f>", "-o", "file:///tmp/never/x.pex"], "nope-env"],
    [["upload-env", "-r", "<f>", "-o", "file:///tmp/never/x.pex"], "nope.txt"],
  ])("%j", async (shape, name) => {
    const cwd = process.cwd();
    process.chdir(tmp);
    try {
      await expectOneLine(
        shape.map((a) => (a === "<f>" ? missing(name) : a)),
        EXIT.USAGE,
        name,
      );
    } finally {
      process.chdir(cwd);
    }
  });
});

describe("a bad flag: exit 2, one cluster-pack: line (no commander 'error:'), JSON with --json", () => {
  const commands = [["upload-env"], ["upload-zip", "x.pex"], ["spark-conf", "x.pex"], ["skein-spec", "x.pex"], ["tf-config"], ["torch-env", "--master-addr", "h"], ["pex", "build", "-o", "x.pex"], ["pex", "inspect", "x"], ["pex", "verify", "x"], ["conda", "pack"], ["venv", "pack"], ["resolve", "six"], ["lock", "six"], ["download", "six", "-d", "d"], ["zip", "create", "a", "b"], ["zip", "list", "a"], ["zip", "verify", "a"], ["zip", "extract", "a", "b"], ["fs", "ls", "a"], ["fs", "stat", "a"], ["fs", "cp", "a", "b"], ["fs", "check", "a"]];
  test.each(commands)("%s %s", async (...cmd) => {
    const r = await runCli(...cmd, "--bogus-flag");
    expect([r.code, r.err, r.out]).toEqual([EXIT.USAGE, "cluster-pack: unknown option '--bogus-flag'\n", ""]);
    const j = await runCli("--json", ...cmd, "--bogus-flag");
    expect(j.code).toBe(EXIT.USAGE);
    expect(JSON.parse(j.out)).toEqual({ error: { code: "ERR_USAGE", message: "unknown option '--bogus-flag'" } });
  });

  test("other usage errors: a missing argument or value, an unknown command, a bad number", async () => {
    expect(await runCli("pex", "inspect")).toMatchObject({ code: EXIT.USAGE, err: "cluster-pack: missing required argument 'pex'\n" });
    expect(await runCli("zip", "create", "a.zip", "b", "--level")).toMatchObject({ code: EXIT.USAGE, err: "cluster-pack: option '--level <n>' argument missing\n" });
    expect((await runCli("no-such-command")).err).toMatch(/^cluster-pack: unknown command 'no-such-command'\n$/);
    const level = await runCli("--json", "zip", "create", "a.zip", "b", "--level", "12");
    expect([level.code, level.err]).toEqual([EXIT.USAGE, 'cluster-pack: --level takes a whole number from 0 to 9, got "12".\n']);
    expect(JSON.parse(level.out).error.code).toBe("ERR_INVALID_OPTION");
    // --json after "--" belongs to the application, not to us.
    const after = await runCli("spark-conf", "--bogus", "--", "--json");
    expect(after.out).toBe("");
  });

  test("--python is an interpreter everywhere: a version is refused with the flag it meant", async () => {
    for (const cmd of [["resolve", "six"], ["lock", "six"], ["download", "six", "-d", "d"], ["upload-env"]]) {
      const r = await runCli(...cmd, "--python", "3.11");
      expect([r.code, r.err]).toEqual([EXIT.USAGE, "cluster-pack: --python takes an interpreter (a path, or a name on PATH such as python3.11), not a version.\ncluster-pack: hint: for a target version, use --python-version 3.11.\n"]);
    }
  });
});

describe("library option names in messages are shown as this command's flags", () => {
  test.each([
    [["spark-conf", "hdfs://nn/env.bin"], /or pass --kind \("pex", "pex-large", "conda" or "venv"\)\.$/],
    [["spark-conf", "hdfs://nn/env.tar.gz", "--master", "local"], /unpack it and pass --local-python \(e\.g\. \.\/pyenv\/bin\/python\)/],
    [["spark-conf", "./env.tar.gz", "--kind", "pex"], /is a tar archive, not a PEX file\.\ncluster-pack: hint: pass --kind "conda" or "venv"/],
    [["upload-env", "six", "--env", "/somewhere"], /More than one source of packages was given\.\ncluster-pack: hint: give at most one source: --env, --python, requirements \(arguments\), -r or --lock\.$/],
    [["resolve", "six", "--isolated", "--no-index", "--python-version", "3.11"], /No package source: --no-index is set and no --find-links location is given\.\ncluster-pack: hint: add a find-links location, or drop --no-index\.$/],
  ])("%j", async (args, expected) => {
    const cwd = process.cwd();
    process.chdir(tmp);
    fs.writeFileSync(path.join(tmp, "env.tar.gz"), "");
    try {
      const r = await runCli(...args);
      expect(r.code).toBe(EXIT.USAGE);
      expect(r.err.trimEnd()).toMatch(expected);
      expect(r.err).not.toMatch(/`[a-zA-Z.]+`/);
    } finally {
      process.chdir(cwd);
    }
  });
});

describe("operation failures exit 1", () => {
  test("every package source failed (an index that refuses connections)", async () => {
    const r = await runCli("resolve", "six", "--isolated", "-i", "http://127.0.0.1:9/simple", "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "--cache-dir", path.join(tmp, "cache"));
    expect(r.code).toBe(EXIT.FAILURE);
    expect(r.err).toMatch(/^cluster-pack: Cannot list six: every package source failed\. /);
    expect(r.err.split("\n").filter(Boolean)).toEqual([expect.stringMatching(/^cluster-pack: Cannot list/), expect.stringMatching(/^cluster-pack: hint: check the network and the index URLs/)]);
  });

  describe("S3 authentication", () => {
    let server: TestS3Server;
    const saved = { ...process.env };
    beforeAll(async () => {
      server = await startS3Server({ buckets: ["auth"] });
      // s3rver checks the key id (not v4 signatures): an unknown one is refused (403).
      Object.assign(process.env, s3Environment(server.endpoint), { AWS_ACCESS_KEY_ID: "NOT-A-KEY", AWS_MAX_ATTEMPTS: "1" });
    });
    afterAll(async () => {
      process.env = saved;
      await server.close();
    });

    test("fs cp and upload-zip with unknown credentials: exit 1, the store's refusal named", async () => {
      const cp = await runCli("fs", "cp", pex, "s3://auth/envs/bare.pex");
      expect(cp.code).toBe(EXIT.FAILURE);
      expect(cp.err).toMatch(/^cluster-pack: \[s3\] EACCES: access denied by the store/);
      const up = await runCli("upload-zip", pex, "-o", "s3://auth/envs/bare.pex");
      expect(up.code).toBe(EXIT.FAILURE);
      expect(up.err).toMatch(/^cluster-pack: Cannot read s3:\/\/auth\/envs\/bare\.pex: \[s3\] EACCES: access denied by the store/);
      expect(server.requests.filter((q) => q.method === "PUT")).toEqual([]);
    });
  });
});
