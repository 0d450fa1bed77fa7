import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { escapeName } from "@cluster-pack/packaging";
import { ZipWriter } from "@cluster-pack/zip";

/** A distribution to generate for tests. */
export interface FakeDist {
  name: string;
  version: string;
  requires?: string[];
  extras?: Record<string, string[]>;
  requiresPython?: string;
  /** Wheel tag triple(s), default py3-none-any. */
  tag?: string;
  /** console_scripts entry points: name -> "module:function". */
  scripts?: Record<string, string>;
  /** More files, by path in the wheel (`x.pth`, `<name>-<version>.data/scripts/tool`, ...). */
  files?: Record<string, string>;
}

/** The file name a FakeDist is written under. */
export function wheelFilename(d: FakeDist): string {
  return `${escapeName(d.name)}-${d.version}-${d.tag ?? "py3-none-any"}.whl`;
}

/** The file name a FakeDist's sdist is written under. */
export function sdistFilename(d: FakeDist): string {
  return `${escape(d.name).toLowerCase()}-${d.version}.tar.gz`;
}

/** The METADATA text of a FakeDist. */
export function metadataText(d: FakeDist): string {
  const lines = ["Metadata-Version: 2.1", `Name: ${d.name}`, `Version: ${d.version}`];
  if (d.requiresPython) lines.push(`Requires-Python: ${d.requiresPython}`);
  for (const r of d.requires ?? []) lines.push(`Requires-Dist: ${r}`);
  for (const [extra, reqs] of Object.entries(d.extras ?? {})) {
    lines.push(`Provides-Extra: ${extra}`);
    for (const r of reqs) lines.push(`Requires-Dist: ${r.includes(";") ? `${r} and extra == "${extra}"` : `${r} ; extra == "${extra}"`}`);
  }
  return `${lines.join("\n")}\n\n`;
}

/** Writes a real wheel (module, METADATA, WHEEL, RECORD with hashes) into `dir`; returns its path. */
export async function writeWheel(dir: string, d: FakeDist): Promise<string> {
  const distInfo = `${escapeName(d.name)}-${d.version}.dist-info`;
  const mod = escapeName(d.name).toLowerCase();
  const files: [string, string][] = [
    [`${mod}/__init__.py`, `__version__ = ${JSON.stringify(d.version)}\n`],
    [`${distInfo}/METADATA`, metadataText(d)],
    [`${distInfo}/WHEEL`, `Wheel-Version: 1.0\nGenerator: cluster-pack-test-kit\nRoot-Is-Purelib: true\nTag: ${d.tag ?? "py3-none-any"}\n`],
  ];
  if (d.scripts) {
    files[0]![1] += `\ndef main():\n    print("hello from ${d.name} ${d.version}")\n`;
    files.push([`${distInfo}/entry_points.txt`, `[console_scripts]\n${Object.entries(d.scripts).map(([n, t]) => `${n} = ${t}`).join("\n")}\n`]);
  }
  for (const [n, c] of Object.entries(d.files ?? {})) files.push([n, c]);
  const record = files.map(([n, c]) => `${n},sha256=${crypto.createHash("sha256").update(c).digest("base64url")},${Buffer.byteLength(c)}`);
  record.push(`${distInfo}/RECORD,,`);
  files.push([`${distInfo}/RECORD`, `${record.join("\n")}\n`]);
  const w = new ZipWriter();
  for (const [n, c] of files) w.addBuffer(n, c);
  fs.mkdirSync(dir, { recursive: true });
  const out = path.join(dir, wheelFilename(d));
  await w.writeTo(out);
  return out;
}

/** Writes a .tar.gz sdist with static PKG-INFO (Metadata-Version 2.2) and a pyproject.toml. */
export async function writeSdist(dir: string, d: FakeDist, options: { staticMetadata?: boolean } = {}): Promise<string> {
  const { default: tar } = await import("tar-stream");
  const zlib = await import("node:zlib");
  const base = sdistFilename(d).slice(0, -".tar.gz".length);
  const pack = tar.pack();
  const pkgInfo = metadataText(d).replace("Metadata-Version: 2.1", options.staticMetadata === false ? "Metadata-Version: 2.1" : "Metadata-Version: 2.2");
  const entries: [string, string][] = [
    [`${base}/PKG-INFO`, pkgInfo],
    [`${base}/pyproject.toml`, `[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = ${JSON.stringify(d.name)}\nversion = ${JSON.stringify(d.version)}\n${d.requiresPython ? `requires-python = ${JSON.stringify(d.requiresPython)}\n` : ""}dependencies = ${JSON.stringify(d.requires ?? [])}\n`],
    [`${base}/${escapeName(d.name).toLowerCase()}/__init__.py`, `__version__ = ${JSON.stringify(d.version)}\n`],
  ];
  for (const [name, content] of entries) pack.entry({ name, mtime: new Date(0), mode: 0o644 }, content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack.pipe(zlib.createGzip())) chunks.push(c as Buffer);
  fs.mkdirSync(dir, { recursive: true });
  const out = path.join(dir, sdistFilename(d));
  fs.writeFileSync(out, Buffer.concat(chunks));
  return out;
}

/**
 * A small find-links directory for CLI tests: app 1.0 (lib>=2; winlib on Windows; extra
 * "fast" -> speedup), lib 2.1 and 1.0, speedup 0.5, winlib 1.0. Returns the directory and
 * the options that resolve from it alone for linux cp311.
 */
export async function writeCliFixture(root: string): Promise<{ links: string; args: string[] }> {
  const links = path.join(root, "links");
  await writeWheel(links, { name: "app", version: "1.0", requires: ["lib>=2", "winlib; sys_platform == 'win32'"], extras: { fast: ["speedup"] } });
  await writeWheel(links, { name: "lib", version: "2.1" });
  await writeWheel(links, { name: "lib", version: "1.0" });
  await writeWheel(links, { name: "speedup", version: "0.5" });
  await writeWheel(links, { name: "winlib", version: "1.0" });
  return { links, args: ["--isolated", "--no-index", "-f", links, "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "--cache-dir", path.join(root, "cache")] };
}
