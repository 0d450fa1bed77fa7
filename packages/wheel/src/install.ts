import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { Transform } from "node:stream";
import { IntegrityError, throwIfAborted } from "@cluster-pack/errors";
import { forEachLimit, isPathInside, publishFile, toPosix, writeFileAtomic } from "@cluster-pack/io";
import { isSafeEntryName, ZipReader, type RandomAccessSource, type ZipEntry, type ZipWriter } from "@cluster-pack/zip";
import { readWheelMetadata, type WheelMetadata } from "./metadata";
import { formatRecord, parseRecord, recordHash, RecordVerifier, type RecordEntry } from "./record";
import { scriptLauncher } from "./scripts";
import type { RecordCheck } from "./verify";

/** Where each part of a wheel goes (the sysconfig scheme keys that PEP 427 names). */
export interface InstallScheme {
  purelib: string;
  platlib: string;
  scripts: string;
  headers: string;
  data: string;
}

export type SchemeKey = keyof InstallScheme;

export interface InstallCommonOptions {
  /** Shebang interpreter for console/gui script launchers and `#!python` scripts. */
  interpreter?: string;
  /** Content of `.dist-info/INSTALLER` (default `cluster-pack`). */
  installer?: string;
  /** Written as `.dist-info/direct_url.json` (PEP 610) when given. */
  directUrl?: Record<string, unknown>;
  /** Writes an empty `.dist-info/REQUESTED` when true. */
  requested?: boolean;
  signal?: AbortSignal;
}

export interface InstallWheelOptions extends InstallCommonOptions {
  scheme: InstallScheme;
  /** Files written in parallel (default 8). */
  concurrency?: number;
}

export interface InstalledWheel {
  metadata: WheelMetadata;
  /** Absolute paths of every file written, RECORD included. */
  files: string[];
  /** Launchers and scripts written under `scheme.scripts`. */
  scripts: string[];
  /** The rewritten RECORD rows (paths relative to the dist-info's parent directory). */
  record: RecordEntry[];
}

export interface AddWheelToZipOptions extends InstallCommonOptions {
  /** Entry-name prefix of the installed chroot, e.g. `.deps/six-1.16.0-py2.py3-none-any.whl/`. */
  prefix: string;
  /** Layout of the chroot; default is pex's: libs at the root, `bin/`, `include/<name>/`, data at the root. */
  chrootScheme?: InstallScheme;
  /**
   * When true, raw entries are copied without the writer's inline RECORD check; the caller
   * MUST then verify the returned `checks` (e.g. with a WheelVerifier, off the main thread
   * and memoised per wheel content) before trusting the archive.
   */
  deferVerification?: boolean;
}

/** What a PEX build needs of a wheel added to a zip (also what a cached plan replays). */
export interface WheelZipFacts {
  metadata: WheelMetadata;
  /** The RECORD text written into the chroot (every file with its hash and size). */
  recordText: string;
  /**
   * sha1 of that RECORD: every installed file's hash is in it and each copied byte is
   * checked against it while the archive is written, so it fingerprints the whole chroot.
   */
  fingerprint: string;
  files: number;
  /** Uncompressed bytes of all installed files. */
  bytes: number;
}

export interface ZipInstalledWheel extends WheelZipFacts {
  /** The raw entries copied from the wheel with their RECORD rows (verified inline unless `deferVerification`). */
  checks: RecordCheck[];
  /** What was added to the writer, in order, names relative to the prefix (what a plan cache records). */
  added: AddedZipEntry[];
}

/** One entry addWheelToZip added: a raw copy of a wheel entry, or generated content. */
export interface AddedZipEntry {
  /** Name below the prefix. */
  rel: string;
  mode: number;
  entry?: ZipEntry;
  content?: Buffer;
}

/**
 * The installed-wheel chroot layout of a PEX's `.deps/<wheel>/` (relative to the prefix),
 * pex's: the importable root at the top, scripts, headers and data under `.prefix/`, where
 * they are not importable (`import bin` must fail as in a venv). The PEX runtime extracts
 * `.prefix/` as a venv-like prefix three levels above the importable root, so RECORD's
 * paths become the `../../../bin/...` a venv has (packages/pex/python/_cluster_pack_pex/extract.py).
 */
export const PEX_CHROOT_SCHEME: InstallScheme = { purelib: "", platlib: "", scripts: ".prefix/bin", headers: ".prefix/include/site/pythonX.Y", data: ".prefix" };

/**
 * Installs a wheel into a directory scheme (a site-packages tree, a venv, a target dir).
 * Every file is verified against RECORD while it is written (IntegrityError naming the
 * wheel and file on mismatch); files are written to a temporary name and renamed, and on
 * any failure or abort every file already written is removed.
 */
export async function installWheel(wheel: WheelInput, options: InstallWheelOptions): Promise<InstalledWheel> {
  const { reader, owned, name } = await openWheelReader(wheel);
  const written: string[] = [];
  try {
    const plan = await planInstall(reader, name, options);
    const scheme = options.scheme;
    const distInfoBase = plan.metadata.wheel.rootIsPurelib ? scheme.purelib : scheme.platlib;
    const target = (key: SchemeKey, rel: string) => path.join(scheme[key], ...rel.split("/"));
    const recordRows: RecordEntry[] = [];
    const scripts: string[] = [];
    const tasks: (() => Promise<void>)[] = [];
    for (const f of plan.files) {
      const dest = target(f.key, f.rel);
      assertInside(scheme[f.key], dest, name, f.rel);
      const rel = toPosix(path.relative(distInfoBase, dest));
      if (f.key === "scripts") scripts.push(dest);
      if (f.content) {
        const content = f.content;
        tasks.push(async () => {
          await writeFileAtomic(dest, content, { mode: f.executable ? 0o755 : 0o644, signal: options.signal });
          written.push(dest);
        });
        recordRows.push({ path: rel, hash: recordHash(content), size: content.length });
      } else {
        const entry = f.entry!;
        const rec = f.record!;
        tasks.push(async () => {
          await writeEntryAtomic(reader, entry, dest, f.executable, new RecordVerifier(name, rec), options.signal);
          written.push(dest);
        });
        recordRows.push({ path: rel, hash: rec.hash!, size: rec.size ?? entry.uncompressedSize });
      }
    }
    await forEachLimit(tasks, options.concurrency ?? 8, (task) => task(), { signal: options.signal });
    const recordPath = path.join(distInfoBase, ...plan.metadata.distInfoDir.split("/"), "RECORD");
    recordRows.push({ path: toPosix(path.relative(distInfoBase, recordPath)) });
    recordRows.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    await writeFileAtomic(recordPath, formatRecord(recordRows), { signal: options.signal });
    written.push(recordPath);
    return { metadata: plan.metadata, files: written.slice(), scripts, record: recordRows };
  } catch (err) {
    await Promise.all(written.map((f) => fs.promises.rm(f, { force: true })));
    throw err;
  } finally {
    if (owned) await reader.close();
  }
}

/**
 * Adds a wheel, installed, under `options.prefix` of a ZipWriter (a PEX's
 * `.deps/<wheel file name>/`). Entries are raw copies of the wheel's compressed bytes
 * (no inflate/deflate); each is verified against RECORD by the writer's `verify` hook,
 * so a lying wheel fails the archive write. Returns the chroot's RECORD and fingerprint.
 */
export async function addWheelToZip(writer: ZipWriter, reader: ZipReader, wheelName: string, options: AddWheelToZipOptions): Promise<ZipInstalledWheel> {
  const prefix = options.prefix.endsWith("/") || options.prefix === "" ? options.prefix : `${options.prefix}/`;
  const chroot = options.chrootScheme ?? PEX_CHROOT_SCHEME;
  const plan = await planInstall(reader, wheelName, { ...options, interpreter: options.interpreter ?? "python" });
  const name = plan.metadata.filename.filename;
  const rows: RecordEntry[] = [];
  const checks: RecordCheck[] = [];
  const added: AddedZipEntry[] = [];
  let bytes = 0;
  for (const f of plan.files) {
    let base = chroot[f.key];
    if (f.key === "headers") base = joinRel(base, plan.metadata.filename.name);
    const rel = joinRel(base, f.rel);
    if (!isSafeEntryName(rel)) throw new IntegrityError(`${name}: ${f.rel} would be installed outside the chroot; the wheel is malicious or malformed.`);
    const mode = f.executable ? 0o755 : 0o644;
    if (f.content) {
      writer.addBuffer(prefix + rel, f.content, { mode });
      added.push({ rel, mode, content: f.content });
      rows.push({ path: rel, hash: recordHash(f.content), size: f.content.length });
      bytes += f.content.length;
    } else {
      const entry = f.entry!;
      const rec = f.record!;
      checks.push({ entry, record: rec });
      added.push({ rel, mode, entry });
      writer.addRawEntry(prefix + rel, reader, entry, {
        mode,
        ...(options.deferVerification
          ? {}
          : {
              verify: async (inflated: NodeJS.ReadableStream) => {
                const v = new RecordVerifier(name, rec);
                for await (const chunk of inflated as AsyncIterable<Buffer>) v.update(chunk);
                v.check();
              },
            }),
      });
      rows.push({ path: rel, hash: rec.hash!, size: rec.size ?? entry.uncompressedSize });
      bytes += entry.uncompressedSize;
    }
  }
  const recordRel = recordRelOf(plan.metadata, chroot);
  rows.push({ path: recordRel });
  rows.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const recordText = formatRecord(rows);
  writer.addBuffer(prefix + recordRel, recordText, { mode: 0o644 });
  added.push({ rel: recordRel, mode: 0o644, content: Buffer.from(recordText) });
  return {
    metadata: plan.metadata,
    recordText,
    fingerprint: createHash("sha1").update(recordText).digest("hex"),
    files: rows.length,
    bytes: bytes + Buffer.byteLength(recordText),
    checks,
    added,
  };
}

/** The name of an installed wheel's RECORD below the chroot's prefix. */
function recordRelOf(metadata: WheelMetadata, chroot: InstallScheme): string {
  return joinRel(chroot[metadata.wheel.rootIsPurelib ? "purelib" : "platlib"], `${metadata.distInfoDir}/RECORD`);
}

/**
 * A wheel added to a zip (addWheelToZip, addPlannedWheelToZip) once more files were added
 * to its chroot (bytecode compiled for it): its RECORD with their rows, sorted as
 * addWheelToZip writes it, the fingerprint and counts of that RECORD, and the RECORD's
 * name below the prefix (for ZipWriter.replaceBuffer). A row for a file the RECORD already
 * lists is refused.
 */
export function addRecordRows(facts: WheelZipFacts, rows: readonly RecordEntry[], chrootScheme: InstallScheme = PEX_CHROOT_SCHEME): { facts: WheelZipFacts; recordRel: string } {
  const name = facts.metadata.filename.filename;
  const existing = parseRecord(facts.recordText, `${name} RECORD`);
  const listed = new Set(existing.map((r) => r.path));
  for (const r of rows) {
    if (listed.has(r.path)) throw new IntegrityError(`${name}: ${r.path} is already in its RECORD.`);
    listed.add(r.path);
  }
  const all = [...existing, ...rows].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const recordText = formatRecord(all);
  const added = rows.reduce((n, r) => n + (r.size ?? 0), 0);
  return {
    recordRel: recordRelOf(facts.metadata, chrootScheme),
    facts: {
      metadata: facts.metadata,
      recordText,
      fingerprint: createHash("sha1").update(recordText).digest("hex"),
      files: all.length,
      bytes: facts.bytes - Buffer.byteLength(facts.recordText) + Buffer.byteLength(recordText) + added,
    },
  };
}

/** A wheel to install: a path, a random-access source, or an open reader with its file name. */
export type WheelInput = string | RandomAccessSource | { reader: ZipReader; name: string };

/** Opens a wheel for reading; `owned` says whether the caller must close it. */
export async function openWheelReader(wheel: WheelInput): Promise<{ reader: ZipReader; owned: boolean; name: string }> {
  if (typeof wheel === "object" && "reader" in wheel) return { reader: wheel.reader, owned: false, name: path.basename(wheel.name) };
  const reader = await ZipReader.open(wheel);
  return { reader, owned: true, name: path.basename(typeof wheel === "string" ? wheel : wheel.name) };
}

interface PlannedFile {
  key: SchemeKey;
  /** Path below the scheme directory, `/`-separated. */
  rel: string;
  executable: boolean;
  /** A raw entry of the wheel to copy (verified against `record`) ... */
  entry?: ZipEntry;
  record?: RecordEntry;
  /** ... or generated content. */
  content?: Buffer;
}

interface InstallPlan {
  metadata: WheelMetadata;
  files: PlannedFile[];
}

const SCHEME_KEYS = new Set<SchemeKey>(["purelib", "platlib", "scripts", "headers", "data"]);
const SIGNATURE_FILES = new Set(["RECORD", "RECORD.jws", "RECORD.p7s"]);

/**
 * Shared by both targets: reads metadata and RECORD, checks that RECORD and the archive
 * agree file for file, maps `.data/<key>/` to scheme keys, rewrites `#!python` scripts and
 * generates launchers, INSTALLER, direct_url.json and REQUESTED.
 */
async function planInstall(reader: ZipReader, wheelName: string, options: InstallCommonOptions): Promise<InstallPlan> {
  throwIfAborted(options.signal);
  const metadata = await readWheelMetadata(reader, wheelName, options);
  const name = metadata.filename.filename;
  const recordEntry = reader.getEntry(`${metadata.distInfoDir}/RECORD`);
  if (!recordEntry) throw new IntegrityError(`${name}: ${metadata.distInfoDir}/RECORD is missing; refusing to install a wheel that cannot be verified.`);
  const record = parseRecord((await reader.readEntry(recordEntry, { maxBytes: 64 * 1024 * 1024, signal: options.signal })).toString("utf8"), name);
  const byPath = new Map<string, RecordEntry>();
  for (const r of record) {
    if (!isSafeEntryName(r.path)) throw new IntegrityError(`${name}: RECORD lists "${r.path}", which escapes the install directory; the wheel is malicious or malformed.`);
    byPath.set(r.path, r);
  }
  const interpreter = options.interpreter ?? "python";
  const rootKey: SchemeKey = metadata.wheel.rootIsPurelib ? "purelib" : "platlib";
  const files: PlannedFile[] = [];
  const seen = new Set<string>();
  for (const entry of reader.entries) {
    if (entry.isDirectory) continue;
    if (!isSafeEntryName(entry.name)) throw new IntegrityError(`${name}: entry "${entry.name}" escapes the install directory; the wheel is malicious.`);
    if (entry.isSymlink) throw new IntegrityError(`${name}: entry "${entry.name}" is a symbolic link, which wheels may not contain.`);
    const distInfoFile = entry.name.startsWith(`${metadata.distInfoDir}/`) ? entry.name.slice(metadata.distInfoDir.length + 1) : undefined;
    if (distInfoFile !== undefined && SIGNATURE_FILES.has(distInfoFile)) continue;
    if (distInfoFile === "INSTALLER" || distInfoFile === "direct_url.json" || distInfoFile === "REQUESTED") continue; // ours replace them
    const rec = byPath.get(entry.name);
    if (!rec || !rec.hash) throw new IntegrityError(`${name}: ${entry.name} is not listed with a hash in RECORD; refusing to install an unverifiable file.`);
    seen.add(entry.name);
    const executable = (entry.mode & 0o111) !== 0;
    let key: SchemeKey = rootKey;
    let rel = entry.name;
    if (entry.name.startsWith(`${metadata.dataDir}/`)) {
      const rest = entry.name.slice(metadata.dataDir.length + 1);
      const slash = rest.indexOf("/");
      const k = rest.slice(0, slash) as SchemeKey;
      if (slash <= 0 || !SCHEME_KEYS.has(k)) throw new IntegrityError(`${name}: ${entry.name} is under ${metadata.dataDir}/ but "${rest.slice(0, slash)}" is not a scheme key (purelib, platlib, scripts, headers, data).`);
      key = k;
      rel = rest.slice(slash + 1);
      if (key === "scripts") {
        const data = await reader.readEntry(entry, { maxBytes: 256 * 1024 * 1024, signal: options.signal });
        const v = new RecordVerifier(name, rec);
        v.update(data);
        v.check();
        files.push({ key, rel, executable: true, content: rewritePythonShebang(data, interpreter) });
        continue;
      }
    }
    files.push({ key, rel, executable, entry, record: rec });
  }
  for (const r of record) {
    if (r.path.endsWith("/") || SIGNATURE_FILES.has(r.path.slice(metadata.distInfoDir.length + 1))) continue;
    if (!seen.has(r.path) && r.hash && !/\.dist-info\/(INSTALLER|direct_url\.json|REQUESTED)$/.test(r.path)) {
      throw new IntegrityError(`${name}: RECORD lists ${r.path} but the wheel has no such file; the wheel is incomplete.`);
    }
  }
  const scripts = new Map<string, PlannedFile>();
  for (const f of files) if (f.key === "scripts") scripts.set(f.rel, f);
  for (const group of ["console_scripts", "gui_scripts"]) {
    for (const [script, value] of Object.entries(metadata.entryPoints[group] ?? {})) {
      if (!/^[\w.-]+$/.test(script)) throw new IntegrityError(`${name}: ${group} name "${script}" is not a valid file name.`);
      scripts.set(script, { key: "scripts", rel: script, executable: true, content: Buffer.from(scriptLauncher(value, interpreter, `${name}: ${group} ${script}`)) });
    }
  }
  const out = files.filter((f) => f.key !== "scripts");
  out.push(...scripts.values());
  const distInfo = (file: string, content: string): PlannedFile => ({ key: rootKey, rel: `${metadata.distInfoDir}/${file}`, executable: false, content: Buffer.from(content) });
  out.push(distInfo("INSTALLER", `${options.installer ?? "cluster-pack"}\n`));
  if (options.directUrl) out.push(distInfo("direct_url.json", JSON.stringify(options.directUrl)));
  if (options.requested) out.push(distInfo("REQUESTED", ""));
  return { metadata, files: out };
}

/** PEP 427: a script starting with `#!python` (or `#!pythonw`) gets the real interpreter. */
function rewritePythonShebang(data: Buffer, interpreter: string): Buffer {
  const m = /^#!pythonw?(\r?\n)/.exec(data.subarray(0, 16).toString("latin1"));
  if (!m) return data;
  return Buffer.concat([Buffer.from(`#!${interpreter}${m[1]}`), data.subarray(m[0].length)]);
}

function joinRel(base: string, rel: string): string {
  return base ? `${base}/${rel}` : rel;
}

function assertInside(root: string, dest: string, wheel: string, rel: string): void {
  if (!isPathInside(path.resolve(root), path.resolve(dest))) throw new IntegrityError(`${wheel}: ${rel} would be installed outside ${root}; the wheel is malicious or malformed.`);
}

async function writeEntryAtomic(reader: ZipReader, entry: ZipEntry, dest: string, executable: boolean, verifier: RecordVerifier, signal?: AbortSignal): Promise<void> {
  throwIfAborted(signal);
  await publishFile(
    dest,
    async (tmp, ctx) => {
      const input = await reader.openEntryStream(entry, signal ? { signal } : {});
      const out = ctx.track(fs.createWriteStream(tmp, { flags: "wx", mode: executable ? 0o755 : 0o644 }));
      // One pipeline for the three streams: an error anywhere (a CRC that fails at the end of
      // the entry) reaches every stream's handlers, never an unhandled 'error' on the file.
      const hash = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          verifier.update(chunk);
          cb(null, chunk);
        },
      });
      await pipeline(input, hash, out, signal ? { signal } : {});
      verifier.check();
    },
    { signal },
  );
}
