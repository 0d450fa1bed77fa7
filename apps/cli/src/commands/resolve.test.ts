import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { writeWheel } from "@cluster-pack/pip/test-kit";
import { main } from "../main";

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const [o, e] = [new PassThrough(), new PassThrough()];
  const code = await main(["node", "cluster-pack", ...args], { stdout: o, stderr: e, signal: new AbortController().signal });
  return { code, out: String(o.read() ?? ""), err: String(e.read() ?? "") };
}

let tmp: string;
let common: string[];
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cli-resolve-"));
  const links = path.join(tmp, "links");
  await writeWheel(links, { name: "app", version: "1.0", requires: ["lib>=2", "winlib; sys_platform == 'win32'"], extras: { fast: ["speedup"] } });
  await writeWheel(links, { name: "lib", version: "2.1" });
  await writeWheel(links, { name: "lib", version: "1.0" });
  await writeWheel(links, { name: "speedup", version: "0.5" });
  await writeWheel(links, { name: "winlib", version: "1.0" });
  common = ["--isolated", "--no-index", "-f", links, "--python", "3.11", "--platform", "manylinux_2_28_x86_64", "--cache-dir", path.join(tmp, "cache")];
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
    const win = await cli("resolve", "app", ...common.slice(0, -6), "--python", "3.12", "--platform", "win_amd64", "--cache-dir", path.join(tmp, "cache"));
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
    expect(impossible.err).toMatch(/No solution satisfies the requirements: Because .*app.* depends on lib>=2/);
    const json = await cli("--json", "resolve", "app", "lib<2", ...common);
    expect(JSON.parse(json.out).error.code).toBe("ERR_RESOLUTION_IMPOSSIBLE");
  });



  test("--help has examples", async () => {
    for (const c of ["resolve", "lock", "download"]) {
      const h = await cli(c, "--help");
      expect(h.code).toBe(0);
      expect(h.out).toMatch(/Examples:/);
    }
  });
});
