import { execFile, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { AbortError, ClusterPackError, IntegrityError, InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { DigestMemo, Limiter, makeTempDir, removeTemp, settleAll, shardedPath, sweepStaleTemps, writeFileAtomic } from "@cluster-pack/io";
import { isValidHexDigest } from "@cluster-pack/packaging";
import { addRecordRows, isVerifiedWheel, parseRecord, PEX_CHROOT_SCHEME, type RecordEntry, type WheelZipFacts } from "@cluster-pack/wheel";
import { ZipReader, ZipWriter } from "@cluster-pack/zip";
import { RUNTIME_DIR } from "./runtime";

// Build-time bytecode (PexBuilderOptions.compile, `pex build --compile`): every module of
// every wheel compiled once, as checked-hash .pyc files (PEP 552) in the chroot's
// __pycache__ directories, so that no executor compiles what it imports on its first
// start (`import numpy, pandas, pyarrow` compiles for about 1 s of CPU on every container
// with an empty PEX_ROOT). pex's --compile does the same with timestamp .pyc files, which
// extraction invalidates (the extracted source is newer); a checked hash stays valid and
// can never stand for other source: Python hashes the source before using the .pyc.
//
// The compiler is the interpreter the PEX is for (compile_wheels.py, a fresh process per
// run of MODULES_PER_PROCESS of a wheel's modules: the bytes then depend only on the wheel
// and the interpreter), writing zips of .pyc files merged into one per wheel, which is
// copied raw into the PEX and added to the chroot's RECORD.
// Those zips are kept beside the verified-wheel memo, by wheel sha256 and interpreter, for
// the next builds; one is used only while its wheel's verification marker exists, when its
// sidecar lists exactly the sources (paths and RECORD hashes) the wheel has now, and when
// its bytes have the sha256 the sidecar records (by file identity, else hashed).

/** compile_wheels.py's FORMAT, MODULES_PER_PROCESS, and the layout of the cached zips and sidecars. */
const FORMAT = 2;
/**
 * Modules compiled by one process: a wheel's sorted modules are cut into runs of this many,
 * each compiled by a fresh process, so one large wheel (pandas: 1,421 modules; torch's)
 * keeps every core busy instead of being the build's critical path. A constant, never the
 * number of cores: a module's bytes depend on what its process compiled before it.
 */
const MODULES_PER_PROCESS = 256;
const SCRIPT = path.join(RUNTIME_DIR, "compile_wheels.py");
/** Larger sources are left to the importer (the largest modules of real wheels are a few MB; the compiler holds one source and its code at a time). */
const MAX_SOURCE_BYTES = 16 << 20;

/** The interpreter bytecode is compiled with, as it describes itself. */
export interface BytecodeInterpreter {
  python: string;
  /** `sys.implementation.cache_tag`, e.g. `cpython-311`: the .pyc files' name tag. */
  cacheTag: string;
  /** `importlib.util.MAGIC_NUMBER` in hex. */
  magic: string;
  /** e.g. `cpython 3.11.7`. */
  version: string;
  /** What the bytes depend on (version, magic, zlib), hashed: the cache key. */
  key: string;
}

/** Runs `python` to learn what its bytecode depends on. Bad input (exit 2) when it cannot compile. */
export async function probeBytecodeInterpreter(python: string, signal?: AbortSignal): Promise<BytecodeInterpreter> {
  const bad = (why: string) =>
    new InvalidInputError(`Cannot compile bytecode with ${python}: ${why}.`, {
      code: "ERR_BYTECODE_INTERPRETER",
      hint: "name a CPython 3.8+ with `compilePython` (default: the interpreter of `pythonShebang`).",
      optionNames: ["compilePython", "pythonShebang"],
    });
  let out: string;
  const children = new Children(signal);
  try {
    out = await runCompiler(python, ["--describe"], "", children);
  } catch (err) {
    if (err instanceof AbortError) throw err;
    throw bad((err as Error).message);
  } finally {
    children.close();
  }
  let d: Record<string, unknown>;
  try {
    d = JSON.parse(out) as Record<string, unknown>;
  } catch {
    throw bad(`it printed ${JSON.stringify(out.slice(0, 200))}, not a description`);
  }
  const tag = d.cacheTag;
  if (!isCacheTag(tag)) throw bad("it has no bytecode cache tag (sys.implementation.cache_tag)");
  if (d.format !== FORMAT || !isMagic(d.magic) || typeof d.version !== "string") throw bad("its description is not the one this builder expects");
  const key = crypto.createHash("sha1").update(JSON.stringify([FORMAT, tag, d.magic, d.hexversion, d.zlib, d.version])).digest("hex").slice(0, 16);
  return { python, cacheTag: tag, magic: d.magic, version: d.version.slice(0, 80), key };
}

/** PEX-INFO's `cluster_pack.bytecode` of a PEX whose bytecode is for `interpreter` (read by the runtime's extract.py). */
export function bytecodeInfo(interpreter: Pick<BytecodeInterpreter, "cacheTag" | "magic">): { cache_tag: string; magic: string } {
  return { cache_tag: interpreter.cacheTag, magic: interpreter.magic };
}

/** PEX-INFO's claim of shipped bytecode (`raw`: PEX-INFO as read), when well-formed: a stranger's PEX-INFO is shown, never trusted. */
export function shippedBytecode(raw: Record<string, unknown>): { cacheTag: string; magic: string } | undefined {
  const b = (raw.cluster_pack as { bytecode?: { cache_tag?: unknown; magic?: unknown } } | undefined)?.bytecode;
  return isCacheTag(b?.cache_tag) && isMagic(b?.magic) ? { cacheTag: b.cache_tag, magic: b.magic } : undefined;
}

function isCacheTag(tag: unknown): tag is string {
  return typeof tag === "string" && /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(tag);
}

function isMagic(magic: unknown): magic is string {
  return typeof magic === "string" && /^[0-9a-f]{8}$/.test(magic);
}

/**
 * The interpreter named by a shebang (`/usr/bin/env python3.11` -> `python3.11`, found on
 * PATH; `/opt/py/bin/python3 -E` -> `/opt/py/bin/python3`).
 */
export function shebangInterpreter(shebang: string): string {
  const words = shebang.trim().replace(/^#!/, "").trim().split(/\s+/);
  if (path.basename(words[0] ?? "") === "env") return words.slice(1).find((w) => !w.startsWith("-") && !w.includes("=")) ?? "python3";
  return words[0] || "python3";
}

/**
 * The name of the .pyc Python looks for beside `rel` (a chroot-relative `.py` file):
 * `pkg/mod.py` -> `pkg/__pycache__/mod.<tag>.pyc`; undefined for files no import reads
 * (scripts, headers and data under the chroot's stash, .dist-info, an existing
 * __pycache__).
 */
export function pycName(rel: string, cacheTag: string): string | undefined {
  if (!rel.endsWith(".py") || rel.startsWith(`${PEX_CHROOT_SCHEME.data}/`)) return undefined;
  const parts = rel.split("/");
  const file = parts.pop()!;
  if (file === ".py" || parts.includes("__pycache__") || parts[0]?.endsWith(".dist-info")) return undefined;
  return [...parts, "__pycache__", `${file.slice(0, -3)}.${cacheTag}.pyc`].join("/");
}

/** One wheel added to a writer, to compile the bytecode of. */
export interface BytecodeWheel {
  /** The wheel's file name. */
  name: string;
  path: string;
  /** Its sha256 when known before the build (given, or by identity): the cache key. */
  sha256?: string;
  /** As added to the writer. */
  facts: WheelZipFacts;
  /** Chroot-relative name -> member name in the wheel. */
  members: () => Promise<Map<string, string>>;
  writer: ZipWriter;
  /** The chroot's prefix in the writer (`.deps/<wheel>/`, or "" for a packed zip). */
  prefix: string;
}

export interface WheelBytecode {
  /** The wheel's facts with the .pyc files in its RECORD (the same object when none was added). */
  facts: WheelZipFacts;
  compiled: number;
  /** Modules that did not compile (left to the importer, as pip does), with the reason. */
  skipped: { member: string; reason: string }[];
  /** Taken from the cache of an earlier build. */
  cached: boolean;
}

export interface BytecodeSession {
  /** Adds each wheel's bytecode to its writer and RECORD (in `wheels` order). */
  add(wheels: BytecodeWheel[]): Promise<WheelBytecode[]>;
  /** After a successful build: keeps what was compiled for the next builds (`sha256s` per wheel, in `add` order). Best effort. */
  commit(sha256s: string[]): Promise<void>;
  /** Closes the zips and removes the temporaries; always call it. */
  close(): Promise<void>;
}

/**
 * A build's bytecode: `cacheDir` is the verified-wheel memo's directory (undefined: nothing
 * is cached, every build compiles).
 */
export async function openBytecodeSession(interpreter: BytecodeInterpreter, cacheDir: string | undefined, signal?: AbortSignal): Promise<BytecodeSession> {
  const store = cacheDir ? path.join(cacheDir, "bytecode") : undefined;
  if (store) {
    await fs.promises.mkdir(store, { recursive: true });
    await sweepStaleTemps(store); // of builds killed mid-compile
  }
  const temp = await makeTempDir("pex-bytecode", store ? { parent: store } : {});
  const digests = cacheDir ? new DigestMemo(path.join(cacheDir, "stat")) : undefined;
  const readers: ZipReader[] = [];
  const fresh: { index: number; bundle: string; sha256: string; sidecar: Sidecar }[] = [];
  const limiter = new Limiter(Math.max(1, os.availableParallelism()));
  const children = new Children(signal);
  const where = (sha256: string, ext: string) => shardedPath(store!, sha256, `${sha256}.${interpreter.key}.${ext}`);

  const cached = async (sha256: string | undefined, inputs: [string, string][]): Promise<{ bundle: string; sidecar: Sidecar } | undefined> => {
    if (!store || !digests || !sha256 || !(await isVerifiedWheel(cacheDir!, sha256))) return undefined;
    const sidecar = parseSidecar(await fs.promises.readFile(where(sha256, "json"), "utf8").catch(() => ""));
    if (!sidecar || sidecar.key !== interpreter.key || JSON.stringify(sidecar.inputs) !== JSON.stringify(inputs)) return undefined;
    const bundle = where(sha256, "zip");
    return (await digests.verify(bundle, sidecar.sha256, signal ? { signal } : {}).catch(() => false)) ? { bundle, sidecar } : undefined;
  };

  const compile = async (w: BytecodeWheel, index: number, sources: RecordEntry[], names: string[], inputs: [string, string][]): Promise<{ bundle: string; sidecar: Sidecar }> => {
    const members = await w.members();
    const job = sources.map((r, i) => {
      const member = members.get(r.path);
      if (member === undefined) throw new IntegrityError(`${w.name}: ${r.path} is in its RECORD but not in the wheel.`);
      return [member, names[i]!, r.path];
    });
    const runs: string[][][] = [];
    for (let at = 0; at < job.length; at += MODULES_PER_PROCESS) runs.push(job.slice(at, at + MODULES_PER_PROCESS));
    // Settled, not raced: a failed run's siblings finish before the session removes the temporaries.
    const replies = await settleAll(
      runs.map(async (run, k) => {
        const out = path.join(temp, `${index}.${k}.zip`);
        let text: string;
        try {
          // No signal for the waiters nor the children: one listener kills every running child
          // (one per process would pass Node's limit of 10 listeners on a signal), and a
          // waiter gives up once it has a slot.
          text = await limiter.run(() => runCompiler(interpreter.python, [], JSON.stringify({ wheel: w.path, out, maxBytes: MAX_SOURCE_BYTES, members: run }), children));
        } catch (err) {
          if (err instanceof AbortError) throw err;
          throw new ClusterPackError("ERR_BYTECODE_COMPILE", `Compiling the bytecode of ${w.name} with ${interpreter.python} failed: ${(err as Error).message}.`, { cause: err });
        }
        return { out, ...parseReply(text, run, w.name) };
      }),
    );

    // One zip per wheel (what the cache keeps), its entries sorted by name (ZipWriter's
    // order): the same bytes whichever run finished first.
    const bundle = path.join(temp, `${index}.zip`);
    const parts: ZipReader[] = [];
    try {
      const merged = new ZipWriter();
      for (const r of replies) {
        const part = await ZipReader.open(r.out, signal ? { signal } : {});
        parts.push(part);
        for (const e of part.entries) merged.addRawEntry(e.name, part, e, { mode: 0o644 });
      }
      const { sha256 } = await merged.writeTo(bundle, signal ? { signal } : {});
      const sidecar: Sidecar = { format: FORMAT, key: interpreter.key, sha256, inputs, compiled: replies.flatMap((r) => r.compiled), skipped: replies.flatMap((r) => r.skipped) };
      return { bundle, sidecar };
    } finally {
      for (const part of parts) await part.close().catch(() => undefined);
      for (const r of replies) await fs.promises.rm(r.out, { force: true });
    }
  };

  const one = async (w: BytecodeWheel, index: number): Promise<WheelBytecode> => {
    // Every module the RECORD lists with a hash, unless the wheel ships its .pyc itself.
    const sources: RecordEntry[] = [];
    const names: string[] = [];
    for (const r of parseRecord(w.facts.recordText, `${w.name} RECORD`).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
      const name = r.hash ? pycName(r.path, interpreter.cacheTag) : undefined;
      if (name === undefined || w.writer.has(w.prefix + name)) continue;
      sources.push(r);
      names.push(name);
    }
    if (!sources.length) return { facts: w.facts, compiled: 0, skipped: [], cached: false };
    const inputs = sources.map((r) => [r.path, r.hash!] as [string, string]);
    const hit = await cached(w.sha256, inputs);
    const got = hit ?? (await compile(w, index, sources, names, inputs));
    if (!hit) fresh.push({ index, bundle: got.bundle, sha256: got.sidecar.sha256, sidecar: got.sidecar });
    const reader = await ZipReader.open(got.bundle, signal ? { signal } : {});
    readers.push(reader);
    const expected = new Map(got.sidecar.compiled.map(([name, , size]) => [name, size]));
    const files = reader.entries.filter((e) => !e.isDirectory); // the merge wrote their parents too
    if (files.length !== expected.size || files.some((e) => expected.get(e.name) !== e.uncompressedSize || e.isSymlink)) {
      throw new IntegrityError(`The bytecode of ${w.name} (${got.bundle}) does not hold the files its compiler reported.`, { hint: "build again; if it persists, remove the bytecode directory of the cluster-pack cache." });
    }
    for (const e of files) w.writer.addRawEntry(w.prefix + e.name, reader, e, { mode: 0o644 });
    const rows = got.sidecar.compiled.map(([p, hash, size]) => ({ path: p, hash, size }));
    const { facts, recordRel } = addRecordRows(w.facts, rows);
    w.writer.replaceBuffer(w.prefix + recordRel, facts.recordText);
    return { facts, compiled: rows.length, skipped: got.sidecar.skipped.map(([member, reason]) => ({ member, reason })), cached: !!hit };
  };

  return {
    async add(wheels) {
      return settleAll(wheels.map((w, i) => one(w, i)));
    },
    async commit(sha256s) {
      if (!store || !digests) return;
      for (const f of fresh) {
        const sha256 = sha256s[f.index];
        if (!sha256 || !isValidHexDigest("sha256", sha256)) continue;
        try {
          await fs.promises.mkdir(path.dirname(where(sha256, "zip")), { recursive: true });
          // The zip first: a sidecar never names bytes that are not there yet.
          await digests.publishVerified(f.bundle, where(sha256, "zip"), f.sha256);
          await writeFileAtomic(where(sha256, "json"), JSON.stringify(f.sidecar));
          await removeOlderFormats(path.dirname(where(sha256, "json")), sha256, interpreter.key);
        } catch {
          // A cache that cannot be written only means compiling again next time.
        }
      }
    },
    async close() {
      children.close();
      for (const r of readers) await r.close().catch(() => undefined);
      await removeTemp(temp);
    },
  };
}

/**
 * Removes this wheel's entries of older cache formats, which the one just published
 * replaces (FORMAT is part of the key, so an upgrade compiles again under a new name and the
 * old pair would stay forever). Entries of other interpreters (the same format, another key)
 * and of newer formats (a newer cluster-pack sharing the cache) are kept. The sidecar goes
 * first: a zip without one is never read.
 */
async function removeOlderFormats(shard: string, sha256: string, key: string): Promise<void> {
  for (const name of await fs.promises.readdir(shard).catch(() => [] as string[])) {
    const m = /^([0-9a-f]{64})\.([0-9a-f]{16})\.json$/.exec(name);
    if (!m || m[1] !== sha256 || m[2] === key) continue;
    let format: unknown;
    try {
      format = (JSON.parse(await fs.promises.readFile(path.join(shard, name), "utf8")) as { format?: unknown }).format;
    } catch {
      continue; // not a sidecar of ours: left alone
    }
    if (typeof format !== "number" || format >= FORMAT) continue;
    await fs.promises.rm(path.join(shard, name), { force: true });
    await fs.promises.rm(path.join(shard, `${m[1]}.${m[2]}.zip`), { force: true });
  }
}

/** What a cached bytecode zip holds, and for which sources. */
interface Sidecar {
  format: number;
  key: string;
  /** sha256 of the zip. */
  sha256: string;
  /** [chroot path, RECORD hash] of every source compiled or tried, in order. */
  inputs: [string, string][];
  /** [.pyc name, RECORD hash, size]. */
  compiled: [string, string, number][];
  /** [member, reason] of the sources that did not compile. */
  skipped: [string, string][];
}

function parseSidecar(text: string): Sidecar | undefined {
  try {
    const s = JSON.parse(text) as Sidecar;
    const pairs = (xs: unknown) => Array.isArray(xs) && xs.every((x) => Array.isArray(x) && x.length === 2 && x.every((y) => typeof y === "string"));
    if (s.format !== FORMAT || typeof s.key !== "string" || typeof s.sha256 !== "string" || !isValidHexDigest("sha256", s.sha256) || !pairs(s.inputs) || !pairs(s.skipped)) return undefined;
    if (!Array.isArray(s.compiled) || !s.compiled.every((c) => Array.isArray(c) && c.length === 3 && typeof c[0] === "string" && typeof c[1] === "string" && Number.isSafeInteger(c[2]) && c[2] >= 0)) return undefined;
    return s;
  } catch {
    return undefined;
  }
}

/**
 * The compiler's reply, checked against the job: each .pyc one it asked for, in its order,
 * with a RECORD hash; each skipped member one it gave.
 */
function parseReply(text: string, job: string[][], wheel: string): Pick<Sidecar, "compiled" | "skipped"> {
  const bad = (why: string) => new ClusterPackError("ERR_BYTECODE_COMPILE", `Compiling the bytecode of ${wheel} failed: ${why}.`);
  let reply: { compiled?: unknown; skipped?: unknown; error?: unknown };
  try {
    reply = JSON.parse(text) as typeof reply;
  } catch {
    throw bad(`the compiler printed ${JSON.stringify(text.slice(0, 200))}`);
  }
  if (typeof reply.error === "string") throw bad(reply.error.slice(0, 500));
  if (!Array.isArray(reply.compiled) || !Array.isArray(reply.skipped)) throw bad("the compiler's reply has no list of files");
  const compiled = reply.compiled as [string, string, number][];
  const skipped = reply.skipped as [string, string][];
  let at = 0;
  for (const c of compiled) {
    while (at < job.length && job[at]![1] !== c[0]) at++;
    if (at++ >= job.length || typeof c[1] !== "string" || !/^sha256=[A-Za-z0-9_-]{43}$/.test(c[1]) || !Number.isSafeInteger(c[2]) || c[2] < 0) throw bad(`the compiler reported ${JSON.stringify(c).slice(0, 200)}, which it was not asked for`);
  }
  const members = new Set(job.map((j) => j[0]));
  for (const s of skipped) if (!Array.isArray(s) || !members.has(s[0]) || typeof s[1] !== "string") throw bad(`the compiler skipped ${JSON.stringify(s).slice(0, 200)}, which it was not asked for`);
  if (compiled.length + skipped.length !== job.length) throw bad(`the compiler answered for ${compiled.length + skipped.length} of ${job.length} files`);
  return { compiled, skipped: skipped.map(([m, r]) => [m, r.slice(0, 300)]) };
}

/** Compiler processes (a probe's, or a session's), all killed by one listener on the signal. */
class Children {
  private readonly live = new Set<ChildProcess>();
  private readonly onAbort = () => {
    for (const c of this.live) c.kill("SIGTERM");
  };
  constructor(readonly signal?: AbortSignal) {
    signal?.addEventListener("abort", this.onAbort, { once: true });
  }

  track(child: ChildProcess): void {
    this.live.add(child);
    child.once("close", () => this.live.delete(child));
    if (this.signal?.aborted) child.kill("SIGTERM");
  }

  close(): void {
    this.signal?.removeEventListener("abort", this.onAbort);
  }
}

/**
 * Runs compile_wheels.py under `python` with `input` on stdin; resolves to its stdout.
 * Its environment is the caller's without PYTHON* (nothing of the user's Python setup
 * shapes the bytes) and with PYTHONHASHSEED=0 (set constants are marshalled in hash order).
 * `children` kills it on an abort.
 */
function runCompiler(python: string, args: string[], input: string, children: Children): Promise<string> {
  const signal = children.signal;
  throwIfAborted(signal);
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PYTHON")));
  env.PYTHONHASHSEED = "0";
  env.PYTHONDONTWRITEBYTECODE = "1";
  return new Promise((resolve, reject) => {
    const child = execFile(python, ["-s", "-S", SCRIPT, ...args], { env, encoding: "utf8", maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (signal?.aborted) return reject(new AbortError(undefined, { cause: signal.reason }));
      if (!err) return resolve(stdout.trim());
      const { code, signal: killed } = err as { code?: unknown; signal?: unknown };
      const why =
        code === "ENOENT" ? "it does not exist (or is not on PATH)" : typeof code === "number" ? `it exited with status ${code}` : killed ? `it was killed by ${String(killed)}` : err.message.split("\n")[0]!;
      const tail = stderr.trim().split("\n").slice(-3).join(" | ").slice(-1000);
      reject(new Error(tail && !why.includes(tail) ? `${why}: ${tail}` : why));
    });
    children.track(child);
    child.stdin?.on("error", () => undefined); // a child that exits early: its status says why
    child.stdin?.end(input);
  });
}
