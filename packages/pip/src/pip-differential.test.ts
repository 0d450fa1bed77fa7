import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pythonInterpreter } from "@cluster-pack/io/test-kit";
import { PipSession, type PipSessionOptions } from "./session";
import { probeInterpreter, type TargetEnvironment } from "./target";
import { startIndexServer, type IndexServer, type ServedFile } from "./test-kit/index-server";
import { writeWheel, type FakeDist } from "./test-kit/wheels";
import { loadPipConfig } from "./config";
import { startStaticServer } from "./test-kit/static-server";

/**
 * Differential tests against pip itself: the same requirements, the same index, the same
 * interpreter; pip's `install --dry-run --ignore-installed --report` pins must equal ours.
 */
const PYTHON = pythonInterpreter("3.11")?.python ?? "";
const hasPip = PYTHON !== "" && spawnSync(PYTHON, ["-m", "pip", "--version"]).status === 0;
if (!hasPip) console.warn(`Skipping pip differential tests: no pyenv CPython 3.11 with pip${PYTHON ? ` (${PYTHON})` : ""}`);
const d = hasPip ? describe : describe.skip;

async function pipPins(reqs: string[], args: string[], env: Record<string, string | undefined>): Promise<string[]> {
  const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cp-pip-")), "report.json");
  const code = await new Promise<number>((resolve) => {
    const p = spawn(PYTHON, ["-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--no-cache-dir", "--report", report, ...args, ...reqs], { env: env as NodeJS.ProcessEnv, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (c: Buffer) => (err += c.toString()));
    p.on("close", (c) => {
      if (c !== 0) console.warn(err);
      resolve(c ?? 1);
    });
  });
  if (code !== 0) return ["<pip failed>"];
  const doc = JSON.parse(fs.readFileSync(report, "utf8")) as { install: Array<{ metadata: { name: string; version: string } }> };
  fs.rmSync(path.dirname(report), { recursive: true, force: true });
  return doc.install.map((i) => `${i.metadata.name.toLowerCase().replace(/[-_.]+/g, "-")}==${i.metadata.version}`).sort();
}

async function ourPins(reqs: string[], options: PipSessionOptions): Promise<string[]> {
  const s = new PipSession(options);
  const r = await s.resolve(await s.readInput({ requirements: reqs }));
  return r.packages.map((p) => `${p.name}==${p.version}`).sort();
}

let target: TargetEnvironment;
let tmp: string;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-pipdiff-"));
  if (hasPip) target = await probeInterpreter(PYTHON);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

d("differential against pip on a generated loopback index", () => {
  let server: IndexServer;
  beforeAll(async () => {
    const dists: FakeDist[] = [
      // extras
      { name: "app", version: "1.0", requires: ["lib>=1"], extras: { fast: ["speedup>=0.2"], all: ["app[fast]", "tracing"] } },
      { name: "lib", version: "1.0" },
      { name: "lib", version: "1.5", requires: ["helper; python_version >= '3.8'", "legacy; python_version < '3'"] },
      { name: "helper", version: "3.0", requires: ["winonly; sys_platform == 'win32'"] },
      { name: "legacy", version: "1.0" },
      { name: "winonly", version: "1.0" },
      { name: "speedup", version: "0.1" },
      { name: "speedup", version: "0.3" },
      { name: "tracing", version: "2.0", requiresPython: ">=3.12" },
      { name: "tracing", version: "1.9" },
      // backtracking: the newest a needs b<1 which c forbids
      { name: "a", version: "2.0", requires: ["b<1"] },
      { name: "a", version: "1.0", requires: ["b>=1"] },
      { name: "b", version: "0.5" },
      { name: "b", version: "1.2" },
      { name: "c", version: "1.0", requires: ["b>=1"] },
      // local versions
      { name: "torchy", version: "2.1.0" },
      { name: "torchy", version: "2.1.0+cpu" },
      { name: "torchy", version: "2.2.0+cpu" },
      { name: "torchy", version: "2.2.0+cu121", tag: "cp311-cp311-win_amd64" },
    ];
    const projects = new Map<string, ServedFile[]>();
    for (const dist of dists) {
      const p = await writeWheel(path.join(tmp, "wheels"), dist);
      projects.set(dist.name, [...(projects.get(dist.name) ?? []), { path: p, requiresPython: dist.requiresPython }]);
    }
    server = await startIndexServer(projects);
  });
  afterAll(() => server.close());

  test.each([
    [["app[fast]"]],
    [["app[all]"]],
    [["lib"]],
    [["a", "c"]],
    [["torchy==2.1.0"]],
    [["torchy==2.1.0+cpu"]],
    [["torchy>2.1.0"]],
    [["torchy"]],
  ])("%j", async (reqs) => {
    const env = { PATH: process.env.PATH, HOME: tmp, PIP_CONFIG_FILE: os.devNull };
    const theirs = await pipPins(reqs, ["--index-url", server.url], env);
    const ours = await ourPins(reqs, { pipConfig: false, indexUrl: server.url, cacheDir: path.join(tmp, "cache"), target });
    expect(ours).toEqual(theirs);
  });
});

d("differential against pip on the configured mirror, served on loopback", () => {
  // The mirror's directories (from pip's configuration) served over HTTP, and the same
  // options given to pip and to us: primary index, extra index, find-links, constraints.
  // (PyPI itself is unreachable here; pip would spend minutes retrying it.)
  const settings = loadPipConfig();
  const dirs = settings.extraIndexUrls.filter((u) => u.startsWith("file://")).map((u) => new URL(u).pathname.replace(/\/$/, ""));
  const t = dirs.length ? test : test.skip;
  if (!dirs.length) console.warn("Skipping mirror differential: pip has no file:// index configured");
  let server: Awaited<ReturnType<typeof startStaticServer>>;
  let urls: string[] = [];
  beforeAll(async () => {
    if (!dirs.length) return;
    const mounts: Record<string, string> = {};
    // Mount each index's parent so its ../../files/ links resolve.
    dirs.forEach((d, i) => (mounts[`/m${i}`] = path.dirname(d)));
    server = await startStaticServer(mounts);
    urls = dirs.map((d, i) => `${server.origin}/m${i}/${path.basename(d)}`);
  });
  afterAll(() => server?.close());
  t.each([[["ray", "pandas", "pyarrow", "scikit-learn", "boto3"]], [["torch", "requests[socks]"]]])(
    "%j",
    async (reqs) => {
      const [primary, ...extra] = urls;
      const args = ["--index-url", primary!, ...extra.flatMap((u) => ["--extra-index-url", u]), ...settings.findLinks.flatMap((f) => ["--find-links", f]), ...settings.constraints.flatMap((c) => ["-c", c])];
      const theirs = await pipPins(reqs, args, { PATH: process.env.PATH, HOME: tmp, PIP_CONFIG_FILE: os.devNull });
      const ours = await ourPins(reqs, { pipConfig: false, indexUrl: primary!, extraIndexUrls: extra, findLinks: settings.findLinks, constraintFiles: settings.constraints, cacheDir: path.join(tmp, "cache-mirror"), target });
      expect(ours).toEqual(theirs);
    },
    300_000,
  );
});
