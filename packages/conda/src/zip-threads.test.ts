import { execFileSync, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { AbortError, hasErrorCode } from "@cluster-pack/errors";
import { ZipWriter } from "@cluster-pack/zip";
import { packCondaEnvironment } from "./pack-conda";
import { describeWithKit, extractArchive, findKitInterpreter, makeCondaEnv, rejection, tempDir, treeDigest, type CondaEnvKit } from "./test-kit";
import { crashError, LARGE_FILE, ZipDeflater, type ZipDeflateItem, zipOrder } from "./zip-deflate";

jest.setTimeout(180_000);

const d = describeWithKit("zip on several threads");
const interp = findKitInterpreter();

let root: string;
let kit: CondaEnvKit;
beforeAll(() => {
  root = tempDir("zipj");
  if (!interp) return;
  kit = makeCondaEnv({ root: path.join(root, "k"), pipPackage: false });
  addVariedFiles(path.join(kit.prefix, "share", "extra"));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/**
 * Unmanaged files of every shape the deflater distinguishes: hundreds of small files
 * (many batches), text of every deflate window size, incompressible data (stored),
 * files under the 64-byte store threshold, empty files, files at and just above the
 * streaming limit, and names whose UTF-8 order differs from JavaScript's string order.
 */
function addVariedFiles(dir: string): void {
  const rnd = seeded(7);
  const words = ["import", "def", "return", "class", "self", "value", "prefix", "lib", "site", "packages", "None", "True"];
  const text = (n: number) => {
    let s = "";
    while (s.length < n) s += `${words[Math.floor(rnd() * words.length)]}${rnd() < 0.1 ? "\n" : " "}`;
    return s.slice(0, n);
  };
  for (let i = 0; i < 700; i++) write(dir, `pkg${i % 7}/mod_${i}.py`, text(Math.floor(rnd() * 6000)));
  for (let i = 0; i < 30; i++) write(dir, `big/text_${i}.txt`, text(40_000 + i * 3000));
  for (let i = 0; i < 4; i++) write(dir, `bin/random_${i}.so`, crypto.randomBytes(90_000 + i));
  for (let i = 0; i < 5; i++) write(dir, `tiny/${i}.txt`, "x".repeat(i * 15));
  write(dir, "large/at-limit.txt", text(LARGE_FILE));
  write(dir, "large/above-limit.bin", crypto.randomBytes(LARGE_FILE + 1));
  write(dir, "names/\u{1F600}.txt", text(500));
  write(dir, "names/\uFF21.txt", text(500));
  write(dir, "names/ñame.txt", text(500));
}

function write(dir: string, rel: string, content: string | Buffer): void {
  const file = path.join(dir, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

function seeded(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

d("packCondaEnvironment zip -j N", () => {
  test("the archive is byte-identical for every thread count and level, and unzip and Python read it", async () => {
    const sha = (level: number, threads: number) => packCondaEnvironment({ prefix: kit.prefix, output: path.join(root, `env-${level}-${threads}.zip`), compressLevel: level, threads }).then((r) => r.sha256);
    for (const level of [1, 4, 9]) {
      const one = await sha(level, 1);
      for (const threads of level === 4 ? [2, 3, 4] : [2]) expect(await sha(level, threads)).toBe(one);
    }
    const out = path.join(root, "env-4-2.zip");
    execFileSync("unzip", ["-tq", out]);
    const py = spawnSync("python3", ["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(len(z.namelist()), sum(i.compress_type == 8 for i in z.infolist()), sum(i.compress_type == 0 and i.file_size > 0 for i in z.infolist()))", out], { encoding: "utf8" });
    expect(py.status).toBe(0);
    const [entries, deflated, stored] = py.stdout.trim().split(" ").map(Number);
    expect(entries).toBeGreaterThan(750);
    expect(deflated).toBeGreaterThan(700);
    expect(stored).toBeGreaterThanOrEqual(4); // the random .so files and the tiny ones
    // The content is the environment's (relocated files aside, which conda-unpack fixes).
    const dest = path.join(root, "unz");
    extractArchive(out, dest);
    const extra = (tree: Record<string, string>) => Object.fromEntries(Object.entries(tree).filter(([k]) => k.startsWith("share/extra/")));
    expect(extra(treeDigest(dest))).toEqual(extra(treeDigest(kit.prefix)));
  });

  test("abort mid-pack leaves no archive", async () => {
    const outDir = path.join(root, "abort");
    fs.mkdirSync(outDir);
    const ac = new AbortController();
    const err = await rejection(
      packCondaEnvironment({
        prefix: kit.prefix,
        output: path.join(outDir, "env.zip"),
        threads: 2,
        signal: ac.signal,
        onProgress: (p) => {
          if (p.phase === "write" && p.done === 300) ac.abort();
        },
      }),
    );
    expect(hasErrorCode(err, "ABORT_ERR")).toBe(true);
    expect(fs.readdirSync(outDir)).toEqual([]);
  });

  test.each([
    ["vanished", "ERR_FILE_VANISHED", (f: string) => fs.rmSync(f)],
    ["replaced by a directory", "ERR_READ", (f: string) => (fs.rmSync(f), fs.mkdirSync(f))],
    ["grown", "ERR_FILE_CHANGED", (f: string) => fs.appendFileSync(f, "more")],
  ] as const)("a file %s after the scan fails the pack naming it (%s), leaving nothing", async (_what, code, spoil) => {
    const copy = path.join(root, `spoil-${code}`);
    fs.cpSync(kit.prefix, copy, { recursive: true, verbatimSymlinks: true });
    const victim = path.join(copy, "share/extra/pkg3/mod_500.py");
    const outDir = path.join(root, `spoil-out-${code}`);
    fs.mkdirSync(outDir);
    const err = await rejection(
      packCondaEnvironment({
        prefix: copy,
        output: path.join(outDir, "env.zip"),
        threads: 2,
        // After the scan (which reads every unmanaged file), before the write.
        onProgress: (p) => {
          if (p.phase === "scan" && p.done === p.total) spoil(victim);
        },
      }),
    );
    expect(err.code).toBe(code);
    expect(err.message).toContain("share/extra/pkg3/mod_500.py");
    expect(fs.readdirSync(outDir)).toEqual([]);
  });
});

describe("ZipDeflater", () => {
  let dir: string;
  beforeAll(() => {
    dir = path.join(root, "deflater");
    for (let i = 0; i < 40; i++) write(dir, `f${String(i).padStart(2, "0")}`, `file ${i}\n`.repeat(40_000));
  });
  const items = (): Array<ZipDeflateItem & { size: number }> =>
    fs
      .readdirSync(dir)
      .sort()
      .map((f) => ({ name: f, source: path.join(dir, f), size: fs.statSync(path.join(dir, f)).size }));

  test("a tiny window still progresses, and entries can be taken out of order", async () => {
    const list = items();
    const z = new ZipDeflater(list, { level: 4, threads: 2, windowBytes: 1 });
    try {
      const order = [39, 0, 1, 20, ...Array.from({ length: 40 }, (_, i) => i).filter((i) => ![39, 0, 1, 20].includes(i))];
      for (const i of order) {
        const e = await z.take(i);
        expect(e.uncompressedSize).toBe(list[i]!.size);
        expect(e.method).toBe(8);
        expect(require("node:zlib").inflateRawSync(e.data).toString()).toBe(`file ${i}\n`.repeat(40_000));
      }
    } finally {
      await z.close();
    }
  });

  test("the window is bounded by bytes: content is loaded only a window ahead of what was taken", async () => {
    const content = (i: number) => Buffer.from(`loaded ${i}\n`.repeat(30_000)); // ~300 KB each
    let loaded = 0;
    // Sizes are estimates (as for relocated files: the size before relocation).
    const list: ZipDeflateItem[] = Array.from({ length: 40 }, (_, i) => ({
      name: `l${i}`,
      size: 290_000,
      load: async () => {
        loaded++;
        return content(i);
      },
    }));
    const window = 1024 * 1024;
    const z = new ZipDeflater(list, { level: 1, threads: 2, windowBytes: window });
    try {
      let most = 0;
      for (let i = 0; i < list.length; i++) {
        await new Promise((r) => setTimeout(r, 5)); // let the deflater run ahead as far as it will
        most = Math.max(most, loaded - i);
        const e = await z.take(i);
        expect(require("node:zlib").inflateRawSync(e.data).equals(content(i))).toBe(true);
      }
      // Ahead of the writer: at most the window (plus the batch that crosses it), never all 40.
      expect(most).toBeGreaterThan(0);
      expect(most * 300_000).toBeLessThan(window + 2 * 1024 * 1024);
      expect(loaded).toBe(40);
    } finally {
      await z.close();
    }
  });

  test("a file vanishing mid-pack (after earlier entries were written) fails its entry by name", async () => {
    const list = items();
    const z = new ZipDeflater(list, { level: 4, threads: 2, windowBytes: 1 });
    try {
      await z.take(0);
      fs.rmSync(path.join(dir, "f30"));
      let err: Error & { code?: string } = new Error("none");
      for (let i = 1; i < list.length; i++) {
        const r = await z.take(i).catch((e: Error & { code?: string }) => e);
        if (r instanceof Error) {
          err = r;
          break;
        }
      }
      expect(err.code).toBe("ERR_FILE_VANISHED");
      expect(err.message).toContain("f30");
      // Everything after the failure fails fast with the same error.
      await expect(z.take(39)).rejects.toBe(err);
    } finally {
      await z.close();
    }
  });

  test("abort rejects what is pending with an AbortError", async () => {
    const ac = new AbortController();
    const z = new ZipDeflater(items().slice(0, 5), { level: 9, threads: 2, signal: ac.signal });
    ac.abort();
    try {
      await expect(z.take(4)).rejects.toBeInstanceOf(AbortError);
    } finally {
      await z.close();
    }
  });

  test("a crashed worker's error names the entries it was compressing", () => {
    const job = { entries: [{ name: "lib/a.so", path: "/e/lib/a.so", size: 3, deflate: null }, { name: "lib/b.so", path: "/e/lib/b.so", size: 3, deflate: null }] };
    const err = crashError(new Error("out of memory"), job);
    expect(err.code).toBe("ERR_WORKER_CRASHED");
    expect(err.message).toContain("lib/a.so (or one of 1 entries after it)");
    expect(err.message).toContain("out of memory");
  });

  test("workers give the writer's own bytes, large files (streamed to spool files) included, and leave no spool behind", async () => {
    const src = path.join(root, "own-bytes");
    const rnd = seeded(11);
    write(src, "a-small.txt", "small text\n".repeat(300));
    write(src, "b-tiny.txt", "x".repeat(20));
    write(src, "c-random.bin", crypto.randomBytes(200_000));
    write(src, "d-large-text.txt", Array.from({ length: 1_200_000 }, () => (rnd() < 0.5 ? "lib " : "site\n")).join(""));
    write(src, "e-large-random.bin", crypto.randomBytes(LARGE_FILE + 12_345));
    write(src, "f-at-limit.bin", Buffer.alloc(LARGE_FILE, 7));
    const list = fs.readdirSync(src).sort(zipOrder).map((f) => ({ name: f, source: path.join(src, f), size: fs.statSync(path.join(src, f)).size }));
    expect(list.filter((f) => f.size > LARGE_FILE)).toHaveLength(2);
    const out = path.join(root, "own-bytes-out");
    fs.mkdirSync(out);
    for (const level of [1, 6]) {
      const own = new ZipWriter({ compressionLevel: level });
      for (const f of list) own.addFile(f.name, f.source);
      const expected = await own.writeTo(path.join(out, `own-${level}.zip`));
      for (const threads of [1, 2]) {
        const z = new ZipDeflater(list, { level, threads, spoolDir: out });
        const viaWorkers = new ZipWriter({ compressionLevel: level, concurrency: threads });
        list.forEach((f, i) => viaWorkers.addPrecompressed(f.name, () => z.take(i)));
        try {
          expect((await viaWorkers.writeTo(path.join(out, `workers-${level}-${threads}.zip`))).sha256).toBe(expected.sha256);
        } finally {
          await z.close();
        }
      }
    }
    expect(fs.readdirSync(out).filter((f) => f.includes("spool"))).toEqual([]);
  });

  test("a large file that changed size fails by name and leaves neither archive nor spool file", async () => {
    const src = path.join(root, "large-changed");
    write(src, "big.bin", crypto.randomBytes(LARGE_FILE + 100));
    write(src, "small.txt", "ok\n");
    const list = [
      { name: "big.bin", source: path.join(src, "big.bin"), size: LARGE_FILE + 50 }, // the scan saw another size
      { name: "small.txt", source: path.join(src, "small.txt"), size: 3 },
    ];
    const out = path.join(root, "large-changed-out");
    fs.mkdirSync(out);
    const z = new ZipDeflater(list, { level: 4, threads: 2, spoolDir: out });
    const w = new ZipWriter({ compressionLevel: 4 });
    list.forEach((f, i) => w.addPrecompressed(f.name, () => z.take(i)));
    try {
      const err = await rejection(w.writeTo(path.join(out, "x.zip")));
      expect(err.code).toBe("ERR_FILE_CHANGED");
      expect(err.message).toContain("big.bin");
    } finally {
      await z.close();
    }
    expect(fs.readdirSync(out)).toEqual([]);
  });

  test("zipOrder is the order of UTF-8 bytes, not of UTF-16 code units", () => {
    const names = ["a/\u{1F600}", "a/\uFF21", "a/b", "a/ñ"];
    expect([...names].sort(zipOrder)).toEqual(["a/b", "a/ñ", "a/\uFF21", "a/\u{1F600}"]);
    expect([...names].sort()).not.toEqual([...names].sort(zipOrder));
  });
});
