import fs from "node:fs/promises";
import path from "node:path";
import { throwIfAborted } from "@cluster-pack/errors";
import type { FileMode } from "./relocate";

/** One entry of an environment, as found on disk. Paths are relative and `/`-separated. */
export interface EnvEntry {
  path: string;
  type: "file" | "symlink" | "directory";
  /** Permission bits as found (before normalisation). */
  mode: number;
  size: number;
  /** Absolute path of the entry inside the environment. */
  absolute: string;
  /** For symlinks: the link target as stored. */
  linkTarget?: string;
  relocation: Relocation;
}

/**
 * How an entry's content must be relocated:
 * - `none`: copied as is;
 * - `scan`: unknown origin (pip installs, generated files, uncached packages): UTF-8
 *   text containing the prefix gets a text record, anything else is copied as is;
 * - `placeholder`: a managed file with a known placeholder; `source` is where its
 *   content is read from (the package cache copy, which still has the full-length
 *   placeholder, or the environment's own file).
 */
export type Relocation =
  | { kind: "none" }
  | { kind: "scan" }
  | { kind: "placeholder"; placeholder: string; mode: FileMode; source: string };

/** Walks `root` (not following symlinks) and returns every entry below it, sorted by path. */
export async function walkTree(root: string, signal?: AbortSignal): Promise<EnvEntry[]> {
  const out: EnvEntry[] = [];
  const dirs: string[] = [""];
  while (dirs.length > 0) {
    throwIfAborted(signal);
    const batch = dirs.splice(0, 32);
    const listed = await Promise.all(
      batch.map(async (rel) => ({ rel, items: await fs.readdir(path.join(root, rel), { withFileTypes: true }) })),
    );
    const stats: Promise<void>[] = [];
    for (const { rel, items } of listed) {
      for (const item of items) {
        const relPath = rel ? `${rel}/${item.name}` : item.name;
        const absolute = path.join(root, relPath);
        if (item.isDirectory()) dirs.push(relPath);
        stats.push(
          (async () => {
            const st = await fs.lstat(absolute);
            if (st.isDirectory()) {
              out.push({ path: relPath, type: "directory", mode: st.mode & 0o7777, size: 0, absolute, relocation: { kind: "none" } });
            } else if (st.isSymbolicLink()) {
              const linkTarget = await fs.readlink(absolute);
              out.push({ path: relPath, type: "symlink", mode: 0o777, size: 0, absolute, linkTarget, relocation: { kind: "none" } });
            } else if (st.isFile()) {
              out.push({ path: relPath, type: "file", mode: st.mode & 0o7777, size: st.size, absolute, relocation: { kind: "scan" } });
            }
            // Sockets, FIFOs and devices have no place in an archive: skipped.
          })(),
        );
      }
    }
    await Promise.all(stats);
  }
  return out.sort((a, b) => comparePaths(a.path, b.path));
}

/** Orders paths so that a directory comes right before its contents (tar and zip readers like that). */
export function comparePaths(a: string, b: string): number {
  const x = a.split("/");
  const y = b.split("/");
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  }
  return x.length - y.length;
}

/** Resolves where a symlink points, relative to the environment root, or null when outside. */
export function symlinkInside(root: string, entryPath: string, target: string): string | null {
  const abs = path.resolve(path.dirname(path.join(root, entryPath)), target);
  const rel = path.relative(root, abs);
  if (rel === "" || rel.startsWith("..") || path.isAbsolute(rel)) return null;
  return rel.split(path.sep).join("/");
}
