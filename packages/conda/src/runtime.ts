import fs from "node:fs";
import path from "node:path";

/** One conda-unpack record: [path relative to the prefix, placeholder to replace, mode]. */
export type UnpackRecord = [path: string, placeholder: string, mode: "text" | "binary"];

/**
 * The runtime files shipped inside archives live as real files in ../runtime (tested with
 * real interpreters and shells), found from both src/ and dist/.
 */
const RUNTIME_DIR = path.join(__dirname, "..", "runtime");

// Runs the file with the environment's own bin/python; an environment without python
// (an R or C++ toolchain env) falls back to python3 on PATH.
const PREAMBLE = `#!/bin/sh
'''exec' "$(d=$(dirname -- "$0"); if [ -x "$d/python" ]; then echo "$d/python"; else command -v python3 || echo python; fi)" "$0" "$@"
' '''
`;
const RECORDS_LINE = "RECORDS = json.loads(r'''[]''')";

/**
 * bin/conda-unpack: a sh preamble that re-runs the file with the environment's own
 * bin/python (no other Python needed), then runtime/conda_unpack.py with the records.
 */
export function condaUnpackScript(records: readonly UnpackRecord[]): string {
  const source = readRuntime("conda_unpack.py");
  if (!source.includes(RECORDS_LINE)) throw new Error("internal: runtime/conda_unpack.py lost its RECORDS line");
  // Inside r'''...''': JSON never ends with a backslash, and quotes are escaped so no ''' appears.
  const json = JSON.stringify(records).replace(/'/g, "\\u0027");
  // A function replacement: a string one would expand $&, $` and $$ in file names.
  return PREAMBLE + source.replace(RECORDS_LINE, () => `RECORDS = json.loads(r'''${json}''')`);
}

/** bin/activate; `prefix` is where it believes the environment is (rewritten by conda-unpack). */
export function activateScript(prefix: string): string {
  return readRuntime("activate.sh").replace("@PREFIX@", () => prefix);
}

export function deactivateScript(): string {
  return readRuntime("deactivate.sh");
}

const cache = new Map<string, string>();

function readRuntime(name: string): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = fs.readFileSync(path.join(RUNTIME_DIR, name), "utf8");
    cache.set(name, text);
  }
  return text;
}
