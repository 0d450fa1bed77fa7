import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { AbortError, ClusterPackError, InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { isPathInside, publishDirectory, publishFile, settleAll, sha256File } from "@cluster-pack/io";
import { isValidHexDigest, parseWheelFilename } from "@cluster-pack/packaging";
import {
  addPlannedWheelToZip,
  addWheelToZip,
  defaultVerifiedWheelsDir,
  parseEntryPointValue,
  PEX_CHROOT_SCHEME,
  WheelPlanCache,
  WheelVerifier,
  type WheelFileIdentity,
  type WheelVerification,
  type WheelZipFacts,
  type WheelZipPlan,
  type ZipInstalledWheel,
} from "@cluster-pack/wheel";
import { fileSource, ZipReader, ZipWriter, type RandomAccessSource } from "@cluster-pack/zip";
import { computePexHash, formatPexInfo, parsePexInfo, STANDARD_FIELDS, type InheritPath, type PexInfo } from "./pex-info";
import { bootstrapFiles, BOOTSTRAP_PACKAGE, mainStub } from "./runtime";
import { bytecodeInfo, openBytecodeSession, probeBytecodeInterpreter, shebangInterpreter, type BytecodeInterpreter, type BytecodeSession } from "./bytecode";
import { writeLayered } from "./layered-build";
import type { PexLayer } from "./pex-info";
import type { StoredLayer } from "./layers";

/** The version written into PEX-INFO's build_properties. */
export const CLUSTER_PACK_PEX_VERSION = "0.1.0";

export type PexLayout = "zipapp" | "packed" | "layered";

export interface PexBuilderOptions {
  /**
   * Wheel files to install under `.deps/`; several wheels of one project (per Python or
   * platform) are allowed, the runtime picks. Give `{ path, sha256 }` when the file's
   * sha256 is already known (e.g. from a content-addressed download cache): a wheel
   * verified before is then not even hashed.
   */
  wheels?: (string | PexWheel)[];
  /**
   * Where wheels whose every file was checked against RECORD are remembered, by the
   * sha256 of the wheel file (default `<cluster-pack cache>/verified-wheels`); `false`
   * verifies every wheel on every build. Unknown wheels are always verified, on worker
   * threads while the archive is written; the PEX is only renamed into place after.
   */
  verifiedWheelsCache?: string | false;
  /** Directories whose content becomes the PEX's top-level user code. */
  sourceDirectories?: string[];
  /**
   * Store the files that symlinks in a source directory point to when they lead outside
   * it (default false: such a link is refused, so `-D src` with `src/x -> /etc/shadow` never
   * puts /etc/shadow in the PEX). Links that stay inside are always followed.
   */
  followExternalSymlinks?: boolean;
  /** `module` or `module:function` run on start. */
  entryPoint?: string;
  /** A console script (or `bin/` script) of one of the wheels, run on start. */
  script?: string;
  /** pex format: `CPython>=3.8,<3.13`, `>=3.9`; any one must match. */
  interpreterConstraints?: string[];
  inheritPath?: InheritPath;
  injectEnv?: Record<string, string>;
  injectArgs?: string[];
  /** Remove PEX_* variables before user code runs (default true, as pex). */
  stripPexEnv?: boolean;
  /**
   * pex's venv execution mode (PEX-INFO `venv`): the runtime builds a virtual environment
   * once per (PEX, interpreter) and re-executes its python, so `sys.executable` sees the deps.
   */
  venv?: boolean;
  /**
   * pex's --include-tools (PEX-INFO `include_tools`): the PEX run with `PEX_TOOLS=1` offers
   * `venv DIR [--force]`, which turns it into a virtual environment (as `pex-tools venv`).
   */
  includeTools?: boolean;
  /** Requirement strings recorded in PEX-INFO (default: `name==version` of each wheel). */
  requirements?: string[];
  /** Deflate entries (default true); false stores them (bigger, faster to build and boot). */
  compress?: boolean;
  /** zlib level for entries this builder deflates (wheel entries are copied as they are). */
  compressionLevel?: number;
  /** Interpreter of the shebang line (default `/usr/bin/env python3`). */
  pythonShebang?: string;
  /**
   * Ship bytecode (as pex --compile): every module of every wheel compiled at build time
   * to a checked-hash .pyc (PEP 552) in its chroot's `__pycache__/` and RECORD, so that an
   * executor's first start imports without compiling (about 1 s of CPU for `import numpy,
   * pandas, pyarrow` on every container with an empty PEX_ROOT). For the interpreter
   * `compilePython`, else the one `pythonShebang` names (found on PATH); the PEX grows by
   * the .pyc files (+23% for numpy, pandas, pyarrow). Kept beside the verified-wheel memo
   * per wheel and interpreter, so a warm build compiles nothing. Modules that do not
   * compile are left to the importer, as pip leaves them.
   */
  compile?: boolean;
  /** The interpreter to compile bytecode with (implies `compile`): the python the PEX will run under. */
  compilePython?: string;
  /**
   * Single file (default), pex's `packed` directory, or `layered`: a small PEX file
   * (bootstrap, PEX-INFO, user code) whose distributions are layers, each the packed
   * layout's per-distribution zip named by its sha256, in `layerStore` (see layers.ts).
   */
  layout?: PexLayout;
  /** Layered layout: the local layer store directory (default `<cluster-pack cache>/layers.1`). */
  layerStore?: string;
  /**
   * Single-file structure. `split` (default): `.deps/` and user code in a (ZIP64 when
   * needed) archive at the front, then a small classic zip with `__main__.py`,
   * `PEX-INFO`, `.bootstrap/`; python imports only from the small one, so it boots on
   * Python < 3.13 whatever the size and zipimport reads a few entries instead of all.
   * `flat`: one zip like pex writes (zipimport reads its whole directory; limited to
   * 4 GiB / 65,535 entries before Python 3.13).
   */
  structure?: "split" | "flat";
  pexRoot?: string;
  pexPath?: string;
  buildProperties?: Record<string, unknown>;
}

/** A wheel with its sha256 (hex) when the caller knows it. */
export interface PexWheel {
  path: string;
  sha256?: string;
}

export interface PexBuildOptions {
  signal?: AbortSignal;
  /** Replace an existing output (default true); with false it is ERR_OUTPUT_EXISTS, checked as it is published. */
  overwrite?: boolean;
  /** Entries written so far and the total, as the archive is written. */
  onProgress?: (done: number, total: number) => void;
}

export interface PexBuildResult {
  path: string;
  layout: PexLayout;
  /** Bytes of the file (or of all files of a packed directory). */
  size: number;
  entries: number;
  info: PexInfo;
  distributions: {
    wheel: string;
    project: string;
    version: string;
    fingerprint: string;
    files: number;
    bytes: number;
    sha256: string;
    verificationMemoised: boolean;
    /** Copied by the install plan cached when these bytes were verified (the wheel was not opened as a zip). */
    planReplayed: boolean;
  }[];
  /** Layered layout: each distribution's layer in the local store (in `distributions` order). */
  layers?: (PexLayer & StoredLayer)[];
  /** With `compile`: the bytecode shipped. */
  bytecode?: {
    python: string;
    /** e.g. `cpython 3.11.7`. */
    version: string;
    cacheTag: string;
    /** `importlib.util.MAGIC_NUMBER` in hex. */
    magic: string;
    /** .pyc files added. */
    compiled: number;
    /** Wheels whose bytecode came from an earlier build's cache. */
    cachedWheels: number;
    /** Modules that did not compile (left to the importer). */
    skipped: { wheel: string; member: string; reason: string }[];
  };
}

const RESERVED_TOP = new Set(["PEX-INFO", "__main__.py", ".bootstrap", ".deps", "__pex__"]);

/**
 * Builds PEX files. Deterministic: the same inputs give byte-identical output (sorted
 * entries, fixed timestamps, normalised modes, PEX-INFO with sorted keys, no build
 * time or host data). Writes atomically: a temporary sibling renamed into place,
 * removed on failure or abort.
 */
export class PexBuilder {
  private readonly options: PexBuilderOptions;
  private readonly wheels: PexWheel[] = [];
  private readonly sources: string[] = [];

  constructor(options: PexBuilderOptions = {}) {
    this.options = { ...options };
    for (const w of options.wheels ?? []) this.addWheel(w);
    for (const d of options.sourceDirectories ?? []) this.addSourceDirectory(d);
  }

  addWheel(wheel: string | PexWheel): this {
    const w = typeof wheel === "string" ? { path: wheel } : { ...wheel };
    const name = parseWheelFilename(path.basename(w.path)).filename;
    if (this.wheels.some((x) => path.basename(x.path) === name)) throw new InvalidInputError(`The wheel ${name} is given twice.`, { hint: "pass each wheel once." });
    if (w.sha256 !== undefined && !isValidHexDigest("sha256", w.sha256)) throw new InvalidInputError(`The sha256 given for ${name} ("${w.sha256}") is not 64 hex digits.`);
    this.wheels.push(w);
    return this;
  }

  addSourceDirectory(dir: string): this {
    this.sources.push(dir);
    return this;
  }

  async build(output: string, options: PexBuildOptions = {}): Promise<PexBuildResult> {
    const attempt = { usedPlans: false };
    try {
      return await this.buildOnce(output, options, attempt, true);
    } catch (err) {
      // A cached install plan that no longer matches its wheel (changed within the same
      // kernel tick, or a damaged cache): plan every wheel afresh, which also replaces it.
      if (attempt.usedPlans && err instanceof ClusterPackError && err.code === "ERR_SOURCE_CHANGED" && !options.signal?.aborted) {
        return await this.buildOnce(output, options, attempt, false);
      }
      throw err;
    }
  }

  private async buildOnce(output: string, options: PexBuildOptions, attempt: { usedPlans: boolean }, usePlans: boolean): Promise<PexBuildResult> {
    const o = this.options;
    const signal = options.signal;
    throwIfAborted(signal);
    validateOptions(o);
    const layout = o.layout ?? "zipapp";
    const structure = o.structure ?? "split";
    const readers: ZipReader[] = [];
    const sources: RandomAccessSource[] = [];
    // Aborted by the caller, and by a failed wheel verification (no point writing on).
    const internal = new AbortController();
    const onAbort = () => internal.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const verifier = new WheelVerifier({ cacheDir: o.verifiedWheelsCache ?? undefined, signal: internal.signal });
    // Install plans of verified wheels live beside the verification memo (and not without it).
    const plans = o.verifiedWheelsCache === false ? undefined : new WheelPlanCache(o.verifiedWheelsCache ?? defaultVerifiedWheelsDir());
    const verifications: Promise<WheelVerification>[] = [];
    let verifyFailure: unknown;
    // Probed while the wheels are opened and planned (an interpreter that cannot compile fails the build before any work).
    const probing = o.compile || o.compilePython ? probeBytecodeInterpreter(o.compilePython ?? shebangInterpreter(shebang(o.pythonShebang)), internal.signal) : undefined;
    probing?.catch(() => undefined); // awaited below
    let bytecodeSession: BytecodeSession | undefined;
    const inner: PexBuildOptions = { ...options, signal: internal.signal };
    try {
      const wheels = [...this.wheels].sort((a, b) => cmp(path.basename(a.path), path.basename(b.path)));
      // Each wheel is either replayed from the install plan cached when the same bytes were
      // verified (no zip to open, nothing to parse or hash), or opened and planned; all
      // concurrently, so their reads overlap.
      const opening = wheels.map(async (w): Promise<OpenedWheel> => {
        const name = path.basename(w.path);
        const id = plans ? await plans.identify(w.path).catch(() => undefined) : undefined;
        const sha256 = w.sha256?.toLowerCase() ?? id?.sha256;
        const plan = plans && sha256 && usePlans ? await plans.load(sha256, PLAN_OPTIONS) : undefined;
        if (plan && sha256) {
          const source = await fileSource(w.path).catch(() => undefined);
          if (source) sources.push(source);
          if (source && source.size === plan.size) {
            attempt.usedPlans = true;
            return { name, wheel: w, id, planned: { plan, source, sha256 } };
          }
        }
        try {
          // Verified once planned: its sha256 (unless given) is computed meanwhile.
          const hashing = w.sha256 === undefined ? verifier.hashAhead(w.path) : undefined;
          hashing?.catch(() => undefined); // a failure shows in verify
          const reader = await ZipReader.open(w.path, { signal });
          readers.push(reader);
          return { name, wheel: w, id, reader, ...(hashing ? { hashing } : {}) };
        } catch (err) {
          throw new InvalidInputError(`Cannot read the wheel ${w.path}: ${(err as Error).message}`, { cause: err, hint: (err as { hint?: string }).hint });
        }
      });
      const opened: OpenedWheel[] = await settleAll(opening);
      const userFiles = await collectSources(this.sources, !!o.followExternalSymlinks, signal);
      const boot = await bootstrapFiles();
      const bulk = new ZipWriter({
        compress: o.compress ?? true,
        ...(o.compressionLevel !== undefined ? { compressionLevel: o.compressionLevel } : {}),
        ...(layout !== "packed" ? { prefix: shebang(o.pythonShebang) } : {}),
      });
      const installed: WheelZipFacts[] = [];
      const depsWriters: { name: string; writer: ZipWriter }[] = [];
      // Planned concurrently (METADATA/RECORD reads overlap); the writer sorts entries, so
      // the order of additions does not show in the output.
      const packedWriters = opened.map(() => (layout === "packed" || layout === "layered" ? new ZipWriter({ compress: o.compress ?? true }) : undefined));
      // Each wheel's chroot in its writer: the bulk's `.deps/<wheel>/`, or a packed zip's root.
      const prefixes = opened.map(({ name }, i) => (packedWriters[i] ? "" : `.deps/${name}/`));
      // A replayed plan was made from these very bytes once verified; the others are
      // verified on worker threads as soon as each is planned (the workers had waited for
      // the planning of every wheel, a third of a small first build), while the others are
      // planned and the archive is written (or found verified before).
      const planned = await settleAll(
        opened.map(async ({ name, reader, wheel, planned: p }, i) => {
          const prefix = prefixes[i]!;
          if (p) {
            verifications[i] = Promise.resolve({ sha256: p.sha256, memoised: true });
            return addPlannedWheelToZip(packedWriters[i] ?? bulk, p.source, p.plan, prefix);
          }
          const added = await addWheelToZip(packedWriters[i] ?? bulk, reader!, name, { ...PLAN_OPTIONS, prefix, signal, deferVerification: true });
          const v = verifier.verify(wheel.path, name, added.checks, wheel.sha256 ? { sha256: wheel.sha256 } : {});
          v.catch((err: unknown) => {
            verifyFailure ??= err;
            internal.abort(err);
          });
          verifications[i] = v;
          return added;
        }),
      );
      for (const [i, { name }] of opened.entries()) {
        if (packedWriters[i]) depsWriters.push({ name, writer: packedWriters[i]! });
        installed.push(planned[i]!);
      }
      // What the PEX holds of each wheel: as installed, plus its bytecode (the plans cached
      // below stay those of the wheel alone).
      const shipped = [...installed];
      let bytecode: PexBuildResult["bytecode"];
      if (probing) {
        const interpreter: BytecodeInterpreter = await probing;
        bytecodeSession = await openBytecodeSession(interpreter, plans?.dir, internal.signal); // beside the plans, and not without them
        const known = await Promise.all(opened.map(async (w) => sha256Before(w) ?? (await w.hashing?.catch(() => undefined))));
        const got = await bytecodeSession.add(
          opened.map((w, i) => ({
            name: w.name,
            path: w.wheel.path,
            ...(known[i] ? { sha256: known[i] } : {}),
            facts: installed[i]!,
            members: () => wheelMembers(w, installed[i]!, readers, signal),
            writer: packedWriters[i] ?? bulk,
            prefix: prefixes[i]!,
          })),
        );
        got.forEach((g, i) => (shipped[i] = g.facts));
        bytecode = {
          python: interpreter.python,
          version: interpreter.version,
          cacheTag: interpreter.cacheTag,
          magic: interpreter.magic,
          compiled: got.reduce((n, g) => n + g.compiled, 0),
          cachedWheels: got.filter((g) => g.cached).length,
          skipped: got.flatMap((g, i) => g.skipped.map((s) => ({ wheel: opened[i]!.name, ...s }))),
        };
      }
      // Nothing is renamed into place before every wheel is verified.
      const verified = async (): Promise<WheelVerification[]> => Promise.all(verifications);
      const info = this.pexInfo(shipped, userFiles, boot, bytecode);
      if (layout !== "packed") for (const f of userFiles) bulk.addFile(f.name, f.path, { mode: f.mode });
      const built =
        layout === "packed"
          ? await writePacked(output, info, shipped, depsWriters, userFiles, boot, o, inner, verified)
          : layout === "layered"
            ? await writeLayered(output, { bulk, info, installed: shipped, deps: depsWriters, knownSha256: opened.map((w) => w.planned?.sha256), boot, compress: o.compress ?? true, layerStore: o.layerStore }, inner, verified, (b, i, d, bt, opts, v) => writeSplit(output, b, i, d, bt, opts, v))
            : structure === "flat"
            ? await writeFlat(output, bulk, info, shipped, boot, inner, verified)
            : await writeSplit(output, bulk, info, shipped, boot, inner, verified);
      opened.forEach((w, i) => (built.distributions[i]!.planReplayed = !!w.planned));
      if (bytecode) built.bytecode = bytecode;
      if (plans) await rememberPlans(plans, opened, installed, built, signal);
      await bytecodeSession?.commit(built.distributions.map((d) => d.sha256));
      return built;
    } catch (err) {
      // A failed verification aborts the write: report the verification, not the abort.
      if (verifyFailure !== undefined && !signal?.aborted) throw verifyFailure;
      if (signal?.aborted && !(err instanceof AbortError)) throw new AbortError(undefined, { cause: err });
      throw err;
    } finally {
      signal?.removeEventListener("abort", onAbort);
      await Promise.allSettled(verifications);
      await probing?.catch(() => undefined);
      await bytecodeSession?.close();
      await verifier.close();
      for (const r of readers) await r.close().catch(() => undefined);
      for (const s of sources) await s.close?.().catch(() => undefined);
    }
  }

  private pexInfo(installed: WheelZipFacts[], userFiles: SourceFile[], boot: BootFile[], bytecode: PexBuildResult["bytecode"]): PexInfo {
    const o = this.options;
    const info = parsePexInfo(JSON.stringify(Object.fromEntries(STANDARD_FIELDS.map((k) => [k, null]))));
    info.buildProperties = { builder: "cluster-pack", cluster_pack_version: CLUSTER_PACK_PEX_VERSION, ...(o.buildProperties ?? {}) };
    for (const w of installed) info.distributions[w.metadata.filename.filename] = w.fingerprint;
    info.requirements = o.requirements ?? uniq(installed.map((w) => `${w.metadata.metadata.name}==${w.metadata.metadata.version}`));
    info.interpreterConstraints = [...(o.interpreterConstraints ?? [])];
    if (o.entryPoint) info.entryPoint = o.entryPoint;
    if (o.script) info.script = o.script;
    info.inheritPath = o.inheritPath ?? "false";
    info.stripPexEnv = o.stripPexEnv ?? true;
    info.venv = o.venv ?? false;
    info.includeTools = o.includeTools ?? false;
    info.injectArgs = [...(o.injectArgs ?? [])];
    info.injectEnv = { ...(o.injectEnv ?? {}) };
    if (o.pexPath) info.pexPath = o.pexPath;
    if (o.pexRoot) info.pexRoot = o.pexRoot;
    info.codeHash = contentHash(userFiles.map((f) => [f.name, f.sha256]));
    info.bootstrapHash = contentHash(boot.map((f) => [f.name, sha256(f.data)]));
    // `bytecode`: the runtime's bytecode compiler leaves the distributions alone under an
    // interpreter with this tag and magic number (their .pyc files are in the PEX).
    const shipped = bytecode ? { bytecode: bytecodeInfo(bytecode) } : {};
    info.raw = { ...info.raw, cluster_pack: { layout: o.layout ?? "zipapp", runtime: BOOTSTRAP_PACKAGE, ...shipped } };
    return info;
  }
}

/** Builds a PEX in one call: `new PexBuilder(options).build(output, buildOptions)`. */
export function buildPex(output: string, options: PexBuilderOptions & PexBuildOptions): Promise<PexBuildResult> {
  const { signal, onProgress, ...rest } = options;
  return new PexBuilder(rest).build(output, { ...(signal ? { signal } : {}), ...(onProgress ? { onProgress } : {}) });
}

/**
 * sha1 over sorted `name NUL sha256 LF` lines: the code_hash / bootstrap_hash of PEX
 * files built here. (pex hashes names then contents in one stream; these are opaque
 * cache keys to every reader, and this form can be computed and re-verified per file.)
 */
export function contentHash(files: [string, string][]): string {
  const h = createHash("sha1");
  for (const [name, digest] of [...files].sort((a, b) => cmp(a[0], b[0]))) h.update(`${name}\0${digest}\n`);
  return h.digest("hex");
}

/** addWheelToZip options (besides the prefix) of every build: what cached plans are keyed by (the scheme too, so a new chroot layout never replays plans of the old one). */
const PLAN_OPTIONS = { chrootScheme: PEX_CHROOT_SCHEME };

/** A wheel's sha256 known without hashing it: given, or of its replayed plan, or recorded for its file identity. */
function sha256Before(w: OpenedWheel): string | undefined {
  return w.wheel.sha256?.toLowerCase() ?? w.planned?.sha256 ?? w.id?.sha256;
}

/**
 * Chroot-relative name -> member name of a wheel's copied entries: from its plan made now,
 * or, for a replayed plan (whose entries are spans of the file), by local header offset
 * in the wheel opened now.
 */
async function wheelMembers(w: OpenedWheel, installed: WheelZipFacts, readers: ZipReader[], signal?: AbortSignal): Promise<Map<string, string>> {
  const added = (installed as Partial<ZipInstalledWheel>).added;
  if (added) return new Map(added.filter((a) => a.entry).map((a) => [a.rel, a.entry!.name]));
  const reader = await ZipReader.open(w.wheel.path, signal ? { signal } : {});
  readers.push(reader);
  const byOffset = new Map(reader.entries.map((e) => [e.localHeaderOffset, e.name]));
  const out = new Map<string, string>();
  for (const e of w.planned!.plan.entries) {
    if (e.length !== 8) continue;
    const member = byOffset.get(e[6]);
    if (member !== undefined) out.set(e[0], member);
  }
  return out;
}

interface OpenedWheel {
  name: string;
  wheel: PexWheel;
  id: WheelFileIdentity | undefined;
  /** Opened as a zip and planned now ... */
  reader?: ZipReader;
  /** ... with its sha256 being computed (unless given) ... */
  hashing?: Promise<string>;
  /** ... or replayed from the plan cached for its sha256. */
  planned?: { plan: WheelZipPlan; source: RandomAccessSource; sha256: string };
}

/**
 * Best effort, after a successful build: each wheel's sha256 by file identity, and the
 * install plan of each wheel planned in this build (now verified), for the next builds.
 */
async function rememberPlans(plans: WheelPlanCache, opened: OpenedWheel[], installed: WheelZipFacts[], built: PexBuildResult, signal?: AbortSignal): Promise<void> {
  await Promise.all(
    opened.map(async (w, i) => {
      const sha256 = built.distributions[i]!.sha256;
      try {
        if (w.id) await plans.rememberSha256(w.id, sha256);
        if (w.reader) await plans.save(sha256, installed[i] as ZipInstalledWheel, w.reader, PLAN_OPTIONS, signal);
      } catch {
        // A cache that cannot be written only means planning again next time.
      }
    }),
  );
}

interface SourceFile {
  name: string;
  path: string;
  mode: number;
  sha256: string;
}

interface BootFile {
  name: string;
  data: Buffer;
}

function validateOptions(o: PexBuilderOptions): void {
  if (o.entryPoint && o.script) throw new InvalidInputError("Both an entry point and a script were given, and a PEX runs only one.", { hint: "give either an entry point or a script, not both." });
  if (o.entryPoint) parseEntryPointValue(o.entryPoint, "--entry-point");
  if (o.inheritPath && !["false", "prefer", "fallback"].includes(o.inheritPath)) {
    throw new InvalidInputError(`inherit path "${o.inheritPath}" is not one of false, prefer, fallback.`);
  }
  for (const c of o.interpreterConstraints ?? []) {
    if (!/^\s*([A-Za-z][A-Za-z0-9_]*)?\s*((===|==|!=|~=|<=|>=|<|>)\s*[0-9][0-9.]*(\.\*)?\s*(,\s*(===|==|!=|~=|<=|>=|<|>)\s*[0-9][0-9.]*(\.\*)?\s*)*)?$/.test(c) || !c.trim()) {
      throw new InvalidInputError(`Interpreter constraint "${c}" is not valid.`, { hint: `write it like "CPython>=3.8,<3.13" or ">=3.9".` });
    }
  }
  for (const [k, v] of Object.entries(o.injectEnv ?? {})) {
    if (!k || k.includes("=") || typeof v !== "string") throw new InvalidInputError(`Injected environment variable "${k}" is not valid.`, { hint: "use NAME=value." });
  }
  validateBytecodeOptions(o);
  if (o.pythonShebang !== undefined && (/[\r\n]/.test(o.pythonShebang) || !o.pythonShebang.trim())) {
    throw new InvalidInputError(`The shebang "${o.pythonShebang}" must be one non-empty line, e.g. "/usr/bin/env python3.11".`);
  }
}

/**
 * The bytecode options' one check (the builder's, and cluster-pack's before it writes a
 * lock): `compilePython` is a non-empty path or command, and implies `compile`, so naming
 * it with `compile: false` is a contradiction, refused rather than guessed.
 */
export function validateBytecodeOptions(o: { compile?: boolean; compilePython?: string }): void {
  if (o.compilePython !== undefined && (/[\r\n\0]/.test(o.compilePython) || !o.compilePython.trim())) {
    throw new InvalidInputError(`The interpreter to compile with ("${o.compilePython}") must be a non-empty path or command.`, { hint: "give the path or the name of a python, e.g. python3.11." });
  }
  if (o.compile === false && o.compilePython !== undefined) {
    throw new InvalidInputError("Bytecode is refused (`compile` is false) while `compilePython` names an interpreter to compile it with.", {
      optionNames: ["compile", "compilePython"],
      hint: "drop one of the two: without either, no bytecode is shipped.",
    });
  }
}

function shebang(interpreter: string | undefined): string {
  const s = (interpreter ?? "/usr/bin/env python3").trim();
  return `${s.startsWith("#!") ? s : `#!${s}`}\n`;
}

async function collectSources(dirs: string[], followExternal: boolean, signal?: AbortSignal): Promise<SourceFile[]> {
  const out = new Map<string, SourceFile>();
  for (const dir of dirs) {
    const st = await fs.promises.stat(dir).catch(() => undefined);
    if (!st?.isDirectory()) throw new InvalidInputError(`Source directory ${dir} does not exist or is not a directory.`);
    const root = await fs.promises.realpath(dir);
    const walk = async (rel: string): Promise<void> => {
      throwIfAborted(signal);
      const entries = await fs.promises.readdir(path.join(dir, rel), { withFileTypes: true });
      for (const e of entries.sort((a, b) => cmp(a.name, b.name))) {
        const childRel = rel ? `${rel}/${e.name}` : e.name;
        if (e.name === "__pycache__" || e.name.endsWith(".pyc")) continue;
        if (!rel && RESERVED_TOP.has(e.name)) throw new InvalidInputError(`${path.join(dir, e.name)} clashes with the PEX's own ${e.name}.`, { hint: "rename it." });
        const full = path.join(dir, childRel);
        if (e.isDirectory()) await walk(childRel);
        else if (e.isFile() || e.isSymbolicLink()) {
          const s = await fs.promises.stat(full);
          if (!s.isFile()) continue;
          if (e.isSymbolicLink() && !followExternal) {
            // Where the kernel resolves it, not what the link's text says.
            const real = await fs.promises.realpath(full);
            if (!isPathInside(root, real)) {
              throw new InvalidInputError(`${full} is a symlink to ${real}, outside the source directory ${dir}; the PEX would carry that file.`, { code: "ERR_SYMLINK_OUTSIDE", hint: "pass --follow-external-symlinks to include it anyway, or remove the link." });
            }
          }
          if (out.has(childRel)) throw new InvalidInputError(`${childRel} is in two source directories; each file may come from one.`);
          out.set(childRel, { name: childRel, path: full, mode: s.mode & 0o111 ? 0o755 : 0o644, sha256: await sha256File(full) });
        }
      }
    };
    await walk("");
  }
  return [...out.values()].sort((a, b) => cmp(a.name, b.name));
}

function addBootEntries(writer: ZipWriter, info: PexInfo, boot: BootFile[]): void {
  writer.addBuffer("__main__.py", mainStub(), { mode: 0o755 });
  writer.addBuffer("PEX-INFO", formatPexInfo(info), { mode: 0o644 });
  for (const f of boot) writer.addBuffer(`.bootstrap/${f.name}`, f.data, { mode: 0o644 });
}

type Verified = () => Promise<WheelVerification[]>;

async function writeFlat(output: string, bulk: ZipWriter, info: PexInfo, installed: WheelZipFacts[], boot: BootFile[], options: PexBuildOptions, verified: Verified): Promise<PexBuildResult> {
  info.pexHash = computePexHash(info);
  addBootEntries(bulk, info, boot);
  const target = path.resolve(output);
  // Nothing is renamed into place before every wheel is verified.
  return publishFile(
    target,
    async (temp) => {
      const res = await bulk.writeTo(temp, { mode: 0o755, digest: false, ...progress(options) });
      const checked = await verified();
      return result(target, "zipapp", res.size, res.entries, info, installed, checked);
    },
    { signal: options.signal, ...(options.overwrite === false ? { overwrite: false } : {}) },
  );
}

async function writeSplit(output: string, bulk: ZipWriter, info: PexInfo, installed: WheelZipFacts[], boot: BootFile[], options: PexBuildOptions, verified: Verified): Promise<PexBuildResult> {
  const target = path.resolve(output);
  return publishFile(
    target,
    async (temp, ctx) => {
      const first = await bulk.writeTo(temp, { mode: 0o600, digest: false, ...progress(options) });
      info.raw = { ...info.raw, cluster_pack: { ...(info.raw.cluster_pack as object), deps_archive: { length: first.size } } };
      info.pexHash = computePexHash(info);
      const writer = new ZipWriter({ compress: false });
      addBootEntries(writer, info, boot);
      const out = ctx.track(fs.createWriteStream(temp, { flags: "a" }));
      const opened = new Promise<void>((resolve, reject) => out.once("open", () => resolve()).once("error", reject));
      await opened;
      const second = await writer.writeToStream(out, { digest: false, ...(options.signal ? { signal: options.signal } : {}) });
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      const fd = await fs.promises.open(temp, "r+");
      try {
        await fd.sync();
        await fd.chmod(0o755);
      } finally {
        await fd.close();
      }
      const checked = await verified();
      return result(target, "zipapp", first.size + second.size, first.entries + second.entries, info, installed, checked);
    },
    { signal: options.signal, ...(options.overwrite === false ? { overwrite: false } : {}) },
  );
}

async function writePacked(
  output: string,
  info: PexInfo,
  installed: WheelZipFacts[],
  deps: { name: string; writer: ZipWriter }[],
  userFiles: SourceFile[],
  boot: BootFile[],
  o: PexBuilderOptions,
  options: PexBuildOptions,
  verified: Verified,
): Promise<PexBuildResult> {
  const target = path.resolve(output);
  const signalOpt = options.signal ? { signal: options.signal } : {};
  // The target is always either the old or the new complete PEX (see publishDirectory).
  return publishDirectory(
    target,
    async (temp) => {
      await fs.promises.mkdir(path.join(temp, ".deps"), { recursive: true });
      info.raw = { ...info.raw, cluster_pack: { ...(info.raw.cluster_pack as object), layout: "packed" } };
      info.pexHash = computePexHash(info);
      let size = 0;
      let entries = 0;
      const bootZip = new ZipWriter({ compress: o.compress ?? true });
      for (const f of boot) bootZip.addBuffer(f.name, f.data, { mode: 0o644 });
      const b = await bootZip.writeTo(path.join(temp, ".bootstrap"), signalOpt);
      size += b.size;
      entries += b.entries;
      let done = 0;
      for (const d of deps) {
        const r = await d.writer.writeTo(path.join(temp, ".deps", d.name), { ...signalOpt, digest: false });
        size += r.size;
        entries += r.entries;
        options.onProgress?.(++done, deps.length + userFiles.length);
      }
      const infoText = formatPexInfo(info);
      await fs.promises.writeFile(path.join(temp, "PEX-INFO"), infoText, { mode: 0o644 });
      // A shebang makes `<dir>/__main__.py` executable on its own: engines launch a packed PEX
      // shipped as an archive that way (cluster-pack's `pyenv/__main__.py` interpreter).
      const main = Buffer.concat([Buffer.from(shebang(o.pythonShebang)), mainStub()]);
      await fs.promises.writeFile(path.join(temp, "__main__.py"), main, { mode: 0o755 });
      size += Buffer.byteLength(infoText) + main.length;
      for (const f of userFiles) {
        throwIfAborted(options.signal);
        const dest = path.join(temp, ...f.name.split("/"));
        await fs.promises.mkdir(path.dirname(dest), { recursive: true });
        await fs.promises.copyFile(f.path, dest);
        await fs.promises.chmod(dest, f.mode);
        size += (await fs.promises.stat(dest)).size;
        options.onProgress?.(++done, deps.length + userFiles.length);
      }
      const checked = await verified();
      await refuseNonPexDirectory(target);
      return result(target, "packed", size, entries + 2 + userFiles.length, info, installed, checked);
    },
    { signal: options.signal, ...(options.overwrite === false ? { overwrite: false } : {}) },
  );
}

/** A packed PEX replaces an earlier PEX directory (or a file), never another directory. */
async function refuseNonPexDirectory(target: string): Promise<void> {
  const existing = await fs.promises.lstat(target).catch(() => undefined);
  if (existing?.isDirectory() && !(await fs.promises.access(path.join(target, "PEX-INFO")).then(() => true, () => false))) {
    throw new InvalidInputError(`${target} exists and is not a PEX directory; refusing to replace it.`, { hint: "choose another output path." });
  }
}

function result(p: string, layout: PexLayout, size: number, entries: number, info: PexInfo, installed: WheelZipFacts[], checked: WheelVerification[]): PexBuildResult {
  return {
    path: p,
    layout,
    size,
    entries,
    info,
    distributions: installed.map((w, i) => ({
      wheel: w.metadata.filename.filename,
      project: w.metadata.metadata.name,
      version: w.metadata.metadata.version,
      fingerprint: w.fingerprint,
      files: w.files,
      bytes: w.bytes,
      sha256: checked[i]!.sha256,
      verificationMemoised: checked[i]!.memoised,
      planReplayed: false,
    })),
  };
}

function progress(options: PexBuildOptions): { signal?: AbortSignal; onProgress?: (d: number, t: number) => void } {
  return { ...(options.signal ? { signal: options.signal } : {}), ...(options.onProgress ? { onProgress: options.onProgress } : {}) };
}

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function uniq(xs: string[]): string[] {
  return [...new Set(xs)];
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
