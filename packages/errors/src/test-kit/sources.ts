import fs from "node:fs";
import path from "node:path";

/**
 * The shipped TypeScript of the workspaces, for the tests that scan it (declared error
 * codes, fixes kept out of messages): every `.ts` under a workspace's `src/` except tests,
 * test kits, fixtures, declaration files and the files named in `skip`.
 */
export const REPO_ROOT = path.resolve(__dirname, "../../../..");

/** Every workspace directory (`packages/*`, `apps/*`) that has a `src/`, sorted. */
export function workspaceDirs(): string[] {
  const out: string[] = [];
  for (const group of ["packages", "apps"]) {
    for (const entry of fs.readdirSync(path.join(REPO_ROOT, group)).sort()) {
      const dir = path.join(REPO_ROOT, group, entry);
      if (fs.existsSync(path.join(dir, "src"))) out.push(dir);
    }
  }
  return out;
}

/** The shipped `.ts` files under `dir`/src. */
export function shippedSources(dir: string, skip: readonly string[] = []): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== "test-kit" && e.name !== "__fixtures__") walk(p);
      } else if (e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") && !e.name.endsWith(".d.ts") && e.name !== "test-kit.ts" && !skip.includes(e.name)) out.push(p);
    }
  };
  walk(path.join(dir, "src"));
  return out;
}
