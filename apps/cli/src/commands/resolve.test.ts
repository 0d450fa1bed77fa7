import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeCliFixture } from "@cluster-pack/pip/test-kit";
import { runCli } from "../test-kit";

const cli = runCli;

let tmp: string;
let common: string[];
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cli-resolve-"));
  common = (await writeCliFixture(tmp)).args;
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("cluster-pack resolve", () => {
  test("resolve prints the pinned set; --json gives files and dependencies", async () => {
    const r = await cli("resolve", "app[fast]", ...common);
    expect(r.code).toBe(0);
    expect(r.out.trim().split("\n")).toEqual(["app==1.0", "lib==2.1", "speedup==0.5"]);
    const j = await cli("--json", "resolve", "app", ...common);
    const doc = JSON.parse(j.out) as { packages: Array<{ name: string; file: string; dependencies: string[]; direct: boolean }>; target: { python: string } };
    expect(doc.target.python).toBe("3.11.0");
    expect(doc.packages.find((p) => p.name === "app")).toMatchObject({ file: "app-1.0-py3-none-any.whl", dependencies: ["lib"], direct: true });
    const win = await cli("resolve", "app", ...common.slice(0, -6), "--python-version", "3.12", "--platform", "win_amd64", "--cache-dir", path.join(tmp, "cache"));
    expect(win.out.trim().split("\n")).toEqual(["app==1.0", "lib==2.1", "winlib==1.0"]);
  });

  test("bad input exits 2 with the fix; impossible sets exit 1 with the explanation", async () => {
    const bad = await cli("resolve", "app>>1", ...common);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/Expected/);
    const none = await cli("resolve", ...common);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/Nothing to resolve/);
    const impossible = await cli("resolve", "app", "lib<2", ...common);
    expect(impossible.code).toBe(1);
    expect(impossible.err.trimEnd().split("\n")).toEqual([
      "cluster-pack: No solution satisfies the requirements:",
      "  1. Because app depends on lib>=2 and you require app, you require lib>=2.",
      "  2. And because you require lib<2, the requirements are unsatisfiable.",
    ]);
  });

  test("--json gives an impossible resolution's steps and its derivation tree as data", async () => {
    const json = await cli("--json", "resolve", "app", "lib<2", ...common);
    expect(json.code).toBe(1);
    const { error } = JSON.parse(json.out) as { error: { code: string; explanation: string[]; derivation: { nodes: Array<{ id: number; kind: string; text: string; terms: unknown[]; causes?: number[] }> } } };
    expect(error.code).toBe("ERR_RESOLUTION_IMPOSSIBLE");
    expect(error.explanation).toEqual(["Because app depends on lib>=2 and you require app, you require lib>=2.", "And because you require lib<2, the requirements are unsatisfiable."]);
    const nodes = error.derivation.nodes;
    const top = nodes[nodes.length - 1]!;
    expect(top).toMatchObject({ kind: "derived", text: "the requirements are unsatisfiable", terms: [] });
    // Causes come before the conclusions drawn from them, and the leaves are the facts.
    for (const n of nodes) for (const c of n.causes ?? []) expect(c).toBeLessThan(n.id);
    expect(nodes.filter((n) => !n.causes).map((n) => [n.kind, n.text]).sort()).toEqual([
      ["dependency", "app depends on lib>=2"],
      ["requirement", "you require app"],
      ["requirement", "you require lib<2"],
    ]);
    expect(nodes.find((n) => n.text === "app depends on lib>=2")!.terms).toEqual([
      { package: "app", versions: "", positive: true },
      { package: "lib", versions: ">=2", positive: false },
    ]);
  });



  test("--help has examples", async () => {
    for (const c of ["resolve", "lock", "download"]) {
      const h = await cli(c, "--help");
      expect(h.code).toBe(0);
      expect(h.out).toMatch(/Examples:/);
    }
  });
});

// lock and download share resolve.ts's options and session setup, so they are tested here too.
describe("cluster-pack lock", () => {
  test("lock writes pylock.toml; download --from-lock installs it without resolving", async () => {
    const lockFile = path.join(tmp, "pylock.toml");
    const l = await cli("lock", "app", "-o", lockFile, ...common);
    expect(l.code).toBe(0);
    expect(fs.readFileSync(lockFile, "utf8")).toMatch(/name = "lib"\nversion = "2.1"/);
    const dest = path.join(tmp, "fromlock");
    const d = await cli("--json", "download", "--from-lock", lockFile, "-d", dest, "--python-version", "3.11", "--cache-dir", path.join(tmp, "cache"));
    expect(d.code).toBe(0);
    expect(fs.readdirSync(dest).sort()).toEqual(["app-1.0-py3-none-any.whl", "lib-2.1-py3-none-any.whl"]);
    const wrongTarget = await cli("download", "--from-lock", lockFile, "-d", dest, "--python-version", "3.12", "--platform", "win_amd64");
    expect(wrongTarget.code).toBe(2);
    expect(wrongTarget.err).toMatch(/does not match the target/);
  });
});

describe("cluster-pack download", () => {
  test("download resolves and copies verified files", async () => {
    const dest = path.join(tmp, "dl");
    const d = await cli("download", "app[fast]", "-d", dest, ...common);
    expect(d.code).toBe(0);
    expect(fs.readdirSync(dest).sort()).toEqual(["app-1.0-py3-none-any.whl", "lib-2.1-py3-none-any.whl", "speedup-0.5-py3-none-any.whl"]);
    expect(d.out).toMatch(/lib-2.1-py3-none-any.whl {2}sha256:[0-9a-f]{64}/);
  });
});
