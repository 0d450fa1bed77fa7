import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { hasErrorCode } from "@cluster-pack/errors";
import { packCondaEnvironment } from "./pack-conda";
import { packVenv } from "./venv";
import { describeWithKit, extractArchive, findKitInterpreter, makeCondaEnv, rejection, tempDir, type CondaEnvKit } from "./test-kit";

jest.setTimeout(120_000);

const interp = findKitInterpreter();
const d = describeWithKit("conda bad-input tests");

let root: string;
let kit: CondaEnvKit;
beforeAll(() => {
  root = tempDir("bad");
  if (interp) kit = makeCondaEnv({ root: path.join(root, "k"), pipPackage: false });
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** Only the expected outputs: no temporary file or directory left beside them. */
function leftovers(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith(".tmp"));
}

test("a directory without conda-meta is not a conda environment", async () => {
  const dir = path.join(root, "plain");
  fs.mkdirSync(dir, { recursive: true });
  const err = await rejection(packCondaEnvironment({ prefix: dir, output: path.join(root, "x.tar.gz") }));
  expect(err.code).toBe("ERR_NOT_A_CONDA_ENV");
  expect(err.message).toContain(dir);
  expect(err.message).toContain("conda-meta");
  const missing = await rejection(packCondaEnvironment({ prefix: path.join(root, "nope"), output: path.join(root, "x.tar.gz") }));
  expect(missing.code).toBe("ERR_NOT_A_CONDA_ENV");
  const venv = await rejection(packVenv({ prefix: dir, output: path.join(root, "x.tar.gz") }));
  expect(venv.code).toBe("ERR_NOT_A_VENV");
  expect(venv.message).toContain("pyvenv.cfg");
});

test("bad options are refused with the fix", async () => {
  const dir = path.join(root, "opts");
  fs.mkdirSync(path.join(dir, "conda-meta"), { recursive: true });
  const out = path.join(root, "o.tar.gz");
  expect((await rejection(packCondaEnvironment({ prefix: dir, output: out, compressLevel: 12 }))).code).toBe("ERR_BAD_LEVEL");
  expect((await rejection(packCondaEnvironment({ prefix: dir, output: out, threads: 1.5 }))).code).toBe("ERR_BAD_THREADS");
  const rar = await rejection(packCondaEnvironment({ prefix: dir, output: out, format: "rar" }));
  expect(rar.message).toBe('unknown archive format "rar"');
  expect(rar.hint).toContain("zip, tar");
  expect((await rejection(packCondaEnvironment({ prefix: dir, output: out, arcroot: "../up" }))).code).toBe("ERR_BAD_ARCROOT");
  expect((await rejection(packCondaEnvironment({ prefix: dir, output: out, destPrefix: "relative/dir" }))).code).toBe("ERR_BAD_DEST_PREFIX");
  expect((await rejection(packCondaEnvironment({ prefix: dir, output: path.join(root, "no/such/dir/o.tar") }))).code).toBe("ERR_BAD_OUTPUT");
});

d("with a realistic environment", () => {
  test("a corrupted record names the file and the fix", async () => {
    const copy = path.join(root, "corrupt");
    fs.cpSync(kit.prefix, copy, { recursive: true, verbatimSymlinks: true });
    const rec = path.join(copy, "conda-meta", "clib-1.0-0.json");
    fs.writeFileSync(rec, fs.readFileSync(rec, "utf8").slice(0, 100));
    const err = await rejection(packCondaEnvironment({ prefix: copy, output: path.join(root, "c.tar.gz") }));
    expect(err.code).toBe("ERR_CORRUPT_RECORD");
    expect(err.message).toContain(rec);
    expect(err.hint).toContain("reinstall");
    fs.writeFileSync(rec, JSON.stringify({ name: "clib", version: "1.0", files: ["../../etc/passwd"] }));
    const escape = await rejection(packCondaEnvironment({ prefix: copy, output: path.join(root, "c.tar.gz") }));
    expect(escape.code).toBe("ERR_CORRUPT_RECORD");
    expect(fs.existsSync(path.join(root, "c.tar.gz"))).toBe(false);
  });

  test("missing managed files fail unless ignoreMissingFiles", async () => {
    const k = makeCondaEnv({ root: path.join(root, "missing"), missingFile: true, pipPackage: false });
    const out = path.join(root, "missing.tar");
    const err = await rejection(packCondaEnvironment({ prefix: k.prefix, output: out }));
    expect(err.code).toBe("ERR_MISSING_FILES");
    expect(err.message).toContain("share/broken/gone.txt");
    expect(err.hint).toContain("--ignore-missing-files");
    const ok = await packCondaEnvironment({ prefix: k.prefix, output: out, ignoreMissingFiles: true });
    expect(ok.warnings.join("\n")).toContain("share/broken/gone.txt");
  });

  test("editable installs fail unless ignoreEditablePackages", async () => {
    const k = makeCondaEnv({ root: path.join(root, "editable"), editable: true, pipPackage: false });
    const out = path.join(root, "editable.tar");
    const err = await rejection(packCondaEnvironment({ prefix: k.prefix, output: out }));
    expect(err.code).toBe("ERR_EDITABLE_PACKAGES");
    expect(err.message).toContain("myproj");
    expect(err.message).toContain(path.join(k.root, "src", "myproj"));
    const ok = await packCondaEnvironment({ prefix: k.prefix, output: out, ignoreEditablePackages: true });
    expect(ok.warnings.join("\n")).toContain("myproj");
  });

  test("an existing output is refused unless force, and then replaced whole", async () => {
    const out = path.join(root, "exists.tar.gz");
    fs.writeFileSync(out, "precious");
    const err = await rejection(packCondaEnvironment({ prefix: kit.prefix, output: out }));
    expect(err.code).toBe("ERR_OUTPUT_EXISTS");
    expect((err as { hint?: string }).hint).toBe("choose another output path, or pass `force` to replace it.");
    expect(fs.readFileSync(out, "utf8")).toBe("precious");
    const r = await packCondaEnvironment({ prefix: kit.prefix, output: out, force: true });
    expect(fs.statSync(out).size).toBe(r.size);
    const dirOut = path.join(root, "exists-dir");
    fs.mkdirSync(dirOut);
    expect((await rejection(packCondaEnvironment({ prefix: kit.prefix, output: dirOut, format: "no-archive" }))).code).toBe("ERR_OUTPUT_EXISTS");
  });

  test.each(["tar.gz", "zip", "no-archive"])("an output that appears while packing is not clobbered (%s)", async (format) => {
    const outDir = path.join(root, `race-${format}`);
    fs.mkdirSync(outDir);
    const out = path.join(outDir, "env.out");
    const err = await rejection(
      packCondaEnvironment({
        prefix: kit.prefix,
        output: out,
        format,
        onProgress: (p) => {
          if (p.phase === "write" && p.done === 1) fs.writeFileSync(out, "someone else's");
        },
      }),
    );
    expect(err.code).toBe("ERR_OUTPUT_EXISTS");
    expect(fs.readFileSync(out, "utf8")).toBe("someone else's");
    expect(fs.readdirSync(outDir)).toEqual(["env.out"]);
  });

  test.each(["tar.gz", "zip", "tar.zst", "no-archive"])("a file vanishing during packing fails cleanly (%s)", async (format) => {
    const copy = path.join(root, `vanish-${format}`);
    fs.cpSync(kit.prefix, copy, { recursive: true, verbatimSymlinks: true });
    const victim = path.join(copy, "share/oldpkg/notes.txt");
    const outDir = path.join(root, `vanish-out-${format}`);
    fs.mkdirSync(outDir);
    const out = path.join(outDir, format === "no-archive" ? "env" : `env.${format}`);
    const err = await rejection(
      packCondaEnvironment({
        prefix: copy,
        output: out,
        format,
        // After the environment was read, before its files are written.
        onProgress: (p) => {
          if (p.phase === "scan" && fs.existsSync(victim)) fs.rmSync(victim);
        },
      }),
    );
    expect(err.code).toBe("ERR_FILE_VANISHED");
    expect(err.message).toContain("notes.txt");
    expect(fs.readdirSync(outDir)).toEqual([]);
  });

  test("abort leaves no partial archive", async () => {
    for (const format of ["tar.gz", "tar.xz", "zip", "no-archive"]) {
      const outDir = path.join(root, `abort-${format}`);
      fs.mkdirSync(outDir);
      const ac = new AbortController();
      const err = await rejection(
        packCondaEnvironment({
          prefix: kit.prefix,
          output: path.join(outDir, "env.out"),
          format,
          threads: 2,
          signal: ac.signal,
          onProgress: (p) => {
            if (p.phase === "write" && p.done === 20) ac.abort();
            if (p.phase === "scan") return;
          },
        }),
      );
      expect(hasErrorCode(err, "ABORT_ERR")).toBe(true);
      expect(fs.readdirSync(outDir)).toEqual([]);
    }
  });

  test("a destination prefix longer than a binary placeholder is refused, naming the file", async () => {
    if (!kit.compiledBinary) return;
    const dest = `/${"d".repeat(300)}`;
    const err = await rejection(packCondaEnvironment({ prefix: kit.prefix, output: path.join(root, "long.tar"), destPrefix: dest }));
    expect(err.code).toBe("ERR_PREFIX_TOO_LONG");
    expect(err.message).toContain("bin/clib-prefix");
    expect(err.message).toContain("255");
    expect(leftovers(root)).toEqual([]);
    expect(fs.existsSync(path.join(root, "long.tar"))).toBe(false);
  });

  test("conda-unpack into a path too long for a binary placeholder reports each file and fixes the rest", async () => {
    const out = path.join(root, "deep.tar");
    await packCondaEnvironment({ prefix: kit.prefix, output: out });
    const dir = path.join(root, "x".repeat(100), "y".repeat(100), "z".repeat(60), "env");
    extractArchive(out, dir);
    const r = spawnSync(`${dir}/bin/conda-unpack`, [], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${dir}/bin/python${kit.pythonVersion}: the new prefix is ${Buffer.byteLength(dir)} bytes but only 255 are reserved`);
    if (kit.compiledBinary) expect(r.stderr).toContain("bin/clib-prefix");
    // Text files were still rewritten, and the interpreter still runs.
    expect(fs.readFileSync(`${dir}/etc/clib.conf`, "utf8")).toContain(`${dir}/share/clib`);
    expect(spawnSync(`${dir}/bin/python`, ["-c", "print(1)"], { encoding: "utf8" }).stdout.trim()).toBe("1");
  });
});
