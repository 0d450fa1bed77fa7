import path from "node:path";
import { forEachLimit } from "@cluster-pack/io";
import { installWheel, type InstalledWheel, type InstallScheme } from "@cluster-pack/wheel";

/** Where and how to install (a site-packages tree: `<prefix>/lib/pythonX.Y/site-packages`, `<prefix>/bin`). */
export interface InstallTreeOptions {
  /** Root of the tree (like a venv's prefix). */
  prefix: string;
  /** "3.11": names lib/python3.11/site-packages. */
  pythonVersion: string;
  /** Interpreter written into console-script launchers (default `<prefix>/bin/python`). */
  interpreter?: string;
  /** Overrides the layout (purelib/platlib/scripts/headers/data). */
  scheme?: InstallScheme;
  /** PEP 610 direct_url.json content per project, for direct references. */
  directUrls?: Map<string, string>;
  /** Projects the user asked for (get an empty REQUESTED file). */
  requested?: Set<string>;
  /** Wheels installed at the same time (default 4). */
  concurrency?: number;
  signal?: AbortSignal;
}

/** The standard POSIX prefix layout for a Python version. */
export function prefixScheme(prefix: string, pythonVersion: string): InstallScheme {
  const site = path.join(prefix, "lib", `python${pythonVersion}`, "site-packages");
  return { purelib: site, platlib: site, scripts: path.join(prefix, "bin"), headers: path.join(prefix, "include", `python${pythonVersion}`), data: prefix };
}

/**
 * Installs downloaded wheels into a directory tree through @cluster-pack/wheel (the PEX
 * builder's installer: RECORD verified while writing, console scripts for `interpreter`,
 * INSTALLER, direct_url.json), so there is one installer in the project.
 */
export async function installDistributions(wheels: Array<{ name: string; path: string }>, options: InstallTreeOptions): Promise<InstalledWheel[]> {
  const scheme = options.scheme ?? prefixScheme(options.prefix, options.pythonVersion);
  const interpreter = options.interpreter ?? path.join(options.prefix, "bin", "python");
  const out: InstalledWheel[] = new Array(wheels.length);
  await forEachLimit(
    wheels,
    options.concurrency ?? 4,
    async (w, i) => {
      const url = options.directUrls?.get(w.name);
      out[i] = await installWheel(w.path, {
        scheme,
        interpreter,
        installer: "cluster-pack",
        requested: options.requested?.has(w.name) ?? false,
        ...(url ? { directUrl: { url, archive_info: {} } } : {}),
        signal: options.signal,
      });
    },
    { signal: options.signal },
  );
  return out;
}
