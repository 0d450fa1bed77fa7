import { execFileSync, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { findKitInterpreter, makeCondaEnv, tempDir, type CondaEnvKit } from "@cluster-pack/conda/test-kit";
import { writeWheel } from "@cluster-pack/pip/test-kit";
import { runCli } from "../test-kit";

// Packing environments that strangers made: file names with replacement patterns or
// bytes that are not UTF-8, symlinks leading out of the environment, an output inside it.
// Real conda-like environments (the conda test kit) and real venvs, through the real CLI;
// each refusal is checked for its exact message, exit code 2 and that nothing was written.
jest.setTimeout(300_000);

const interp = findKitInterpreter();
if (!interp) console.warn("skipping the packing trust tests: no pyenv CPython under /root/.pyenv/versions to build the environments with");

let root: string;
let kit: CondaEnvKit;
let venv: string;
let sitePackages: string;
let outside: string;
beforeAll(() => {
  if (!interp) return;
  root = tempDir("trust");
  kit = makeCondaEnv({ root: path.join(root, "conda"), pipPackage: false });
  venv = path.join(root, "venv");
  execFileSync(interp.python, ["-m", "venv", "--without-pip", venv]);
  sitePackages = path.join(venv, "lib", `python${interp.version}`, "site-packages");
  // A file that is not the environment's: it must never land in an archive unasked.
  outside = path.join(root, "outside", "secret.txt");
  fs.mkdirSync(path.dirname(outside));
  fs.writeFileSync(outside, "TOP SECRET\n");
});
afterAll(() => {
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

/**
 * Every entry under `dir` (names as bytes, not following links) with its size and mtime,
 * to show that a refused command wrote nothing anywhere.
 */
function listing(dir: string): string {
  const out: string[] = [];
  const walk = (d: Buffer) => {
    for (const name of fs.readdirSync(d, { encoding: "buffer" })) {
      const p = Buffer.concat([d, Buffer.from("/"), name]);
      const st = fs.lstatSync(p, { bigint: true });
      out.push(`${p.toString("hex")} ${st.size} ${st.mtimeNs}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(Buffer.from(dir));
  return out.sort().join("\n");
}
/** A name's bytes (not UTF-8) as a Buffer path under `dir`. */
const rawPath = (dir: string, bytes: number[]) => Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(bytes)]);
const RAW_NAME = [0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74]; // "caf\xe9.txt" (latin-1)

/** Names in a tar as raw bytes, read by Python's tarfile (which honours pax hdrcharset=BINARY). */
function tarNames(archive: string): Buffer[] {
  const code = "import os, sys, tarfile\nfor n in tarfile.open(sys.argv[1]).getnames(): sys.stdout.buffer.write(os.fsencode(n) + b'\\0')";
  return execFileSync(interp!.python, ["-c", code, archive]).toString("latin1").split("\0").filter(Boolean).map((n) => Buffer.from(n, "latin1"));
}

(interp ? describe : describe.skip)("conda-unpack with file names that look like replacement patterns", () => {
  test("files named $&, $`, $' and $$ are relocated, and a missing one is reported", async () => {
    const names = ["share/amp$&.txt", "share/back$`tick.txt", "share/quote$'x.txt", "share/dollars$$.txt"];
    for (const n of names) fs.writeFileSync(path.join(kit.prefix, n), `prefix=${kit.prefix}\n`);
    // And one whose name is not UTF-8: its record travels as a JSON surrogate escape.
    fs.writeFileSync(rawPath(path.join(kit.prefix, "share"), RAW_NAME), `prefix=${kit.prefix}\n`);
    try {
      const out = path.join(root, "patterns.tar.gz");
      const r = await runCli("conda", "pack", "-p", kit.prefix, "-o", out);
      expect(r.code).toBe(0);
      const dest = path.join(root, "unpacked-patterns");
      fs.mkdirSync(dest);
      execFileSync("tar", ["xzf", out, "-C", dest]);
      const unpack = spawnSync(path.join(dest, "bin", "conda-unpack"), [], { encoding: "utf8" });
      expect(unpack.stderr).toBe("");
      expect(unpack.status).toBe(0);
      for (const n of names) expect(fs.readFileSync(path.join(dest, n), "utf8")).toBe(`prefix=${dest}\n`);
      expect(fs.readFileSync(rawPath(path.join(dest, "share"), RAW_NAME), "utf8")).toBe(`prefix=${dest}\n`);
      // A recorded file lost in unpacking is an error naming it, never a silent skip.
      const again = path.join(root, "unpacked-missing");
      fs.mkdirSync(again);
      execFileSync("tar", ["xzf", out, "-C", again]);
      fs.rmSync(path.join(again, "share/amp$&.txt"));
      const missing = spawnSync(path.join(again, "bin", "conda-unpack"), [], { encoding: "utf8" });
      expect(missing.status).toBe(1);
      expect(missing.stderr).toBe(`conda-unpack: ${again}/share/amp$&.txt: listed for relocation but missing; extract the whole archive again\n`);
      expect(fs.readFileSync(path.join(again, "share/dollars$$.txt"), "utf8")).toBe(`prefix=${again}\n`);
    } finally {
      for (const n of names) fs.rmSync(path.join(kit.prefix, n), { force: true });
      fs.rmSync(rawPath(path.join(kit.prefix, "share"), RAW_NAME), { force: true });
    }
  });
});

(interp ? describe : describe.skip)("venv pack: a file name that is not UTF-8", () => {
  let raw: Buffer;
  beforeAll(() => {
    raw = rawPath(sitePackages, RAW_NAME);
    fs.writeFileSync(raw, "latin-1 named\n");
  });
  afterAll(() => fs.rmSync(raw, { force: true }));

  test.each(["tar", "tar.gz", "tar.zst"])("is kept byte for byte in %s", async (format) => {
    const out = path.join(root, `raw.${format}`);
    const r = await runCli("venv", "pack", "-p", venv, "-o", out);
    expect(r.code).toBe(0);
    const want = Buffer.from(`lib/python${interp!.version}/site-packages/caf\xe9.txt`, "latin1");
    if (format !== "tar.zst") expect(tarNames(out).some((n) => n.equals(want))).toBe(true);
    // GNU tar extracts the same bytes.
    const dest = path.join(root, `raw-${format}`);
    fs.mkdirSync(dest);
    execFileSync("sh", ["-c", format === "tar.zst" ? 'zstd -dc "$1" | tar xf - -C "$2"' : 'tar xf "$1" -C "$2"', "sh", out, dest]);
    expect(fs.readFileSync(rawPath(path.join(dest, `lib/python${interp!.version}/site-packages`), RAW_NAME), "utf8")).toBe("latin-1 named\n");
  });

  test("is kept byte for byte in a no-archive copy", async () => {
    const out = path.join(root, "raw-dir");
    expect((await runCli("venv", "pack", "-p", venv, "-o", out, "--format", "no-archive")).code).toBe(0);
    expect(fs.readFileSync(rawPath(path.join(out, `lib/python${interp!.version}/site-packages`), RAW_NAME), "utf8")).toBe("latin-1 named\n");
  });

  test("is refused for zip, naming the file; nothing is written", async () => {
    const before = listing(root);
    const out = path.join(root, "raw.zip");
    const r = await runCli("venv", "pack", "-p", venv, "-o", out);
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      `cluster-pack: the name of lib/python${interp!.version}/site-packages/caf\\xe9.txt is not valid UTF-8, and a zip archive cannot store it faithfully (zip readers decode names as UTF-8 or CP437).\ncluster-pack: hint: pack into a tar format instead (--format tar.gz), or rename the file.\n`,
    );
    expect(listing(root)).toBe(before);
  });
});

(interp ? describe : describe.skip)("symlinks leading out of the environment", () => {
  const names = ["leak-abs", "leak-rel"];
  beforeAll(() => {
    fs.symlinkSync(outside, path.join(sitePackages, "leak-abs"));
    fs.symlinkSync(path.relative(sitePackages, outside), path.join(sitePackages, "leak-rel"));
    // One that stays inside: dereferenced as before.
    fs.writeFileSync(path.join(sitePackages, "data.txt"), "inside\n");
    fs.symlinkSync("data.txt", path.join(sitePackages, "inside-link"));
  });
  afterAll(() => {
    for (const n of [...names, "inside-link", "data.txt"]) fs.rmSync(path.join(sitePackages, n), { force: true });
  });
  const secretIn = (archive: string) => execFileSync("sh", ["-c", 'tar xOf "$1" 2>/dev/null | grep -c "TOP SECRET" || true', "sh", archive], { encoding: "utf8" }).trim();

  test("are kept as links by default, with a warning naming them", async () => {
    const out = path.join(root, "links.tar");
    const r = await runCli("venv", "pack", "-p", venv, "-o", out);
    expect(r.code).toBe(0);
    const sp = `lib/python${interp!.version}/site-packages`;
    expect(r.err).toContain(`warning: 2 symlink(s) point outside the environment; they were kept as links (not followed) and only work where their targets exist: ${sp}/leak-abs -> ${outside}, ${sp}/leak-rel -> ${path.relative(sitePackages, outside)}`);
    const listed = execFileSync("tar", ["tvf", out], { encoding: "utf8" });
    expect(listed).toMatch(new RegExp(`^l.* ${sp}/leak-abs -> ${outside}$`, "m"));
    expect(secretIn(out)).toBe("0");
  });

  test("--dereference-symlinks refuses them (exit 2, nothing written); --follow-external-symlinks stores them", async () => {
    const before = listing(root);
    const out = path.join(root, "deref.tar");
    const r = await runCli("venv", "pack", "-p", venv, "-o", out, "--dereference-symlinks");
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      `cluster-pack: ${sitePackages}/leak-abs is a symlink to ${outside}, outside the environment; dereferencing it would put that file in the archive.\ncluster-pack: hint: pass --follow-external-symlinks (followExternalSymlinks) to store it anyway, or remove the link.\n`,
    );
    expect(listing(root)).toBe(before);
    // conda pack applies the same rule.
    fs.symlinkSync(outside, path.join(kit.prefix, "share", "leak"));
    try {
      const before = listing(root);
      const c = await runCli("conda", "pack", "-p", kit.prefix, "-o", path.join(root, "conda-deref.tar"), "--dereference-symlinks", "--exclude", "lib/*");
      expect(c.code).toBe(2);
      expect(c.err).toBe(`cluster-pack: ${kit.prefix}/share/leak is a symlink to ${outside}, outside the environment; dereferencing it would put that file in the archive.\ncluster-pack: hint: pass --follow-external-symlinks (followExternalSymlinks) to store it anyway, or remove the link.\n`);
      expect(listing(root)).toBe(before);
    } finally {
      fs.rmSync(path.join(kit.prefix, "share", "leak"));
    }
    const ok = await runCli("venv", "pack", "-p", venv, "-o", out, "--dereference-symlinks", "--follow-external-symlinks");
    expect(ok.code).toBe(0);
    expect(secretIn(out)).toBe("2");
    const listed = execFileSync("tar", ["tvf", out], { encoding: "utf8" });
    expect(listed).toMatch(/^-.* lib\/python[\d.]+\/site-packages\/inside-link$/m);
  });

  test("pex build -D refuses a source file that leads outside the directory (exit 2, nothing written)", async () => {
    const src = path.join(root, "src");
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, "app.py"), "print('app')\n");
    fs.symlinkSync(outside, path.join(src, "secret.txt"));
    const wheel = await writeWheel(path.join(root, "wheels"), { name: "dep", version: "1.0" });
    const before = listing(root);
    const out = path.join(root, "app.pex");
    const r = await runCli("pex", "build", wheel, "-D", src, "-o", out);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`cluster-pack: ${src}/secret.txt is a symlink to ${outside}, outside the source directory ${src}; the PEX would carry that file.\ncluster-pack: hint: pass --follow-external-symlinks to include it anyway, or remove the link.\n`);
    expect(listing(root)).toBe(before);
    const ok = await runCli("pex", "build", wheel, "-D", src, "-o", out, "--follow-external-symlinks", "--structure", "flat");
    expect(ok.code).toBe(0);
    const names = execFileSync(interp!.python, ["-c", "import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read('secret.txt').decode(), end='')", out], { encoding: "utf8" });
    expect(names).toBe("TOP SECRET\n");
  });
});

(interp ? describe : describe.skip)("an output inside the environment", () => {
  test.each([
    ["inside site-packages", () => path.join(sitePackages, "self.tar.gz"), [] as string[], "is inside"],
    ["over bin/activate with --force", () => path.join(venv, "bin", "activate"), ["--force"], "is inside"],
    ["the environment itself, no-archive, --force", () => venv, ["--format", "no-archive", "--force"], "is inside"],
    ["a directory holding it, no-archive, --force", () => root, ["--format", "no-archive", "--force"], "contains"],
  ])("is refused: %s (exit 2, nothing written)", async (_what, output, extra, relation) => {
    const before = listing(root);
    const activate = crypto.createHash("sha256").update(fs.readFileSync(path.join(venv, "bin", "activate"))).digest("hex");
    const out = output();
    const r = await runCli("venv", "pack", "-p", venv, "-o", out, ...extra);
    expect(r.code).toBe(2);
    const fix =
      relation === "contains"
        ? "replacing it would delete the environment.\ncluster-pack: hint: choose an output path outside it (--output <path>)."
        : "writing it there would overwrite or add a file of the environment.\ncluster-pack: hint: write it outside the environment (--output <path>).";
    expect(r.err).toBe(`cluster-pack: the output ${out} ${relation} the environment ${venv}: ${fix}\n`);
    expect(listing(root)).toBe(before);
    expect(crypto.createHash("sha256").update(fs.readFileSync(path.join(venv, "bin", "activate"))).digest("hex")).toBe(activate);
  });

  test("conda pack refuses it too", async () => {
    const out = path.join(kit.prefix, "share", "env.tar.gz");
    const before = listing(root);
    const r = await runCli("conda", "pack", "-p", kit.prefix, "-o", out);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`cluster-pack: the output ${out} is inside the environment ${kit.prefix}: writing it there would overwrite or add a file of the environment.\ncluster-pack: hint: write it outside the environment (--output <path>).\n`);
    expect(listing(root)).toBe(before);
  });
});
