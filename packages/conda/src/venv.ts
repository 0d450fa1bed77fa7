import fs from "node:fs/promises";
import path from "node:path";
import { InvalidInputError } from "@cluster-pack/errors";
import { readSource, type ArchiveItem } from "./archive";
import { checkEditableInstalls, findEditableInstalls, type EditableInstall } from "./editable";
import { checkOutputOutside, fileMode, generated, itemFor, linkWarnings, writeEnvironment, resolveCommon, selectEntries, type LinkNotes, type PackOptionsBase, type PackResult } from "./pack-conda";
import { isText } from "./relocate";
import { walkTree, type EnvEntry } from "./walk";

/**
 * How the unpacked venv finds its interpreter:
 * - `path` (default): `bin/python*` become a small launcher running `pythonX.Y` from the
 *   target's PATH as this venv's interpreter (pyvenv.cfg beside it keeps the venv's
 *   site-packages); works wherever a matching Python is installed.
 * - `ship`: the base interpreter (binary, libpython, stdlib without site-packages and
 *   tests) is packed as `base-python/`, and `bin/python*` run it with PYTHONHOME and
 *   LD_LIBRARY_PATH pointing there: no Python needed on the target at all. (PYTHONHOME
 *   is inherited by child processes: a child running another Python must unset it.)
 * - `keep`: as venv-pack: the links to the build machine's interpreter are kept, so it
 *   only runs where the same interpreter path exists.
 */
export type VenvInterpreterMode = "path" | "ship" | "keep";

/** Where `ship` mode puts the base interpreter inside the venv. */
export const SHIPPED_PYTHON_DIR = "base-python";

export interface PackVenvOptions extends PackOptionsBase {
  /** The venv or virtualenv (a directory with pyvenv.cfg). */
  prefix: string;
  interpreter?: VenvInterpreterMode;
  /** Pack even with editable installs (their code stays outside). Default false. */
  ignoreEditablePackages?: boolean;
}

export interface VenvInfo {
  prefix: string;
  /** `X.Y`. */
  pythonVersion: string;
  /** pyvenv.cfg's `home`: the directory of the interpreter it was made from. */
  home: string | null;
  editableInstalls: EditableInstall[];
}

/** Reads what venv packing needs from a venv: pyvenv.cfg and the Python version. */
export async function readVenv(prefixIn: string): Promise<VenvInfo> {
  const prefix = await fs.realpath(path.resolve(prefixIn)).catch((err) => {
    throw new InvalidInputError(`${prefixIn} does not exist`, { cause: err, code: "ERR_NOT_A_VENV", hint: "pass the path of a venv." });
  });
  const cfgText = await fs.readFile(path.join(prefix, "pyvenv.cfg"), "utf8").catch(() => null);
  if (cfgText === null) {
    throw new InvalidInputError(`${prefixIn} is not a venv: it has no pyvenv.cfg`, {
      code: "ERR_NOT_A_VENV",
      hint: `create it with "python3 -m venv", or pack a conda environment with conda packing.`,
    });
  }
  const cfg = parsePyvenvCfg(cfgText);
  let version = /^(\d+\.\d+)/.exec(cfg.version ?? cfg.version_info ?? "")?.[1] ?? null;
  if (!version) {
    const libs = await fs.readdir(path.join(prefix, "lib")).catch(() => [] as string[]);
    version = libs.map((l) => /^python(\d+\.\d+)$/.exec(l)?.[1]).find(Boolean) ?? null;
  }
  if (!version) throw new InvalidInputError(`${prefix}/pyvenv.cfg has no version and there is no lib/pythonX.Y: the venv is incomplete`, { code: "ERR_NOT_A_VENV", hint: "recreate it." });
  return { prefix, pythonVersion: version, home: cfg.home ?? null, editableInstalls: [] };
}

/** Packs a venv: the venv-pack replacement, with launchers that make it independent of the build machine. */
export async function packVenv(options: PackVenvOptions): Promise<PackResult> {
  const common = await resolveCommon(options);
  const { signal } = options;
  const venv = await readVenv(options.prefix);
  const { prefix, pythonVersion } = venv;
  await checkOutputOutside(prefix, options.output);
  const mode = options.interpreter ?? "path";
  if (mode !== "path" && mode !== "ship" && mode !== "keep") {
    throw new InvalidInputError(`interpreter "${String(mode)}" is not one of path, ship, keep`, { code: "ERR_BAD_OPTION" });
  }
  const warnings: string[] = [];
  const entries = await walkTree(prefix, signal);
  checkEditableInstalls(prefix, await findEditableInstalls(prefix, entries), Boolean(options.ignoreEditablePackages), "venv", warnings);
  const selected = selectEntries(entries, options.filters ?? []);
  const items: ArchiveItem[] = [];
  let relocatedFiles = 0;
  const notes: LinkNotes = { outside: [], dangling: [] };
  if (mode === "ship") items.push(...(await shippedInterpreter(prefix, pythonVersion, options, notes)));
  for (const entry of selected) {
    if (mode !== "keep" && isInterpreterLink(entry)) {
      items.push(generated(entry.path, mode === "path" ? pathLauncher(pythonVersion) : shipLauncher(pythonVersion), 0o755));
      relocatedFiles++;
      continue;
    }
    if (mode === "ship" && (entry.path === SHIPPED_PYTHON_DIR || entry.path.startsWith(`${SHIPPED_PYTHON_DIR}/`))) continue;
    const item = await itemFor(entry, prefix, options, notes);
    if (!item) continue;
    if (mode !== "keep" && entry.path === "pyvenv.cfg" && entry.type === "file") {
      const text = (await readSource(entry.absolute, entry.path, entry.size)).toString("utf8");
      const data = Buffer.from(pathModePyvenvCfg(text));
      item.load = async () => data;
      items.push(item);
      continue;
    }
    if (entry.type === "file" && entry.path.startsWith("bin/") && entry.size < 1024 * 1024) {
      const data = await readSource(entry.absolute, entry.path, entry.size);
      const fixed = relocateVenvScript(entry.path, data, prefix);
      if (fixed) {
        item.load = async () => fixed;
        relocatedFiles++;
      } else {
        item.load = async () => data;
      }
    }
    items.push(item);
  }
  warnings.push(...linkWarnings(notes));
  return writeEnvironment(items, common, options, { kind: "venv", relocatedFiles, warnings });
}

/** `key = value` lines. */
export function parsePyvenvCfg(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*([^=#]+?)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) out[m[1]!.toLowerCase()] = m[2]!;
  }
  return out;
}

/**
 * Makes a bin/ script relocatable: a python shebang pointing into the venv becomes a sh
 * preamble that runs the script with the interpreter beside it (works without
 * activation, unlike venv-pack's `#!/usr/bin/env python`); activate scripts compute
 * VIRTUAL_ENV from their own location. Returns null when nothing needs changing.
 */
export function relocateVenvScript(relPath: string, data: Buffer, prefix: string): Buffer | null {
  if (!data.includes(Buffer.from(prefix)) || !isText(data)) return null;
  const text = data.toString("utf8");
  const base = relPath.slice(relPath.lastIndexOf("/") + 1);
  if (base === "activate") {
    // bash/zsh/sh: `VIRTUAL_ENV="/old"` or `VIRTUAL_ENV='/old'` (3.12+), possibly exported later.
    const dynamic = `"$(cd "$(dirname -- "\${BASH_SOURCE[0]:-$0}")/.." && pwd)"`;
    return Buffer.from(text.replace(new RegExp(`(["'])${escapeRegExp(prefix)}\\1`, "g"), () => dynamic));
  }
  if (base === "activate.fish") {
    return Buffer.from(text.replace(new RegExp(`(["'])${escapeRegExp(prefix)}\\1`, "g"), () => "(dirname (dirname (status -f)))"));
  }
  if (base === "activate.csh") {
    return Buffer.from(text.replace(new RegExp(`(["'])${escapeRegExp(prefix)}\\1`, "g"), () => '"`dirname \\"`dirname \\"$_\\"`\\"`"'));
  }
  const nl = text.indexOf("\n");
  const first = nl < 0 ? text : text.slice(0, nl);
  const m = /^#!\s*(\S+)(?:[ \t]+(.*))?$/.exec(first);
  if (!m || !m[1]!.startsWith(`${prefix}/bin/`)) return null;
  const name = m[1]!.slice(prefix.length + 5);
  const args = (m[2] ?? "").trim();
  if (!/^python/.test(name)) return Buffer.from(`#!/usr/bin/env ${args ? `-S ${name} ${args}` : name}${nl < 0 ? "" : text.slice(nl)}`);
  // The trick pip uses for over-long shebangs: valid sh on top, a string literal for Python.
  const preamble = `#!/bin/sh\n'''exec' "$(dirname -- "$0")/${name}"${args ? ` ${args}` : ""} "$0" "$@"\n' '''\n`;
  return Buffer.from(preamble + (nl < 0 ? "" : text.slice(nl + 1)));
}

/**
 * In `path` mode the build machine's `home` must not steer the target's interpreter to
 * another installation's stdlib: without it, the interpreter found on PATH uses its own.
 */
export function pathModePyvenvCfg(text: string): string {
  return text.replace(/^(\s*home\s*=.*)$/m, "# $1 (removed by cluster-pack: bin/python runs the python found on PATH)");
}

/** The launcher that replaces bin/python* in `path` mode. */
export function pathLauncher(version: string): string {
  return `#!/bin/bash
# cluster-pack: runs python${version} from PATH (skipping this directory) as this venv's
# interpreter; argv[0] inside the venv makes Python read ../pyvenv.cfg and use the venv.
d=$(cd -- "$(dirname -- "\${BASH_SOURCE[0]}")" && pwd -P)
IFS=: read -r -a dirs <<< "$PATH"
for p in "\${dirs[@]}"; do
  [ -n "$p" ] || continue
  [ "$p" -ef "$d" ] && continue
  if [ -x "$p/python${version}" ] && [ ! -d "$p/python${version}" ]; then
    exec -a "$d/$(basename -- "$0")" "$p/python${version}" "$@"
  fi
done
echo "$d/$(basename -- "$0"): python${version} was not found on PATH; install Python ${version} or add it to PATH" >&2
exit 127
`;
}

/** The launcher that replaces bin/python* in `ship` mode. */
export function shipLauncher(version: string): string {
  return `#!/bin/bash
# cluster-pack: runs the interpreter shipped in ../${SHIPPED_PYTHON_DIR} as this venv's
# interpreter; argv[0] inside the venv makes Python read ../pyvenv.cfg and use the venv.
d=$(cd -- "$(dirname -- "\${BASH_SOURCE[0]}")" && pwd -P)
h="$(dirname -- "$d")/${SHIPPED_PYTHON_DIR}"
export PYTHONHOME="$h"
export LD_LIBRARY_PATH="$h/lib\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec -a "$d/$(basename -- "$0")" "$h/bin/python${version}" "$@"
`;
}

/**
 * The base interpreter of a venv, as archive items under base-python/: the real binary
 * behind bin/python, libpython, and the stdlib (its site-packages and test suite left out).
 */
async function shippedInterpreter(prefix: string, version: string, options: PackOptionsBase, notes: LinkNotes): Promise<ArchiveItem[]> {
  const real = await fs.realpath(path.join(prefix, "bin", "python")).catch(() => null);
  const home = real ? path.dirname(path.dirname(real)) : null;
  const stdlib = home ? path.join(home, "lib", `python${version}`) : null;
  if (!real || !home || !stdlib || !(await fs.stat(path.join(stdlib, "os.py")).catch(() => null))) {
    throw new InvalidInputError(
      `cannot ship the interpreter of ${prefix}: bin/python does not lead to an installation with lib/python${version}/os.py`,
      { code: "ERR_NO_BASE_PYTHON", hint: `use interpreter "path" instead.` },
    );
  }
  const items: ArchiveItem[] = [];
  const st = await fs.stat(real);
  items.push({ name: `${SHIPPED_PYTHON_DIR}/bin/python${version}`, type: "file", mode: 0o755, source: real, size: st.size });
  for (const name of (await fs.readdir(path.join(home, "lib"))).sort()) {
    if (!/^libpython\d.*\.so/.test(name)) continue;
    const abs = path.join(home, "lib", name);
    const lst = await fs.lstat(abs);
    if (lst.isSymbolicLink()) items.push({ name: `${SHIPPED_PYTHON_DIR}/lib/${name}`, type: "symlink", mode: 0o777, linkTarget: await fs.readlink(abs) });
    else if (lst.isFile()) items.push({ name: `${SHIPPED_PYTHON_DIR}/lib/${name}`, type: "file", mode: fileMode(lst.mode), source: abs, size: lst.size });
  }
  for (const entry of await walkTree(stdlib, options.signal)) {
    if (/^(site-packages|test)(\/|$)/.test(entry.path)) continue;
    const item = await itemFor(entry, stdlib, options, notes);
    if (item) items.push({ ...item, name: `${SHIPPED_PYTHON_DIR}/lib/python${version}/${entry.path}` });
  }
  return items;
}

function isInterpreterLink(entry: EnvEntry): boolean {
  return entry.type === "symlink" && /^bin\/python(\d+(\.\d+)?)?$/.test(entry.path);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
