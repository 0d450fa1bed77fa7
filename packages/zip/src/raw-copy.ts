import { IntegrityError, throwIfAborted } from "@cluster-pack/errors";
import type { Sink } from "./sinks";
import type { RawSpan } from "./reader";
import { FLAG_DATA_DESCRIPTOR, parseLocalHeader } from "./records";
import { IN_MEMORY_LIMIT, type PendingEntry, type PrepareContext, type Prepared, type RawSource, type SpanSource } from "./prepare";

// Raw copies: entries of other archives (addRawEntry) and planned spans of a source
// (addRawSpan) are copied as stored, never inflated. Small ones that lie close together in
// one source are read in one window (one read for a run of entries, into reused slabs when
// the source reads synchronously); every local header is checked as it is copied.

/** A raw entry or span prepared on its own (not in a window): its header checked, its bytes in memory or as chunks. */
export async function prepareRawCopy(entry: PendingEntry, src: RawSource | SpanSource, ctx: PrepareContext): Promise<Prepared> {
  if (src.kind === "span") return prepareSpan(entry.name, src, ctx.signal);
  const { reader, access, entry: e, verify } = src;
  const base = {
    method: e.method,
    crc32: e.crc32,
    compressedSize: e.compressedSize,
    uncompressedSize: e.uncompressedSize,
    verify: verify ? async () => verify(await reader.openEntryStream(e, { signal: ctx.signal })) : undefined,
  };
  if (e.compressedSize <= IN_MEMORY_LIMIT) {
    // Read ahead (in parallel with earlier entries being written): header and data in one read.
    const located = await access.locate(e, ctx.signal);
    if (located.data) return { ...base, data: located.data };
    const chunks: Buffer[] = [];
    for await (const chunk of access.chunks(e, ctx.signal)) chunks.push(chunk);
    return { ...base, data: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) };
  }
  return { ...base, chunks: () => access.chunks(e, ctx.signal) };
}

/** The stored bytes of the entries of a window, in output order: each checked against its local header in the window's buffer. */
export function rawCopyIn(entry: PendingEntry, buf: Buffer, bufStart: number): Prepared | undefined {
  const src = entry.source as RawSource | SpanSource;
  if (src.kind === "span") return spanIn(entry.name, src, buf, bufStart);
  const e = src.entry;
  const data = src.access.dataIn(e, buf, bufStart);
  return data ? { method: e.method, crc32: e.crc32, compressedSize: e.compressedSize, uncompressedSize: e.uncompressedSize, data } : undefined;
}

/** One entry to prepare, or a run of raw entries read from their archive in one window. */
export interface Item {
  first: number;
  count: number;
  window?: Window;
  /** A large raw entry or span of a source that reads synchronously: copied at its turn (directCopy), not prepared ahead. */
  direct?: boolean;
}

/**
 * The stored bytes of a large raw entry or span whose source reads synchronously (a local
 * file), read at its turn in pieces of at most RAW_WINDOW bytes into the writer's recycled
 * slabs: nothing read ahead, no fresh buffer per piece (which cost page faults and GC work
 * about as large as the copy), so the memory of a copy does not grow with the entry. The
 * local header is checked in the first piece, as for windows; undefined when the header
 * is not there (an unusually long local extra field: the caller prepares it as usual).
 * The caller waits for `buffers.ready(RAW_WINDOW)` first.
 */
export function directCopy(entry: PendingEntry, buffers: WindowBuffers, signal: AbortSignal | undefined): Prepared | undefined {
  const src = entry.source as RawSource | SpanSource;
  const readSync = src.kind === "raw" ? src.access.readSync! : src.source.readSync!.bind(src.source);
  // Sources that read synchronously return exactly `length` bytes or throw.
  const read = (at: number, length: number): Buffer => readSync(at, length, buffers.take(length));
  let facts: Pick<Prepared, "method" | "crc32" | "compressedSize" | "uncompressedSize">;
  let first: Buffer;
  let dataStart: number;
  if (src.kind === "raw") {
    const e = src.entry;
    const span = src.access.span(e);
    first = read(span.start, Math.min(span.end - span.start, RAW_WINDOW));
    const at = src.access.dataStartIn(e, first, span.start);
    if (at === undefined) return undefined;
    dataStart = at;
    first = first.subarray(at - span.start);
    facts = { method: e.method, crc32: e.crc32, compressedSize: e.compressedSize, uncompressedSize: e.uncompressedSize };
  } else {
    const s = src.span;
    first = read(s.headerOffset, Math.min(s.dataOffset + s.compressedSize - s.headerOffset, RAW_WINDOW));
    if (first.length < s.dataOffset - s.headerOffset) return undefined;
    checkSpanHeader(entry.name, src, first.subarray(0, s.dataOffset - s.headerOffset));
    dataStart = s.dataOffset;
    first = first.subarray(s.dataOffset - s.headerOffset);
    facts = { method: s.method, crc32: s.crc32, compressedSize: s.compressedSize, uncompressedSize: s.uncompressedSize };
  }
  const size = facts.compressedSize;
  const head = first.subarray(0, Math.min(first.length, size));
  async function* chunks(): AsyncGenerator<Buffer> {
    yield head;
    for (let at = head.length; at < size; ) {
      throwIfAborted(signal);
      const n = Math.min(RAW_WINDOW, size - at);
      const wait = buffers.ready(n);
      if (wait) await wait;
      yield read(dataStart + at, n);
      at += n;
    }
  }
  return { ...facts, chunks };
}

/** Windows are at most this big (with `concurrency` items ahead, memory stays bounded). */
export const RAW_WINDOW = 4 * 1024 * 1024;
/** Raw entries up to this size join windows; bigger ones stream on their own. */
const RAW_GROUP_ENTRY = 1024 * 1024;
/** Bytes a window may read that no entry of it needs (holes, out-of-order entries). */
const RAW_WINDOW_SLACK = 256 * 1024;

/**
 * Groups consecutive (in output order) small raw entries without a verify hook that lie
 * close together in the same source archive: each group is served by one read instead of
 * one header read plus one data read per entry, which is what makes copying thousands of
 * small wheel files run near copy speed. Everything else is prepared one entry at a time.
 */
export function groupItems(sorted: PendingEntry[]): Item[] {
  const items: Item[] = [];
  let cur: Item | undefined;
  let needed = 0;
  for (let i = 0; i < sorted.length; i++) {
    const src = sorted[i]!.source;
    const raw = src.kind === "raw" && !src.verify && src.entry.compressedSize <= RAW_GROUP_ENTRY;
    if (!raw && !(src.kind === "span" && src.span.compressedSize <= RAW_GROUP_ENTRY)) {
      cur = undefined;
      const direct = (src.kind === "raw" && !src.verify && !!src.access.readSync) || (src.kind === "span" && !!src.source.readSync);
      items.push({ first: i, count: 1, ...(direct ? { direct } : {}) });
      continue;
    }
    const owner = src.kind === "raw" ? src.access : (src as SpanSource).source;
    const span = src.kind === "raw" ? src.access.span(src.entry) : spanRange((src as SpanSource).span);
    const w = cur?.window;
    if (cur && w && w.owner === owner) {
      const start = Math.min(w.start, span.start);
      const end = Math.max(w.end, span.end);
      if (end - start <= RAW_WINDOW && end - start <= needed + span.end - span.start + RAW_WINDOW_SLACK) {
        w.start = start;
        w.end = end;
        needed += span.end - span.start;
        cur.count++;
        continue;
      }
    }
    cur = { first: i, count: 1, window: windowOf(src as RawSource | SpanSource, span) };
    needed = span.end - span.start;
    items.push(cur);
  }
  return items;
}

/**
 * Memory for synchronous window reads, carved from a few reused slabs instead of a fresh
 * buffer per window: reading into fresh memory costs a page fault per 4 KiB and GC work,
 * about as much as the copy itself. A slab is reused once the sink has written every
 * byte queued before the slab was left (windows are consumed in order, one at a time).
 *
 * With a sink that says when bytes are written (a file), there are at most `maxSlabs`
 * slabs: a reader that would need another waits (`ready`) until the sink has written one
 * back, so reading never runs ahead of a slower disk by more than that (it ran 50 MB
 * ahead, a third of a torch build's peak RSS, with slabs made and dropped as writes lagged).
 */
export class WindowBuffers {
  private readonly free: Buffer[] = [];
  private slab: Buffer | undefined;
  private used = 0;
  private slabs = 0;
  private readonly waiters: (() => void)[] = [];

  private readonly maxSlabs: number;

  constructor(
    private readonly sink: Sink,
    maxSlabs = MAX_SLABS,
  ) {
    // At least two: the slab being filled is handed back only once it is left, so with one
    // a reader waiting for room would wait for itself.
    this.maxSlabs = Math.max(2, maxSlabs);
  }

  /**
   * Undefined when `take(length)` can be served now within the bound, else a promise that
   * resolves once it can (the sink is asked to send what it gathers, so it will).
   */
  ready(length: number): Promise<void> | undefined {
    if (this.fits(length)) return undefined;
    return new Promise<void>((resolve) => {
      this.waiters.push(resolve);
      this.sink.push();
    }).then(() => this.ready(length));
  }

  take(length: number): Buffer | undefined {
    if (length > SLAB) return undefined;
    if (!this.slab || this.used + length > SLAB) {
      const old = this.slab;
      if (old && this.sink.recycles) {
        this.sink.whenWritten(() => {
          this.free.push(old);
          this.waiters.shift()?.();
        });
      }
      this.slab = this.free.pop() ?? this.allocate();
      this.used = 0;
    }
    const b = this.slab.subarray(this.used, this.used + length);
    this.used += length;
    return b;
  }

  private fits(length: number): boolean {
    return length > SLAB || !this.sink.recycles || (!!this.slab && this.used + length <= SLAB) || this.free.length > 0 || this.slabs < this.maxSlabs;
  }

  private allocate(): Buffer {
    // Counted only where slabs come back (a stream's slabs are left to the GC).
    if (this.sink.recycles) this.slabs++;
    return Buffer.allocUnsafeSlow(SLAB);
  }
}

const SLAB = 2 * RAW_WINDOW;
/** Slabs of one writer (24 MiB): the blocks in flight (4 MiB each) and the one being read. */
const MAX_SLABS = 3;

/** A range of one archive (or span source) read once for a run of entries. */
export interface Window {
  owner: object;
  start: number;
  end: number;
  read: (start: number, length: number, signal?: AbortSignal) => Promise<Buffer>;
  /** Present when the source reads synchronously (local files). */
  readSync?: (start: number, length: number, into?: Buffer) => Buffer;
}

function windowOf(src: RawSource | SpanSource, span: { start: number; end: number }): Window {
  if (src.kind === "raw") {
    const a = src.access;
    return { owner: a, ...span, read: (s, n, signal) => a.read(s, n, signal), ...(a.readSync ? { readSync: a.readSync } : {}) };
  }
  const source = src.source;
  const readSync = source.readSync?.bind(source);
  return { owner: source, ...span, read: (s, n, signal) => source.read(s, n, signal), ...(readSync ? { readSync } : {}) };
}

function spanRange(span: RawSpan): { start: number; end: number } {
  return { start: span.headerOffset, end: span.dataOffset + span.compressedSize };
}

/**
 * A span entry's bytes inside a buffer read from `bufStart`, after checking the local
 * header there against the span (undefined when the buffer does not hold all of it).
 */
function spanIn(name: string, src: SpanSource, buf: Buffer, bufStart: number): Prepared | undefined {
  const s = src.span;
  const at = s.headerOffset - bufStart;
  const end = s.dataOffset - bufStart + s.compressedSize;
  if (at < 0 || end > buf.length) return undefined;
  checkSpanHeader(name, src, buf.subarray(at, s.dataOffset - bufStart));
  return { method: s.method, crc32: s.crc32, compressedSize: s.compressedSize, uncompressedSize: s.uncompressedSize, data: buf.subarray(s.dataOffset - bufStart, end) };
}

function checkSpanHeader(name: string, src: SpanSource, header: Buffer): void {
  const s = src.span;
  const h = parseLocalHeader(header);
  const ok = h !== undefined && h.method === s.method && h.size === header.length && ((h.flags & FLAG_DATA_DESCRIPTOR) !== 0 || h.crc32 === s.crc32);
  if (!ok) {
    throw new IntegrityError(`Entry ${name}: ${src.source.name} has no matching local header at offset ${s.headerOffset}; the file changed since the copy was planned.`, { code: "ERR_SOURCE_CHANGED", hint: "build again." });
  }
}

async function prepareSpan(name: string, src: SpanSource, signal: AbortSignal | undefined): Promise<Prepared> {
  const s = src.span;
  if (s.compressedSize <= IN_MEMORY_LIMIT) {
    const buf = await src.source.read(s.headerOffset, s.dataOffset + s.compressedSize - s.headerOffset, signal);
    return spanIn(name, src, buf, s.headerOffset)!;
  }
  checkSpanHeader(name, src, await src.source.read(s.headerOffset, s.dataOffset - s.headerOffset, signal));
  const chunks = async function* (): AsyncGenerator<Buffer> {
    for (let at = 0; at < s.compressedSize; ) {
      const n = Math.min(1 << 20, s.compressedSize - at);
      yield await src.source.read(s.dataOffset + at, n, signal);
      at += n;
    }
  };
  return { method: s.method, crc32: s.crc32, compressedSize: s.compressedSize, uncompressedSize: s.uncompressedSize, chunks };
}
