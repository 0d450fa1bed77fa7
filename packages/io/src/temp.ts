import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { finished } from "node:stream/promises";
import { AbortError, ClusterPackError, InvalidInputError, throwIfAborted } from "@cluster-pack/errors";

/**
 * The one atomic-write rule of the project: every output is written to a temporary
 * sibling whose name says who made it, and published by rename (or a no-overwrite link,
 * or a directory swap). The temporary is removed on error and on abort (after the streams
 * writing it have closed, or it would reappear), and a process-wide registry removes the
 * ones still alive when the process exits or is killed by SIGINT/SIGTERM. A temporary
 * left by a process that died anyway (kill -9, power loss) is removed by the next run that
 * writes into the same directory: its name carries the host and the pid, and a pid that
 * is not alive on this host is a dead writer. Models: yarn berry's `xfs.mktempPromise`
 * (temporaries removed on exit) and `FakeFS.movePromise` (rename with a fallback).
 */

/** Options of `publishFile` and `publishDirectory`. */
export interface PublishOptions {
  /** Replace an existing target (default true). With false, an existing target is ERR_OUTPUT_EXISTS. */
  overwrite?: boolean;
  signal?: AbortSignal;
  /** fsync the file before the rename, so a crash cannot publish an empty one (default false). */
  fsync?: boolean;
}

/** Given to a `fill` callback: register the streams that write the temporary. */
export interface TempContext {
  /** The temporary path (also `fill`'s first argument). */
  readonly path: string;
  /** On failure, the temporary is removed only once every tracked stream has closed. */
  track<S extends NodeJS.ReadableStream | NodeJS.WritableStream>(stream: S): S;
}

/**
 * Writes `target` through a temporary sibling: `fill(temp)` creates and writes it, then it
 * is renamed over `target` (or linked, when `overwrite` is false). On any failure or abort
 * the temporary is removed and the error rethrown (ENOSPC as ERR_NO_SPACE, naming the
 * target). Returns what `fill` returned.
 */
export async function publishFile<T>(target: string, fill: (temp: string, ctx: TempContext) => Promise<T>, options: PublishOptions = {}): Promise<T> {
  const abs = path.resolve(target);
  return withTempFile(
    abs,
    async (temp, ctx) => {
      const value = await fill(temp, ctx);
      if (options.fsync) await fsyncPath(temp);
      throwIfAborted(options.signal);
      await moveIntoPlace(temp, abs, { overwrite: options.overwrite });
      return value;
    },
    options,
  );
}

/**
 * The general form, for a file whose final place is known only once it is written (a
 * content-addressed cache entry): `fn` gets a registered temporary sibling of `near`
 * (whose directory is created and swept) and publishes it itself with `moveIntoPlace`.
 * Whatever `fn` leaves at the temporary path is removed, on success as on failure.
 */
export async function withTempFile<T>(near: string, fn: (temp: string, ctx: TempContext) => Promise<T>, options: { signal?: AbortSignal } = {}): Promise<T> {
  const abs = path.resolve(near);
  await prepareDirectory(path.dirname(abs));
  return withTemp(tempPath(abs), "file", fn, options, async (temp) => {
    await fs.promises.rm(temp, { force: true });
  });
}

/**
 * Writes a directory through a temporary sibling directory (created empty for `fill`),
 * then swaps it in: an existing target is moved aside first (rename cannot replace a
 * non-empty directory) and removed after, so `target` is always the old or the new tree.
 */
export async function publishDirectory<T>(target: string, fill: (temp: string, ctx: TempContext) => Promise<T>, options: PublishOptions = {}): Promise<T> {
  const abs = path.resolve(target);
  await prepareDirectory(path.dirname(abs));
  const temp = tempPath(abs);
  return withTemp(
    temp,
    "directory",
    async (t, ctx) => {
      await fs.promises.mkdir(t, { mode: 0o755 });
      return fill(t, ctx);
    },
    options,
    async () => {
      throwIfAborted(options.signal);
      const old = await fs.promises.lstat(abs).catch(() => null);
      if (old && options.overwrite === false) throw outputExistsError(abs);
      if (!old) {
        await fs.promises.rename(temp, abs);
        return;
      }
      const trash = tempPath(abs);
      const untrack = trackTemp(trash, "directory");
      try {
        await fs.promises.rename(abs, trash);
        await fs.promises.rename(temp, abs);
      } catch (err) {
        // Put the old tree back if the new one could not take its place.
        if (!(await exists(abs)) && (await exists(trash))) await fs.promises.rename(trash, abs).catch(() => undefined);
        throw err;
      } finally {
        await fs.promises.rm(trash, { recursive: true, force: true }).catch(() => undefined);
        untrack();
      }
    },
  );
}

/** `data` written to `target` atomically (a cache entry, a lock, a sidecar). */
export async function writeFileAtomic(target: string, data: string | Uint8Array, options: PublishOptions & { mode?: number } = {}): Promise<void> {
  await publishFile(target, (temp) => fs.promises.writeFile(temp, data, { flag: "wx", mode: options.mode ?? 0o644, ...(options.signal ? { signal: options.signal } : {}) }), options);
}

/** writeFileAtomic, synchronously (batches of small cache files). */
export function writeFileAtomicSync(target: string, data: string | Uint8Array, options: { mode?: number; overwrite?: boolean } = {}): void {
  const abs = path.resolve(target);
  prepareDirectorySync(path.dirname(abs));
  const temp = tempPath(abs);
  const untrack = trackTemp(temp, "file");
  try {
    try {
      fs.writeFileSync(temp, data, { flag: "wx", mode: options.mode ?? 0o644 });
    } catch (err) {
      // The directory was removed since this process created it: create it again, once.
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      fs.writeFileSync(temp, data, { flag: "wx", mode: options.mode ?? 0o644 });
    }
    if (options.overwrite === false) {
      linkNoOverwriteSync(temp, abs);
      fs.rmSync(temp, { force: true });
    } else fs.renameSync(temp, abs);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw describeWriteError(err, abs);
  } finally {
    untrack();
  }
}

/**
 * Publishes a finished file or directory at `to` (same filesystem: a rename). Without
 * `overwrite`, a file is hard-linked (which fails atomically when `to` exists) and its
 * temporary name removed; where hard links are not supported, a last check then a rename.
 */
export async function moveIntoPlace(from: string, to: string, options: { overwrite?: boolean } = {}): Promise<void> {
  if (options.overwrite !== false) {
    await fs.promises.rename(from, to);
    return;
  }
  const st = await fs.promises.lstat(from);
  if (st.isFile()) {
    try {
      await fs.promises.link(from, to);
      await fs.promises.rm(from, { force: true });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") throw outputExistsError(to);
      if (!LINK_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? "")) throw err;
    }
  }
  if (await fs.promises.lstat(to).then(() => true, () => false)) throw outputExistsError(to);
  await fs.promises.rename(from, to);
}

/**
 * A fresh private directory for work files (`<parent>/<purpose>.cp-tmp-...`, parent
 * default the OS temp directory), registered so that it is removed at exit if the caller
 * never gets to. Remove it with `removeTemp`; `withTempDir` does both.
 */
export async function makeTempDir(purpose: string, options: { parent?: string } = {}): Promise<string> {
  const parent = path.resolve(options.parent ?? os.tmpdir());
  await prepareDirectory(parent);
  const dir = path.join(parent, `${purpose}${MARK}${HOST}-${process.pid}-${random()}`);
  trackTemp(dir, "directory");
  try {
    await fs.promises.mkdir(dir, { mode: 0o700 });
  } catch (err) {
    untrackTemp(dir);
    throw describeWriteError(err, dir);
  }
  return dir;
}

/** Runs `fn` with a fresh temporary directory, removed afterwards whatever happens. */
export async function withTempDir<T>(purpose: string, fn: (dir: string) => Promise<T>, options: { parent?: string } = {}): Promise<T> {
  const dir = await makeTempDir(purpose, options);
  try {
    return await fn(dir);
  } finally {
    await removeTemp(dir);
  }
}

/** Removes a temporary (file or tree) and forgets it. */
export async function removeTemp(p: string): Promise<void> {
  await fs.promises.rm(p, { recursive: true, force: true }).catch(() => undefined);
  untrackTemp(p);
}

/** The temporary sibling name of local path `target`: `<dir>/.<name>.cp-tmp-<host>-<pid>-<random>`. */
export function tempPath(target: string): string {
  return path.join(path.dirname(target), tempBaseName(path.basename(target)));
}

/** The same name for a "/"-separated store path (HDFS, a remote directory). */
export function tempSiblingName(storePath: string): string {
  const slash = storePath.lastIndexOf("/");
  return `${storePath.slice(0, slash + 1)}${tempBaseName(storePath.slice(slash + 1))}`;
}

/** Who made a temporary name (host hash, pid), or null when it is not one of ours. */
export function parseTempName(name: string): { host: string; pid: number } | null {
  const m = TEMP_NAME.exec(name);
  return m ? { host: m[1]!, pid: Number(m[2]) } : null;
}

/** True for a temporary made on this host by a process that is no longer alive. */
export function isStaleTemp(name: string): boolean {
  const who = parseTempName(name);
  return who !== null && who.host === HOST && who.pid !== process.pid && !pidAlive(who.pid);
}

/**
 * Removes the stale temporaries (see isStaleTemp) found in `dir`; by default once per
 * directory per process (a readdir), as the first write into it does. Returns their paths.
 */
export async function sweepStaleTemps(dir: string, options: { again?: boolean } = {}): Promise<string[]> {
  const abs = path.resolve(dir);
  if (SWEPT.has(abs) && !options.again) return [];
  SWEPT.add(abs);
  const names = await fs.promises.readdir(abs).catch(() => [] as string[]);
  const stale = names.filter(isStaleTemp).map((n) => path.join(abs, n));
  await Promise.all(stale.map((p) => fs.promises.rm(p, { recursive: true, force: true }).catch(() => undefined)));
  return stale;
}

/**
 * Registers a temporary for removal at exit / SIGINT / SIGTERM; returns the function that
 * forgets it (call it once the temporary is published or removed).
 */
export function trackTemp(p: string, kind: "file" | "directory"): () => void {
  installHandlers();
  LIVE.set(p, kind);
  return () => untrackTemp(p);
}

/**
 * Removes every registered temporary, synchronously. Runs on exit; on SIGINT/SIGTERM too
 * when nobody else handles the signal (the signal then takes its default course). An
 * application that handles the signals itself (the CLI) aborts its operations instead,
 * which remove their temporaries, and this is the backstop at exit.
 */
export function removeLiveTempsSync(): void {
  for (const [p] of [...LIVE]) {
    try {
      fs.rmSync(p, { recursive: true, force: true });
    } catch {
      // Nothing more can be done at exit.
    }
    LIVE.delete(p);
  }
}

/** The temporaries registered now (tests and diagnostics). */
export function liveTemps(): string[] {
  return [...LIVE.keys()];
}

/** True when `err` (or its cause) is a full disk or an exhausted quota. */
export function isNoSpaceError(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === "object" && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === "ENOSPC" || code === "EDQUOT" || code === "ERR_NO_SPACE") return true;
  }
  return false;
}

/**
 * A write failure as the user should read it: a full disk (wherever it was hit: the
 * temporary, a spool file, a worker) becomes one ERR_NO_SPACE naming the output and the
 * fix; anything else is returned unchanged. The outermost caller names the output.
 */
export function describeWriteError(err: unknown, target: string): unknown {
  if (!isNoSpaceError(err)) return err;
  const cause = (err as { code?: unknown }).code === "ERR_NO_SPACE" ? ((err as { cause?: unknown }).cause ?? err) : err;
  return new ClusterPackError("ERR_NO_SPACE", `No space left on the device while writing ${target}.`, { cause, hint: "free some space there or write to another directory." });
}

// ---------------------------------------------------------------------------------------

async function withTemp<T>(
  temp: string,
  kind: "file" | "directory",
  fill: (temp: string, ctx: TempContext) => Promise<T>,
  options: { signal?: AbortSignal },
  publish: (temp: string) => Promise<void>,
): Promise<T> {
  throwIfAborted(options.signal);
  const streams: Array<NodeJS.ReadableStream | NodeJS.WritableStream> = [];
  const ctx: TempContext = {
    path: temp,
    track(stream) {
      streams.push(stream);
      return stream;
    },
  };
  const untrack = trackTemp(temp, kind);
  try {
    const value = await fill(temp, ctx);
    await publish(temp);
    return value;
  } catch (err) {
    // A stream can open its file after an abort rejected the pipeline: end it and wait
    // for it to close (a stream left open by `fill` would otherwise keep writing, or never close).
    await Promise.all(
      streams.map((s) => {
        const stream = s as NodeJS.ReadableStream & { destroy?(): void; closed?: boolean };
        if (!stream.closed) stream.destroy?.();
        return finished(s).catch(() => undefined);
      }),
    );
    await fs.promises.rm(temp, { recursive: true, force: true }).catch(() => undefined);
    if (options.signal?.aborted && !(err instanceof AbortError)) throw new AbortError(undefined, { cause: options.signal.reason });
    throw describeWriteError(err, path.join(path.dirname(temp), targetName(temp)));
  } finally {
    untrack();
  }
}

/** Creates `dir` if needed and sweeps its stale temporaries (once per process). */
async function prepareDirectory(dir: string): Promise<void> {
  try {
    await fs.promises.mkdir(dir, { recursive: true });
  } catch (err) {
    throw describeWriteError(err, dir);
  }
  if (!SWEPT.has(dir)) await sweepStaleTemps(dir);
}

/**
 * The synchronous path serves batches of small cache files into a few directories: each is
 * created once per process (a failed write with ENOENT forgets it, see writeFileAtomicSync).
 */
function prepareDirectorySync(dir: string): void {
  if (!MADE.has(dir)) {
    fs.mkdirSync(dir, { recursive: true });
    MADE.add(dir);
  }
  if (SWEPT.has(dir)) return;
  SWEPT.add(dir);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) if (isStaleTemp(n)) fs.rmSync(path.join(dir, n), { recursive: true, force: true });
}

function linkNoOverwriteSync(from: string, to: string): void {
  try {
    fs.linkSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") throw outputExistsError(to);
    if (!LINK_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? "")) throw err;
    if (fs.existsSync(to)) throw outputExistsError(to);
    fs.renameSync(from, to);
  }
}

async function fsyncPath(p: string): Promise<void> {
  const fh = await fs.promises.open(p, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * The one "output exists" error (ERR_OUTPUT_EXISTS, bad input): the path in the message,
 * the fix in the hint, naming `option`, the library option that replaces the output
 * (a front end spells it as its flag).
 */
export function outputExistsError(target: string, option = "overwrite"): InvalidInputError {
  return new InvalidInputError(`${target} already exists.`, {
    code: "ERR_OUTPUT_EXISTS",
    hint: `choose another output path, or pass \`${option}\` to replace it.`,
    optionNames: [option],
  });
}

function tempBaseName(base: string): string {
  // Long names are cut: the temporary only has to be recognisable, and NAME_MAX is 255 bytes.
  return `.${base.slice(0, 120)}${MARK}${HOST}-${process.pid}-${random()}`;
}

/** The target's base name back from a temporary name (for messages). */
function targetName(temp: string): string {
  const base = path.basename(temp);
  const i = base.indexOf(MARK);
  return i > 1 ? base.slice(1, i) : base;
}

function random(): string {
  return crypto.randomBytes(6).toString("hex");
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive, someone else's.
    return (err as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.promises.lstat(p).then(
    () => true,
    () => false,
  );
}

let installed = false;

function installHandlers(): void {
  if (installed) return;
  installed = true;
  process.on("exit", removeLiveTempsSync);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    const handler = () => {
      if (process.listenerCount(signal) > 1) return; // the application handles it (and aborts)
      removeLiveTempsSync();
      process.removeListener(signal, handler);
      process.kill(process.pid, signal);
    };
    process.on(signal, handler);
  }
}

function untrackTemp(p: string): void {
  LIVE.delete(p);
}

const MARK = ".cp-tmp-";
/** A short hash of the host name: temporaries on a shared filesystem are judged only by their own host. */
const HOST = crypto.createHash("sha256").update(os.hostname()).digest("hex").slice(0, 8);
/** Found anywhere in a name, so a tool's own temporary beside ours (`.<ours>.tmp-x`) counts too. */
const TEMP_NAME = /\.cp-tmp-([0-9a-f]{8})-(\d+)-[0-9a-f]{12}/;
const LINK_UNSUPPORTED = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EMLINK", "EXDEV"]);
const LIVE = new Map<string, "file" | "directory">();
const MADE = new Set<string>();
const SWEPT = new Set<string>();
