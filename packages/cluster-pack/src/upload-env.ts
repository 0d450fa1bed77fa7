import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { InvalidInputError, redactUrl, throwIfAborted } from "@cluster-pack/errors";
import { locationScheme, sha256File, withTempDir } from "@cluster-pack/io";
import { canonicalizeName, parseWheelFilename } from "@cluster-pack/packaging";
import { readPexInfo } from "@cluster-pack/pex";
import { downloadTo } from "./upload-zip";
import { uploadRunningPex } from "./running-pex";
import { pythonEnvironment } from "@cluster-pack/engines";
import { defaultCacheDir as pipDefaultCacheDir } from "@cluster-pack/pip";
import { findEnvironment, readInstalledDistributions, type InstalledDistribution, type InstalledEnvironment } from "./environment";
import { applyPackageEdits, type PackageEdits } from "./edits";
import { openStore, type Store, type StoreOptions } from "./store";
import { withBuildLock } from "./lock";
import { defaultLayerStoreUrl, publishLayers, remoteLayers, restoreLayers, type PublishedLayer } from "./layers";
import { defaultPackagePath, getDefaultFs, getEnvName, getUser, sidecarPath } from "./naming";
// ./packers/index, not ./packers: a dist built before the split still holds a stale packers.js.
import { packerFor, type ArchiveBuild, type BuiltArchive, type IndexOptions, type PexOptions, type TargetOptions } from "./packers/index";
import { isSidecarUpToDate, lockHash, makeSidecar, parseSidecar, serializeSidecar, specFileHash, type LockDescription } from "./sidecar";
import { zipPath } from "./zip-path";
import type { EditableArchive, PackerName, UploadEnvResult, UploadProgress } from "./types";

export interface UploadEnvOptions extends PackageEdits {
  /** A venv or conda prefix to pack (default: the active one, $VIRTUAL_ENV / $CONDA_PREFIX). */
  env?: string;
  /** An interpreter whose environment to pack (asked once for its paths). */
  python?: string;
  /** Pack these requirements instead of an installed environment. */
  requirements?: string[];
  /** A pip requirements file to pack (`-r`, `-c`, `-i`, `--hash`... as pip reads them). */
  requirementsFile?: string;
  /** A PEP 751 pylock.toml to pack exactly, without resolution. */
  lockFile?: string;
  /**
   * "pex": a PEX built from wheels; "conda" / "venv": the environment itself, relocatable.
   * Default: "conda" for a conda environment (as cluster-pack's detect_packer_from_env), else "pex".
   */
  packer?: PackerName;
  /**
   * PEX packer: resolve the installed pins against the index instead of packing the
   * distributions as installed (the default when the target is the environment's own
   * interpreter; other targets always use the index).
   */
  fromIndex?: boolean;
  /** Target interpreter/platform (default: the environment's own interpreter). */
  target?: TargetOptions;
  /** Where the archive goes (default: cluster-pack's `<default fs>/user/<user>/envs/<env name>.<ext>`). */
  packagePath?: string;
  /** Rebuild and upload even when the remote copy is up to date. */
  forceUpload?: boolean;
  /** Ship editable installs as zips beside the environment (default false, as cluster-pack). */
  includeEditable?: boolean;
  /** Inside a PEX: where cluster-pack's `editable_packages_index` is read (default: the current directory). */
  cwd?: string;
  /** Keep pip/setuptools/wheel (seeded into every venv, rarely needed at run time). */
  keepSeedPackages?: boolean;
  /** Package index options (default: pip's own configuration). */
  index?: IndexOptions;
  /** PEX build options. */
  pex?: PexOptions;
  /**
   * PEX packer: `fat` (default), one self-contained PEX file; `layered`, a small PEX plus
   * one layer per distribution under `layerStore`, uploaded only when the store lacks it
   * (`pex.layout: "layered"` says the same).
   */
  layout?: "fat" | "layered";
  /** Layered layout: where layers are published (default `layers/` beside the package path). */
  layerStore?: string;
  /** Store options (S3 endpoint/credentials, HDFS user...); default: the user's AWS/Hadoop config. */
  store?: StoreOptions;
  /** Local cache (wheels, build locks, builds); default: @cluster-pack/pip's, see defaultCacheDir. */
  cacheDir?: string;
  /** Environment variables for naming (C_PACK_USER, HADOOP_CONF_DIR, VIRTUAL_ENV); default process.env. */
  environ?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onProgress?: (progress: UploadProgress) => void;
  /** Log lines (what was decided and why); default: none. */
  onLog?: (message: string) => void;
}

/** User metadata key on the archive: one HEAD tells whether the remote copy is this lock. */
export const LOCK_METADATA_KEY = "cluster-pack-lock";
const SHA_METADATA_KEY = "cluster-pack-sha256";

/**
 * cluster-pack's `upload_env`: packs an environment (the active venv/conda env, a given
 * one, a requirements file, a lock file or a list of requirements), uploads it to
 * `packagePath` only when the remote copy is not already the same lock (one round trip
 * decides), and returns what the engine configuration needs.
 *
 * Concurrent callers on one machine share one build and one upload (a lock file keyed by
 * the lock hash); across machines the archive bytes are deterministic and every publish
 * is atomic, so readers never see a partial or mixed archive.
 */
export async function uploadEnv(options: UploadEnvOptions = {}): Promise<UploadEnvResult> {
  const { signal } = options;
  throwIfAborted(signal);
  const environ = options.environ ?? process.env;
  if (options.packer !== undefined) packerFor(options.packer);
  const sources = [options.env, options.python, options.requirements, options.requirementsFile, options.lockFile].filter((s) => s !== undefined);
  if (sources.length > 1) {
    throw new InvalidInputError("More than one source of packages was given.", {
      optionNames: ["env", "python", "requirements", "requirementsFile", "lockFile"],
      hint: "give at most one source: `env`, `python`, `requirements`, `requirementsFile` or `lockFile`.",
    });
  }
  // A malformed store URL (`s3:/x`) is refused before anything is packed.
  if (options.packagePath !== undefined) locationScheme(options.packagePath);
  const cacheDir = options.cacheDir ?? defaultCacheDir(environ);
  const log = options.onLog ?? (() => {});
  if (options.layout !== undefined && options.layout !== "fat" && options.layout !== "layered") {
    throw new InvalidInputError(`Unknown layout "${String(options.layout)}".`, { hint: `use "fat" (one PEX file) or "layered" (--layered).` });
  }
  const layered = options.layout === "layered" || options.pex?.layout === "layered";
  if (layered && (options.packer ?? "pex") !== "pex") throw new InvalidInputError(`The layered layout is a PEX layout.`, { hint: "use the pex packer (--packer pex), or drop --layered." });
  if (layered && options.pex?.allowLargePex) throw new InvalidInputError("A layered PEX is already small.", { hint: "drop allowLargePex (--allow-large-pex) or --layered." });
  if (options.layerStore !== undefined && !layered) throw new InvalidInputError("layerStore (--layer-store) applies to the layered layout.", { hint: "add --layered." });
  const pexOptions: PexOptions | undefined = layered ? { ...options.pex, layout: "layered" } : options.pex;
  const fromPex = (pex: string) =>
    uploadRunningPex(pex, {
      ...(options.packagePath ? { packagePath: options.packagePath } : {}),
      forceUpload: Boolean(options.forceUpload),
      includeEditable: Boolean(options.includeEditable),
      ...(options.store ? { store: options.store } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
      environ,
      ...(signal ? { signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      onLog: log,
      ship: (name, source, remote) => shipEditable(openStore({ env: environ, ...options.store }), name, source, remote, signal),
    });
  // Inside a PEX (a job launching more work), cluster-pack uploads the running PEX.
  const runningPex = sources.length === 0 ? environ.PEX?.trim() : undefined;
  if (runningPex) return fromPex(runningPex);

  // 1. What is packed: an installed environment, or requirements.
  const fromRequirements = options.requirements !== undefined || options.requirementsFile !== undefined || options.lockFile !== undefined;
  let installed: InstalledEnvironment | undefined;
  let dists: InstalledDistribution[] = [];
  if (!fromRequirements) {
    installed = await findEnvironment({ path: options.env, python: options.python, env: environ, signal });
    if (installed.pex) return fromPex(installed.pex);
    dists = await readInstalledDistributions(installed, { signal });
  }
  const packer: PackerName = options.packer ?? (installed?.kind === "conda" ? "conda" : "pex");
  packerFor(packer).check({ installed, hasEdits: hasEdits(options) });

  const editables = options.includeEditable ? dists.filter((d) => d.editable) : [];
  let pins: string[] | undefined;
  let asInstalled: InstalledDistribution[] | undefined;
  let clusterPack: LockDescription["clusterPack"];
  if (installed) {
    const nonEditable: Record<string, string> = {};
    const all: Record<string, string> = {};
    for (const d of dists) {
      if (d.editable) continue;
      all[d.name] = d.version;
      if (!options.keepSeedPackages && packer === "pex" && SEED_PACKAGES.has(d.normalizedName)) continue;
      nonEditable[d.name] = d.version;
    }
    const edited = applyPackageEdits(nonEditable, options);
    if (edited.unmatched.length) log(`not installed in ${installed.prefix}, ignored: ${edited.unmatched.join(", ")}`);
    pins = edited.requirements;
    // What cluster-pack records for this environment: `pip list --exclude-editable` (seed
    // packages included) after the same edits, with the environment's Python version.
    clusterPack = { packages: applyPackageEdits(all, options).requirements, pythonVersion: installed.pythonVersion };
    if (packer === "pex" && !options.fromIndex && isOwnTarget(options.target, installed)) {
      if (Object.keys(options.additionalPackages ?? {}).length) {
        log("additionalPackages are not installed: packing from the index");
      } else {
        const kept = new Set(pins.map((p) => canonicalizeName(p.split("==")[0]!)));
        asInstalled = dists.filter((d) => !d.editable && kept.has(d.normalizedName));
      }
    }
  } else if (options.requirementsFile) {
    clusterPack = { packages: [specFileHash(await fsp.readFile(options.requirementsFile, "utf8").catch(() => ""))], pythonVersion: "" };
  }

  // 2. The build plan: the lock that decides "up to date", and how to build the archive.
  const build: ArchiveBuild = await packerFor(packer).prepare({
    packer,
    installed,
    dists,
    requirements: pins ?? options.requirements,
    requirementsFile: options.requirementsFile,
    lockFile: options.lockFile,
    edits: installed ? undefined : options,
    target: options.target,
    index: indexOptions(options.index, environ),
    pex: pexOptions,
    packagePath: options.packagePath,
    includeEditable: Boolean(options.includeEditable),
    ...(asInstalled ? { asInstalled } : {}),
    cacheDir,
    signal,
    onProgress: options.onProgress,
  });
  if (clusterPack) build.lock.clusterPack = { packages: clusterPack.packages, pythonVersion: clusterPack.pythonVersion || build.lock.pythonVersion };
  const hash = lockHash(build.lock);

  // 3. Names: cluster-pack's defaults, checked extension.
  const envName = installed ? getEnvName(installed, packer) : requirementsEnvName(options);
  let packagePath = options.packagePath;
  if (!packagePath) {
    packagePath = defaultPackagePath(await getDefaultFs({ env: environ }), getUser({ env: environ }), envName, build.extension);
  } else if (!packagePath.endsWith(`.${build.extension}`)) {
    throw new InvalidInputError(`\`packagePath\` ${packagePath} has the wrong extension: the ${packer} packer writes .${build.extension} files.`, { optionNames: ["packagePath"] });
  }

  const store = openStore({ env: environ, ...options.store });
  const metadataPath = sidecarPath(packagePath);
  const layerStoreUrl = layered ? (options.layerStore ?? defaultLayerStoreUrl(packagePath)) : undefined;
  let layers: PublishedLayer[] | undefined;
  const expected = { [LOCK_METADATA_KEY]: hashHex(hash) };

  // 4. The skip rule: one HEAD on the archive (its metadata carries the lock hash), and
  // one on the sidecar beside it, concurrently (a deleted sidecar is written again).
  let uploaded = false;
  if (!options.forceUpload && (await isRemoteUpToDate(store, packagePath, metadataPath, build, expected, signal, log, false))) {
    log(`${packagePath} is up to date (lock ${hash.slice(0, 19)})`);
  } else {
    // One lock per (lock, destination): same env to two paths need not wait for each other.
    await withBuildLock(cacheDir, createHash("sha256").update(`${hash}\0${packagePath}`).digest("hex"), { signal }, async () => {
      // Another process may have published while we waited for the lock.
      if (!options.forceUpload && (await isRemoteUpToDate(store, packagePath!, metadataPath, build, expected, signal, log, true))) {
        log(`${packagePath} was published by a concurrent caller`);
        return;
      }
      // Built in the cache directory rather than /tmp: environments can be gigabytes.
      await withTempDir("cluster-pack-build", async (work) => {
        const local = path.join(work, `${envName}.${build.extension}`);
        const archive: BuiltArchive = (build.kind === "pex" && !layered && !options.forceUpload && (await fromFallback(environ, build, local, store, log, signal))) || (await build.build(local));
        throwIfAborted(signal);
        const sidecar = serializeSidecar(makeSidecar(build.lock, archive));
        // Layers first, the top PEX and its sidecar last: a reader never finds an
        // environment whose layers are not all there.
        const lockOptions = { cacheDir, signal, log };
        if (layerStoreUrl && archive.layers) {
          layers = await publishLayers(store, layerStoreUrl, archive.layers, {
            ...lockOptions,
            onBytes: (done) => options.onProgress?.({ phase: "upload", done, unit: "bytes", detail: "layers" }),
          });
        }
        log(`uploading ${packagePath} (${archive.size} bytes)`);
        await store.publish(local, packagePath!, {
          signal,
          consume: true, // built in this temporary directory for this upload only
          metadata: { ...expected, [SHA_METADATA_KEY]: archive.sha256 },
          sidecar: { content: sidecar, path: metadataPath },
          onProgress: (p) => options.onProgress?.({ phase: "upload", done: p.bytesDone, total: p.bytesTotal ?? archive.size, unit: "bytes" }),
        });
        if (layerStoreUrl && archive.layers) await restoreLayers(store, layerStoreUrl, archive.layers, lockOptions);
        uploaded = true;
      }, { parent: path.join(cacheDir, "build") });
    });
  }

  // 5. Editable code: zipped and shipped beside the environment, every call (it changes
  // between runs); unchanged zips are not uploaded again.
  const editableArchives: EditableArchive[] = [];
  for (const dist of editables) {
    for (const [name, dir] of Object.entries(dist.editable!.packages)) {
      throwIfAborted(signal);
      editableArchives.push(await shipEditable(store, name, { dir }, editablePath(packagePath, envName, name), signal));
    }
  }

  // An up-to-date layered environment: its layers are the ones its remote PEX-INFO names.
  if (layerStoreUrl && !layers) layers = await remoteLayers(store, packagePath, layerStoreUrl, signal);
  const environment = pythonEnvironment(packagePath, {
    kind: build.kind,
    codeArchives: editableArchives.map((e) => e.packagePath),
    ...(layers ? { layers: layers.map((l) => l.url) } : {}),
  });
  return { packagePath, envName, environment, editableArchives, uploaded, requirements: build.lock.requirements, lockHash: hash, ...(layers ? { layers } : {}) };
}

/**
 * Default local cache: the one @cluster-pack/pip uses (`$CLUSTER_PACK_CACHE`, else
 * `$XDG_CACHE_HOME/cluster-pack` or `~/.cache/cluster-pack`), so `cluster-pack resolve`,
 * `download` and `upload-env` share their wheels. Ours live under `locks/` and `build/`.
 */
export function defaultCacheDir(environ: NodeJS.ProcessEnv = process.env): string {
  return pipDefaultCacheDir(environ);
}

// ---------------------------------------------------------------------------------------

/** Seeded into every venv by ensurepip; packing them would pin the build machine's pip. */
const SEED_PACKAGES = new Set(["pip", "setuptools", "wheel", "distribute"]);

async function isRemoteUpToDate(
  store: Store,
  packagePath: string,
  metadataPath: string,
  build: ArchiveBuild,
  expected: Record<string, string>,
  signal: AbortSignal | undefined,
  log: (message: string) => void,
  /**
   * Write a missing sidecar beside an up-to-date archive. Only under the build lock: an
   * uploader publishes the archive, then its sidecar, so outside the lock a missing sidecar
   * may be one that is being written right now (a second write would be a wasted PUT).
   */
  repairSidecar: boolean,
): Promise<boolean> {
  // Both HEADs at once; when both fail (store down), the archive's error is the one to report.
  const [archiveHead, sidecarProbe] = await Promise.allSettled([
    store.isUpToDate(packagePath, { metadata: expected }, { signal }),
    store.isUpToDate(metadataPath, {}, { signal }),
  ]);
  if (archiveHead.status === "rejected") throw archiveHead.reason;
  if (sidecarProbe.status === "rejected") throw sidecarProbe.reason;
  const check = archiveHead.value;
  const sidecarHead = sidecarProbe.value;
  if (check.upToDate) {
    const sha256 = check.head?.metadata[SHA_METADATA_KEY];
    if (!sidecarHead.head && sha256 && check.head?.size !== undefined) {
      if (!repairSidecar) return false;
      // cluster-pack (and people) read the sidecar: the archive is ours and current, so its
      // description can be written again from the lock and the archive's own metadata.
      log(`${metadataPath} is missing beside the up-to-date archive: writing it again`);
      await store.publishSmall(serializeSidecar(makeSidecar(build.lock, { sha256, size: check.head.size })), metadataPath, { signal });
    }
    return true;
  }
  if (check.head && Object.keys(check.head.metadata).length === 0) {
    // An archive without our metadata (uploaded by Python cluster-pack): its own rule,
    // from the sidecar, costs a second round trip only in that case.
    const sidecar = parseSidecar((await store.readSmall(metadataPath, { signal })) ?? "");
    return sidecar?.lock_hash === undefined && isSidecarUpToDate(sidecar, build.lock);
  }
  return false;
}

/** cluster-pack's `C_PACK_PYPI_URL`: the index, unless the caller names one. */
function indexOptions(index: IndexOptions | undefined, environ: NodeJS.ProcessEnv): IndexOptions | undefined {
  const url = environ.C_PACK_PYPI_URL?.trim();
  if (!url || index?.indexUrl) return index;
  return { ...index, indexUrl: url };
}

/**
 * cluster-pack's `C_PACK_ENV_FALLBACK_PATH`: a prebuilt PEX (local path, store URL or
 * http(s)) used instead of building when its distributions are the lock's pins (pip,
 * setuptools and wheel aside, names normalised). Undefined: build as usual.
 */
async function fromFallback(
  environ: NodeJS.ProcessEnv,
  build: ArchiveBuild,
  local: string,
  store: Store,
  log: (message: string) => void,
  signal: AbortSignal | undefined,
): Promise<{ sha256: string; size: number } | undefined> {
  const fallback = environ.C_PACK_ENV_FALLBACK_PATH?.trim();
  if (!fallback) return undefined;
  if (/^https?:\/\//i.test(fallback)) await downloadTo(fallback, local, { signal });
  else if (!(await store.get(fallback, local, { signal }))) {
    log(`C_PACK_ENV_FALLBACK_PATH ${redactUrl(fallback)} does not exist: building`);
    return undefined;
  }
  const info = await readPexInfo(local, { signal }).catch(() => undefined);
  const key = (name: string, version: string) => `${canonicalizeName(name)}==${version}`;
  const theirs = info ? Object.keys(info.distributions).map((w) => parseWheelFilename(w)).map((w) => key(w.name, w.version.toString())) : [];
  const ours = build.lock.requirements.map((r) => r.split("==")).map(([n, v]) => key(n!, v ?? ""));
  const keep = (r: string) => !SEED_PACKAGES.has(r.split("==")[0]!);
  const same = (a: string[], b: string[]) => JSON.stringify([...new Set(a.filter(keep))].sort()) === JSON.stringify([...new Set(b.filter(keep))].sort());
  if (!info || !same(theirs, ours)) {
    log(`the prebuilt PEX ${redactUrl(fallback)} (C_PACK_ENV_FALLBACK_PATH) does not have this environment's requirements: building`);
    await fsp.rm(local, { force: true });
    return undefined;
  }
  log(`using the prebuilt PEX ${redactUrl(fallback)} (C_PACK_ENV_FALLBACK_PATH): same requirements`);
  const st = await fsp.stat(local);
  return { sha256: await sha256File(local), size: st.size };
}

function hasEdits(edits: PackageEdits): boolean {
  return Object.keys(edits.additionalPackages ?? {}).length > 0 || (edits.ignoredPackages ?? []).length > 0 || edits.onlyPackages !== undefined;
}

/** No target, or the environment's own interpreter: its installed wheels fit. */
function isOwnTarget(target: UploadEnvOptions["target"], env: InstalledEnvironment): boolean {
  if (!target) return true;
  if (target.python || target.platform || target.implementation) return false;
  return target.interpreter === undefined || path.resolve(target.interpreter) === path.resolve(env.python);
}

/** Ships a package directory (zipped, deterministically) or a code zip as is, unless the remote one is the same. */
async function shipEditable(store: Store, name: string, source: { dir: string } | { zip: string }, remote: string, signal?: AbortSignal): Promise<EditableArchive> {
  return withTempDir("cluster-pack-editable", async (work) => {
    const zip =
      "dir" in source
        ? await zipPath(source.dir, { includeBaseName: true, output: path.join(work, `${name}.zip`), signal })
        : { path: source.zip, sha256: await sha256File(source.zip), size: (await fsp.stat(source.zip)).size };
    const meta = { [SHA_METADATA_KEY]: zip.sha256 };
    if ((await store.isUpToDate(remote, { metadata: meta, size: zip.size }, { signal })).upToDate) {
      return { name, packagePath: remote, sha256: zip.sha256, uploaded: false };
    }
    await store.publish(zip.path, remote, { signal, metadata: meta });
    return { name, packagePath: remote, sha256: zip.sha256, uploaded: true };
  });
}

/** `<dir>/<env name>_editable/<package>.zip`: beside the environment, one directory per env. */
function editablePath(packagePath: string, envName: string, pkg: string): string {
  const slash = packagePath.lastIndexOf("/");
  return `${packagePath.slice(0, slash + 1)}${envName}_editable/${pkg}.zip`;
}

function requirementsEnvName(options: UploadEnvOptions): string {
  // cluster-pack's upload_spec names archives after the spec file's directory.
  const file = options.requirementsFile ?? options.lockFile;
  if (file) {
    const repo = path.basename(path.dirname(path.resolve(file)));
    return repo ? `cluster_pack_${repo}` : "cluster_pack";
  }
  return "default";
}

function hashHex(hash: string): string {
  return hash.replace(/^sha256:/, "");
}

