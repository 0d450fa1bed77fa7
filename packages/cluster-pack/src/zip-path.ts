import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { publishFile } from "@cluster-pack/io";
import { ZipWriter } from "@cluster-pack/zip";

export interface ZipPathOptions {
  /**
   * Put the directory's own name at the root of the archive (`pkg/__init__.py`, what
   * Spark's pyFiles and zipimport need) instead of its content (default true).
   */
  includeBaseName?: boolean;
  /** Where to write the zip (default: a fresh temporary directory, `<basename>.zip`). */
  output?: string;
  /** Deflate entries (default true); false stores them (content that is compressed already). */
  compress?: boolean;
  signal?: AbortSignal;
}

export interface ZipPathResult {
  path: string;
  sha256: string;
  size: number;
  entries: number;
}

/**
 * cluster-pack's `zip_path`: zips a source directory without `*.pyc` / `__pycache__`
 * (stale bytecode breaks imports on other interpreters). Deterministic: the same tree
 * gives the same bytes (sorted entries, fixed timestamps, normalised modes). Written
 * atomically.
 */
export async function zipPath(dir: string, options: ZipPathOptions = {}): Promise<ZipPathResult> {
  const root = path.resolve(dir);
  const st = await fsp.stat(root).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new InvalidInputError(`Cannot zip ${dir}: it is not a directory.`, { hint: "pass the source directory of a package." });
  }
  const base = path.basename(root);
  const prefix = options.includeBaseName === false ? "" : `${base}/`;
  const writer = new ZipWriter({ compress: options.compress ?? true });
  if (prefix) writer.addDirectory(prefix);
  await addTree(writer, root, prefix, new Set([await fsp.realpath(root)]), options.signal);
  const output = options.output ?? path.join(await fsp.mkdtemp(path.join(os.tmpdir(), "cluster-pack-zip-")), `${base}.zip`);
  const target = path.resolve(output);
  const result = await publishFile(target, (tmp) => writer.writeTo(tmp, { signal: options.signal }), { signal: options.signal });
  return { path: target, sha256: result.sha256, size: result.size, entries: result.entries };
}

async function addTree(writer: ZipWriter, dir: string, prefix: string, seen: Set<string>, signal?: AbortSignal): Promise<void> {
  throwIfAborted(signal);
  const entries = (await fsp.readdir(dir)).sort();
  for (const name of entries) {
    if (name === "__pycache__" || name.endsWith(".pyc") || name.endsWith(".pyo")) continue;
    const full = path.join(dir, name);
    // stat follows symlinks: a linked file is shipped as its content, a linked directory
    // is walked once (the `seen` set stops cycles).
    const st = await fsp.stat(full).catch(() => undefined);
    if (!st) continue; // dangling symlink: nothing to ship
    if (st.isDirectory()) {
      const real = await fsp.realpath(full);
      if (seen.has(real)) continue;
      seen.add(real);
      writer.addDirectory(`${prefix}${name}/`);
      await addTree(writer, full, `${prefix}${name}/`, seen, signal);
    } else if (st.isFile()) {
      writer.addFile(`${prefix}${name}`, full, { mode: st.mode });
    }
  }
}
