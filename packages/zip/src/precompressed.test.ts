import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { InvalidInputError } from "@cluster-pack/errors";
import { crc32, entryDeflateOptions, type PrecompressedEntry, ZipReader, ZipWriter } from "./index";
import { tempDir } from "./test-kit";

// Content of different shapes: empty, under the store threshold, incompressible, text of
// several window sizes (small files get a smaller deflate window).
const CONTENTS: Record<string, Buffer> = {
  "a/empty": Buffer.alloc(0),
  "a/tiny": Buffer.from("x".repeat(10)),
  "b/random.bin": crypto.randomBytes(5000),
  "b/small.txt": Buffer.from("hello world\n".repeat(30)),
  "c/medium.txt": Buffer.from(Array.from({ length: 3000 }, (_, i) => `line ${i % 97}\n`).join("")),
  "c/large.txt": Buffer.from(Array.from({ length: 60_000 }, (_, i) => `row ${i} ${i % 13}\n`).join("")),
};

/** What a caller compressing on its own would hand over. */
function precompress(data: Buffer, level: number): PrecompressedEntry {
  const crc = crc32(data);
  const opts = entryDeflateOptions(data.length, level);
  const deflated = opts ? zlib.deflateRawSync(data, opts) : null;
  if (deflated && deflated.length < data.length) return { method: 8, crc32: crc, uncompressedSize: data.length, data: deflated };
  return { method: 0, crc32: crc, uncompressedSize: data.length, data };
}

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => (tmp = tempDir()));
afterAll(() => tmp.cleanup());

test.each([0, 1, 4, 9])("precompressed entries give the bytes addBuffer gives (level %i)", async (level) => {
  const plain = new ZipWriter({ compressionLevel: level });
  const pre = new ZipWriter({ compressionLevel: level, concurrency: 2 });
  const calls: string[] = [];
  // Added in another order: the writer sorts, and calls producers in output order.
  for (const name of Object.keys(CONTENTS).reverse()) {
    plain.addBuffer(name, CONTENTS[name]!, { mode: 0o755 });
    pre.addPrecompressed(
      name,
      async () => {
        calls.push(name);
        return precompress(CONTENTS[name]!, level);
      },
      { mode: 0o755 },
    );
  }
  const a = await plain.writeTo(path.join(tmp.dir, `plain-${level}.zip`));
  const b = await pre.writeTo(path.join(tmp.dir, `pre-${level}.zip`));
  expect(b.sha256).toBe(a.sha256);
  expect(calls).toEqual(Object.keys(CONTENTS).sort());
  const reader = await ZipReader.open(b.path);
  try {
    for (const [name, data] of Object.entries(CONTENTS)) expect((await reader.readEntry(name)).equals(data)).toBe(true);
  } finally {
    await reader.close();
  }
});

test("inconsistent precompressed data is refused, naming the entry, and leaves no file", async () => {
  const out = path.join(tmp.dir, "bad.zip");
  const zip = new ZipWriter();
  zip.addPrecompressed("pkg/mod.py", async () => ({ method: 0, crc32: 0, uncompressedSize: 10, data: Buffer.alloc(3) }));
  await expect(zip.writeTo(out)).rejects.toThrow(InvalidInputError);
  await expect(zip.writeTo(out)).rejects.toThrow(/pkg\/mod\.py/);
  expect(fs.readdirSync(tmp.dir).filter((f) => f.includes("bad.zip"))).toEqual([]);
  // A producer's own failure fails the write the same way.
  const failing = new ZipWriter();
  failing.addPrecompressed("x", async () => {
    throw new Error("compressor died");
  });
  await expect(failing.writeTo(out)).rejects.toThrow(/compressor died/);
  expect(fs.existsSync(out)).toBe(false);
});
