import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { IntegrityError } from "@cluster-pack/errors";
import { sha256File } from "@cluster-pack/io";
import { parseWheelFilename, tagToString } from "@cluster-pack/packaging";
import { parseRecord, RecordVerifier } from "@cluster-pack/wheel";
import { ZipReader, type RandomAccessSource, type ZipEntry } from "@cluster-pack/zip";
import { shippedBytecode } from "./bytecode";
import { checkPexLayout, openPex, openPexSource, type OpenedPex, type PexLayoutKind } from "./archive";
import { CLUSTER_PACK_PEX_VERSION, contentHash } from "./builder";
import { bootstrapFiles, mainStub } from "./runtime";
import { computePexHash, pexLayers, type PexInfo } from "./pex-info";

export interface PexInspection {
  path: string;
  layout: PexLayoutKind;
  size: number;
  /** "cluster-pack", "pex <version>" or "unknown". */
  builtBy: string;
  pexHash?: string;
  codeHash?: string;
  bootstrapHash?: string;
  entryPoint?: string;
  script?: string;
  interpreterConstraints: string[];
  inheritPath: string;
  stripPexEnv: boolean;
  /** Venv execution mode (PEX-INFO venv). */
  venv: boolean;
  /** Built with `compile`: the interpreter the shipped bytecode is for (PEX-INFO cluster_pack.bytecode). */
  bytecode?: { cacheTag: string; magic: string };
  injectArgs: string[];
  injectEnv: Record<string, string>;
  requirements: string[];
  distributions: PexDistribution[];
  /** Entries of the archive(s); 0 for directories. */
  entries: number;
  /** With `sizes`: the user code's bytes. */
  code?: SizeFacts;
  info: Record<string, unknown>;
}

/** One distribution of a PEX as inspected. */
export interface PexDistribution {
  wheel: string;
  project: string;
  version: string;
  tags: string[];
  fingerprint: string;
  /** Layered layout: the layer file that holds it (PEX-INFO's claim). */
  layer?: { file: string; sha256: string; size: number };
  /** With `sizes`. */
  size?: SizeFacts;
}

/**
 * What a part of a PEX weighs: `shipped` is what travels (compressed entry data; a
 * layer's or a packed `.deps/` zip's file size), `installed` what it extracts to (sum of
 * uncompressed sizes) with its file count. For a layer that is not at hand, only
 * `shipped` (from PEX-INFO) is known.
 */
export interface SizeFacts {
  shipped: number;
  installed?: number;
  files?: number;
}

export interface InspectOptions {
  signal?: AbortSignal;
  /** Add each distribution's (and the user code's) size (reads the central directories). */
  sizes?: boolean;
  /** Layered PEX: directories searched for layer files (default: the PEX's own directory). */
  layerDirs?: string[];
}

/** What a PEX holds: distributions, requirements, hashes, entry point and options. */
export async function inspectPex(pexPath: string, options: InspectOptions = {}): Promise<PexInspection> {
  // A PEX whose zips hold bytes their central directories do not list is refused: what
  // Python runs could differ from what is shown.
  const pex = await openPex(pexPath, { ...options, checkLayout: true });
  try {
    const out = describe(pex);
    if (options.sizes) await addSizes(pex, out, options.layerDirs ?? [path.dirname(path.resolve(pexPath))], options.signal);
    return out;
  } finally {
    await pex.close();
  }
}

/**
 * inspectPex over a random-access source (an uploaded PEX read by range requests: the
 * central directories and PEX-INFO, never the whole file). The layout is not checked
 * byte for byte (that reads every local header): this describes what PEX-INFO and the
 * central directories claim, as `cluster-pack diff` shows it. The source is closed.
 */
export async function inspectPexSource(source: RandomAccessSource, name: string, options: Omit<InspectOptions, "layerDirs"> = {}): Promise<PexInspection> {
  const pex = await openPexSource(source, name, options.signal ? { signal: options.signal } : {});
  try {
    const out = describe(pex);
    if (options.sizes) await addSizes(pex, out, [], options.signal);
    return out;
  } finally {
    await pex.close();
  }
}

/** Adds `size` to each distribution and `code`: from the central directories, packed `.deps/` zips, or layers. */
async function addSizes(pex: OpenedPex, out: PexInspection, layerDirs: string[], signal?: AbortSignal): Promise<void> {
  const sum = (entries: readonly ZipEntry[]): SizeFacts => {
    const files = entries.filter((e) => !e.isDirectory);
    return { shipped: files.reduce((a, e) => a + e.compressedSize, 0), installed: files.reduce((a, e) => a + e.uncompressedSize, 0), files: files.length };
  };
  const zipSize = async (file: string, expectedSize?: number): Promise<SizeFacts | undefined> => {
    const st = await fs.promises.stat(file).catch(() => undefined);
    if (!st?.isFile() || (expectedSize !== undefined && st.size !== expectedSize)) return undefined;
    const reader = await ZipReader.open(file, { maxEntries: 10_000_000, signal });
    try {
      return { ...sum(reader.entries), shipped: st.size };
    } finally {
      await reader.close();
    }
  };
  const layers = new Map(pexLayers(pex.info).map((l) => [l.wheel, l]));
  if (pex.bulk) {
    const groups = new Map<string, ZipEntry[]>();
    const code: ZipEntry[] = [];
    for (const e of pex.bulk.entries) {
      const m = /^\.deps\/([^/]+)\//.exec(e.name);
      if (m) groups.set(m[1]!, [...(groups.get(m[1]!) ?? []), e]);
      else if (!e.name.startsWith(".bootstrap/") && !["PEX-INFO", "__main__.py"].includes(e.name)) code.push(e);
    }
    out.code = sum(code);
    for (const d of out.distributions) {
      const layer = layers.get(d.wheel);
      if (layer) {
        let found: SizeFacts | undefined;
        for (const dir of layerDirs) if (!found) found = await zipSize(path.join(dir, layer.file), layer.size);
        d.size = found ?? { shipped: layer.size };
      } else d.size = sum(groups.get(d.wheel) ?? []);
    }
    return;
  }
  // Packed / loose directories.
  let codeBytes = 0;
  let codeFiles = 0;
  for (const e of await fs.promises.readdir(pex.path, { withFileTypes: true })) {
    if (e.name.startsWith(".") || e.name === "PEX-INFO" || e.name === "__main__.py") continue;
    for (const f of e.isDirectory() ? await fs.promises.readdir(path.join(pex.path, e.name), { withFileTypes: true, recursive: true }) : [e]) {
      if (!f.isFile()) continue;
      codeBytes += (await fs.promises.stat(path.join(f.parentPath ?? pex.path, f.name))).size;
      codeFiles++;
    }
  }
  out.code = { shipped: codeBytes, installed: codeBytes, files: codeFiles };
  for (const d of out.distributions) d.size = (await zipSize(path.join(pex.path, ".deps", d.wheel))) ?? { shipped: 0 };
}

export interface PexVerification {
  path: string;
  ok: boolean;
  /** Each check run, with its outcome. */
  checks: { name: string; ok: boolean; detail?: string }[];
  problems: string[];
}

/**
 * Checks a PEX: every byte of its zips accounted for (both zips of the split layout, the
 * zips of a packed one: no hidden, unlisted or overlapping data), structure (`__main__.py`,
 * PEX-INFO, `.bootstrap/`, every distribution present), `pex_hash` against PEX-INFO, and
 * for PEX files built by cluster-pack every installed file against its chroot's RECORD,
 * each fingerprint, code_hash and bootstrap_hash, and `.bootstrap/` and `__main__.py`
 * byte for byte against the runtime PEX-INFO names (every entry is inflated, so CRCs are
 * checked too).
 */
export async function verifyPex(pexPath: string, options: { signal?: AbortSignal; layerDirs?: string[] } = {}): Promise<PexVerification> {
  const checks: PexVerification["checks"] = [];
  const check = (name: string, ok: boolean, detail?: string) => checks.push(detail === undefined ? { name, ok } : { name, ok, detail });
  let pex: OpenedPex;
  let extraClose: () => Promise<void> = async () => undefined;
  try {
    pex = await openPex(pexPath, options);
  } catch (err) {
    check("open", false, (err as Error).message);
    return finish(pexPath, checks);
  }
  try {
    const info = pex.info;
    try {
      await checkPexLayout(pex, options.signal);
      check("layout", true);
    } catch (err) {
      check("layout", false, (err as Error).message);
    }
    if (info.pexHash) {
      const expected = computePexHash(info);
      check("pex_hash", expected === info.pexHash, expected === info.pexHash ? undefined : `PEX-INFO says ${info.pexHash}, its content hashes to ${expected}`);
    } else check("pex_hash", false, "PEX-INFO has no pex_hash");
    const ours = info.buildProperties.builder === "cluster-pack";
    const layerDirs = options.layerDirs ?? [path.dirname(path.resolve(pexPath))];
    const { files, close, zips } = await listFiles(pex, layerDirs, check, options.signal);
    extraClose = close;
    for (const [name, reader] of zips) {
      // A packed PEX's zips are plain zips: every byte listed, nothing before the first entry.
      try {
        await reader.checkLayout({ signal: options.signal });
        if (reader.prefixLength) throw new Error(`${reader.prefixLength} bytes before its first entry belong to no entry`);
        check(`layout ${name}`, true);
      } catch (err) {
        check(`layout ${name}`, false, (err as Error).message);
      }
    }
    check("__main__.py", files.has("__main__.py"));
    check(".bootstrap", [...files.keys()].some((n) => n.startsWith(".bootstrap/") || n === ".bootstrap"));
    for (const wheel of Object.keys(info.distributions).sort()) {
      const prefix = `.deps/${wheel}/`;
      const present = [...files.keys()].some((n) => n.startsWith(prefix)) || files.has(`.deps/${wheel}`);
      check(`distribution ${wheel}`, present, present ? undefined : `${prefix} is missing`);
      if (present && ours) await verifyDistribution(pex, wheel, info, files, check, options.signal);
    }
    if (ours) {
      const userNames = [...files.keys()].filter((n) => !n.startsWith(".deps/") && !n.startsWith(".bootstrap") && n !== "PEX-INFO" && n !== "__main__.py" && !files.get(n)!.isDir);
      const user: [string, string][] = [];
      for (const n of userNames.sort()) user.push([n, await sha256Of(files.get(n)!, options.signal)]);
      const codeHash = contentHash(user);
      check("code_hash", codeHash === info.codeHash, codeHash === info.codeHash ? undefined : `PEX-INFO says ${info.codeHash}, the user code hashes to ${codeHash}`);
      const bootNames = [...files.keys()].filter((n) => n.startsWith(".bootstrap/") && !files.get(n)!.isDir);
      const bootFiles: [string, string][] = [];
      for (const n of bootNames) bootFiles.push([n.slice(".bootstrap/".length), await sha256Of(files.get(n)!, options.signal)]);
      const bootstrapHash = contentHash(bootFiles);
      check("bootstrap_hash", bootstrapHash === info.bootstrapHash, bootstrapHash === info.bootstrapHash ? undefined : `PEX-INFO says ${info.bootstrapHash}, .bootstrap/ hashes to ${bootstrapHash}`);
      await checkRuntime(pex, info, files, check, options.signal);
    } else {
      check("fingerprints", true, `built by ${builtBy(info)}: fingerprints follow pex's own definition and are not recomputed`);
      check("runtime", true, `built by ${builtBy(info)}: its .bootstrap/ and __main__.py are pex's own and are not compared`);
    }
  } catch (err) {
    check("read", false, (err as Error).message);
  } finally {
    await extraClose();
    await pex.close();
  }
  return finish(pexPath, checks);
}

function finish(p: string, checks: PexVerification["checks"]): PexVerification {
  const problems = checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail ?? "failed"}`);
  return { path: p, ok: problems.length === 0, checks, problems };
}

function describe(pex: OpenedPex): PexInspection {
  const info = pex.info;
  const layers = new Map(pexLayers(info).map((l) => [l.wheel, l]));
  const out: PexInspection = {
    path: pex.path,
    layout: pex.layout,
    size: pex.size,
    builtBy: builtBy(info),
    interpreterConstraints: info.interpreterConstraints,
    inheritPath: info.inheritPath,
    stripPexEnv: info.stripPexEnv,
    venv: info.venv,
    injectArgs: info.injectArgs,
    injectEnv: info.injectEnv,
    requirements: info.requirements,
    distributions: Object.entries(info.distributions)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([wheel, fingerprint]) => {
        // parsePexInfo has checked every key (checkDistributionFilename), so this parses.
        const f = parseWheelFilename(wheel);
        const layer = layers.get(wheel);
        return { wheel, project: f.name, version: f.version.toString(), tags: f.tags.map(tagToString), fingerprint, ...(layer ? { layer: { file: layer.file, sha256: layer.sha256, size: layer.size } } : {}) };
      }),
    entries: (pex.boot?.entries.length ?? 0) + (pex.bulk && pex.bulk !== pex.boot ? pex.bulk.entries.length : 0),
    info: info.raw,
  };
  const bytecode = shippedBytecode(info.raw);
  if (bytecode) out.bytecode = bytecode;
  for (const [k, v] of [
    ["pexHash", info.pexHash],
    ["codeHash", info.codeHash],
    ["bootstrapHash", info.bootstrapHash],
    ["entryPoint", info.entryPoint],
    ["script", info.script],
  ] as const) {
    if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  }
  return out;
}

function builtBy(info: PexInfo): string {
  if (info.buildProperties.builder === "cluster-pack") return `cluster-pack ${String(info.buildProperties.cluster_pack_version ?? "")}`.trim();
  if (info.buildProperties.pex_version) return `pex ${String(info.buildProperties.pex_version)}`;
  return "unknown";
}

/** A file of the PEX, wherever it lives: an entry of a zip, or a file of a directory. */
interface PexFile {
  isDir: boolean;
  reader?: ZipReader;
  entry?: ZipEntry;
  fsPath?: string;
}

/** Every file of the PEX by name; for directory layouts the zip files inside are opened too (closed by `close`). */
async function listFiles(
  pex: OpenedPex,
  layerDirs: string[],
  check: (name: string, ok: boolean, detail?: string) => void,
  signal?: AbortSignal,
): Promise<{ files: Map<string, PexFile>; close: () => Promise<void>; zips: [string, ZipReader][] }> {
  const files = new Map<string, PexFile>();
  const opened: ZipReader[] = [];
  const zips: [string, ZipReader][] = [];
  const addZip = (reader: ZipReader, prefix: string) => {
    for (const e of reader.entries) files.set(prefix + e.name.replace(/\/$/, ""), { isDir: e.isDirectory, reader, entry: e });
  };
  if (pex.boot) addZip(pex.boot, "");
  if (pex.bulk && pex.bulk !== pex.boot) addZip(pex.bulk, "");
  // Layered: each layer found in layerDirs is checked by size and sha256, then read as the
  // packed layout's `.deps/<wheel>` zip it is.
  for (const layer of pexLayers(pex.info)) {
    const candidates = layerDirs.map((d) => path.join(d, layer.file));
    let found: string | undefined;
    for (const c of candidates) if (!found && (await fs.promises.stat(c).then((st) => st.isFile(), () => false))) found = c;
    if (!found) {
      check(`layer ${layer.file}`, false, `the layer of ${layer.wheel} is not in ${layerDirs.join(", ")}`);
      continue;
    }
    const size = (await fs.promises.stat(found)).size;
    const sha256 = size === layer.size ? await sha256File(found, signal ? { signal } : {}) : undefined;
    if (sha256 !== layer.sha256) {
      check(`layer ${layer.file}`, false, size !== layer.size ? `${found} is ${size} bytes, PEX-INFO says ${layer.size}` : `${found} hashes to ${sha256}, PEX-INFO says ${layer.sha256}`);
      continue;
    }
    check(`layer ${layer.file}`, true);
    const reader = await ZipReader.open(found);
    opened.push(reader);
    zips.push([`layer ${layer.file}`, reader]);
    addZip(reader, `.deps/${layer.wheel}/`);
  }
  if (!pex.boot) {
    // Directory layouts: .bootstrap and .deps/<wheel> are zip files (packed) or directories (loose).
    for (const e of await fs.promises.readdir(pex.path, { withFileTypes: true, recursive: true })) {
      const full = path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
      const rel = path.relative(pex.path, full).split(path.sep).join("/");
      files.set(rel, { isDir: e.isDirectory(), fsPath: full });
    }
    for (const name of [".bootstrap", ...Object.keys(pex.info.distributions).map((w) => `.deps/${w}`)]) {
      const f = files.get(name);
      if (f && !f.isDir && f.fsPath) {
        const reader = await ZipReader.open(f.fsPath);
        opened.push(reader);
        zips.push([name, reader]);
        addZip(reader, `${name}/`);
      }
    }
  }
  return {
    files,
    zips,
    close: async () => {
      for (const r of opened) await r.close().catch(() => undefined);
    },
  };
}

/**
 * `.bootstrap/` and `__main__.py` must be, byte for byte, the runtime PEX-INFO names. Its
 * bootstrap_hash names it: when that is the hash of this cluster-pack's runtime, every
 * file is compared with `bootstrapFiles()` and `mainStub()` (a packed PEX's `__main__.py`
 * has a `#!` line first); a runtime this cluster-pack does not ship cannot be compared, and
 * fails the check rather than pass unseen (hashes inside the PEX can be rewritten with it).
 */
async function checkRuntime(pex: OpenedPex, info: PexInfo, files: Map<string, PexFile>, check: (name: string, ok: boolean, detail?: string) => void, signal?: AbortSignal): Promise<void> {
  const runtime = await bootstrapFiles();
  const ours = contentHash(runtime.map((f) => [f.name, createHash("sha256").update(f.data).digest("hex")]));
  if (info.bootstrapHash !== ours) {
    const version = String(info.buildProperties.cluster_pack_version ?? "unknown");
    check("runtime", false, `PEX-INFO names a runtime (bootstrap_hash ${info.bootstrapHash ?? "none"}, cluster-pack ${version}) that this cluster-pack (${CLUSTER_PACK_PEX_VERSION}, bootstrap_hash ${ours}) does not ship, so .bootstrap/ and __main__.py cannot be compared with known bytes; verify it with the cluster-pack that built it, or rebuild it`);
    return;
  }
  const problems: string[] = [];
  const expected = new Map(runtime.map((f) => [`.bootstrap/${f.name}`, f.data]));
  for (const [name, f] of files) {
    if (!name.startsWith(".bootstrap/") || f.isDir) continue;
    const want = expected.get(name);
    if (!want) problems.push(`${name} is not part of the runtime`);
    else if (!(await readAll(f, signal)).equals(want)) problems.push(`${name} differs from the runtime's`);
    expected.delete(name);
  }
  for (const missing of expected.keys()) problems.push(`${missing} is missing`);
  const main = files.get("__main__.py");
  if (main && !main.isDir) {
    let data = await readAll(main, signal);
    if (!pex.boot && data[0] === 0x23 && data[1] === 0x21) data = data.subarray(data.indexOf(0x0a) + 1); // packed: a shebang line first
    if (!data.equals(mainStub())) problems.push("__main__.py differs from the runtime's boot stub");
  }
  check("runtime", problems.length === 0, problems.length ? `${problems.join("; ")} (runtime of cluster-pack ${CLUSTER_PACK_PEX_VERSION}); the PEX was modified` : undefined);
}

async function verifyDistribution(
  pex: OpenedPex,
  wheel: string,
  info: PexInfo,
  files: Map<string, PexFile>,
  check: (name: string, ok: boolean, detail?: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const prefix = `.deps/${wheel}/`;
  const names = [...files.keys()].filter((n) => n.startsWith(prefix) && !files.get(n)!.isDir);
  const recordName = names.find((n) => /^[^/]+\.dist-info\/RECORD$/.test(n.slice(prefix.length)));
  if (!recordName) {
    check(`RECORD ${wheel}`, false, `${prefix}*.dist-info/RECORD is missing`);
    return;
  }
  const recordText = (await readAll(files.get(recordName)!, signal)).toString("utf8");
  const fingerprint = createHash("sha1").update(recordText).digest("hex");
  check(`fingerprint ${wheel}`, fingerprint === info.distributions[wheel], fingerprint === info.distributions[wheel] ? undefined : `PEX-INFO says ${info.distributions[wheel]}, RECORD hashes to ${fingerprint}`);
  const record = new Map(parseRecord(recordText, wheel).map((r) => [r.path, r]));
  const bad: string[] = [];
  for (const n of names) {
    const rel = n.slice(prefix.length);
    const r = record.get(rel);
    if (!r) {
      bad.push(`${rel} is not in RECORD`);
      continue;
    }
    record.delete(rel);
    if (!r.hash) continue;
    try {
      const v = new RecordVerifier(wheel, r);
      const f = files.get(n)!;
      for await (const chunk of await streamOf(f, signal)) v.update(chunk as Buffer);
      v.check();
    } catch (err) {
      bad.push(err instanceof IntegrityError ? err.message : `${rel}: ${(err as Error).message}`);
    }
  }
  for (const missing of record.keys()) bad.push(`${missing} is in RECORD but missing`);
  check(`files ${wheel}`, bad.length === 0, bad.length ? bad.slice(0, 5).join("; ") + (bad.length > 5 ? ` (+${bad.length - 5} more)` : "") : undefined);
}

async function streamOf(f: PexFile, signal?: AbortSignal): Promise<AsyncIterable<Buffer>> {
  if (f.reader && f.entry) return (await f.reader.openEntryStream(f.entry, signal ? { signal } : {})) as AsyncIterable<Buffer>;
  return fs.createReadStream(f.fsPath!) as AsyncIterable<Buffer>;
}

async function readAll(f: PexFile, signal?: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await streamOf(f, signal)) chunks.push(c);
  return Buffer.concat(chunks);
}

async function sha256Of(f: PexFile, signal?: AbortSignal): Promise<string> {
  const h = createHash("sha256");
  for await (const c of await streamOf(f, signal)) h.update(c);
  return h.digest("hex");
}


