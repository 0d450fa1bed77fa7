// Interruption, full disks and stale temporaries, on the real CLI: each case starts
// `cluster-pack` as a child process, signals it mid-operation, and compares directory
// listings (and the S3 server's open multipart uploads) before and after.
import { execFileSync, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { S3FileSystem } from "@cluster-pack/fs/s3";
import { startS3Server, type TestS3Server } from "@cluster-pack/fs/test-kit";
import { pythonInterpreter, startHttpServer, SYSTEM_PYTHON, type TestHttpServer } from "@cluster-pack/io/test-kit";
import { metadataText, writeWheel } from "@cluster-pack/pip/test-kit";
import { ZipWriter } from "@cluster-pack/zip";
import { ensureCliBuilt, interruptWhen, s3Environment, spawnCli } from "./test-kit";

jest.setTimeout(300_000);

const PYTHON = [pythonInterpreter("3.11")?.python, SYSTEM_PYTHON].find((p) => p && fs.existsSync(p));
const MiB = 1024 * 1024;
const INTERRUPTED = /^cluster-pack: interrupted by (SIGINT|SIGTERM); unfinished outputs were removed$/m;

let tmp: string;
/** A venv (no pip) with a large incompressible file: packing it takes seconds. */
let venv: string;

beforeAll(() => {
  ensureCliBuilt();
  tmp = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), "cp-cli-interrupt-"));
  if (!PYTHON) return;
  venv = path.join(tmp, "venv");
  execFileSync(PYTHON, ["-m", "venv", "--without-pip", venv]);
  const site = fs.readdirSync(path.join(venv, "lib")).map((d) => path.join(venv, "lib", d, "site-packages"))[0]!;
  writeRandom(path.join(site, "big.bin"), 96 * MiB);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Sorted names in `dir` (an absent directory lists as empty). */
const list = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);
const hasTemp = (dir: string) => () => list(dir).some((n) => n.includes(".cp-tmp-"));

function writeRandom(file: string, size: number): void {
  const fd = fs.openSync(file, "w");
  for (let done = 0; done < size; done += 4 * MiB) fs.writeSync(fd, crypto.randomBytes(Math.min(4 * MiB, size - done)));
  fs.closeSync(fd);
}

function outDir(name: string): string {
  const d = path.join(tmp, name);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

(PYTHON ? describe : describe.skip)("SIGINT / SIGTERM mid-operation", () => {
  it.each([
    ["tar.gz", "SIGINT", 130],
    ["zip", "SIGTERM", 143],
  ] as const)("venv pack %s: %s removes the temporary, exits %d with one line", async (format, signal, code) => {
    const dir = outDir(`venv-${format}`);
    const before = list(dir);
    const cli = spawnCli(["venv", "pack", "-p", venv, "-o", path.join(dir, `env.${format}`)]);
    await interruptWhen(cli, hasTemp(dir), signal);
    expect(await cli.exited).toEqual({ code, signal: null });
    expect(cli.stderr()).toMatch(INTERRUPTED);
    expect(cli.stderr().trim().split("\n")).toHaveLength(1);
    expect(list(dir)).toEqual(before);
  });

  it.each([
    ["zipapp", "SIGTERM", 143],
    ["packed", "SIGINT", 130],
  ] as const)("pex build --layout %s: %s leaves no temporary beside the output", async (layout, signal, code) => {
    const dir = outDir(`pex-${layout}`);
    const wheels = outDir(`pex-${layout}-wheels`);
    await writeWheel(wheels, { name: "tiny", version: "1.0" });
    const src = outDir(`pex-${layout}-src`);
    // Many user files: the builder works on them for a while whatever the layout.
    for (let i = 0; i < 48; i++) writeRandom(path.join(src, `data${i}.bin`), 2 * MiB);
    const before = list(dir);
    const cli = spawnCli(["pex", "build", wheels, "-D", src, "--layout", layout, "-o", path.join(dir, layout === "packed" ? "app" : "app.pex")]);
    await interruptWhen(cli, hasTemp(dir), signal);
    expect(await cli.exited).toEqual({ code, signal: null });
    expect(cli.stderr()).toMatch(INTERRUPTED);
    expect(list(dir)).toEqual(before);
  });

  it("zip extract: SIGTERM removes the partial extraction", async () => {
    const dir = outDir("extract");
    const archive = path.join(tmp, "big.zip");
    const w = new ZipWriter();
    // Compressible content: inflating it costs time, the archive stays small.
    for (let i = 0; i < 16; i++) w.addBuffer(`data/${i}.bin`, Buffer.alloc(24 * MiB, `${i} `));
    await w.writeTo(archive);
    const before = list(dir);
    const cli = spawnCli(["zip", "extract", archive, path.join(dir, "out")]);
    await interruptWhen(cli, () => list(dir).length > before.length, "SIGTERM");
    expect(await cli.exited).toEqual({ code: 143, signal: null });
    expect(cli.stderr()).toMatch(INTERRUPTED);
    expect(list(dir)).toEqual(before);
  });

  describe("download", () => {
    let index: TestHttpServer;
    let wheelPath: string;
    beforeAll(async () => {
      const wheels = outDir("dl-wheels");
      wheelPath = await writeWheel(wheels, { name: "slowpkg", version: "1.0" });
      const wheel = fs.readFileSync(wheelPath);
      const name = path.basename(wheelPath);
      const sha = crypto.createHash("sha256").update(wheel).digest("hex");
      const meta = metadataText({ name: "slowpkg", version: "1.0" });
      index = await startHttpServer((req, res) => {
        if (req.url === "/simple/slowpkg/") {
          res.writeHead(200, { "content-type": "text/html" });
          return res.end(`<a href="/files/${name}#sha256=${sha}" data-dist-info-metadata="sha256=${crypto.createHash("sha256").update(meta).digest("hex")}">${name}</a>`);
        }
        if (req.url === `/files/${name}.metadata`) return res.end(meta);
        if (req.url === `/files/${name}`) {
          // Half the file, then nothing: the download is under way until the client gives up.
          res.writeHead(200, { "content-length": String(wheel.length + 10 * MiB) });
          return res.write(wheel);
        }
        res.writeHead(404).end();
      });
    });
    afterAll(() => index.close());

    it("SIGINT mid-download: nothing in the destination or the cache's temporary directory", async () => {
      const dest = outDir("dl-dest");
      const cache = outDir("dl-cache");
      const cacheTmp = path.join(cache, "dists-v2", "tmp");
      const before = { dest: list(dest), tmp: list(cacheTmp) };
      const cli = spawnCli(["download", "slowpkg", "-d", dest, "--isolated", "-i", `${index.origin}/simple`, "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "--cache-dir", cache]);
      await interruptWhen(cli, hasTemp(cacheTmp), "SIGINT");
      expect(await cli.exited).toEqual({ code: 130, signal: null });
      expect(cli.stderr()).toMatch(INTERRUPTED);
      expect({ dest: list(dest), tmp: list(cacheTmp) }).toEqual(before);
      expect(list(path.join(cache, "dists-v2", "sha256"))).toEqual([]);
    });
  });

  describe("to S3 (s3rver)", () => {
    let s3: TestS3Server;
    let env: NodeJS.ProcessEnv;
    let store: S3FileSystem;
    beforeAll(async () => {
      s3 = await startS3Server({ buckets: ["sig"] });
      store = new S3FileSystem(s3.clientOptions);
      env = {
        ...process.env,
        ...s3Environment(s3.endpoint),
        C_PACK_USER: "sig",
      };
    });
    afterAll(() => s3.close());
    /** Every object in the bucket. */
    const objects = async () => (await store.exists("/sig/envs")) ? (await store.list("/sig/envs")).map((e) => e.name) : [];

    it("fs cp: SIGTERM mid-multipart aborts the upload", async () => {
      const local = path.join(tmp, "upload.bin");
      writeRandom(local, 80 * MiB);
      const before = await objects();
      const cli = spawnCli(["fs", "cp", local, "s3://sig/envs/upload.bin"], { env });
      await interruptWhen(cli, () => s3.pendingUploads("sig").length > 0, "SIGTERM");
      expect(await cli.exited).toEqual({ code: 143, signal: null });
      expect(cli.stderr()).toMatch(INTERRUPTED);
      expect(s3.pendingUploads("sig")).toEqual([]);
      expect(await objects()).toEqual(before);
    });

    it("upload-env --packer venv: SIGTERM mid-upload aborts it and leaves no build directory", async () => {
      const cache = outDir("upenv-cache");
      const build = path.join(cache, "build");
      const before = { build: list(build), objects: await objects() };
      const cli = spawnCli(["upload-env", "--env", venv, "--packer", "venv", "-o", "s3://sig/envs/venv.tar.gz", "--cache-dir", cache], { env });
      await interruptWhen(cli, () => s3.pendingUploads("sig").length > 0, "SIGTERM");
      expect(await cli.exited).toEqual({ code: 143, signal: null });
      expect(cli.stderr()).toMatch(INTERRUPTED);
      expect(s3.pendingUploads("sig")).toEqual([]);
      expect({ build: list(build), objects: await objects() }).toEqual(before);
    });
  });
});

(PYTHON ? describe : describe.skip)("stale temporaries of a killed run", () => {
  it("kill -9 mid-pack leaves them; the next run into the same directory removes them", async () => {
    const dir = outDir("killed");
    const out = path.join(dir, "env.tar.gz");
    const cli = spawnCli(["venv", "pack", "-p", venv, "-o", out]);
    await interruptWhen(cli, hasTemp(dir), "SIGKILL");
    expect((await cli.exited).signal).toBe("SIGKILL");
    const left = list(dir);
    expect(left.length).toBeGreaterThan(0);
    expect(left.every((n) => n.includes(".cp-tmp-"))).toBe(true);
    const again = spawnCli(["venv", "pack", "-p", venv, "-o", out, "--compress-level", "1"]);
    expect(await again.exited).toEqual({ code: 0, signal: null });
    expect(list(dir)).toEqual(["env.tar.gz"]);
  });
});

describe("a full disk (small tmpfs)", () => {
  let mount: string;
  let skip: string | undefined;
  beforeAll(() => {
    mount = path.join(tmp, "tmpfs");
    fs.mkdirSync(mount, { recursive: true });
    const r = spawnSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mount], { encoding: "utf8" });
    if (r.status !== 0) skip = `cannot mount a small tmpfs (${(r.stderr || r.error?.message || "").trim() || "not root?"}); ENOSPC cases need one`;
  });
  afterAll(() => {
    if (!skip) spawnSync("umount", [mount]);
  });

  const noSpace = (out: string) =>
    new RegExp(`^cluster-pack: No space left on the device while writing ${out.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.\ncluster-pack: hint: free some space there or write to another directory\\.\n$`);

  it.each(["tar.gz", "zip", "tar"])("venv pack %s: exit 1, one clean line and its hint, nothing left", async (format) => {
    if (skip) return console.warn(`skipped: ${skip}`);
    if (!PYTHON) return console.warn("skipped: no Python 3 interpreter to make a venv");
    const out = path.join(mount, `env.${format}`);
    const cli = spawnCli(["venv", "pack", "-p", venv, "-o", out]);
    expect(await cli.exited).toEqual({ code: 1, signal: null });
    expect(cli.stderr()).toMatch(noSpace(out));
    expect(list(mount)).toEqual([]);
  });

  it("fs cp from S3-less local source to the full disk: exit 1, one line and its hint, nothing left", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const src = path.join(tmp, "eight.bin");
    writeRandom(src, 8 * MiB);
    const cli = spawnCli(["fs", "cp", src, path.join(mount, "eight.bin")]);
    expect(await cli.exited).toEqual({ code: 1, signal: null });
    expect(cli.stderr()).toMatch(/^cluster-pack: \[local\] ENOSPC: no space left on the device \(write file:\/\/.*eight\.bin\)\ncluster-pack: hint: free some space or write elsewhere\.\n$/);
    expect(list(mount)).toEqual([]);
  });

  it("zip create and pex build onto the full disk: exit 1, one line and its hint, nothing left", async () => {
    if (skip) return console.warn(`skipped: ${skip}`);
    const src = outDir("full-src");
    writeRandom(path.join(src, "big.bin"), 8 * MiB);
    const zipOut = path.join(mount, "src.zip");
    const z = spawnCli(["zip", "create", zipOut, src]);
    expect((await z.exited).code).toBe(1);
    expect(z.stderr().trim().split("\n")).toEqual([expect.stringMatching(/^cluster-pack: .*(No space left|no space left)/), expect.stringMatching(/^cluster-pack: hint: free some space/)]);
    const wheels = outDir("full-wheels");
    await writeWheel(wheels, { name: "tiny", version: "1.0" });
    const pexOut = path.join(mount, "app.pex");
    const p = spawnCli(["pex", "build", wheels, "-D", src, "-o", pexOut]);
    expect(await p.exited).toEqual({ code: 1, signal: null });
    expect(p.stderr()).toMatch(noSpace(pexOut));
    expect(list(mount)).toEqual([]);
  });
});
