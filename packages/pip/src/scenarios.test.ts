import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseToml } from "./toml";
import { hasErrorCode } from "@cluster-pack/errors";
import { canonicalizeName, parseRequirement } from "@cluster-pack/packaging";
import { HttpClient } from "./http";
import { MetadataFetcher } from "./metadata";
import { PackageFinder } from "./finder";
import { resolve, ResolutionImpossibleError } from "./resolver";
import { SimpleIndex } from "./simple-index";
import { explicitTarget } from "./target";
import { startIndexServer, type ServedFile } from "./test-kit/index-server";
import { metadataText, writeSdist, writeWheel, type FakeDist } from "./test-kit/wheels";

const ROOT = process.env.CP_SCENARIOS ?? path.join(__dirname, "..", "..", "..", "..", "shared", "scenarios");
const available = fs.existsSync(ROOT);
if (!available) console.warn(`Skipping resolver scenarios: ${ROOT} does not exist (set CP_SCENARIOS)`);

interface Scenario {
  name: string;
  file: string;
  root: { requires?: string[]; requires_python?: string };
  expected: { satisfiable: boolean; packages?: Record<string, string>; explanation?: string };
  packages?: Record<string, { versions: Record<string, VersionSpec> }>;
  environment?: { python?: string; additional_python?: string[] };
  resolver_options?: { python?: string; prereleases?: boolean; no_binary?: string[]; no_build?: string[]; universal?: boolean; python_platform?: string; resolution?: string; required_environments?: string[] };
}
interface VersionSpec {
  requires?: string[];
  extras?: Record<string, string[]>;
  requires_python?: string;
  sdist?: boolean;
  wheel?: boolean;
  yanked?: boolean;
  wheel_tags?: string[];
}

/**
 * Scenarios whose expected answer (uv's) differs from this resolver's stated policy, each
 * with the reason. Everything not listed here must match exactly.
 */
const POLICY_DIFFERENCES: Record<string, string> = {
  "python-less-than-current":
    "uv ignores upper bounds of Requires-Python; we honour Requires-Python exactly as pip does, because the environment is built for one concrete interpreter and a package that declares <=3.8 may not import on 3.9.",
};

/** Scenarios that need a feature this package does not have, each with the reason. */
const OUT_OF_SCOPE: Record<string, string> = {};

function loadScenarios(): Scenario[] {
  if (!available) return [];
  const out: Scenario[] = [];
  for (const dir of fs.readdirSync(ROOT).sort()) {
    const d = path.join(ROOT, dir);
    if (!fs.statSync(d).isDirectory()) continue;
    for (const f of fs.readdirSync(d).sort()) {
      if (!f.endsWith(".toml")) continue;
      const s = parseToml(fs.readFileSync(path.join(d, f), "utf8")) as unknown as Scenario;
      s.file = `${dir}/${f}`;
      out.push(s);
    }
  }
  return out;
}

const all = loadScenarios();
const single = all.filter((s) => !s.resolver_options?.universal);
const universal = all.filter((s) => s.resolver_options?.universal);

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-scenarios-"));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

(available ? describe : describe.skip)("uv resolver scenarios (single environment)", () => {
  test.each(single.map((s, i) => [s.file, s, i] as const))("%s", async (_file, s, i) => {
    if (OUT_OF_SCOPE[s.name]) {
      console.warn(`${s.name}: out of scope: ${OUT_OF_SCOPE[s.name]}`);
      return;
    }
    const dir = path.join(tmp, s.name);
    const projects = new Map<string, ServedFile[]>();
    for (const [pname, p] of Object.entries(s.packages ?? {})) {
      const files: ServedFile[] = [];
      for (const [ver, v] of Object.entries(p.versions ?? {})) {
        const dist: FakeDist = { name: pname, version: ver, requires: v.requires ?? [], extras: v.extras ?? {}, requiresPython: v.requires_python ?? ">=3.12" };
        // Alternate metadata paths: PEP 658 files on even scenarios, range reads on odd ones.
        const meta = i % 2 === 0 ? metadataText(dist) : undefined;
        if (v.wheel !== false) {
          for (const tag of v.wheel_tags ?? ["py3-none-any"]) {
            const w = await writeWheel(dir, { ...dist, tag });
            files.push({ path: w, requiresPython: dist.requiresPython, yanked: v.yanked, metadata: meta });
          }
        }
        if (v.sdist !== false) files.push({ path: await writeSdist(dir, dist), requiresPython: dist.requiresPython, yanked: v.yanked });
      }
      projects.set(canonicalizeName(pname), files);
    }
    const server = await startIndexServer(projects, { json: i % 3 !== 0 });
    try {
      const ro = s.resolver_options ?? {};
      const python = ro.python ?? s.environment?.python ?? "3.12";
      const platform = ro.python_platform ? uvPlatform(ro.python_platform) : "manylinux_2_28_x86_64";
      const target = explicitTarget({ python, platform });
      const http = new HttpClient({ timeout: 10, retries: 0 });
      const finder = new PackageFinder({
        sources: [new SimpleIndex(server.url, http)],
        target,
        metadata: new MetadataFetcher({ http }),
        onlyBinary: ro.no_build,
        noBinary: ro.no_binary,
      });
      const reqs = (s.root.requires ?? []).map(parseRequirement);
      const run = resolve(reqs, { finder, target, prereleases: ro.prereleases ? "allow" : undefined, resolution: ro.resolution as "lowest" | undefined });
      const policy = POLICY_DIFFERENCES[s.name];
      if (s.expected.satisfiable) {
        let got: Record<string, string>;
        try {
          const res = await run;
          got = Object.fromEntries(res.packages.map((p) => [p.name, p.version.toString()]));
        } catch (err) {
          if (policy) return;
          throw err;
        }
        if (!s.expected.packages) return;
        const want = Object.fromEntries(Object.entries(s.expected.packages ?? {}).map(([k, v]) => [canonicalizeName(k), v]));
        if (policy) {
          expect(got).not.toEqual(want);
          return;
        }
        expect(got).toEqual(want);
      } else {
        if (policy) {
          await expect(run).resolves.toBeDefined();
          return;
        }
        const err = await run.then(
          (r) => new Error(`expected no solution, got ${r.packages.map((p) => `${p.name}==${p.version}`).join(" ")}`),
          (e: unknown) => e,
        );
        if (!(err instanceof ResolutionImpossibleError) && !hasErrorCode(err, "ERR_RESOLUTION_IMPOSSIBLE")) throw err;
        expect((err as ResolutionImpossibleError).explanation.length).toBeGreaterThan(10);
        if (process.env.SHOW_EXPLANATIONS) console.log(`${s.name}:\n${(err as ResolutionImpossibleError).explanation}`);
      }
    } finally {
      await server.close();
    }
  });
});

(available ? describe : describe.skip)("uv resolver scenarios (universal)", () => {
  test(`${universal.length} universal (fork) scenarios are out of scope`, () => {
    // Universal resolution produces one lock valid for every environment by forking on
    // markers; this resolver resolves for one concrete target at a time (the cluster's),
    // which is what packing an environment needs. Listed so the count stays visible.
    expect(universal.length).toBeGreaterThan(0);
    for (const s of universal) expect(s.resolver_options?.universal).toBe(true);
  });
});

function uvPlatform(p: string): string {
  // uv's "x86_64-manylinux2014" -> wheel platform tag "manylinux2014_x86_64".
  const [arch, ...rest] = p.split("-");
  const os = rest.join("-");
  if (os.startsWith("manylinux") || os.startsWith("musllinux")) return `${os}_${arch}`;
  if (os === "linux" || os === "unknown-linux-gnu") return `manylinux_2_17_${arch}`;
  if (os === "windows" || os === "pc-windows-msvc") return arch === "aarch64" ? "win_arm64" : "win_amd64";
  if (os === "macos" || os === "apple-darwin") return `macosx_11_0_${arch === "aarch64" ? "arm64" : arch}`;
  return p;
}
