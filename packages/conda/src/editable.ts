import fs from "node:fs/promises";
import path from "node:path";
import { InvalidInputError } from "@cluster-pack/errors";
import { fsPath, isPathInside } from "@cluster-pack/io";
import { canonicalizeName } from "@cluster-pack/packaging";
import type { EnvEntry } from "./walk";

/** A package whose code is not inside the environment (pip install -e, setup.py develop). */
export interface EditableInstall {
  name: string;
  /** The source directory (or URL) the environment points to. */
  location: string;
  /** The file in the environment that revealed it. */
  evidence: string;
}

const SITE_FILE = /^(?:lib\/python[^/]+|Lib)\/site-packages\/([^/]+)$/;
const DIRECT_URL = /^(?:lib\/python[^/]+|Lib)\/site-packages\/([^/]+)\.dist-info\/direct_url\.json$/;

/**
 * Finds editable installs the way pip leaves them: `direct_url.json` with
 * `dir_info.editable`, `__editable__.*.pth` finders, `.egg-link` files, and `.pth` lines
 * naming a directory outside the environment.
 */
export async function findEditableInstalls(prefix: string, entries: readonly EnvEntry[]): Promise<EditableInstall[]> {
  const found = new Map<string, EditableInstall>();
  const add = (e: EditableInstall) => {
    const key = canonicalizeName(e.name);
    if (!found.has(key)) found.set(key, e);
  };
  for (const entry of entries) {
    if (entry.type !== "file") continue;
    const du = DIRECT_URL.exec(entry.path);
    if (du) {
      const json = await readJson(fsPath(entry.absolute));
      const dirInfo = json?.dir_info as { editable?: unknown } | undefined;
      if (dirInfo?.editable === true) {
        add({ name: du[1]!.replace(/-[^-]+$/, ""), location: String(json?.url ?? "").replace(/^file:\/\//, ""), evidence: entry.path });
      }
      continue;
    }
    const m = SITE_FILE.exec(entry.path);
    if (!m) continue;
    const base = m[1]!;
    if (base.endsWith(".egg-link")) {
      const first = (await fs.readFile(fsPath(entry.absolute), "utf8").catch(() => "")).split("\n")[0]?.trim() ?? "";
      if (first && isOutside(prefix, first)) add({ name: base.slice(0, -".egg-link".length), location: first, evidence: entry.path });
    } else if (base.endsWith(".pth")) {
      const text = await fs.readFile(fsPath(entry.absolute), "utf8").catch(() => "");
      if (base.startsWith("__editable__")) {
        const name = base.replace(/^__editable__\.?/, "").replace(/\.pth$/, "").replace(/-[^-]*$/, "");
        const dir = text
          .split("\n")
          .map((l) => l.trim())
          .find((l) => l.startsWith("/"));
        add({ name, location: dir ?? "(import hook)", evidence: entry.path });
        continue;
      }
      for (const raw of text.split("\n")) {
        const line = raw.trim();
        if (!line || line.startsWith("#") || /^import[\s\t]/.test(line)) continue;
        const dir = path.resolve(path.dirname(entry.absolute), line);
        if (isOutside(prefix, dir)) add({ name: base.replace(/\.pth$/, ""), location: dir, evidence: entry.path });
      }
    }
  }
  return [...found.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Refuses editable installs (their code would be missing from the archive) unless `ignore`; then warns. */
export function checkEditableInstalls(prefix: string, found: readonly EditableInstall[], ignore: boolean, what: string, warnings: string[]): void {
  if (found.length === 0) return;
  const list = found.map((e) => `${e.name} (${e.location})`).join(", ");
  if (!ignore) {
    throw new InvalidInputError(
      `${prefix} has editable installs whose code lives outside the ${what}: ${list}`,
      { code: "ERR_EDITABLE_PACKAGES", hint: "install them normally, or pass ignoreEditablePackages (--ignore-editable-packages) and ship their code separately." },
    );
  }
  warnings.push(`editable installs are not packed (their code stays outside the ${what}): ${list}`);
}

function isOutside(prefix: string, p: string): boolean {
  return !isPathInside(prefix, path.resolve(prefix, p));
}

async function readJson(file: string | Buffer): Promise<Record<string, unknown> | null> {
  try {
    const v = JSON.parse(await fs.readFile(file, "utf8"));
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
