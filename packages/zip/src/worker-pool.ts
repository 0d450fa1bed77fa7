import path from "node:path";
import { Worker } from "node:worker_threads";
import { ClusterPackError, errorFromData, type ErrorData } from "@cluster-pack/errors";

/** What a worker reports when `handle` throws: errors' plain-data form (message, and class name, code, hint and path when it had them). */
export type WorkerErrorDetail = ErrorData;

export interface WorkerPoolOptions<J> {
  /**
   * The worker's program as a module file (its absolute path, e.g.
   * `require.resolve("./my-worker")`) exporting `handle(job, transfer)`, which returns or
   * resolves to the job's result. ArrayBuffers it pushes onto `transfer` are moved to the
   * caller instead of copied. A throw rejects the job. It may import anything, workspace
   * packages included.
   */
  module?: string;
  /** Or the program as CommonJS source text defining `handle` (Node built-ins only). Give one of the two. */
  source?: string;
  /** Most workers at once. Workers start lazily, when a job finds every started one busy. */
  size: number;
  /** Whether a job may start another worker while the started ones are busy (default: yes); `queued` counts it and the jobs behind it. */
  mayGrow?: (job: J, started: number, queued: number) => boolean;
  /** The error a job rejects with when `handle` threw (default: the thrown error rebuilt by `errorFromData`: same class, code and hint; ERR_WORKER when it had no code). */
  jobError?: (detail: WorkerErrorDetail, job: J) => Error;
  /**
   * The error every pending job rejects with when a worker dies (an exception outside a job,
   * running out of memory, exiting); `job` is what it was running. The pool is then closed.
   */
  crashError?: (cause: Error, job: J | undefined) => Error;
  /** Let the process exit while workers idle (default: false). */
  unref?: boolean;
}

/**
 * A fixed number of worker threads running queued jobs, one at a time each, in queue
 * order: the shared shape of the gzip block pool, the zip entry deflater and the wheel
 * RECORD verifier. Jobs are plain (structured-cloneable) values; the program is a module
 * file (or source text) each user keeps beside the code that posts to it.
 */
export class WorkerPool<J, R> {
  private readonly workers = new Set<Worker>();
  private readonly idle: Worker[] = [];
  private readonly queue: Queued<J>[] = [];
  private readonly pending = new Map<number, Pending<J, R>>();
  /** The job each busy worker is running. */
  private readonly running = new Map<Worker, number>();
  private readonly program: string;
  private seq = 0;
  private broken: Error | undefined;
  private closed = false;

  constructor(private readonly options: WorkerPoolOptions<J>) {
    if (!Number.isInteger(options.size) || options.size < 1) {
      throw new ClusterPackError("ERR_WORKER", `internal: worker pool size ${options.size} is not a whole number >= 1`);
    }
    if ((options.module === undefined) === (options.source === undefined)) {
      throw new ClusterPackError("ERR_WORKER", "internal: a worker pool needs either a module or a source program");
    }
    this.program = `${WORKER_PRELUDE}\n${options.module !== undefined ? loadModule(options.module) : options.source}\n${WORKER_LOOP}`;
  }

  /** Workers started so far. */
  get started(): number {
    return this.workers.size;
  }

  /** Queues `job`; `transfer` lists ArrayBuffers of the job moved to the worker (unusable here afterwards). */
  run(job: J, transfer: readonly ArrayBuffer[] = []): Promise<R> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.closed) return Promise.reject(new ClusterPackError("ERR_WORKER", "internal: the worker pool is closed"));
    const id = ++this.seq;
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { job, resolve, reject });
      this.queue.push({ id, job, transfer });
      this.dispatch();
    });
  }

  /** Rejects every queued and running job with `err` (e.g. on abort); the pool stays usable. */
  failAll(err: Error): void {
    const jobs = [...this.pending.values()];
    this.pending.clear();
    this.queue.length = 0;
    for (const p of jobs) p.reject(err);
  }

  /** Rejects what is still pending and stops the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(this.broken ?? new ClusterPackError("ERR_WORKER", "internal: the worker pool was closed while jobs were pending"));
    await Promise.all([...this.workers].map((w) => stopWorker(w)));
  }

  // ---------------------------------------------------------------------------------------

  private dispatch(): void {
    while (!this.closed && this.queue.length > 0) {
      const next = this.queue[0]!;
      if (this.idle.length === 0 && this.workers.size < this.options.size && (this.options.mayGrow?.(next.job, this.workers.size, this.queue.length) ?? true)) this.spawn();
      const w = this.idle.pop();
      if (!w) return;
      this.queue.shift();
      this.running.set(w, next.id);
      w.postMessage({ id: next.id, job: next.job }, [...next.transfer]);
    }
  }

  private spawn(): void {
    const w = new Worker(this.program, { eval: true });
    if (this.options.unref) w.unref();
    w.on("message", (m: { id: number; value?: R; error?: WorkerErrorDetail }) => {
      this.running.delete(w);
      const job = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (job) {
        if (m.error === undefined) job.resolve(m.value as R);
        else job.reject(this.options.jobError?.(m.error, job.job) ?? errorFromData(m.error));
      }
      this.idle.push(w);
      this.dispatch();
    });
    // "error" (an exception outside a job) is followed by "exit"; an exit alone is a crash too
    // unless we terminated it.
    let cause: Error | undefined;
    w.on("error", (err) => (cause = err));
    w.on("exit", (code) => {
      this.workers.delete(w);
      if (this.closed) return;
      this.crash(w, cause ?? new Error(`the worker thread exited (code ${code})`));
    });
    this.workers.add(w);
    this.idle.push(w);
  }

  private crash(w: Worker, cause: Error): void {
    const id = this.running.get(w);
    const job = id === undefined ? undefined : this.pending.get(id)?.job;
    const err =
      this.options.crashError?.(cause, job) ?? new ClusterPackError("ERR_WORKER_CRASHED", `a worker thread failed: ${cause.message}; this is a bug or the machine is out of memory`, { cause });
    this.broken = err;
    void this.close();
  }
}

interface Queued<J> {
  id: number;
  job: J;
  transfer: readonly ArrayBuffer[];
}

interface Pending<J, R> {
  job: J;
  resolve: (value: R) => void;
  reject: (err: Error) => void;
}

/**
 * The program lines that load a worker module's `handle`. A `.ts` module means the package
 * runs from its TypeScript sources (the monorepo's jest runs, which transform the main
 * thread only): the worker then first installs the test kit's loader, which compiles
 * TypeScript with swc and resolves workspace packages to their sources as jest does. The
 * built package's modules are `.js`, loaded as they are.
 */
function loadModule(file: string): string {
  const lines: string[] = [];
  if (file.endsWith(".ts")) lines.push(`require(${JSON.stringify(path.join(__dirname, "test-kit", "ts-worker-loader.cjs"))});`);
  lines.push(`const { handle } = require(${JSON.stringify(file)});`);
  return lines.join("\n");
}

const WORKER_PRELUDE = `"use strict";
const { parentPort } = require("node:worker_threads");`;

/**
 * Stops a worker at a point between its jobs' code: it is asked to exit (a message, handled
 * after the job it runs, or at one of that job's awaits), and terminated only if it has not
 * exited after STOP_GRACE_MS. A terminate() landing inside a zlib call's set-up (the handle
 * made, not yet initialised) aborts the whole process in Node's worker teardown ("close
 * before init", SIGABRT): 1 in 40-60 venv packs failing on a full disk did.
 */
function stopWorker(w: Worker): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => void w.terminate().then(() => resolve(), () => resolve()), STOP_GRACE_MS);
    w.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    w.postMessage({ stop: true });
  });
}

const STOP_GRACE_MS = 5000;

// Answers each { id, job } with { id, value } or { id, error }, in the order jobs arrive, until asked to stop.
const WORKER_LOOP = `
parentPort.on("message", async ({ id, job, stop }) => {
  if (stop) process.exit(0); // between jobs' code (see stopWorker)
  const transfer = [];
  let value;
  try {
    value = await handle(job, transfer);
  } catch (err) {
    const e = err && typeof err === "object" ? err : {};
    // errors' ErrorData, written out here because the program is source text with built-ins only.
    const error = { message: String(e.message || err) };
    for (const key of ["name", "code", "hint", "path"]) if (typeof e[key] === "string") error[key] = e[key];
    if (Array.isArray(e.optionNames)) error.optionNames = e.optionNames.filter((n) => typeof n === "string");
    parentPort.postMessage({ id, error });
    return;
  }
  parentPort.postMessage({ id, value }, transfer);
});`;
