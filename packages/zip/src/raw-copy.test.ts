import { WindowBuffers } from "./raw-copy";
import { Sink } from "./sinks";

// The writer's read slabs: memory handed to the sink is only handed out again once the
// sink says every byte queued before it was written (a slab reused earlier would overwrite
// data still waiting in a vectored write).

/** A sink that writes nothing and reports "written" only when the test says so. */
class HeldSink extends Sink {
  private readonly held: { at: number; done: () => void }[] = [];
  written = 0;

  constructor() {
    super(false);
  }

  override whenWritten(done: () => void): void {
    if (this.position <= this.written) done();
    else this.held.push({ at: this.position, done });
  }

  /** Everything queued so far counts as written. */
  release(): void {
    this.written = this.position;
    while (this.held.length && this.held[0]!.at <= this.written) this.held.shift()!.done();
  }

  override get recycles(): boolean {
    return true;
  }

  pushes = 0;
  override push(): void {
    this.pushes++;
    super.push();
  }

  protected async send(): Promise<void> {}
}

const MiB = 1 << 20;
const overlaps = (a: Buffer, b: Buffer) => a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.length && b.byteOffset < a.byteOffset + a.length;

describe("WindowBuffers", () => {
  it("never hands out memory the sink still holds, and reuses a slab once it is written", () => {
    const sink = new HeldSink();
    const buffers = new WindowBuffers(sink);
    const queued: Buffer[] = [];
    const take = (n: number) => {
      const b = buffers.take(n)!;
      for (const q of queued) expect(overlaps(b, q)).toBe(false);
      b.fill(queued.length);
      void sink.write(b);
      queued.push(b);
      return b;
    };
    // 20 pieces of 3 MiB: several slabs, none written yet, so none may be reused.
    for (let i = 0; i < 20; i++) take(3 * MiB);
    expect(new Set(queued.map((b) => b.buffer)).size).toBeGreaterThanOrEqual(Math.ceil((20 * 3) / 8));
    queued.forEach((b, i) => expect(b.every((x) => x === i)).toBe(true));
    // Once written, the next slab switch reuses one of the old slabs.
    sink.release();
    const old = new Set(queued.map((b) => b.buffer));
    queued.length = 0;
    const later = [take(3 * MiB), take(3 * MiB), take(3 * MiB)];
    expect(later.some((b) => old.has(b.buffer))).toBe(true);
  });

  it("holds at most maxSlabs slabs: a reader waits (ready) until the sink has written one back", async () => {
    const sink = new HeldSink();
    const buffers = new WindowBuffers(sink, 2);
    const take = (n: number) => {
      const b = buffers.take(n)!;
      void sink.write(b);
      return b;
    };
    expect(buffers.ready(6 * MiB)).toBeUndefined();
    const a = take(6 * MiB);
    expect(buffers.ready(6 * MiB)).toBeUndefined(); // a second slab may still be made
    const b = take(6 * MiB);
    expect(b.buffer).not.toBe(a.buffer);
    // Both slabs hold unwritten bytes: the next reader must wait, and asks the sink to send.
    let ready = false;
    const wait = buffers.ready(6 * MiB)!;
    expect(wait).toBeInstanceOf(Promise);
    void wait.then(() => (ready = true));
    await new Promise((r) => setImmediate(r));
    expect(ready).toBe(false);
    expect(sink.pushes).toBe(1);
    sink.release();
    await wait;
    expect(ready).toBe(true);
    // The slab it gets is one of the two, written back: no third slab was made.
    const c = take(6 * MiB);
    expect(c.buffer === a.buffer || c.buffer === b.buffer).toBe(true);
  });

  it("waits for nothing with a sink that never says what it wrote (a stream): slabs are left to the GC", () => {
    class StreamLike extends Sink {
      constructor() {
        super(false);
      }
      protected async send(): Promise<void> {}
    }
    const buffers = new WindowBuffers(new StreamLike(), 1);
    const seen = new Set<ArrayBufferLike>();
    for (let i = 0; i < 5; i++) {
      expect(buffers.ready(6 * MiB)).toBeUndefined();
      seen.add(buffers.take(6 * MiB)!.buffer);
    }
    expect(seen.size).toBe(5);
  });

  it("gives no slab memory for a request bigger than a slab (the caller allocates)", () => {
    expect(new WindowBuffers(new HeldSink()).take(64 * MiB)).toBeUndefined();
  });
});
