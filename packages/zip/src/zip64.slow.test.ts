// Slow tier (still part of the default run): an archive over 4 GiB, written and read back
// by us, Python's zipfile and unzip, with memory staying bounded. Under a minute here.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { ZipReader, ZipWriter } from "./index";
import { python, runPython, tempDir, which } from "./test-kit";

jest.setTimeout(600_000);

const GiB = 1024 ** 3;
const BIG = 4 * GiB + 3 * 1024 * 1024 + 17; // over 4 GiB, not a round number
const DEFLATED = 4 * GiB + 5;
const CHUNK = Buffer.alloc(1 << 20); // shared and never modified: the stream costs no memory

/** `size` zero bytes, produced on demand. */
function zeros(size: number): Readable {
  let left = size;
  return new Readable({
    highWaterMark: 1 << 20,
    read() {
      if (left === 0) return void this.push(null);
      const n = Math.min(left, CHUNK.length);
      left -= n;
      this.push(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
    },
  });
}

const free = (() => {
  try {
    const s = fs.statfsSync(require("node:os").tmpdir());
    return s.bavail * s.bsize;
  } catch {
    return 0;
  }
})();
const enoughDisk = free > 12 * GiB;
if (!enoughDisk) console.warn(`zip64 >4 GiB test skipped: needs 12 GiB free in the temp dir, has ${(free / GiB).toFixed(1)} GiB`);

(enoughDisk ? describe : describe.skip)("archives over 4 GiB", () => {
  let tmp: ReturnType<typeof tempDir>;
  let file: string;
  beforeAll(() => {
    tmp = tempDir();
    file = path.join(tmp.dir, "big.zip");
  });
  afterAll(() => tmp.cleanup());

  it("writes a stored entry over 4 GiB, a deflated one over 4 GiB and entries past the 4 GiB offset, with bounded memory", async () => {
    const w = new ZipWriter({ compressionLevel: 1 }); // level 1: same code path, less CPU
    w.addBuffer("a-before.txt", "before");
    w.addStreamFactory("big.bin", () => zeros(BIG), BIG, { compress: false });
    w.addStreamFactory("big-deflated.bin", () => zeros(DEFLATED), DEFLATED, { compress: true });
    w.addBuffer("z-after.txt", "after");
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    try {
      const result = await w.writeTo(file);
      expect(result.size).toBeGreaterThan(BIG);
    } finally {
      clearInterval(sampler);
    }
    // Bounded: a few MiB of buffers, nowhere near the 8 GiB that went through.
    expect(peak - baseline).toBeLessThan(256 * 1024 * 1024);
    expect(fs.readdirSync(tmp.dir)).toEqual(["big.zip"]); // spool removed
  });

  it("reads it back: sizes, offsets past 4 GiB, CRC of the big entries", async () => {
    const r = await ZipReader.open(file);
    const big = r.getEntry("big.bin")!;
    const deflated = r.getEntry("big-deflated.bin")!;
    const after = r.getEntry("z-after.txt")!;
    expect(big).toMatchObject({ method: 0, uncompressedSize: BIG, compressedSize: BIG });
    expect(deflated).toMatchObject({ method: 8, uncompressedSize: DEFLATED });
    expect(deflated.compressedSize).toBeLessThan(64 * 1024 * 1024); // zeros at level 1: about 230:1
    expect(after.localHeaderOffset).toBeGreaterThan(0xffffffff);
    expect((await r.readEntry(after)).toString()).toBe("after");
    for (const e of [big, deflated]) {
      let n = 0;
      for await (const chunk of (await r.openEntryStream(e)) as AsyncIterable<Buffer>) n += chunk.length;
      expect(n).toBe(e.uncompressedSize); // the stream also verified the CRC at its end
    }
    await r.close();
  });

  // The other readers check structure and the small entries; our reader above already
  // streamed (and CRC-checked) the 8 GiB of big entries, which would take minutes more here.
  (python() ? it : it.skip)("is valid for Python's zipfile (ZIP64 records, offsets past 4 GiB)", () => {
    const out = runPython(
      "import zipfile,sys,json; z=zipfile.ZipFile(sys.argv[1]); print(json.dumps([z.read('z-after.txt').decode(), z.read('a-before.txt').decode(), [(i.filename, i.file_size, i.header_offset) for i in z.infolist()]]))",
      [file],
    );
    const [after, before, infos] = JSON.parse(out) as [string, string, Array<[string, number, number]>];
    expect([after, before]).toEqual(["after", "before"]);
    expect(infos.map((i) => i[0])).toEqual(["a-before.txt", "big-deflated.bin", "big.bin", "z-after.txt"]);
    expect(infos.find((i) => i[0] === "big.bin")![1]).toBe(BIG);
    expect(infos.find((i) => i[0] === "big-deflated.bin")![1]).toBe(DEFLATED);
    expect(infos.find((i) => i[0] === "z-after.txt")![2]).toBeGreaterThan(0xffffffff);
  });

  (which("unzip") ? it : it.skip)("is valid for unzip (listing and the entries around the big ones)", () => {
    const t = spawnSync("unzip", ["-tqq", file, "a-before.txt", "z-after.txt"], { encoding: "utf8" });
    expect({ status: t.status, stderr: t.stderr }).toEqual({ status: 0, stderr: "" });
    const l = spawnSync("unzip", ["-Z", "-l", file], { encoding: "utf8" });
    expect(l.status).toBe(0);
    expect(l.stdout).toContain(String(BIG));
    expect(l.stdout).toContain(String(DEFLATED));
  });
});
