import crypto from "node:crypto";
import type fs from "node:fs";
import { ClusterPackError } from "@cluster-pack/errors";

// Where the writer's bytes go: a file (positional vectored writes, a few in flight,
// writeback started early) or a stream (backpressure). Both track the position (entry
// offsets) and the SHA-256 of everything written.

const BLOCK = 4 << 20;
const MAX_IN_FLIGHT = 4;
const WRITEBACK_EVERY = 16 << 20;

/**
 * Gathers writes (headers, entry data: references, not copies) into blocks of about
 * BLOCK bytes, sent as one vectored write each: copying every byte into a block buffer
 * first cost more CPU than the rest of a raw copy. Callers never reuse or modify a buffer
 * they handed over (it may be written later). Hashes each piece when a digest is wanted.
 */
export abstract class Sink {
  position = 0;
  private readonly hash: crypto.Hash | undefined;
  private parts: Buffer[] = [];
  private bytes = 0;

  constructor(digest: boolean) {
    this.hash = digest ? crypto.createHash("sha256") : undefined;
  }

  /**
   * Returns undefined when the data was only queued (the common case for headers and
   * small entries: no promise, no microtask), else a promise to await.
   */
  write(data: Buffer): Promise<void> | undefined {
    if (data.length === 0) return undefined;
    this.position += data.length;
    this.hash?.update(data);
    this.parts.push(data);
    this.bytes += data.length;
    return this.bytes < BLOCK ? undefined : this.emit();
  }

  /** Everything written so far has reached the output. */
  async flush(): Promise<void> {
    await this.emit();
  }

  digest(): string {
    return this.hash ? this.hash.digest("hex") : "";
  }

  /**
   * Calls `done` once every byte written so far has been handed to the output, after
   * which the caller may reuse those buffers. Sinks that cannot tell never call it.
   */
  whenWritten(done: () => void): void {
    void done;
  }

  /** True when whenWritten calls back (buffers handed over can be reused). */
  get recycles(): boolean {
    return false;
  }

  /** Starts sending what is gathered (a reader waiting for memory held there), without waiting. */
  push(): void {
    this.emit().catch(() => undefined); // a failure is kept by the sink and thrown by the next write
  }

  /** Writes one block (its pieces in order); may return before it is written (FileSink) or wait for room (StreamSink). */
  protected abstract send(parts: Buffer[], bytes: number): Promise<void>;

  /** Blocks go out one after another, in the order they were gathered (push may start one while nobody waits). */
  private sending: Promise<void> = Promise.resolve();

  private emit(): Promise<void> {
    if (this.bytes === 0) return this.sending;
    const parts = this.parts;
    const bytes = this.bytes;
    this.parts = [];
    this.bytes = 0;
    const sent = this.sending.then(() => this.send(parts, bytes));
    this.sending = sent.catch(() => undefined);
    return sent;
  }
}

/** Positional vectored writes with a few in flight, so reading the next entries overlaps writing. */
export class FileSink extends Sink {
  private flushedTo = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown;
  /** Blocks sent, in output order, until all before them are written too. */
  private readonly blocks: { end: number; done: boolean }[] = [];
  /** Every byte before this offset has been written. */
  private writtenTo = 0;
  private readonly waiting: { at: number; done: () => void }[] = [];
  /** Bytes handed to fdatasync so far, and whether one is running (startWriteback). */
  private syncedTo = 0;
  private syncing = false;

  override whenWritten(done: () => void): void {
    // After a failure nothing more is written: the output is abandoned, its buffers free.
    if (this.position <= this.writtenTo || this.failure) done();
    else this.waiting.push({ at: this.position, done });
  }

  override get recycles(): boolean {
    return true;
  }

  constructor(
    private readonly handle: fs.promises.FileHandle,
    digest: boolean,
  ) {
    super(digest);
  }

  override async flush(): Promise<void> {
    await super.flush();
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure;
  }

  protected async send(parts: Buffer[], bytes: number): Promise<void> {
    if (this.failure) throw this.failure;
    while (this.inFlight.size >= MAX_IN_FLIGHT) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
    const at = this.flushedTo;
    this.flushedTo += bytes;
    const block = { end: this.flushedTo, done: false };
    this.blocks.push(block);
    const p: Promise<void> = this.writeFully(parts, at).then(
      () => {
        this.inFlight.delete(p);
        block.done = true;
        this.advance();
        this.startWriteback();
      },
      (err) => {
        this.inFlight.delete(p);
        this.fail(err);
      },
    );
    this.inFlight.add(p);
  }

  /** Keeps the first failure (thrown by the next write or flush) and wakes whoever waits for bytes that will never be written. */
  private fail(err: unknown): void {
    this.failure ??= err;
    for (const w of this.waiting.splice(0)) w.done();
  }

  /**
   * Starts writing back what is written so far (fdatasync on a pool thread) every
   * WRITEBACK_EVERY bytes, so the disk works while later entries are copied and the final
   * fsync only waits for the tail (it waited for the whole file: about a third of a warm
   * PEX build).
   */
  private startWriteback(): void {
    if (this.writtenTo - this.syncedTo < WRITEBACK_EVERY || this.syncing) return;
    this.syncedTo = this.writtenTo;
    const p: Promise<void> = this.handle.datasync().then(
      () => {
        this.inFlight.delete(p);
        this.syncing = false;
      },
      (err) => {
        this.inFlight.delete(p);
        this.syncing = false;
        this.fail(err);
      },
    );
    this.syncing = true;
    this.inFlight.add(p);
  }

  private advance(): void {
    while (this.blocks.length && this.blocks[0]!.done) this.writtenTo = this.blocks.shift()!.end;
    while (this.waiting.length && this.waiting[0]!.at <= this.writtenTo) this.waiting.shift()!.done();
  }

  private async writeFully(parts: Buffer[], at: number): Promise<void> {
    let rest = parts;
    while (rest.length) {
      // At most IOV_MAX (1024 on Linux) pieces per call.
      const batch = rest.length > 1024 ? rest.slice(0, 1024) : rest;
      let { bytesWritten } = await this.handle.writev(batch, at);
      at += bytesWritten;
      // A short write (rare on files): continue from where it stopped.
      let i = 0;
      while (i < batch.length && bytesWritten >= batch[i]!.length) bytesWritten -= batch[i++]!.length;
      const remaining = i < batch.length ? [batch[i]!.subarray(bytesWritten), ...batch.slice(i + 1)] : [];
      rest = [...remaining, ...rest.slice(batch.length)];
    }
  }
}

/** Writes to a stream, honouring backpressure (blocks are never reused: the stream may keep them). */
export class StreamSink extends Sink {
  constructor(
    private readonly out: NodeJS.WritableStream,
    digest: boolean,
  ) {
    super(digest);
  }

  protected async send(parts: Buffer[], bytes: number): Promise<void> {
    if (this.out.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts, bytes))) return;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        this.out.removeListener("drain", onDrain);
        this.out.removeListener("error", onError);
        this.out.removeListener("close", onClose);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const onError = (err: Error) => done(err);
      const onClose = () => done(new ClusterPackError("ERR_OUTPUT", "The output stream closed before the archive was written."));
      this.out.on("drain", onDrain);
      this.out.on("error", onError);
      this.out.on("close", onClose);
    });
  }
}
