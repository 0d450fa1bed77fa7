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
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cli-lock-"));
  const links = path.join(tmp, "links");
  await writeWheel(links, { name: "app", version: "1.0", requires: ["lib>=2", "winlib; sys_platform == 'win32'"], extras: { fast: ["speedup"] } });
  await writeWheel(links, { name: "lib", version: "2.1" });
  await writeWheel(links, { name: "lib", version: "1.0" });
  await writeWheel(links, { name: "speedup", version: "0.5" });
  await writeWheel(links, { name: "winlib", version: "1.0" });
  common = ["--isolated", "--no-index", "-f", links, "--python", "3.11", "--platform", "manylinux_2_28_x86_64", "--cache-dir", path.join(tmp, "cache")];
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("cluster-pack lock", () => {
  test("lock writes pylock.toml; download --from-lock installs it without resolving", async () => {
    const lockFile = path.join(tmp, "pylock.toml");
    const l = await cli("lock", "app", "-o", lockFile, ...common);
    expect(l.code).toBe(0);
    expect(fs.readFileSync(lockFile, "utf8")).toMatch(/name = "lib"\nversion = "2.1"/);
    const dest = path.join(tmp, "fromlock");
    const d = await cli("--json", "download", "--from-lock", lockFile, "-d", dest, "--python", "3.11", "--cache-dir", path.join(tmp, "cache"));
    expect(d.code).toBe(0);
    expect(fs.readdirSync(dest).sort()).toEqual(["app-1.0-py3-none-any.whl", "lib-2.1-py3-none-any.whl"]);
    const wrongTarget = await cli("download", "--from-lock", lockFile, "-d", dest, "--python", "3.12", "--platform", "win_amd64");
    expect(wrongTarget.code).toBe(2);
    expect(wrongTarget.err).toMatch(/does not match the target/);
  });
});
