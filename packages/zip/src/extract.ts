import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { IntegrityError, InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { forEachLimit, isPathInside, publishDirectory } from "@cluster-pack/io";
import { entryKey, normalizeMode } from "./names";
import type { ZipEntry, ZipReader } from "./reader";

/** Options of `ZipReader.extractTo`. */
export interface ExtractOptions {
  signal?: AbortSignal;
  /** Only entries for which this returns true are extracted. */
  filter?: (entry: ZipEntry) => boolean;
  /** Only entries under this directory prefix are extracted, with the prefix removed. */
  stripPrefix?: string;
  /** A symlink that would point outside the target: "error" (default) or "skip" it. */
  unsafeSymlinks?: "error" | "skip";
  /** Files written at once (default 4). */
  concurrency?: number;
}

/**
 * Extracts `reader` into `dir` (see ZipReader.extractTo): everything is written into a
 * temporary directory beside `dir` and renamed into place at the end.
 */
export async function extract(reader: ZipReader, dir: string, options: ExtractOptions): Promise<void> {
  const signal = options.signal;
  throwIfAborted(signal);
  const target = path.resolve(dir);
  const existing = await fs.promises.readdir(target).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw new InvalidInputError(`Cannot extract into ${target}: ${err.message}.`, { cause: err, code: "ERR_TARGET" });
  });
  if (existing && existing.length > 0) {
    throw new InvalidInputError(`Cannot extract ${reader.source.name} into ${target}: the directory is not empty.`, { code: "ERR_TARGET_NOT_EMPTY", hint: "choose a new or empty directory." });
  }
  // Written into a temporary sibling directory, swapped in at the end (the empty target, if
  // any, is replaced); on failure or abort the temporary is removed.
  await publishDirectory(target, async (temp) => {
    const prefix = options.stripPrefix ? options.stripPrefix.replace(/\/*$/, "/") : "";
    const jobs: Array<{ entry: ZipEntry; rel: string }> = [];
    for (const entry of reader.entries) {
      if (options.filter && !options.filter(entry)) continue;
      if (prefix && !entry.name.startsWith(prefix)) continue;
      const rel = entryKey(entry.name.slice(prefix.length));
      if (rel === "") continue;
      jobs.push({ entry, rel });
    }
    // Directories first (sorted, so parents before children), then files, then symlinks.
    const dirs = jobs.filter((j) => j.entry.isDirectory).sort((a, b) => (a.rel < b.rel ? -1 : 1));
    for (const { rel } of dirs) {
      throwIfAborted(signal);
      await fs.promises.mkdir(path.join(temp, rel), { recursive: true, mode: 0o755 });
    }
    const files = jobs.filter((j) => !j.entry.isDirectory && !j.entry.isSymlink);
    await forEachLimit(files, options.concurrency ?? 4, async ({ entry, rel }) => {
      throwIfAborted(signal);
      const dest = path.join(temp, rel);
      await fs.promises.mkdir(path.dirname(dest), { recursive: true, mode: 0o755 });
      const input = await reader.openEntryStream(entry, { signal });
      const mode = normalizeMode(entry.mode, "file") & 0o777;
      // "wx": never follow or replace anything already there.
      await pipeline(input, fs.createWriteStream(dest, { flags: "wx", mode }), { signal });
      await fs.promises.chmod(dest, mode);
    });
    // Symlinks last, so no file is ever written through one. They are checked once all
    // exist: a link's meaning can depend on links created after it (`a -> dot/..`, `dot -> .`).
    const links = jobs.filter((j) => j.entry.isSymlink);
    const root = await fs.promises.realpath(temp);
    const created: Array<{ entry: ZipEntry; dest: string; linkTarget: string }> = [];
    const unsafe = (entry: ZipEntry, linkTarget: string) => {
      if (options.unsafeSymlinks === "skip") return;
      throw new IntegrityError(`${reader.source.name}: symlink ${entry.name} -> ${linkTarget} points outside the extraction directory; rejected.`, { code: "ERR_UNSAFE_SYMLINK", hint: `pass unsafeSymlinks: "skip" to leave it out.` });
    };
    for (const { entry, rel } of links) {
      throwIfAborted(signal);
      const linkTarget = (await reader.readEntry(entry, { maxBytes: 4096, signal })).toString("utf8");
      if (linkTarget === "" || linkTarget.includes("\0") || linkTarget.includes("\\") || path.isAbsolute(linkTarget)) {
        unsafe(entry, linkTarget);
        continue;
      }
      const dest = path.join(root, rel);
      await fs.promises.mkdir(path.dirname(dest), { recursive: true, mode: 0o755 });
      await fs.promises.symlink(linkTarget, dest);
      created.push({ entry, dest, linkTarget });
    }
    for (let changed = true; changed; ) {
      changed = false;
      for (const link of [...created]) {
        if (await symlinkStaysInside(root, link.dest, link.linkTarget)) continue;
        unsafe(link.entry, link.linkTarget);
        // Skipped: removing it can change what other links resolve to, so check again.
        await fs.promises.unlink(link.dest);
        created.splice(created.indexOf(link), 1);
        changed = true;
      }
    }
  }, { signal });
}

/**
 * Resolves `target` as the OS would from the link's directory, following symlinks
 * already created (they were all checked the same way), and reports whether every step
 * stays inside `root`. A lexical check alone is not enough: with `a -> .`, the target
 * `a/..` is lexically inside but really the parent.
 */
async function symlinkStaysInside(root: string, linkPath: string, target: string): Promise<boolean> {
  if (target === "" || target.includes("\0") || path.isAbsolute(target) || target.includes("\\")) return false;
  let current = path.dirname(linkPath);
  const pending = target.split("/");
  let hops = 0;
  while (pending.length) {
    const part = pending.shift()!;
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (current === root) return false;
      current = path.dirname(current);
      continue;
    }
    const next = path.join(current, part);
    const stat = await fs.promises.lstat(next).catch(() => undefined);
    if (stat?.isSymbolicLink()) {
      if (++hops > 40) return false;
      const inner = await fs.promises.readlink(next);
      if (path.isAbsolute(inner)) return false;
      pending.unshift(...inner.split("/"));
      continue;
    }
    current = next;
  }
  return isPathInside(root, current);
}

