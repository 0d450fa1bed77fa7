import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Transform } from "node:stream";
import { ClusterPackError, InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { IdentitySetMemo, identityOf, isPathInside, toPosix, type FileIdentity, shardedPath } from "@cluster-pack/io";
import { ZipWriter } from "@cluster-pack/zip";
import { escapeName, escapeVersion } from "@cluster-pack/packaging";
import { parseCoreMetadata, parseEntryPoints, parseWheelInfo } from "./metadata";
import { formatRecord, parseRecord, recordHash, RecordVerifier, type RecordEntry } from "./record";

/** Where an environment's installer put each part of a wheel (absolute directories). */
export interface InstalledLayout {
  /** The environment's root (`sys.prefix`): every file of a distribution must be below it. */
  prefix: string;
  /** Its site-packages directories (purelib and platlib; the first holding the dist-info is used). */
  sitePackages: string[];
  /** Where scripts went (`<prefix>/bin`). */
  scripts: string;
  /** Where headers went, one directory per distribution below it (`<prefix>/include/site/python3.11`). */
  headers: string;
  /** Root of the `data` scheme key (`<prefix>`). */
  data: string;
}

export interface RebuildInstalledOptions {
  layout: InstalledLayout;
  /**
   * Where rebuilt wheels are kept, by the content they were rebuilt from (default: no
   * cache, `outputDir` required). A hit is used only after every installed file was
   * checked against RECORD again.
   */
  cacheDir?: string;
  /** Without a cache: the directory the wheel is written to. */
  outputDir?: string;
  /** Deflate entries (default true). */
  compress?: boolean;
  signal?: AbortSignal;
}

export interface RebuiltWheel {
  /** The wheel file. */
  path: string;
  filename: string;
  name: string;
  version: string;
  /** sha256 (hex) of the wheel file, when it was written now (a cached one is not read again). */
  sha256?: string;
  size: number;
  /** Files in the wheel, RECORD included. */
  files: number;
  /** True when the wheel came from the cache (the installed files were still checked). */
  cached: boolean;
}

/** The code of the error naming a distribution that cannot be rebuilt from what is installed. */
export const ERR_NOT_REBUILDABLE = "ERR_NOT_REBUILDABLE";

/**
 * Rebuilds the wheel of an installed distribution from its `.dist-info/RECORD`, as pex's
 * `--venv-repository` does: every file as installed, checked against its RECORD hash
 * (a file changed or removed since installation is an error naming the distribution
 * and the fix), scripts and data put back under `<name>-<version>.data/`, `#!<env
 * python>` shebangs turned back into `#!python`, launchers generated from entry points
 * left out (installers write them again), bytecode and installer files (INSTALLER,
 * REQUESTED, direct_url.json) left out, and RECORD rewritten with sha256 hashes.
 * No index is contacted. Deterministic: the same installed files give the same bytes.
 */
export async function rebuildInstalledWheel(distInfoDir: string, options: RebuildInstalledOptions): Promise<RebuiltWheel> {
  const { signal } = options;
  throwIfAborted(signal);
  const plan = await planRebuild(path.resolve(distInfoDir), options.layout, signal);
  const compress = options.compress ?? true;
  let outDir: string;
  if (options.cacheDir) {
    const key = createHash("sha256").update(JSON.stringify([REBUILD_RECIPE, compress, plan.key])).digest("hex");
    outDir = shardedPath(options.cacheDir, key);
    const cached = path.join(outDir, plan.filename);
    const st = await fs.promises.stat(cached).catch(() => undefined);
    const proofs = new IdentitySetMemo(path.join(options.cacheDir, VERIFIED_DIR));
    if (st?.isFile()) {
      // The cache only says which bytes these installed files give; that they are still
      // the installed ones is proven every time (a package patched in site-packages): by
      // the files' identities when they are the ones verified last time, else by hashing.
      if (!(await proofs.holds(plan.identities, plan.key))) {
        await verifyAll(plan, signal);
        await proofs.remember(plan.identities, plan.key);
      }
      return { ...describe(plan), path: cached, size: st.size, cached: true };
    }
    const result = await writeWheel(plan, outDir, compress, signal);
    // Every copied file was checked against RECORD while it was written.
    await proofs.remember(plan.identities, plan.key);
    return result;
  } else if (options.outputDir) {
    outDir = options.outputDir;
  } else {
    throw new InvalidInputError("rebuildInstalledWheel needs a cacheDir or an outputDir to write the wheel to.");
  }
  return writeWheel(plan, outDir, compress, signal);
}

async function writeWheel(plan: RebuildPlan, outDir: string, compress: boolean, signal: AbortSignal | undefined): Promise<RebuiltWheel> {
  const writer = new ZipWriter({ compress });
  for (const f of plan.files) {
    if (f.content) {
      writer.addBuffer(f.name, f.content, { mode: f.mode });
    } else {
      // Checked against RECORD while it is copied: one read per file, and a mismatch fails
      // the write (nothing is renamed into place).
      writer.addStreamFactory(f.name, () => fs.createReadStream(f.source!).pipe(checking(plan, f)), f.size, { mode: f.mode });
    }
  }
  writer.addBuffer(plan.recordName, plan.recordText, { mode: 0o644 });
  const result = await writer.writeTo(path.join(outDir, plan.filename), { signal });
  return { ...describe(plan), path: result.path, sha256: result.sha256, size: result.size, cached: false };
}

// ---------------------------------------------------------------------------------------

/** Bump when the same installed files would give other wheel bytes: old cache entries are then never read. */
const REBUILD_RECIPE = 1;

/** Under the cache: identity proofs that installed files are the ones last verified (IdentitySetMemo). */
const VERIFIED_DIR = "verified-1";

interface PlannedFile {
  /** Entry name in the wheel. */
  name: string;
  mode: number;
  /** The installed file copied as is (checked against `record`) ... */
  source?: string;
  record?: RecordEntry;
  size: number;
  /** ... or content already read and checked (a script whose shebang was restored). */
  content?: Buffer;
}

interface RebuildPlan {
  name: string;
  version: string;
  distInfoDir: string;
  filename: string;
  files: PlannedFile[];
  recordName: string;
  recordText: string;
  /** What the wheel bytes depend on: the rewritten RECORD (every file's name and hash). */
  key: string;
  /** Identities of the copied installed files when planned (what a proof of them is keyed by). */
  identities: FileIdentity[];
}

const INSTALLER_FILES = new Set(["INSTALLER", "REQUESTED", "direct_url.json", "RECORD", "RECORD.jws", "RECORD.p7s"]);

async function planRebuild(distInfo: string, layout: InstalledLayout, signal?: AbortSignal): Promise<RebuildPlan> {
  const site = path.dirname(distInfo);
  const distInfoName = path.basename(distInfo);
  const what = distInfoName.replace(/\.dist-info$/, "");
  const metadataText = await readInstalled(distInfo, "METADATA", what);
  const meta = parseCoreMetadata(metadataText, path.join(distInfo, "METADATA"));
  const label = `${meta.name} ${meta.version} (${distInfo})`;
  const fix = `reinstall it (pip install --force-reinstall --no-deps "${meta.name}==${meta.version}"), or pack from the index (--from-index / fromIndex)`;
  const notRebuildable = (why: string) => new ClusterPackError(ERR_NOT_REBUILDABLE, `${label} cannot be packed as installed: ${why}.`, { hint: `${fix}.` });
  const recordText = await fs.promises.readFile(path.join(distInfo, "RECORD"), "utf8").catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") throw notRebuildable("it has no RECORD (it was installed by a tool that does not list its files, e.g. `setup.py install` or conda)");
    throw err;
  });
  const wheel = parseWheelInfo(await readInstalled(distInfo, "WHEEL", what), path.join(distInfo, "WHEEL"));
  const entryPointsText = await fs.promises.readFile(path.join(distInfo, "entry_points.txt"), "utf8").catch(() => "");
  const eps = parseEntryPoints(entryPointsText);
  const launchers = new Set([...Object.keys(eps.console_scripts ?? {}), ...Object.keys(eps.gui_scripts ?? {})]);
  const stem = `${escapeName(meta.name)}-${escapeVersion(meta.version)}`;
  const dataDir = `${stem}.data`;
  const outDistInfo = `${stem}.dist-info`;
  const record = parseRecord(recordText, path.join(distInfo, "RECORD"));
  const prefix = path.resolve(layout.prefix);
  const files: PlannedFile[] = [];
  const identities: FileIdentity[] = [];
  const seen = new Set<string>();
  for (const entry of record) {
    throwIfAborted(signal);
    if (entry.path.endsWith("/")) continue;
    // RECORD paths are relative to the directory holding the dist-info (or absolute); a
    // stranger's RECORD may name any path, so everything must stay inside the prefix.
    const abs = path.resolve(site, entry.path);
    if (!isPathInside(prefix, abs)) throw notRebuildable(`its RECORD lists ${entry.path}, which is outside the environment ${prefix}`);
    const inSite = layout.sitePackages.map((s) => path.resolve(s)).find((s) => isPathInside(s, abs));
    let name: string;
    let script = false;
    if (inSite) {
      const rel = toPosix(path.relative(inSite, abs));
      if (rel.split("/").includes("__pycache__") || /\.py[co]$/.test(rel)) continue; // bytecode the installer compiled
      const top = rel.split("/")[0]!;
      if (top === distInfoName) {
        const file = rel.slice(distInfoName.length + 1);
        if (INSTALLER_FILES.has(file)) continue;
        name = `${outDistInfo}/${file}`;
      } else {
        // Root-Is-Purelib decides where an installer puts the root: both are site-packages here.
        name = rel;
      }
    } else if (isPathInside(path.resolve(layout.scripts), abs)) {
      const rel = toPosix(path.relative(path.resolve(layout.scripts), abs));
      if (launchers.has(rel)) continue; // generated from entry_points.txt, generated again on install
      name = `${dataDir}/scripts/${rel}`;
      script = true;
    } else if (isPathInside(path.resolve(layout.headers), abs)) {
      // pip puts headers in `<headers>/<distribution name>/...`: the first level is its own.
      const parts = toPosix(path.relative(path.resolve(layout.headers), abs)).split("/");
      if (parts.length < 2) throw notRebuildable(`its RECORD lists the header ${entry.path} outside a per-distribution directory`);
      name = `${dataDir}/headers/${parts.slice(1).join("/")}`;
    } else {
      name = `${dataDir}/data/${toPosix(path.relative(path.resolve(layout.data), abs))}`;
    }
    if (seen.has(name)) throw notRebuildable(`its RECORD lists ${entry.path} twice`);
    seen.add(name);
    if (!entry.hash) throw notRebuildable(`its RECORD has no hash for ${entry.path}, so the installed file cannot be proven unchanged`);
    const big = await fs.promises.stat(abs, { bigint: true }).catch(() => undefined);
    if (!big?.isFile()) throw notRebuildable(`${entry.path} was removed since it was installed`);
    const st = { size: Number(big.size), mode: Number(big.mode) };
    if (entry.size !== undefined && st.size !== entry.size) throw notRebuildable(`${entry.path} changed since it was installed (${st.size} bytes, RECORD says ${entry.size})`);
    const executable = (st.mode & 0o111) !== 0;
    const algorithm = entry.hash.split("=", 1)[0];
    if (script || algorithm !== "sha256") {
      // Read now: scripts get their shebang restored, other algorithms need a sha256 for
      // the new RECORD. Both are small or rare.
      const data = await fs.promises.readFile(abs);
      check(entry, data);
      const content = script ? restoreShebang(data, layout) : data;
      files.push({ name, mode: script || executable ? 0o755 : 0o644, content, size: content.length, record: { path: name, hash: recordHash(content), size: content.length } });
    } else {
      files.push({ name, mode: executable ? 0o755 : 0o644, source: abs, record: entry, size: st.size });
      identities.push(identityOf(abs, big));
    }
  }
  if (!seen.has(`${outDistInfo}/METADATA`) || !seen.has(`${outDistInfo}/WHEEL`)) throw notRebuildable("its RECORD does not list METADATA and WHEEL");
  files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const recordName = `${outDistInfo}/RECORD`;
  const rows: RecordEntry[] = files.map((f) => ({ path: f.name, hash: f.content ? f.record!.hash! : `sha256=${stripPad(f.record!.hash!.slice(7))}`, size: f.size }));
  rows.push({ path: recordName });
  rows.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const newRecord = formatRecord(rows);
  const tags = compressTags(wheel.tags, label);
  const filename = `${stem}${wheel.build ? `-${wheel.build}` : ""}-${tags}.whl`;
  const modes = files.map((f) => `${f.name}\0${f.mode}`).join("\n");
  return { name: meta.name, version: meta.version, distInfoDir: distInfo, filename, files, recordName, recordText: newRecord, key: `${filename}\n${newRecord}\n${modes}`, identities };

  function check(entry: RecordEntry, data: Buffer): void {
    const v = new RecordVerifier(label, entry);
    v.update(data);
    try {
      v.check();
    } catch {
      throw notRebuildable(`${entry.path} changed since it was installed (its content no longer matches RECORD)`);
    }
  }
}

/** Checks every copied file of the plan against RECORD (cache hits). */
async function verifyAll(plan: RebuildPlan, signal?: AbortSignal): Promise<void> {
  const copied = plan.files.filter((f) => f.source);
  // A few files at a time: reads overlap, descriptors stay bounded. Most files are small:
  // one read and one hash each (a stream per file costs more than its bytes).
  for (let i = 0; i < copied.length; i += 32) {
    throwIfAborted(signal);
    await Promise.all(
      copied.slice(i, i + 32).map(async (f) => {
        if (f.size <= SMALL_FILE) {
          const v = checking(plan, f);
          await new Promise<void>((resolve, reject) => {
            // resume(): the pass-through's output is not needed, only its end-of-input check.
            v.on("error", reject).on("end", resolve).resume();
            fs.promises.readFile(f.source!).then((data) => v.end(data), reject);
          });
          return;
        }
        const stream = fs.createReadStream(f.source!).pipe(checking(plan, f));
        for await (const _chunk of stream) void _chunk;
      }),
    );
  }
}

/** Files up to this size are read whole when only checked. */
const SMALL_FILE = 1 << 20;

/** A pass-through that fails at the end when the bytes are not the ones RECORD lists. */
function checking(plan: RebuildPlan, f: PlannedFile): Transform {
  const v = new RecordVerifier(plan.name, f.record!);
  const rel = path.relative(path.dirname(plan.distInfoDir), f.source!);
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      v.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      try {
        v.check();
        cb();
      } catch {
        cb(
          new ClusterPackError(
            ERR_NOT_REBUILDABLE,
            `${plan.name} ${plan.version} (${plan.distInfoDir}) cannot be packed as installed: ${rel} changed since it was installed (its content no longer matches RECORD).`,
            { hint: `reinstall it (pip install --force-reinstall --no-deps "${plan.name}==${plan.version}"), or pack from the index (--from-index / fromIndex).` },
          ),
        );
      }
    },
  });
}

/**
 * `#!/abs/env/bin/python3.11` (and pip's `/bin/sh` trampoline for long or spaced paths)
 * back to PEP 427's `#!python`, when the interpreter is the environment's own; any other
 * shebang is the package's and is kept.
 */
function restoreShebang(data: Buffer, layout: InstalledLayout): Buffer {
  const head = data.subarray(0, Math.min(data.length, 4096)).toString("latin1");
  const own = (p: string) => isPathInside(path.resolve(layout.scripts), path.resolve(p)) && /^python[\w.]*$/.test(path.basename(p));
  const direct = /^#!([^\s]+)([^\S\r\n]*)(\r?\n)/.exec(head);
  if (direct && !direct[1]!.startsWith("/bin/sh") && own(direct[1]!)) {
    return Buffer.concat([Buffer.from(`#!python${direct[3]}`), data.subarray(Buffer.byteLength(direct[0], "latin1"))]);
  }
  const trampoline = /^#!\/bin\/sh\r?\n'''exec' '((?:[^']|'\\'')+)' "\$0" "\$@"\r?\n' '''(\r?\n)/.exec(head);
  if (trampoline && own(trampoline[1]!.replace(/'\\''/g, "'"))) {
    return Buffer.concat([Buffer.from(`#!python${trampoline[2]}`), data.subarray(Buffer.byteLength(trampoline[0], "latin1"))]);
  }
  return data;
}

/**
 * The file-name tag of a WHEEL's `Tag:` lines (PEP 425 compressed tag sets): the sorted,
 * de-duplicated python, abi and platform parts joined with "." (how bdist_wheel names it).
 */
function compressTags(tags: string[], label: string): string {
  if (tags.length === 0) throw new ClusterPackError(ERR_NOT_REBUILDABLE, `${label} cannot be packed as installed: its WHEEL has no Tag line.`, { hint: "reinstall it, or pack from the index (--from-index / fromIndex)." });
  const parts: [Set<string>, Set<string>, Set<string>] = [new Set(), new Set(), new Set()];
  for (const t of tags) {
    const p = t.trim().split("-");
    if (p.length !== 3 || p.some((x) => !/^[A-Za-z0-9_.]+$/.test(x))) {
      throw new ClusterPackError(ERR_NOT_REBUILDABLE, `${label} cannot be packed as installed: its WHEEL has the malformed tag "${t}".`, { hint: "reinstall it, or pack from the index (--from-index / fromIndex)." });
    }
    p.forEach((x, i) => parts[i]!.add(x));
  }
  return parts.map((s) => [...s].sort().join(".")).join("-");
}

function describe(plan: RebuildPlan): Pick<RebuiltWheel, "filename" | "name" | "version" | "files"> {
  return { filename: plan.filename, name: plan.name, version: plan.version, files: plan.files.length + 1 };
}

async function readInstalled(distInfo: string, file: string, what: string): Promise<string> {
  try {
    return await fs.promises.readFile(path.join(distInfo, file), "utf8");
  } catch (err) {
    throw new ClusterPackError(ERR_NOT_REBUILDABLE, `${what} (${distInfo}) cannot be packed as installed: it has no ${file}.`, { cause: err, hint: "reinstall it, or pack from the index (--from-index / fromIndex)." });
  }
}

function stripPad(b64: string): string {
  return b64.replace(/=+$/, "");
}

