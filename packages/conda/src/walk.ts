import fsSync from "node:fs";
import path from "node:path";
import { throwIfAborted } from "@cluster-pack/errors";
import { decodeFileName, fsPath, isPathInside } from "@cluster-pack/io";
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

/**
 * Walks `root` (not following symlinks) and returns every entry below it, sorted by path;
 * names that are not UTF-8 are kept byte for byte (see `readNames`).
 * Synchronous lstat/readdir: on a warm cache they cost microseconds, far less than a
 * thread-pool round trip per entry (50,000 entries: ~0.3 s instead of ~3 s). The walk
 * yields to the event loop between directories so an abort is seen.
 */
export async function walkTree(root: string, signal?: AbortSignal): Promise<EnvEntry[]> {
  const out: EnvEntry[] = [];
  const dirs: string[] = [""];
  let sinceYield = 0;
  while (dirs.length > 0) {
    if (++sinceYield >= 64) {
      sinceYield = 0;
      await new Promise<void>((r) => setImmediate(r));
    }
    throwIfAborted(signal);
    const rel = dirs.pop()!;
    for (const name of readNames(path.join(root, rel))) {
      const relPath = rel ? `${rel}/${name}` : name;
      const absolute = path.join(root, relPath);
      let st: fsSync.Stats;
      try {
        st = fsSync.lstatSync(fsPath(absolute));
      } catch {
        continue; // Gone between readdir and lstat: it was never part of the environment.
      }
      if (st.isDirectory()) {
        dirs.push(relPath);
        out.push({ path: relPath, type: "directory", mode: st.mode & 0o7777, size: 0, absolute, relocation: { kind: "none" } });
      } else if (st.isSymbolicLink()) {
        const linkTarget = decodeFileName(fsSync.readlinkSync(fsPath(absolute), { encoding: "buffer" }));
        out.push({ path: relPath, type: "symlink", mode: 0o777, size: 0, absolute, linkTarget, relocation: { kind: "none" } });
      } else if (st.isFile()) {
        out.push({ path: relPath, type: "file", mode: st.mode & 0o7777, size: st.size, absolute, relocation: { kind: "scan" } });
      }
      // Sockets, FIFOs and devices have no place in an archive: skipped.
    }
  }
  return sortByPath(out, (e) => e.path);
}

/**
 * A directory's entry names, exactly: Node decodes names as UTF-8 and turns invalid bytes
 * into U+FFFD (the entry then opens nothing and would be silently lost); when that shows,
 * the names are read again as bytes and kept by `decodeFileName` (use `fsPath` to open them).
 */
function readNames(dir: string): string[] {
  const names = fsSync.readdirSync(fsPath(dir));
  if (!names.some((n) => n.includes("\uFFFD"))) return names;
  return fsSync.readdirSync(fsPath(dir), { encoding: "buffer" }).map(decodeFileName);
}

/**
 * Sorts so that a directory comes right before its contents (tar and zip readers like
 * that): compares paths with "/" ranked below every other character.
 */
export function sortByPath<T>(items: T[], key: (item: T) => string): T[] {
  const keyed = items.map((item) => ({ item, k: key(item).replaceAll("/", "\u0000") }));
  keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  return keyed.map((x) => x.item);
}

/** Resolves where a symlink points, relative to the environment root, or null when outside. */
export function symlinkInside(root: string, entryPath: string, target: string): string | null {
  const abs = path.resolve(path.dirname(path.join(root, entryPath)), target);
  const rel = path.relative(root, abs);
  if (rel === "" || !isPathInside(root, abs)) return null;
  return rel.split(path.sep).join("/");
}
