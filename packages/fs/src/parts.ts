import type { Readable } from "node:stream";
import { settleAll } from "@cluster-pack/io";

/**
 * Block/part uploads shared by the object-store adapters (S3 multipart, Azure staged
 * blocks): a stream cut into fixed-size parts, uploaded by a few workers so memory stays
 * under (concurrency + 1) x part size.
 */

/** Cuts a stream into parts of exactly `size` bytes (the last may be shorter); callers may race. */
export class PartReader {
  private readonly iter: AsyncIterator<Buffer>;
  private carry: Buffer[] = [];
  private carried = 0;
  private ended = false;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    stream: Readable,
    private readonly size: number,
  ) {
    this.iter = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  next(): Promise<Buffer | null> {
    const p = this.chain.then(() => this.read());
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async read(): Promise<Buffer | null> {
    while (!this.ended && this.carried < this.size) {
      const r = await this.iter.next();
      if (r.done) this.ended = true;
      else {
        this.carry.push(r.value);
        this.carried += r.value.length;
      }
    }
    if (this.carried === 0) return null;
    const all = this.carry.length === 1 ? this.carry[0]! : Buffer.concat(this.carry, this.carried);
    const part = all.subarray(0, Math.min(this.size, all.length));
    const rest = all.subarray(part.length);
    this.carry = rest.length ? [rest] : [];
    this.carried = rest.length;
    return part;
  }
}

/**
 * Uploads `first` then every further part of `parts` with `concurrency` workers; part
 * numbers start at 1. The first failure (or an abort of `signal`) stops the other
 * workers at once and is what this rejects with. Resolves with the number of parts.
 */
export async function uploadParts(
  parts: PartReader,
  first: Buffer[],
  options: { concurrency: number; signal?: AbortSignal; upload: (n: number, part: Buffer, signal: AbortSignal) => Promise<void> },
): Promise<number> {
  const queued = [...first];
  let nextNumber = 1;
  const inner = new AbortController();
  const onAbort = () => inner.abort(options.signal?.reason);
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const take = async (): Promise<{ n: number; buf: Buffer } | null> => {
    const buf = queued.shift() ?? (await parts.next());
    return buf ? { n: nextNumber++, buf } : null;
  };
  try {
    const worker = async () => {
      for (let item = await take(); item; item = await take()) await options.upload(item.n, item.buf, inner.signal);
    };
    const workers = Array.from({ length: Math.max(1, options.concurrency) }, () =>
      worker().catch((err) => {
        inner.abort(err); // stop the other workers at once
        throw err;
      }),
    );
    await settleAll(workers);
    return nextNumber - 1;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
}
