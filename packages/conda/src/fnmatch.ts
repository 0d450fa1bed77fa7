/**
 * Include/exclude filters with the semantics of conda-pack's `--include` / `--exclude`:
 * Python `fnmatch` patterns (where `*` also matches `/`), applied in the order given;
 * an exclude drops matching files from the current selection, an include brings back
 * matching files from the whole environment.
 *
 * Hand-written because glob libraries (minimatch, picomatch) implement shell globbing,
 * where `*` stops at `/`; conda-pack users' patterns rely on Python's fnmatch.
 */

export type PathFilter = { exclude: string } | { include: string };

/** Applies `filters` in order to `paths` (relative, `/`-separated); keeps the input order. */
export function applyPathFilters<T extends string>(paths: readonly T[], filters: readonly PathFilter[]): T[] {
  if (filters.length === 0) return [...paths];
  const selected = new Set<T>(paths);
  for (const filter of filters) {
    if ("exclude" in filter) {
      const re = fnmatchToRegExp(filter.exclude);
      for (const p of selected) if (re.test(p)) selected.delete(p);
    } else {
      const re = fnmatchToRegExp(filter.include);
      for (const p of paths) if (re.test(p)) selected.add(p);
    }
  }
  return paths.filter((p) => selected.has(p));
}

/** Python's `fnmatch.translate`: `*`, `?`, `[seq]`, `[!seq]`; matches the whole string. */
export function fnmatchToRegExp(pattern: string): RegExp {
  let out = "";
  let i = 0;
  const n = pattern.length;
  while (i < n) {
    const c = pattern[i++]!;
    if (c === "*") {
      // Consecutive stars are one star.
      while (pattern[i] === "*") i++;
      out += "[\\s\\S]*";
    } else if (c === "?") {
      out += "[\\s\\S]";
    } else if (c === "[") {
      let j = i;
      if (pattern[j] === "!") j++;
      if (pattern[j] === "]") j++;
      while (j < n && pattern[j] !== "]") j++;
      if (j >= n) {
        // No closing bracket: a literal "[", as in Python.
        out += "\\[";
      } else {
        let body = pattern.slice(i, j);
        i = j + 1;
        let negate = false;
        if (body.startsWith("!")) {
          negate = true;
          body = body.slice(1);
        }
        // Escape what is special inside a JS class but literal in fnmatch; keep ranges.
        body = body.replace(/[\\\]^[]/g, (m) => `\\${m}`);
        out += body === "" ? (negate ? "[\\s\\S]" : "(?!)") : `[${negate ? "^" : ""}${body}]`;
      }
    } else {
      out += c.replace(/[.*+?^${}()|[\]\\/]/g, (m) => `\\${m}`);
    }
  }
  return new RegExp(`^${out}$`, "u");
}
