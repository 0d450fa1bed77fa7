import { MemoryDependencyProvider, type MemoryVersions } from "../test-kit/memory-provider";
import { buildDerivation, explainDerivation, type Derivation } from "./report";
import { solve } from "./solver";

async function run(
  requirements: Record<string, string>,
  packages: Record<string, MemoryVersions>,
  signal?: AbortSignal,
  constraints?: Record<string, string>,
): Promise<{ pins?: Record<string, string>; lines?: string[]; derivation?: Derivation }> {
  const provider = new MemoryDependencyProvider(requirements, packages, constraints);
  const result = await solve(provider, { signal });
  if (result.solved) return { pins: provider.pins(result.decisions) };
  const derivation = buildDerivation(result.conclusion, provider.root, provider);
  if (process.env.SHOW) console.log(explainDerivation(derivation).join("\n"));
  return { lines: explainDerivation(derivation), derivation };
}

// The examples of pub's solver documentation (doc/solver.md), ^1.0.0 written >=1,<2.
describe("PubGrub core on an in-memory provider", () => {
  test("no conflicts", async () => {
    expect(await run({ foo: ">=1,<2" }, { foo: { "1.0.0": { bar: ">=1,<2" } }, bar: { "1.0.0": {}, "2.0.0": {} } })).toEqual({ pins: { foo: "1.0.0", bar: "1.0.0" } });
  });

  test("avoiding a conflict during decision making", async () => {
    const r = await run({ foo: ">=1,<2", bar: ">=1,<2" }, { foo: { "1.1.0": { bar: ">=2,<3" }, "1.0.0": {} }, bar: { "1.0.0": {}, "1.1.0": {}, "2.0.0": {} } });
    expect(r).toEqual({ pins: { foo: "1.0.0", bar: "1.1.0" } });
  });

  test("performing conflict resolution", async () => {
    const r = await run({ foo: ">=1" }, { foo: { "2.0.0": { bar: ">=1,<2" }, "1.0.0": {} }, bar: { "1.0.0": { foo: ">=1,<2" } } });
    expect(r).toEqual({ pins: { foo: "1.0.0" } });
  });

  test("conflict resolution with a partial satisfier", async () => {
    const r = await run(
      { foo: ">=1,<2", target: ">=2,<3" },
      {
        foo: { "1.1.0": { left: ">=1,<2", right: ">=1,<2" }, "1.0.0": {} },
        left: { "1.0.0": { shared: ">=1" } },
        right: { "1.0.0": { shared: "<2" } },
        shared: { "2.0.0": {}, "1.0.0": { target: ">=1,<2" } },
        target: { "2.0.0": {}, "1.0.0": {} },
      },
    );
    expect(r).toEqual({ pins: { foo: "1.0.0", target: "2.0.0" } });
  });

  test("linear error reporting", async () => {
    const r = await run({ foo: ">=1,<2", baz: ">=1,<2" }, { foo: { "1.0.0": { bar: ">=2,<3" } }, bar: { "2.0.0": { baz: ">=3,<4" } }, baz: { "1.0.0": {}, "3.0.0": {} } });
    expect(r.lines).toEqual([
      "Because foo >=1,<2 depends on bar >=2,<3 and bar >=2,<3 depends on baz >=3,<4, foo >=1,<2 depends on baz >=3,<4.",
      "And because root depends on foo >=1,<2 and root depends on baz >=1,<2, version solving failed.",
    ]);
  });

  test("branching error reporting cites a conclusion explained once by its line number", async () => {
    const r = await run(
      { foo: ">=1,<2" },
      {
        foo: { "1.0.0": { a: ">=1,<2", b: ">=1,<2" }, "1.1.0": { x: ">=1,<2", y: ">=1,<2" } },
        a: { "1.0.0": { b: ">=2,<3" } },
        b: { "1.0.0": {}, "2.0.0": {} },
        x: { "1.0.0": { y: ">=2,<3" } },
        y: { "1.0.0": {}, "2.0.0": {} },
      },
    );
    expect(r.lines).toEqual([
      "Because a >=1,<2 depends on b >=2,<3 and foo ==1.0.0 depends on a >=1,<2, foo ==1.0.0 depends on b >=2,<3.",
      "And because foo ==1.0.0 depends on b >=1,<2, foo ==1.0.0 is forbidden.",
      "Because x >=1,<2 depends on y >=2,<3 and foo ==1.1.0 depends on x >=1,<2, foo ==1.1.0 depends on y >=2,<3.",
      "And because foo ==1.1.0 depends on y >=1,<2, foo ==1.1.0 is forbidden.",
      "And because foo ==1.0.0 is forbidden (2), foo >=1,<2 is forbidden.",
      "And because root depends on foo >=1,<2, version solving failed.",
    ]);
  });

  test("an unavailable version is skipped; a missing package is reported", async () => {
    expect(await run({ a: "" }, { a: { "2.0": "its metadata is broken", "1.0": {} } })).toEqual({ pins: { a: "1.0" } });
    const r = await run({ a: "" }, { a: { "2.0": "its metadata is broken", "1.0": { ghost: ">=1" } } });
    expect(r.lines).toEqual(["Because a ==1.0 depends on ghost >=1, a ==1.0 is forbidden.", "And because a ==2.0 is unavailable (its metadata is broken) and root depends on a, version solving failed."]);
    // A requirement that matches no version fails on its own: "a is not in {}" always holds.
    const none = await run({ a: ">=3" }, { a: { "1.0": {} } });
    expect(none.lines).toEqual(["Because root depends on a >=3, version solving failed."]);
    expect(none.derivation!.nodes).toMatchObject([{ kind: "requirement", terms: [{ package: "a", versions: ">=3", positive: false }] }, { kind: "derived", causes: [0, 0] }]);
  });

  test("constraints limit versions once their package is in the graph, and never add it", async () => {
    const packages = { a: { "2.0": { c: "" }, "1.0": {} }, c: { "1.0": {} }, d: { "1.0": {} } };
    expect(await run({ a: "" }, packages, undefined, { c: "<1", d: "==1.0" })).toEqual({ pins: { a: "1.0" } });
    const r = await run({ a: "==2.0" }, packages, undefined, { c: "<1" });
    expect(r.lines).toEqual([
      "Because a ==2.0 depends on c and the constraint c<1 forbids c, a ==2.0 is forbidden.",
      "And because root depends on a ==2.0, version solving failed.",
    ]);
    expect(r.derivation!.nodes.find((n) => n.kind === "constraint")).toMatchObject({ reason: "c<1", terms: [{ package: "c", versions: "", positive: true }] });
  });

  test("the derivation lists causes before conclusions, facts as leaves", async () => {
    const { derivation } = await run({ a: "==1.0", b: "" }, { a: { "1.0": { c: "<2" } }, b: { "1.0": { c: ">=2" } }, c: { "1.0": {}, "2.0": {} } });
    const nodes = derivation!.nodes;
    expect(nodes[nodes.length - 1]).toMatchObject({ kind: "derived", terms: [], text: "version solving failed" });
    for (const n of nodes) {
      expect(n.id).toBe(nodes.indexOf(n));
      for (const c of n.causes ?? []) expect(c).toBeLessThan(n.id);
      expect(n.kind === "derived").toBe(n.causes !== undefined);
    }
    expect(nodes.filter((n) => !n.causes).map((n) => `${n.kind}: ${n.text}`).sort()).toEqual([
      "dependency: a ==1.0 depends on c <2",
      "dependency: b depends on c >=2",
      "requirement: root depends on a ==1.0",
      "requirement: root depends on b",
    ]);
    expect(nodes.find((n) => n.text === "a ==1.0 depends on c <2")!.terms).toEqual([
      { package: "a", versions: "==1.0", positive: true },
      { package: "c", versions: "<2", positive: false },
    ]);
    expect(JSON.parse(JSON.stringify(derivation))).toEqual(derivation);
  });

  test("an aborted signal stops the solver", async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(run({ a: "" }, { a: { "1.0": {} } }, ac.signal)).rejects.toMatchObject({ code: "ABORT_ERR" });
  });
});
