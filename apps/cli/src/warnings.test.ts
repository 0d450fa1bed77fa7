// Issue 15: the CLI prints nothing on stderr but its own lines. Real child processes (Node
// prints process warnings itself, outside any in-process capture), on the Node the
// machine has (the engines field supports 20, where the AWS SDK warns).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startS3Server, type TestS3Server } from "@cluster-pack/fs/test-kit";
import { writeWheel } from "@cluster-pack/pip/test-kit";
import { ensureCliBuilt, s3Environment, spawnCli } from "./test-kit";

jest.setTimeout(600_000);

let tmp: string;
let server: TestS3Server;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  ensureCliBuilt();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cli-warnings-"));
  server = await startS3Server({ buckets: ["quiet"] });
  const { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: _ignored, NODE_NO_WARNINGS: _too, ...rest } = process.env;
  env = { ...rest, ...s3Environment(server.endpoint) };
});
afterAll(async () => {
  await server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function run(args: string[]): Promise<{ code: number | null; err: string }> {
  const cli = spawnCli(args, { env, cwd: tmp });
  const { code } = await cli.exited;
  return { code, err: cli.stderr() };
}

test(`an S3 upload (fs cp, upload-zip) prints no warning on Node ${process.versions.node}`, async () => {
  const pex = path.join(tmp, "bare.pex");
  expect(await run(["-q", "pex", "build", "-o", pex])).toEqual({ code: 0, err: "" });
  expect(await run(["fs", "cp", pex, "s3://quiet/envs/a.pex"])).toEqual({ code: 0, err: "" });
  expect(await run(["upload-zip", pex, "-o", "s3://quiet/envs/b.pex"])).toEqual({ code: 0, err: "" });
  expect(server.requests.some((r) => r.method === "PUT")).toBe(true);
});

test("a cold pex build of a dozen wheels prints no MaxListenersExceededWarning", async () => {
  const links = path.join(tmp, "links");
  const names = Array.from({ length: 14 }, (_, i) => `quiet${i}`);
  for (const name of names) await writeWheel(links, { name, version: "1.0" });
  const out = path.join(tmp, "many.pex");
  const r = await run(["pex", "build", ...names, "-o", out, "--no-index", "-f", links, "--cache-dir", path.join(tmp, "cold-cache")]);
  expect(r).toEqual({ code: 0, err: "" });
  expect(fs.existsSync(out)).toBe(true);
});
