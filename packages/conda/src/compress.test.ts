import { execFileSync, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createCompressor, type TarCompression } from "./compress";
import { tempDir } from "./test-kit";

jest.setTimeout(120_000);

let dir: string;
let input: Buffer;
let text: Buffer;
beforeAll(() => {
  dir = tempDir("compress");
  // ~3.5 MiB of compressible but varied data (several gzip blocks, two bzip2 chunks).
  const lines: string[] = [];
  for (let i = 0; i < 80_000; i++) lines.push(`line ${i} ${crypto.createHash("md5").update(String(i % 977)).digest("hex")}`);
  // Real source text for the level comparisons (synthetic repetitive data can fool xz's levels).
  const stdlib = execFileSync("python3", ["-c", "import os; print(os.path.dirname(os.__file__))"], { encoding: "utf8" }).trim();
  const sources = fs.readdirSync(stdlib).filter((f) => f.endsWith(".py")).sort().slice(0, 60);
  text = Buffer.concat(sources.map((f) => fs.readFileSync(path.join(stdlib, f))));
  input = Buffer.concat([text, crypto.randomBytes(300_000)]);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function compress(kind: TarCompression, level: number, threads: number, data = input): Promise<Buffer> {
  const chunks: Buffer[] = [];
  // Feed in uneven pieces, as a tar stream does.
  const pieces: Buffer[] = [];
  for (let i = 0; i < data.length; ) {
    const n = 1 + ((i * 7919) % 70_000);
    pieces.push(data.subarray(i, i + n));
    i += n;
  }
  await pipeline(Readable.from(pieces), createCompressor(kind, { level, threads }), async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) chunks.push(c);
  });
  return Buffer.concat(chunks);
}

const DECOMPRESS: Record<Exclude<TarCompression, "none">, string[]> = {
  gzip: ["gzip", "-dc"],
  bzip2: ["bzip2", "-dc"],
  xz: ["xz", "-dc"],
  zstd: ["zstd", "-dcq"],
};

describe.each(["gzip", "bzip2", "xz", "zstd"] as const)("%s", (kind) => {
  test("the system tool decompresses it, and threads do not change the bytes", async () => {
    const one = await compress(kind, kind === "zstd" ? 3 : 4, 1);
    const two = await compress(kind, kind === "zstd" ? 3 : 4, 2);
    expect(two.equals(one)).toBe(true);
    const [cmd, ...args] = DECOMPRESS[kind];
    const out = execFileSync(cmd!, args, { input: one, maxBuffer: 64 << 20 });
    expect(out.equals(input)).toBe(true);
  });

  test("the level is honoured", async () => {
    const [lo, hi] = kind === "zstd" ? [1, 12] : [1, 9];
    const a = await compress(kind, lo, 2, text);
    const b = await compress(kind, hi, 2, text);
    expect(b.length).toBeLessThan(a.length);
  });
});

test("parallel gzip is a single valid member: gzip -t, Python's gzip, empty input", async () => {
  const gz = await compress("gzip", 6, 2);
  const file = path.join(dir, "x.gz");
  fs.writeFileSync(file, gz);
  execFileSync("gzip", ["-t", file]);
  const py = spawnSync("python3", ["-c", `import gzip,hashlib;print(hashlib.sha256(gzip.open(${JSON.stringify(file)}).read()).hexdigest())`], { encoding: "utf8" });
  expect(py.stdout.trim()).toBe(crypto.createHash("sha256").update(input).digest("hex"));
  // Level 0 (stored blocks) and an empty stream are valid too.
  for (const [level, data] of [[0, input], [4, Buffer.alloc(0)]] as const) {
    const out = await compress("gzip", level, 2, data);
    expect(execFileSync("gzip", ["-dc"], { input: out, maxBuffer: 64 << 20 }).equals(data)).toBe(true);
  }
  // The header carries no name and no timestamp.
  expect([...gz.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
});

test("bad levels and thread counts are refused", () => {
  expect(() => createCompressor("gzip", { level: 10, threads: 1 })).toThrow(expect.objectContaining({ message: "compression level 10 is out of range for gzip", hint: expect.stringMatching(/0\.\.9/) }));
  expect(() => createCompressor("zstd", { level: 23, threads: 1 })).toThrow(expect.objectContaining({ message: "compression level 23 is out of range for zstd", hint: expect.stringMatching(/1\.\.22/) }));
  expect(() => createCompressor("xz", { level: 4, threads: 0 })).toThrow(/thread/);
});
