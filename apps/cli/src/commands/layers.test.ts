import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { readPexInfo } from "@cluster-pack/pex";
import { runCli } from "../test-kit";

// Real numpy wheels from the configured index (the mirror's are cp311), real builds.
jest.setTimeout(300_000);
const pipConfig = spawnSync("python3", ["-m", "pip", "config", "list"], { encoding: "utf8" });
const noPip = pipConfig.status !== 0 || (!/index-url|find-links/.test(pipConfig.stdout) && !process.env.PIP_INDEX_URL);
if (noPip) console.warn("skipping cluster-pack diff / inspect --sizes tests: pip has no index or find-links configured");

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-cli-layers-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function download(reqs: string[], dir: string): string {
  const r = spawnSync("python3", ["-m", "pip", "download", "-q", "--only-binary=:all:", "--no-deps", "--python-version", "3.11", "-d", dir, ...reqs], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`pip download failed: ${r.stderr}`);
  return dir;
}

(noPip ? describe.skip : describe)("cluster-pack diff and pex inspect --sizes on real environments", () => {
  let a: string;
  let b: string;
  beforeAll(async () => {
    const store = path.join(tmp, "layers");
    a = path.join(tmp, "a.pex");
    b = path.join(tmp, "b.pex");
    for (const [out, reqs, layout] of [
      [a, ["numpy==2.2.6", "six"], "layered"],
      [b, ["numpy==2.3.5", "six", "attrs"], "zipapp"],
    ] as const) {
      const r = await runCli("pex", "build", download([...reqs], path.join(tmp, `wheels-${path.basename(out)}`)), "-o", out, "--layout", layout, "--layer-store", store, "--interpreter-constraint", "CPython>=3.11");
      expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: "" });
    }
    // The layered one finds its layers beside it (as a container has them).
    for (const f of fs.readdirSync(store).filter((n) => n.endsWith(".zip"))) fs.copyFileSync(path.join(store, f), path.join(tmp, f));
  });

  it("diff: a numpy upgrade and one package added, as their PEX-INFO says (--json)", async () => {
    const r = await runCli("--json", "diff", a, b);
    expect(r.code).toBe(0);
    const diff = JSON.parse(r.out);
    const [ia, ib] = [await readPexInfo(a), await readPexInfo(b)];
    const numpyA = Object.keys(ia.distributions).find((w) => w.startsWith("numpy-"))!;
    const numpyB = Object.keys(ib.distributions).find((w) => w.startsWith("numpy-"))!;
    expect(diff.added).toEqual([{ project: "attrs", version: expect.any(String), wheel: Object.keys(ib.distributions).find((w) => w.startsWith("attrs-")), size: expect.any(Number) }]);
    expect(diff.removed).toEqual([]);
    expect(diff.changed).toEqual([
      {
        project: "numpy",
        what: expect.arrayContaining(["version", "wheel", "fingerprint", "size"]),
        from: expect.objectContaining({ version: "2.2.6", wheel: numpyA, fingerprint: ia.distributions[numpyA] }),
        to: expect.objectContaining({ version: "2.3.5", wheel: numpyB, fingerprint: ib.distributions[numpyB] }),
      },
    ]);
    expect(diff.changed[0].from.layerSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(diff.unchanged).toBe(1);
    // Same interpreter constraints, other requirements.
    expect(diff.fields.map((f: { field: string }) => f.field)).toEqual(["requirements"]);
    const human = await runCli("diff", a, b);
    expect(human.out).toMatch(/^~ numpy 2\.2\.6 -> 2\.3\.5 .*version, wheel, fingerprint/m);
    expect(human.out).toMatch(/^\+ attrs /m);
  });

  it("pex inspect --sizes: every distribution, largest first, with bars; --json has the numbers", async () => {
    const r = await runCli("pex", "inspect", a, "--sizes");
    expect(r.code).toBe(0);
    const rows = r.out.split("\n").filter((l) => /^\s{2}\S/.test(l)).slice(1);
    expect(rows[0]).toMatch(/^ {2}numpy 2\.2\.6 .*100\.0%|^ {2}numpy 2\.2\.6 .*#{30}$/);
    expect(rows[0]).toMatch(/#{30}$/);
    expect(rows.map((l) => l.trim().split(" ")[0])).toEqual(["numpy", "six"]);
    const j = JSON.parse((await runCli("--json", "pex", "inspect", b, "--sizes")).out);
    const sizes = j.distributions.map((x: { project: string; size: { shipped: number; installed: number; files: number } }) => [x.project, x.size.shipped > 0, x.size.installed >= x.size.shipped, x.size.files > 0]);
    expect(sizes).toEqual([
      ["attrs", true, true, true],
      ["numpy", true, true, true],
      ["six", true, true, true],
    ]);
  });
});
