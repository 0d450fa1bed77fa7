import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { FileSink } from "./sinks";

// The file sink on a real file: blocks land in the order they were written even when a
// reader waiting for memory makes the sink send a block early (push) while earlier blocks
// still wait for room, and a failed write wakes whoever waits for bytes to be written.

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-zip-sinks-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const MiB = 1 << 20;

describe("FileSink", () => {
  it("writes every block in order, with pushes between and during writes", async () => {
    const file = path.join(tmp, "order.bin");
    const handle = await fs.promises.open(file, "w");
    const sink = new FileSink(handle, true);
    const pieces: Buffer[] = [];
    for (let i = 0; i < 64; i++) {
      // Sizes around the block size (4 MiB), so blocks fill and wait for room in flight.
      const piece = crypto.randomBytes((i % 5) * MiB + 4096 * (i + 1));
      pieces.push(piece);
      const w = sink.write(piece);
      if (i % 3 === 0) sink.push(); // a send started while nobody waits for it
      if (w && i % 2 === 0) await w;
    }
    await sink.flush();
    await handle.close();
    const expected = Buffer.concat(pieces);
    const got = fs.readFileSync(file);
    expect(got.length).toBe(expected.length);
    expect(got.equals(expected)).toBe(true);
    expect(sink.digest()).toBe(crypto.createHash("sha256").update(expected).digest("hex"));
  });

  it("calls back whoever waits for bytes once they are written, and at once after a failure", async () => {
    const file = path.join(tmp, "fail.bin");
    const handle = await fs.promises.open(file, "w");
    const sink = new FileSink(handle, false);
    expect(sink.recycles).toBe(true);
    let written = 0;
    void sink.write(Buffer.alloc(MiB, 1));
    sink.whenWritten(() => written++);
    expect(written).toBe(0);
    sink.push();
    await sink.flush();
    expect(written).toBe(1);
    // Closed under the sink: the next write fails, and a waiter is not left hanging.
    await handle.close();
    void sink.write(Buffer.alloc(MiB, 2));
    let woken = false;
    sink.whenWritten(() => (woken = true));
    sink.push();
    await expect(sink.flush()).rejects.toMatchObject({ code: "EBADF" });
    expect(woken).toBe(true);
    let late = false;
    sink.whenWritten(() => (late = true));
    expect(late).toBe(true);
  });
});
