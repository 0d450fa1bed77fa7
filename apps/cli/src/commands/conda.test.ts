import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runCli } from "../test-kit";

jest.setTimeout(120_000);

const cli = runCli;

let root: string;
let prefix: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), "cli-conda-"));
  // A small conda environment: a package cache with a text placeholder, a record, an unmanaged file.
  prefix = path.join(root, "envs", "app");
  const cache = path.join(root, "pkgs", "tool-1.0-0");
  fs.mkdirSync(path.join(cache, "info"), { recursive: true });
  fs.mkdirSync(path.join(cache, "share"), { recursive: true });
  fs.mkdirSync(path.join(prefix, "conda-meta"), { recursive: true });
  fs.mkdirSync(path.join(prefix, "share"), { recursive: true });
  fs.writeFileSync(path.join(cache, "share", "tool.conf"), "root=/opt/anaconda1anaconda2anaconda3\n");
  fs.writeFileSync(path.join(cache, "share", "notes.txt"), "notes\n");
  fs.writeFileSync(
    path.join(cache, "info", "paths.json"),
    JSON.stringify({ paths: [{ _path: "share/tool.conf", path_type: "hardlink", prefix_placeholder: "/opt/anaconda1anaconda2anaconda3", file_mode: "text" }, { _path: "share/notes.txt", path_type: "hardlink" }] }),
  );
  fs.writeFileSync(path.join(prefix, "share", "tool.conf"), `root=${prefix}\n`);
  fs.writeFileSync(path.join(prefix, "share", "notes.txt"), "notes\n");
  fs.writeFileSync(path.join(prefix, "share", "mine.txt"), `mine ${prefix}\n`);
  fs.writeFileSync(
    path.join(prefix, "conda-meta", "tool-1.0-0.json"),
    JSON.stringify({ name: "tool", version: "1.0", build: "0", files: ["share/tool.conf", "share/notes.txt"], link: { source: cache, type: 1 } }),
  );
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe("cluster-pack conda pack", () => {
  it("packs with --json, honouring --exclude/--include in order", async () => {
    const out = path.join(root, "app.tar.gz");
    const r = await cli("--json", "conda", "pack", "-p", prefix, "-o", out, "-j", "2", "--exclude", "share/*", "--include", "share/tool.conf");
    expect(r.code).toBe(0);
    const result = JSON.parse(r.out);
    expect(result).toMatchObject({ output: out, format: "tar.gz", env: { kind: "conda", dirName: "pyenv", interpreter: "pyenv/bin/python" } });
    expect(result.sha256).toMatch(/^[0-9a-f]{64}$/);
    const names = execFileSync("tar", ["tzf", out], { encoding: "utf8" }).trim().split("\n");
    expect(names).toContain("share/tool.conf");
    expect(names).not.toContain("share/notes.txt");
    expect(names).toContain("bin/conda-unpack");
    // An environment without python: conda-unpack falls back to python3 on PATH.
    const dir = path.join(root, "unpacked", "app");
    fs.mkdirSync(dir, { recursive: true });
    execFileSync("tar", ["xzf", out, "-C", dir]);
    execFileSync(path.join(dir, "bin", "conda-unpack"));
    expect(fs.readFileSync(path.join(dir, "share", "tool.conf"), "utf8")).toBe(`root=${dir}\n`);
  });

  it("prints a human summary, and refuses an existing output with exit code 2 unless --force", async () => {
    const out = path.join(root, "app.zip");
    const first = await cli("conda", "pack", "-p", prefix, "-o", out);
    expect(first.code).toBe(0);
    expect(first.out).toContain(`into ${out} (zip,`);
    expect(first.out).toContain("bin/conda-unpack");
    const again = await cli("conda", "pack", "-p", prefix, "-o", out);
    expect(again.code).toBe(2);
    expect(again.err).toContain("--force");
    expect((await cli("conda", "pack", "-p", prefix, "-o", out, "--force")).code).toBe(0);
  });

  it("zip with -j 2 (worker threads) gives the same archive as -j 1", async () => {
    const sha = async (threads: string) => {
      const out = path.join(root, `threads-${threads}.zip`);
      const r = await cli("--json", "conda", "pack", "-p", prefix, "-o", out, "-j", threads, "--compress-level", "6");
      expect(r.code).toBe(0);
      execFileSync("unzip", ["-tq", out]);
      return JSON.parse(r.out).sha256 as string;
    };
    const one = await sha("1");
    expect(one).toMatch(/^[0-9a-f]{64}$/);
    expect(await sha("2")).toBe(one);
  });

  it("relocates at pack time with --dest-prefix", async () => {
    const dest = path.join(root, "dest", "env");
    const out = path.join(root, "dest.tar");
    expect((await cli("conda", "pack", "-p", prefix, "-o", out, "--dest-prefix", dest)).code).toBe(0);
    fs.mkdirSync(dest, { recursive: true });
    execFileSync("tar", ["xf", out, "-C", dest]);
    expect(fs.readFileSync(path.join(dest, "share", "tool.conf"), "utf8")).toBe(`root=${dest}\n`);
    expect(fs.readFileSync(path.join(dest, "share", "mine.txt"), "utf8")).toBe(`mine ${dest}\n`);
  });

  it("bad input: not an environment, bad level, JSON error", async () => {
    const r = await cli("--json", "conda", "pack", "-p", root, "-o", path.join(root, "x.tar.gz"));
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out).error.code).toBe("ERR_NOT_A_CONDA_ENV");
    const lvl = await cli("conda", "pack", "-p", prefix, "-o", path.join(root, "y.tar.gz"), "--compress-level", "99");
    expect(lvl.code).toBe(2);
    expect(lvl.err).toContain("0..9");
  });

  it("finds an environment by --name", async () => {
    const home = path.join(root, "home");
    fs.mkdirSync(path.join(home, "miniforge3", "envs"), { recursive: true });
    fs.symlinkSync(prefix, path.join(home, "miniforge3", "envs", "app"));
    const saved = process.env.HOME;
    process.env.HOME = home;
    try {
      const r = await cli("--json", "conda", "pack", "-n", "app", "-o", path.join(root, "named.tar"));
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out).format).toBe("tar");
      const missing = await cli("conda", "pack", "-n", "nope", "-o", path.join(root, "nope.tar"));
      expect(missing.code).toBe(2);
      expect(missing.err).toContain('no conda environment named "nope"');
    } finally {
      process.env.HOME = saved;
    }
  });

  it("has help with examples", async () => {
    const r = await cli("conda", "pack", "--help");
    expect(r.code).toBe(0);
    expect(r.out).toContain("Examples:");
    expect(r.out).toContain("--dest-prefix");
  });
});
