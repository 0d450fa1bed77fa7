import fs from "node:fs";
import path from "node:path";

/** The Python package of the runtime, shipped under `.bootstrap/` in every PEX. */
export const BOOTSTRAP_PACKAGE = "_cluster_pack_pex";

/** Directory of the runtime's .py files (beside src/ and dist/ in the package). */
export const RUNTIME_DIR = path.join(__dirname, "..", "python");

let cache: { name: string; data: Buffer }[] | undefined;
let stub: Buffer | undefined;

/** The runtime files, as `.bootstrap/`-relative names, sorted. */
export async function bootstrapFiles(): Promise<{ name: string; data: Buffer }[]> {
  if (!cache) {
    const dir = path.join(RUNTIME_DIR, BOOTSTRAP_PACKAGE);
    const names = (await fs.promises.readdir(dir)).filter((n) => n.endsWith(".py")).sort();
    cache = await Promise.all(names.map(async (n) => ({ name: `${BOOTSTRAP_PACKAGE}/${n}`, data: await fs.promises.readFile(path.join(dir, n)) })));
  }
  return cache;
}

/** The `__main__.py` boot stub. */
export function mainStub(): Buffer {
  stub ??= fs.readFileSync(path.join(RUNTIME_DIR, "__main__.py"));
  return stub;
}
