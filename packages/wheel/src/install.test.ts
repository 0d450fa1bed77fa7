import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ZipReader, ZipWriter } from "@cluster-pack/zip";
import { addRecordRows, addWheelToZip, formatRecord, installWheel, parseRecord, recordHash, type InstallScheme } from "./index";
import { downloadWheels, pipIndexUnavailable } from "@cluster-pack/io/test-kit";

// Real interpreters and wheels: allow for a busy 2-core machine.
jest.setTimeout(300_000);

const noPip = pipIndexUnavailable();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-wheel-test-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function scheme(root: string): InstallScheme {
  return { purelib: path.join(root, "lib"), platlib: path.join(root, "lib"), scripts: path.join(root, "bin"), headers: path.join(root, "include", "demo"), data: root };
}

/** Writes a crafted wheel: files + RECORD (optionally lying), to test what real wheels rarely show. */
async function craftWheel(name: string, files: Record<string, string>, opts: { corrupt?: string; omit?: string; mode?: Record<string, number> } = {}): Promise<string> {
  const [dist, version] = path.basename(name).split("-") as [string, string];
  const di = `${dist}-${version}.dist-info`;
  const all: Record<string, string> = {
    [`${di}/METADATA`]: `Metadata-Version: 2.1\nName: ${dist}\nVersion: ${version}\n`,
    [`${di}/WHEEL`]: "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    ...files,
  };
  const rows = Object.entries(all)
    .filter(([p]) => p !== opts.omit)
    .map(([p, c]) => ({ path: p, hash: recordHash(p === opts.corrupt ? `${c}tampered` : c), size: Buffer.byteLength(c) }));
  rows.push({ path: `${di}/RECORD` } as never);
  const w = new ZipWriter();
  for (const [p, c] of Object.entries(all)) w.addBuffer(p, c, { mode: opts.mode?.[p] ?? 0o644 });
  w.addBuffer(`${di}/RECORD`, formatRecord(rows));
  const out = path.join(tmp, name);
  await w.writeTo(out);
  return out;
}

describe("installWheel into a directory scheme", () => {
  it("spreads .data, rewrites #!python, writes launchers, INSTALLER and a valid RECORD", async () => {
    const whl = await craftWheel("demo-1.0-py3-none-any.whl", {
      "demo/__init__.py": "def main():\n    print('demo main')\n    return 0\n",
      "demo-1.0.data/scripts/tool": "#!python\nprint('tool ran')\n",
      "demo-1.0.data/headers/demo.h": "int x;\n",
      "demo-1.0.data/data/share/demo/x.txt": "data\n",
      "demo-1.0.data/platlib/demo_ext.py": "X = 1\n",
      "demo-1.0.dist-info/entry_points.txt": "[console_scripts]\ndemo = demo:main\n",
    });
    const root = path.join(tmp, "env1");
    const res = await installWheel(whl, { scheme: scheme(root), interpreter: "/usr/bin/python3", directUrl: { url: "file:///x" }, requested: true });
    expect(fs.readFileSync(path.join(root, "bin", "tool"), "utf8")).toBe("#!/usr/bin/python3\nprint('tool ran')\n");
    expect(fs.statSync(path.join(root, "bin", "tool")).mode & 0o111).not.toBe(0);
    expect(fs.readFileSync(path.join(root, "include", "demo", "demo.h"), "utf8")).toBe("int x;\n");
    expect(fs.readFileSync(path.join(root, "share", "demo", "x.txt"), "utf8")).toBe("data\n");
    expect(fs.existsSync(path.join(root, "lib", "demo_ext.py"))).toBe(true);
    expect(fs.readFileSync(path.join(root, "lib", "demo-1.0.dist-info", "INSTALLER"), "utf8")).toBe("cluster-pack\n");
    expect(fs.existsSync(path.join(root, "lib", "demo-1.0.dist-info", "REQUESTED"))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(root, "lib", "demo-1.0.dist-info", "direct_url.json"), "utf8"))).toEqual({ url: "file:///x" });
    const record = fs.readFileSync(path.join(root, "lib", "demo-1.0.dist-info", "RECORD"), "utf8");
    expect(record).toContain("../bin/demo,sha256=");
    expect(record).toContain("../include/demo/demo.h,sha256=");
    // Every RECORD row with a hash matches the file on disk.
    for (const row of res.record.filter((r) => r.hash)) {
      expect(recordHash(fs.readFileSync(path.resolve(root, "lib", row.path)))).toBe(row.hash);
    }
    const run = spawnSync(path.join(root, "bin", "demo"), [], { encoding: "utf8", env: { ...process.env, PYTHONPATH: path.join(root, "lib") } });
    expect(run.stdout).toBe("demo main\n");
    expect(run.status).toBe(0);
  });

  it.each([
    ["bad RECORD hash", { corrupt: "bad/__init__.py" }, /bad-1.0-py3-none-any.whl: bad\/__init__.py does not match its RECORD hash/],
    ["file missing from RECORD", { omit: "bad/__init__.py" }, /bad\/__init__.py is not listed with a hash in RECORD/],
  ])("rejects a wheel with a %s and leaves nothing behind", async (_label, opts, message) => {
    const whl = await craftWheel("bad-1.0-py3-none-any.whl", { "bad/__init__.py": "x = 1\n", "bad/other.py": "y = 2\n" }, opts);
    const root = path.join(tmp, `env-bad-${Math.random()}`);
    await expect(installWheel(whl, { scheme: scheme(root) })).rejects.toThrow(message);
    const left = fs.existsSync(root) ? fs.readdirSync(root, { recursive: true }).filter((f) => !fs.statSync(path.join(root, String(f))).isDirectory()) : [];
    expect(left).toEqual([]);
  });

  it.each([
    ["an entry escaping with ..", "../evil.py"],
    ["an absolute entry", "/tmp/evil.py"],
  ])("rejects a wheel with %s (written by Python's zipfile)", async (_label, evil) => {
    const whl = path.join(tmp, "evil-1.0-py3-none-any.whl");
    const script = [
      "import sys, zipfile, hashlib, base64",
      "h = lambda b: 'sha256=' + base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b'=').decode()",
      "files = {'evil-1.0.dist-info/METADATA': b'Metadata-Version: 2.1\\nName: evil\\nVersion: 1.0\\n', 'evil-1.0.dist-info/WHEEL': b'Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\n', sys.argv[2]: b'x = 1\\n'}",
      "record = ''.join('%s,%s,%d\\n' % (n, h(b), len(b)) for n, b in files.items()) + 'evil-1.0.dist-info/RECORD,,\\n'",
      "z = zipfile.ZipFile(sys.argv[1], 'w')",
      "[z.writestr(n, b) for n, b in files.items()]",
      "z.writestr('evil-1.0.dist-info/RECORD', record)",
      "z.close()",
    ].join("\n");
    const r = spawnSync("python3", ["-c", script, whl, evil], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    const root = path.join(tmp, "evil-env");
    await expect(installWheel(whl, { scheme: scheme(root) })).rejects.toThrow(/evil|escape|unsafe|\.\.|absolute/i);
    expect(fs.existsSync(path.join(tmp, "evil.py"))).toBe(false);
    expect(fs.existsSync("/tmp/evil.py")).toBe(false);
  });

  it("rejects a .data key that is not a scheme key and a RECORD path that escapes", async () => {
    const a = await craftWheel("esc-1.0-py3-none-any.whl", { "esc-1.0.data/etc/passwd": "x\n" });
    await expect(installWheel(a, { scheme: scheme(path.join(tmp, "esc")) })).rejects.toThrow(/"etc" is not a scheme key/);
  });

  (noPip ? it.skip : it)("installs a real wheel (tqdm) whose console script runs", async () => {
    const [whl] = downloadWheels(["tqdm"]);
    const root = path.join(tmp, "tqdm-env");
    const res = await installWheel(whl!, { scheme: scheme(root), interpreter: "/usr/bin/python3" });
    expect(res.scripts.map((s) => path.basename(s))).toContain("tqdm");
    const run = spawnSync(path.join(root, "bin", "tqdm"), ["--version"], { encoding: "utf8", env: { ...process.env, PYTHONPATH: path.join(root, "lib") } });
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toBe(res.metadata.metadata.version);
  });
});

describe("addWheelToZip", () => {
  (noPip ? it.skip : it)("raw-copies a real wheel into a chroot prefix, verified, with a RECORD fingerprint", async () => {
    const [whl] = downloadWheels(["six"]);
    const reader = await ZipReader.open(whl!);
    const w = new ZipWriter();
    const res = await addWheelToZip(w, reader, path.basename(whl!), { prefix: `.deps/${path.basename(whl!)}` });
    const out = path.join(tmp, "six.zip");
    await w.writeTo(out);
    await reader.close();
    const r = await ZipReader.open(out);
    const names = r.entries.map((e) => e.name);
    expect(names).toContain(`.deps/${path.basename(whl!)}/six.py`);
    const record = (await r.readEntry(names.find((n) => n.endsWith("dist-info/RECORD"))!)).toString();
    expect(record).toBe(res.recordText);
    expect(record).toMatch(/INSTALLER,sha256=/);
    await r.close();
  });

  it("fails the archive write when an entry does not match RECORD", async () => {
    const whl = await craftWheel("liar-1.0-py3-none-any.whl", { "liar.py": "x = 1\n" }, { corrupt: "liar.py" });
    const reader = await ZipReader.open(whl);
    const w = new ZipWriter();
    await addWheelToZip(w, reader, "liar-1.0-py3-none-any.whl", { prefix: ".deps/liar-1.0-py3-none-any.whl/" });
    const out = path.join(tmp, "liar.zip");
    await expect(w.writeTo(out)).rejects.toThrow(/liar.py does not match its RECORD hash/);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(tmp).filter((f) => f.includes("liar.zip"))).toEqual([]);
    await reader.close();
  });

  it("adds files to a chroot's RECORD once the wheel is in (addRecordRows), as addWheelToZip would have listed them", async () => {
    const whl = await craftWheel("later-1.0-py3-none-any.whl", { "later/__init__.py": "x = 1\n" });
    const reader = await ZipReader.open(whl);
    const w = new ZipWriter();
    const prefix = ".deps/later-1.0-py3-none-any.whl/";
    const added = await addWheelToZip(w, reader, "later-1.0-py3-none-any.whl", { prefix });
    const pyc = Buffer.from("compiled");
    w.addBuffer(`${prefix}later/__pycache__/__init__.cpython-311.pyc`, pyc);
    const row = { path: "later/__pycache__/__init__.cpython-311.pyc", hash: recordHash(pyc), size: pyc.length };
    const { facts, recordRel } = addRecordRows(added, [row]);
    expect(recordRel).toBe("later-1.0.dist-info/RECORD");
    w.replaceBuffer(prefix + recordRel, facts.recordText);
    const rows = parseRecord(facts.recordText);
    expect(rows.map((r) => r.path)).toEqual([...parseRecord(added.recordText).map((r) => r.path), row.path].sort());
    expect(facts.files).toBe(added.files + 1);
    expect(facts.bytes).toBe(added.bytes + pyc.length + Buffer.byteLength(facts.recordText) - Buffer.byteLength(added.recordText));
    expect(facts.fingerprint).not.toBe(added.fingerprint);
    const out = path.join(tmp, "later.zip");
    await w.writeTo(out);
    await reader.close();
    const r = await ZipReader.open(out);
    expect((await r.readEntry(prefix + recordRel)).toString()).toBe(facts.recordText);
    await r.close();
    expect(() => addRecordRows(facts, [row])).toThrow(/already in its RECORD/);
  });
});
