import { InvalidInputError } from "@cluster-pack/errors";
import { PackageFinder, type FinderOptions } from "./finder";
import { parseRequirement } from "@cluster-pack/packaging";
import { resolve, ResolutionImpossibleError, type Resolution, type ResolveOptions } from "./resolver";
import { explicitTarget } from "./target";
import { MemoryIndex, type MemoryDist } from "./test-kit/memory-index";

// Solver logic through the real finder, index provider and PubGrub core, on an index held
// in memory: no wheels, no server (session.test.ts and scenarios.test.ts cover the I/O).
const target = explicitTarget({ python: "3.11" });

interface Run extends Partial<Omit<ResolveOptions, "constraints" | "finder">> {
  constraints?: string[];
  finder?: Partial<FinderOptions>;
}

function run(index: MemoryIndex | MemoryDist[], reqs: string[], options: Run = {}): Promise<Resolution> {
  const source = Array.isArray(index) ? new MemoryIndex(index) : index;
  const finder = new PackageFinder({ sources: [source], metadata: source, target, ...options.finder });
  return resolve(reqs.map(parseRequirement), { target, ...options, finder, constraints: options.constraints?.map(parseRequirement) });
}

async function pins(index: MemoryIndex | MemoryDist[], reqs: string[], options: Run = {}): Promise<string[]> {
  const r = await run(index, reqs, options);
  return r.packages.map((p) => `${p.name}==${p.version}${p.extras.length ? `[${p.extras.join(",")}]` : ""}`);
}

async function failure(index: MemoryIndex | MemoryDist[], reqs: string[], options: Run = {}): Promise<ResolutionImpossibleError> {
  const err = await run(index, reqs, options).then(
    (r) => new Error(`expected no solution, got ${r.packages.map((p) => `${p.name}==${p.version}`).join(" ")}`),
    (e: unknown) => e,
  );
  if (!(err instanceof ResolutionImpossibleError)) throw err;
  if (process.env.SHOW) console.log(err.explanation);
  return err;
}

describe("resolver behaviour (in-memory index)", () => {
  test("backtracks to a compatible combination; the resolution lists edges and direct requirements", async () => {
    const index: MemoryDist[] = [
      { name: "a", version: "2.0", requires: ["b<1"] },
      { name: "a", version: "1.0", requires: ["b>=1"] },
      { name: "b", version: "0.9" },
      { name: "b", version: "1.5" },
      { name: "c", version: "1.0", requires: ["b>=1"] },
    ];
    const r = await run(index, ["a", "c"]);
    expect(r.packages.map((p) => [p.name, p.version.toString(), p.dependencies, p.direct])).toEqual([
      ["a", "1.0", ["b"], true],
      ["b", "1.5", [], false],
      ["c", "1.0", ["b"], true],
    ]);
    expect(r.packages[0]!.candidate.file.filename).toBe("a-1.0-py3-none-any.whl");
  });

  test("impossible sets are explained step by step, and the derivation is data", async () => {
    const err = await failure(
      [
        { name: "a", version: "2.0", requires: ["b<1"] },
        { name: "b", version: "0.9" },
        { name: "b", version: "2.0" },
        { name: "c", version: "1.0", requires: ["b>=2"] },
      ],
      ["a==2.0", "c"],
    );
    expect(err.explanation.split("\n")).toEqual([
      "1. Because c depends on b>=2 and a==2.0 depends on b<1, c is incompatible with a==2.0.",
      "2. And because you require a==2.0 and you require c, the requirements are unsatisfiable.",
    ]);
    expect(err.message).toBe(`No solution satisfies the requirements:\n${err.explanation}`);
    expect(err.code).toBe("ERR_RESOLUTION_IMPOSSIBLE");
    const nodes = err.derivation.nodes;
    expect(nodes.filter((n) => !n.causes).map((n) => `${n.kind}: ${n.text}`).sort()).toEqual([
      "dependency: a==2.0 depends on b<1",
      "dependency: c depends on b>=2",
      "requirement: you require a==2.0",
      "requirement: you require c",
    ]);
    expect(nodes[nodes.length - 1]).toMatchObject({ kind: "derived", terms: [], text: "the requirements are unsatisfiable" });
    expect(nodes.find((n) => n.text === "a==2.0 depends on b<1")!.terms).toEqual([
      { package: "a", versions: "==2.0", positive: true },
      { package: "b", versions: "<1", positive: false },
    ]);
  });

  test("a conclusion used twice is explained once and cited by its line", async () => {
    const err = await failure(
      [
        { name: "a", version: "1.0", requires: ["b"] },
        { name: "b", version: "2.0", requires: ["c", "x==2"] },
        { name: "b", version: "1.0", requires: ["c", "x==1"] },
        { name: "c", version: "1.0", requires: ["ghost"] },
        { name: "x", version: "1.0" },
        { name: "x", version: "2.0" },
      ],
      ["a"],
    );
    expect(err.explanation.split("\n")).toEqual([
      "1. Because b==1.0 depends on c and a depends on b, if a then c or b==2.0.",
      "2. And because b==2.0 depends on c, a depends on c.",
      "3. Because c depends on ghost, but ghost has no usable version (searched memory://index/), c cannot be used.",
      "4. And because a depends on c (2), a cannot be used.",
      "5. And because you require a, the requirements are unsatisfiable.",
    ]);
  });

  test("missing packages are named with the sources searched", async () => {
    const err = await failure([{ name: "a", version: "1.0", requires: ["ghost>=1"] }], ["a"]);
    expect(err.explanation).toMatch(/ghost has no usable version \(searched memory:\/\/index\/\)/);
  });

  test("extras stay on the base version and pull their dependencies", async () => {
    const index: MemoryDist[] = [
      { name: "web", version: "2.0", extras: { socks: ["pysocks>=1"] } },
      { name: "web", version: "1.0", extras: { socks: ["pysocks>=1"] } },
      { name: "pysocks", version: "1.7" },
      { name: "app", version: "1.0", requires: ["web[socks]<2"] },
    ];
    expect(await pins(index, ["app", "web"])).toEqual(["app==1.0", "pysocks==1.7", "web==1.0[socks]"]);
    expect(await pins(index, ["web[Socks]"])).toEqual(["pysocks==1.7", "web==2.0[socks]"]);
  });

  test("an extra the version does not provide is a warning", async () => {
    const r = await run([{ name: "web", version: "1.0" }], ["web[nope]"]);
    expect(r.packages.map((p) => [p.name, p.extras])).toEqual([["web", ["nope"]]]);
    expect(r.warnings).toEqual(['web 1.0 does not provide the extra "nope"']);
  });

  test("markers select dependencies for the target", async () => {
    const index: MemoryDist[] = [
      { name: "a", version: "1.0", requires: ["winonly; sys_platform == 'win32'", "py311; python_version >= '3.11'"] },
      { name: "py311", version: "1.0" },
    ];
    expect(await pins(index, ["a"])).toEqual(["a==1.0", "py311==1.0"]);
    expect(await pins(index, ["a; python_version < '3'"])).toEqual([]);
  });

  test("constraints limit versions but never add packages; a URL constraint is refused", async () => {
    const index: MemoryDist[] = [
      { name: "a", version: "2.0" },
      { name: "a", version: "1.0" },
      { name: "b", version: "1.0" },
    ];
    expect(await pins(index, ["a"], { constraints: ["a<2", "b==1.0", "unused==9"] })).toEqual(["a==1.0"]);
    const err = await failure(index, ["a>=2"], { constraints: ["a<2"] });
    expect(err.explanation).toBe("1. Because the constraint a<2 forbids a>=2 and you require a>=2, the requirements are unsatisfiable.");
    expect(err.derivation.nodes.find((n) => n.kind === "constraint")).toMatchObject({ reason: "a<2" });
    await expect(run(index, ["a"], { constraints: ["a @ https://example.org/a-1.0-py3-none-any.whl"] })).rejects.toThrow(InvalidInputError);
  });

  test("pre-release policy: stable preferred, pre-release only when necessary, allowed, or never", async () => {
    const index: MemoryDist[] = [
      { name: "a", version: "1.0" },
      { name: "a", version: "2.0b1" },
      { name: "onlypre", version: "1.0a1" },
    ];
    expect(await pins(index, ["a>=1.0a1"])).toEqual(["a==1.0"]);
    expect(await pins(index, ["a>1.0"])).toEqual(["a==2.0b1"]);
    expect(await pins(index, ["onlypre"])).toEqual(["onlypre==1.0a1"]);
    expect(await pins(index, ["a"], { prereleases: "allow" })).toEqual(["a==2.0b1"]);
    expect(await pins(index, ["a"], { prereleases: "disallow" })).toEqual(["a==1.0"]);
    await failure(index, ["onlypre"], { prereleases: "disallow" });
  });

  test("yanked versions: ignored unless pinned with == (requirement or constraint), and the explanation says so", async () => {
    const index: MemoryDist[] = [
      { name: "y", version: "1.0" },
      { name: "y", version: "2.0", yanked: "broken build" },
    ];
    expect(await pins(index, ["y"])).toEqual(["y==1.0"]);
    expect(await pins(index, ["y==2.0"])).toEqual(["y==2.0"]);
    expect(await pins(index, ["y"], { constraints: ["y==2.0"] })).toEqual(["y==2.0"]);
    const r = await run(index, ["y==2.0"]);
    expect(r.packages[0]!.candidate).toMatchObject({ yanked: true, yankedReason: "broken build" });
    const err = await failure(index, ["y>1"]);
    expect(err.explanation).toMatch(/1 yanked version\(s\) ignored \(pin one with == to use it\)/);
  });

  test("a version whose METADATA Requires-Python excludes the target is skipped, with the reason", async () => {
    // No requires-python on the index listing: only METADATA says so.
    const meta = new MemoryIndex([
      { name: "a", version: "2.0", requiresPython: ">=3.12" },
      { name: "a", version: "1.0", requiresPython: ">=3.8" },
    ]);
    const listing = { ...meta, projectFiles: async (name: string) => (await meta.projectFiles(name)).map((f) => ({ ...f, requiresPython: null })), description: meta.description };
    const finder = new PackageFinder({ sources: [listing], metadata: meta, target });
    expect((await resolve([parseRequirement("a")], { finder, target })).packages.map((p) => p.version.toString())).toEqual(["1.0"]);
    const err = await resolve([parseRequirement("a==2.0")], { finder, target }).catch((e: ResolutionImpossibleError) => e);
    expect((err as ResolutionImpossibleError).explanation).toMatch(/a==2\.0 cannot be used: it requires Python >=3\.12 \(the target has 3\.11(\.0)?\)/);
    expect((err as ResolutionImpossibleError).derivation.nodes.find((n) => n.kind === "unavailable")).toMatchObject({ reason: expect.stringMatching(/^requires Python >=3\.12/) });
  });

  test("an sdist whose metadata needs a build is unavailable when builds are off", async () => {
    const index: MemoryDist[] = [
      { name: "a", version: "2.0", dynamic: true },
      { name: "a", version: "1.0" },
    ];
    expect(await pins(index, ["a"])).toEqual(["a==1.0"]);
    const err = await failure(index, ["a==2.0"]);
    expect(err.explanation).toMatch(/a==2\.0 cannot be used: it only a source distribution is available \(a-2\.0\.tar\.gz\), and building sdists is disabled/);
  });

  test("resolution strategies: lowest, lowest-direct", async () => {
    const index: MemoryDist[] = [
      { name: "a", version: "1.0", requires: ["b"] },
      { name: "a", version: "2.0", requires: ["b"] },
      { name: "b", version: "1.0" },
      { name: "b", version: "2.0" },
    ];
    expect(await pins(index, ["a"])).toEqual(["a==2.0", "b==2.0"]);
    expect(await pins(index, ["a"], { resolution: "lowest" })).toEqual(["a==1.0", "b==1.0"]);
    expect(await pins(index, ["a"], { resolution: "lowest-direct" })).toEqual(["a==1.0", "b==2.0"]);
  });

  test("an unreachable index is a warning when another source answers, an error when none does", async () => {
    const good = new MemoryIndex([{ name: "a", version: "1.0" }]);
    const down = new MemoryIndex([], { unreachable: true, name: "down" });
    const r = await run(good, ["a"], { finder: { sources: [good, down] } });
    expect(r.packages.map((p) => p.name)).toEqual(["a"]);
    expect(r.warnings).toEqual([expect.stringMatching(/^memory:\/\/down\/ could not be read \(connection refused/)]);
    await expect(run(down, ["a"], { finder: { sources: [down] } })).rejects.toMatchObject({ code: "ERR_INDEX_UNREACHABLE" });
  });

  test("metadata is fetched ahead in parallel, and nothing runs once resolve() settles", async () => {
    const dists: MemoryDist[] = [{ name: "root-app", version: "1.0", requires: Array.from({ length: 8 }, (_, i) => `dep${i}`) }];
    for (let i = 0; i < 8; i++) dists.push({ name: `dep${i}`, version: "1.0", requires: [`leaf${i}`] }, { name: `leaf${i}`, version: "1.0" });
    const index = new MemoryIndex(dists, { latency: 20 });
    expect((await pins(index, ["root-app"])).length).toBe(17);
    expect(index.active).toBe(0);
    // The eight dependencies are listed at once, not one after another.
    expect(index.peak).toBeGreaterThanOrEqual(8);
    const failing = new MemoryIndex([{ name: "a", version: "1.0", requires: ["b", "ghost"] }, { name: "b", version: "1.0", requires: ["c"] }, { name: "c", version: "1.0" }], { latency: 20 });
    await failure(failing, ["a"]);
    expect(failing.active).toBe(0);
  });

  test("an aborted resolution stops with AbortError", async () => {
    const ac = new AbortController();
    const index = new MemoryIndex([{ name: "a", version: "1.0", requires: ["b"] }, { name: "b", version: "1.0" }], { latency: 50 });
    setTimeout(() => ac.abort(), 10);
    await expect(run(index, ["a"], { signal: ac.signal })).rejects.toMatchObject({ code: "ABORT_ERR" });
    expect(index.active).toBe(0);
  });
});
