import fs from "node:fs";
import path from "node:path";
import { REPO_ROOT as ROOT, shippedSources, workspaceDirs } from "./test-kit/sources";

/**
 * Every error code in a workspace's shipped code (`"ERR_..."` literals outside tests and
 * test kits) is declared in that workspace's `src/error-codes.ts` or in the list of a
 * workspace it depends on, and no list declares a code its package never uses or one a
 * dependency already declares. This is what keeps each package's `*ErrorCode` union true.
 */
const CODE = /["'`]((?:ERR_[A-Z0-9_]+)|ABORT_ERR)["'`]/g;

interface Workspace {
  name: string;
  dir: string;
  deps: string[];
  declared: string[];
}

function workspaces(): Map<string, Workspace> {
  const out = new Map<string, Workspace>();
  for (const dir of workspaceDirs()) {
    const file = path.join(dir, "src", "error-codes.ts");
    if (!fs.existsSync(path.join(dir, "package.json"))) continue;
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { name: string; private?: boolean; dependencies?: Record<string, string>; peerDependencies?: Record<string, string> };
    if (!fs.existsSync(file)) {
      if (pkg.private && !hasCodes(dir)) continue;
      throw new Error(`${pkg.name} has no src/error-codes.ts`);
    }
    // The list is read as text: it is a literal array, and this test must not load the packages.
    const text = fs.readFileSync(file, "utf8");
    const list = /_ERROR_CODES = \[([^\]]*)\]/.exec(text);
    if (!list) throw new Error(`${file} declares no *_ERROR_CODES array`);
    const declared = [...list[1]!.matchAll(/"([A-Z0-9_]+)"/g)].map((m) => m[1]!);
    out.set(pkg.name, { name: pkg.name, dir, deps: Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies }), declared });
  }
  return out;
}

function usedCodes(dir: string): Map<string, string> {
  const used = new Map<string, string>();
  for (const file of shippedSources(dir, ["error-codes.ts"])) for (const m of fs.readFileSync(file, "utf8").matchAll(CODE)) if (!used.has(m[1]!)) used.set(m[1]!, path.relative(ROOT, file));
  return used;
}

function hasCodes(dir: string): boolean {
  return usedCodes(dir).size > 0;
}

function inherited(all: Map<string, Workspace>, name: string, seen = new Set<string>()): Set<string> {
  const out = new Set<string>();
  for (const dep of all.get(name)?.deps ?? []) {
    if (seen.has(dep) || !all.has(dep)) continue;
    seen.add(dep);
    for (const c of all.get(dep)!.declared) out.add(c);
    for (const c of inherited(all, dep, seen)) out.add(c);
  }
  return out;
}

const all = workspaces();

test("every workspace with error codes declares them", () => {
  expect(all.size).toBeGreaterThanOrEqual(10);
});

describe.each([...all.values()].map((w) => [w.name, w] as const))("%s", (_name, w) => {
  const fromDeps = inherited(all, w.name);
  const used = usedCodes(w.dir);

  test("uses no undeclared error code", () => {
    const undeclared = [...used].filter(([c]) => !w.declared.includes(c) && !fromDeps.has(c)).map(([c, file]) => `${c} (${file})`);
    expect(undeclared).toEqual([]);
  });

  test("declares only codes it uses, and none a dependency declares", () => {
    const extra = w.declared.filter((c) => (!used.has(c) && w.name !== "@cluster-pack/errors") || fromDeps.has(c));
    expect(extra).toEqual([]);
  });
});
