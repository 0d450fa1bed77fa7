// Test helpers for @cluster-pack/zip and packages that build on it (`@cluster-pack/zip/test-kit`, built and published).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { pythonInterpreters, SYSTEM_PYTHON } from "@cluster-pack/io/test-kit";
import type { ZipWriter } from "../writer";

export { realWheel, which } from "@cluster-pack/io/test-kit";

/** A fresh directory under the OS temp dir, removed by `cleanup()`. */
export function tempDir(prefix = "cp-zip-"): { dir: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** The bytes a writer produces (through writeToStream). */
export async function zipBytes(writer: ZipWriter): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await writer.writeToStream(
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(Buffer.from(chunk));
        cb();
      },
    }),
  );
  return Buffer.concat(chunks);
}

/** The first interpreter that exists among the system python3 and pyenv's (the shared finder's). */
export function python(): string | undefined {
  return [SYSTEM_PYTHON, ...pyenvPythons()].find((p) => fs.existsSync(p));
}

/** Every pyenv CPython 3 installed here, oldest first (paths; the finder is `@cluster-pack/io/test-kit`'s). */
export function pyenvPythons(): string[] {
  return pythonInterpreters({ minimum: "3.0" }).map((p) => p.python);
}

/** Runs a Python snippet; returns stdout, throws with stderr on failure. */
export function runPython(code: string, args: string[] = [], interpreter = python()): string {
  if (!interpreter) throw new Error("no python3 interpreter found");
  const r = spawnSync(interpreter, ["-c", code, ...args], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Parsed central directory records of a zip in memory (for tests that patch bytes). */
export interface RawCentralRecord {
  /** Offset of this record in the buffer. */
  at: number;
  name: string;
  localHeaderOffset: number;
  compressedSize: number;
  uncompressedSize: number;
}

/** Lists central directory records of a small non-ZIP64 zip, by walking from the end record. */
export function centralRecords(zip: Buffer): RawCentralRecord[] {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new Error("no end record");
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const out: RawCentralRecord[] = [];
  for (let i = 0; i < count; i++) {
    const nameLength = zip.readUInt16LE(at + 28);
    out.push({
      at,
      name: zip.subarray(at + 46, at + 46 + nameLength).toString("utf8"),
      compressedSize: zip.readUInt32LE(at + 20),
      uncompressedSize: zip.readUInt32LE(at + 24),
      localHeaderOffset: zip.readUInt32LE(at + 42),
    });
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return out;
}
