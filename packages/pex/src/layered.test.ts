import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { downloadWheels, pipIndexUnavailable } from "@cluster-pack/io/test-kit";
import { buildPex, diffPex, inspectPex, parsePexInfo, pexLayers, readPexInfo, verifyPex, type PexBuildResult } from "./index";
import { cleanEnv, run } from "./test-kit/run";

// Real wheels, real interpreters, a busy 2-core machine.
jest.setTimeout(300_000);
const noPip = pipIndexUnavailable();
const d = noPip ? describe.skip : describe;
if (noPip) console.warn(`skipping layered PEX tests: ${noPip}`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-layered-test-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const sha = (p: string) => crypto.createHash("sha256").update(fs.readFileSync(p)).digest("hex");

/** A "container": a fresh working directory holding the PEX and the given layers. */
function container(name: string, built: PexBuildResult, layers = built.layers!): string {
  const dir = path.join(tmp, "containers", name);
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(built.path, path.join(dir, "env.pex"));
  fs.chmodSync(path.join(dir, "env.pex"), 0o755);
  for (const l of layers) fs.copyFileSync(l.path, path.join(dir, l.file));
  return dir;
}

d("layered PEX files", () => {
  let six: string;
  let attrs: string;
  let tqdm: string;
  let store: string;
  let src: string;
  beforeAll(() => {
    [six] = downloadWheels(["six"]) as [string];
    [attrs] = downloadWheels(["attrs"]) as [string];
    [tqdm] = downloadWheels(["tqdm"]) as [string];
    store = path.join(tmp, "store");
    src = path.join(tmp, "src");
    fs.mkdirSync(path.join(src, "app"), { recursive: true });
    fs.writeFileSync(path.join(src, "app", "__init__.py"), "import six, attrs\nWHERE = (six.__file__, attrs.__file__)\n");
  });

  it("writes one content-addressed layer per distribution, the same bytes as the packed layout's .deps/ zip, and reuses them", async () => {
    const a = await buildPex(path.join(tmp, "a.pex"), { wheels: [six, attrs], sourceDirectories: [src], layout: "layered", layerStore: store });
    expect(a.layout).toBe("layered");
    expect(a.layers!.map((l) => l.wheel)).toEqual([path.basename(attrs), path.basename(six)]);
    for (const l of a.layers!) {
      expect(l.file).toBe(`${l.sha256}.zip`);
      expect(sha(l.path)).toBe(l.sha256);
      expect(fs.statSync(l.path).size).toBe(l.size);
    }
    // The packed layout writes the same per-distribution zip.
    await buildPex(path.join(tmp, "packed"), { wheels: [six, attrs], layout: "packed" });
    for (const l of a.layers!) expect(sha(path.join(tmp, "packed", ".deps", l.wheel))).toBe(l.sha256);
    // PEX-INFO lists each layer (file, sha256, size); the top PEX holds no .deps/.
    const info = await readPexInfo(a.path);
    expect(pexLayers(info).map(({ wheel, file, sha256, size }) => ({ wheel, file, sha256, size }))).toEqual(a.layers!.map(({ wheel, file, sha256, size }) => ({ wheel, file, sha256, size })));
    const inspected = await inspectPex(a.path, { sizes: true, layerDirs: [store] });
    expect(inspected.layout).toBe("layered");
    expect(inspected.distributions.every((x) => x.size?.installed && x.size.shipped === x.layer?.size)).toBe(true);
    expect(a.size).toBeLessThan(200_000);
    // Another environment with one more distribution: the shared layers are found, not written.
    const b = await buildPex(path.join(tmp, "b.pex"), { wheels: [six, attrs, tqdm], layout: "layered", layerStore: store });
    const shared = b.layers!.filter((l) => l.wheel !== path.basename(tqdm));
    expect(shared.map((l) => l.sha256)).toEqual(a.layers!.map((l) => l.sha256));
    expect(shared.map((l) => l.reused)).toEqual([true, true]);
    // Reuse needs the wheel's sha256 before verification (a cached install plan); a
    // fresh build of the same wheels writes byte-identical layers anyway.
    const again = await buildPex(path.join(tmp, "a2.pex"), { wheels: [six, attrs], sourceDirectories: [src], layout: "layered", layerStore: path.join(tmp, "store2") });
    expect(sha(again.path)).toBe(sha(a.path));
    expect(again.layers!.map((l) => l.sha256)).toEqual(a.layers!.map((l) => l.sha256));
    expect((await verifyPex(a.path, { layerDirs: [store] })).problems).toEqual([]);
  });

  it("runs from a working directory holding its layers, and refuses a missing or altered layer at boot with one line", async () => {
    const built = await buildPex(path.join(tmp, "run.pex"), { wheels: [six, attrs], sourceDirectories: [src], layout: "layered", layerStore: store, pythonShebang: "/usr/bin/env python3" });
    const ok = container("ok", built);
    const root = path.join(tmp, "root-run");
    const r = await run("./env.pex", ["-c", "import app, json; print(json.dumps(app.WHERE))"], { cwd: ok, env: cleanEnv({ PEX_ROOT: root }) });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: "" });
    const where = JSON.parse(r.stdout) as string[];
    expect(where.every((w) => w.startsWith(path.join(root, "cp", "installed_wheels.2")))).toBe(true);

    const sixLayer = built.layers!.find((l) => l.wheel === path.basename(six))!;
    const missing = container("missing", built, built.layers!.filter((l) => l !== sixLayer));
    const m = await run("./env.pex", ["-c", "pass"], { cwd: missing, env: cleanEnv({ PEX_ROOT: path.join(tmp, "root-missing") }) });
    expect(m.status).toBe(2);
    expect(m.stderr.trim().split("\n")).toHaveLength(1);
    expect(m.stderr).toContain(`layer ${sixLayer.file} (${sixLayer.wheel}) is missing`);

    const altered = container("altered", built);
    const file = path.join(altered, sixLayer.file);
    const bytes = fs.readFileSync(file);
    bytes[100] = bytes[100]! ^ 0xff; // same size, other bytes
    fs.writeFileSync(file, bytes);
    const a = await run("./env.pex", ["-c", "pass"], { cwd: altered, env: cleanEnv({ PEX_ROOT: path.join(tmp, "root-altered") }) });
    expect(a.status).toBe(2);
    expect(a.stderr.trim().split("\n")).toHaveLength(1);
    expect(a.stderr).toContain(`layer ${sixLayer.file} (${sixLayer.wheel}) at ${fs.realpathSync(file)} has sha256 `);
    expect(a.stderr).toContain(`PEX-INFO says ${sixLayer.sha256}`);
    // Nothing of it was extracted.
    expect(fs.existsSync(path.join(tmp, "root-altered", "cp", "installed_wheels.2", built.info.distributions[sixLayer.wheel]!))).toBe(false);

    fs.truncateSync(file, 50);
    const t = await run("./env.pex", ["-c", "pass"], { cwd: altered, env: cleanEnv({ PEX_ROOT: path.join(tmp, "root-altered") }) });
    expect({ status: t.status, lines: t.stderr.trim().split("\n").length }).toEqual({ status: 2, lines: 1 });
    expect(t.stderr).toContain(`is 50 bytes, PEX-INFO says ${sixLayer.size}`);
  });

  it("two environments sharing layers extract each shared layer once into one PEX_ROOT, also when started concurrently", async () => {
    const one = await buildPex(path.join(tmp, "one.pex"), { wheels: [six, attrs], layout: "layered", layerStore: store });
    const two = await buildPex(path.join(tmp, "two.pex"), { wheels: [six, attrs, tqdm], layout: "layered", layerStore: store });
    for (const concurrent of [false, true]) {
      const root = path.join(tmp, `shared-root-${concurrent}`);
      const env = cleanEnv({ PEX_ROOT: root, PEX_VERBOSE: "1" });
      const start = (built: PexBuildResult, name: string) => run("./env.pex", ["-c", "import six, attrs"], { cwd: container(`${name}-${concurrent}`, built), env });
      const results = concurrent ? await Promise.all([start(one, "one"), start(two, "two")]) : [await start(one, "one"), await start(two, "two")];
      for (const r of results) expect({ status: r.status, err: r.status ? r.stderr : "" }).toEqual({ status: 0, err: "" });
      const extracted = results.flatMap((r) => r.stderr.split("\n").filter((l) => l.startsWith("pex: extracted layer")));
      // Each layer is extracted once across both starts (the shared two, and tqdm's).
      expect(extracted.sort()).toEqual(two.layers!.map((l) => `pex: extracted layer ${l.file} (${l.wheel})`).sort());
      const installed = fs.readdirSync(path.join(root, "cp", "installed_wheels.2")).filter((n) => !n.endsWith(".lck"));
      expect(installed.sort()).toEqual(Object.values(two.info.distributions).sort());
    }
  });

  it("trusts a checked layer by its identity on the next cold start, and checks it again once the file changes", async () => {
    const built = await buildPex(path.join(tmp, "id.pex"), { wheels: [six], layout: "layered", layerStore: store });
    const dir = container("identity", built);
    const file = path.join(dir, built.layers![0]!.file);
    const root = path.join(tmp, "id-root");
    // A cold start each time (plans and extractions removed), the identity records kept.
    const cold = async () => {
      fs.rmSync(path.join(root, "cp", "plans"), { recursive: true, force: true });
      fs.rmSync(path.join(root, "cp", "installed_wheels.2"), { recursive: true, force: true });
      const r = await run("./env.pex", ["-c", "import six"], { cwd: dir, env: cleanEnv({ PEX_ROOT: root, PEX_VERBOSE: "1" }) });
      expect({ status: r.status, extracted: r.stderr.includes("pex: extracted layer") }).toEqual({ status: 0, extracted: true });
      return r.stderr.includes(" checked: ");
    };
    // Timestamps old enough to prove the content (not racy), as a localised file's are.
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(file, old, old);
    await new Promise((r) => setTimeout(r, 2100)); // ctime too
    expect(await cold()).toBe(true);
    expect(await cold()).toBe(false); // trusted by its identity record
    const older = new Date(Date.now() - 120_000);
    fs.utimesSync(file, older, older); // a new identity (mtime, ctime)
    await new Promise((r) => setTimeout(r, 2100));
    expect(await cold()).toBe(true);
  });

  it("refuses crafted layer fields in PEX-INFO (TypeScript and runtime, one rule)", async () => {
    const built = await buildPex(path.join(tmp, "crafted.pex"), { wheels: [six], layout: "layered", layerStore: store });
    // PEX-INFO as JSON, with the one object the cases edit typed.
    type Layer = { file: string; sha256: string; size: number };
    type Info = { cluster_pack: { layers: Record<string, Layer | undefined> } };
    const info = JSON.parse(JSON.stringify((await readPexInfo(built.path)).raw)) as Info;
    const wheel = path.basename(six);
    const layer = (i: Info) => i.cluster_pack.layers[wheel]!;
    const cases: [string, (i: Info) => void, RegExp][] = [
      ["../ in the file name", (i) => (layer(i).file = "../evil.zip"), /not one plain file name/],
      ["a path", (i) => (layer(i).file = "a/b.zip"), /not one plain file name/],
      ["a hidden name", (i) => (layer(i).file = ".x.zip"), /not one plain file name/],
      ["a short hash", (i) => (layer(i).sha256 = "ab"), /64 lowercase hex/],
      ["a negative size", (i) => (layer(i).size = -1), /byte count/],
      ["an unlisted wheel", (i) => (i.cluster_pack.layers["zz-1.0-py3-none-any.whl"] = i.cluster_pack.layers[wheel]), /not one of its distributions/],
      ["a distribution without layer", (i) => delete i.cluster_pack.layers[wheel], /no layer for/],
    ];
    for (const [what, change, message] of cases) {
      const copy = JSON.parse(JSON.stringify(info)) as Info;
      change(copy);
      expect(() => parsePexInfo(JSON.stringify(copy))).toThrow(message);
      const py = await run("python3", ["-c", "import sys, json; sys.path.insert(0, sys.argv[1]); from _cluster_pack_pex import pex_info\ntry:\n  pex_info.load(sys.argv[2].encode())\nexcept ValueError as e:\n  print(e)", path.join(__dirname, "..", "python"), JSON.stringify(copy)]);
      expect({ what, out: py.stdout }).toEqual({ what, out: expect.stringMatching(message) });
    }
  });

  it("diffs two layered environments from their PEX-INFO", async () => {
    const a = await buildPex(path.join(tmp, "da.pex"), { wheels: [six, attrs], layout: "layered", layerStore: store, interpreterConstraints: [">=3.8"] });
    const b = await buildPex(path.join(tmp, "db.pex"), { wheels: [six, tqdm], layout: "layered", layerStore: store, entryPoint: "tqdm.cli:main" });
    const diff = diffPex(await inspectPex(a.path, { sizes: true }), await inspectPex(b.path, { sizes: true }));
    expect(diff.added.map((x) => x.project)).toEqual(["tqdm"]);
    expect(diff.removed.map((x) => x.project)).toEqual(["attrs"]);
    expect(diff.unchanged).toBe(1);
    expect(diff.fields.map((f) => f.field)).toEqual(expect.arrayContaining(["interpreter_constraints", "entry_point"]));
    expect(diff.newBytes).toBe(b.layers!.find((l) => l.wheel === path.basename(tqdm))!.size);
  });
});
