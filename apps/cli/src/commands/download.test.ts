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
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cli-download-"));
  const links = path.join(tmp, "links");
  await writeWheel(links, { name: "app", version: "1.0", requires: ["lib>=2", "winlib; sys_platform == 'win32'"], extras: { fast: ["speedup"] } });
  await writeWheel(links, { name: "lib", version: "2.1" });
  await writeWheel(links, { name: "lib", version: "1.0" });
  await writeWheel(links, { name: "speedup", version: "0.5" });
  await writeWheel(links, { name: "winlib", version: "1.0" });
  common = ["--isolated", "--no-index", "-f", links, "--python", "3.11", "--platform", "manylinux_2_28_x86_64", "--cache-dir", path.join(tmp, "cache")];
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("cluster-pack download", () => {
  test("download resolves and copies verified files", async () => {
    const dest = path.join(tmp, "dl");
    const d = await cli("download", "app[fast]", "-d", dest, ...common);
    expect(d.code).toBe(0);
    expect(fs.readdirSync(dest).sort()).toEqual(["app-1.0-py3-none-any.whl", "lib-2.1-py3-none-any.whl", "speedup-0.5-py3-none-any.whl"]);
    expect(d.out).toMatch(/lib-2.1-py3-none-any.whl  sha256:[0-9a-f]{64}/);
  });
});
