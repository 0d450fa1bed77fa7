// Test helpers for @cluster-pack/zip and packages that build on it (`@cluster-pack/zip/test-kit`, built and published).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import zlib from "node:zlib";
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

/** Lists central directory records of a small non-ZIP64 zip (the last of the buffer), by walking from the end record. */
export function centralRecords(zip: Buffer): RawCentralRecord[] {
  return centralRecordsAt(zip, lastZip(zip));
}

// ---------------------------------------------------------------------------------------
// Crafting archives as an attacker would. Offsets are written out here (not taken from
// the record codec), so the tests of the codec do not share its mistakes. Classic (not
// ZIP64) archives; the last zip of the buffer is the one changed, offsets relative to its
// own start or absolute, as its end record says.

/** The last zip of `file`: its end record and central directory, and the shift of its offsets. */
export function lastZip(file: Buffer): { end: number; count: number; cdSize: number; cdOffset: number; shift: number; cdStart: number } {
  const end = file.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new Error("no end record");
  const count = file.readUInt16LE(end + 10);
  const cdSize = file.readUInt32LE(end + 12);
  const cdOffset = file.readUInt32LE(end + 16);
  const shift = end - cdSize - cdOffset;
  return { end, count, cdSize, cdOffset, shift, cdStart: cdOffset + shift };
}

/** A stored local header + data, and its central record, for `name` at zip-relative `offset`. */
function storedEntry(name: string, data: Buffer, offset: number): { local: Buffer; central: Buffer } {
  const n = Buffer.from(name, "utf8");
  const crc = zlibCrc32(data);
  const local = Buffer.alloc(30 + n.length);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(0x21, 12); // 1980-01-01
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(n.length, 26);
  n.copy(local, 30);
  const central = Buffer.alloc(46 + n.length);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE((3 << 8) | 20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(0x21, 14);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(n.length, 28);
  central.writeUInt32LE((0o100644 << 16) >>> 0, 38);
  central.writeUInt32LE(offset, 42);
  n.copy(central, 46);
  return { local: Buffer.concat([local, data]), central };
}

/**
 * Adds an entry to the last zip of `file` that its end record does not count: its local
 * header and data go before the central directory, its record at the end of it, and the
 * end record's directory size and offset grow, while the entry count stays. Python's
 * zipfile (which reads the directory by size) and zipimport (which reads records until
 * their signature stops) see it; a reader that trusts the count does not.
 */
export function addHiddenEntry(file: Buffer, name: string, data: Buffer): Buffer {
  const z = lastZip(file);
  const { local, central } = storedEntry(name, data, z.cdOffset);
  const cd = file.subarray(z.cdStart, z.cdStart + z.cdSize);
  const end = Buffer.from(file.subarray(z.end));
  end.writeUInt32LE(z.cdSize + central.length, 12);
  end.writeUInt32LE(z.cdOffset + local.length, 16);
  return Buffer.concat([file.subarray(0, z.cdStart), local, cd, central, end]);
}

/**
 * Inserts `junk` right before the local header of entry `name` of the last zip, moving
 * every later offset so that the archive stays readable: bytes no entry lists.
 */
export function insertUnlistedBytes(file: Buffer, name: string, junk: Buffer): Buffer {
  const z = lastZip(file);
  const rec = centralRecordsAt(file, z).find((r) => r.name === name);
  if (!rec) throw new Error(`no entry ${name}`);
  const at = rec.localHeaderOffset + z.shift;
  const out = Buffer.concat([file.subarray(0, at), junk, file.subarray(at)]);
  const moved = lastZip(out);
  for (const r of centralRecordsAt(out, { ...moved, cdStart: z.cdStart + junk.length })) {
    if (r.localHeaderOffset >= rec.localHeaderOffset) out.writeUInt32LE(r.localHeaderOffset + junk.length, r.at + 42);
  }
  out.writeUInt32LE(z.cdOffset + junk.length, moved.end + 16);
  return out;
}

/**
 * Replaces the content of the stored entry `name` of the last zip by `data` of the same
 * length, with CRCs patched in both headers: a consistent archive with other content.
 */
export function replaceStoredEntry(file: Buffer, name: string, data: Buffer): Buffer {
  const z = lastZip(file);
  const rec = centralRecordsAt(file, z).find((r) => r.name === name);
  if (!rec) throw new Error(`no entry ${name}`);
  if (file.readUInt16LE(rec.at + 10) !== 0 || rec.compressedSize !== data.length) throw new Error(`${name} is not stored with ${data.length} bytes`);
  const out = Buffer.from(file);
  const local = rec.localHeaderOffset + z.shift;
  data.copy(out, local + 30 + out.readUInt16LE(local + 26) + out.readUInt16LE(local + 28));
  const crc = zlibCrc32(data);
  out.writeUInt32LE(crc, local + 14);
  out.writeUInt32LE(crc, rec.at + 16);
  return out;
}

/** The central records of the zip `z` (from lastZip) of `file`, at absolute offsets. */
function centralRecordsAt(file: Buffer, z: { count: number; cdStart: number }): RawCentralRecord[] {
  const out: RawCentralRecord[] = [];
  let at = z.cdStart;
  for (let i = 0; i < z.count; i++) {
    const nameLength = file.readUInt16LE(at + 28);
    out.push({
      at,
      name: file.subarray(at + 46, at + 46 + nameLength).toString("utf8"),
      compressedSize: file.readUInt32LE(at + 20),
      uncompressedSize: file.readUInt32LE(at + 24),
      localHeaderOffset: file.readUInt32LE(at + 42),
    });
    at += 46 + nameLength + file.readUInt16LE(at + 30) + file.readUInt16LE(at + 32);
  }
  return out;
}

/** Every occurrence of `from` replaced by `to` (same byte length): names in local and central headers. */
export function replaceBytes(file: Buffer, from: string, to: string): Buffer {
  const a = Buffer.from(from);
  const b = Buffer.from(to);
  if (a.length !== b.length) throw new Error("replaceBytes: same length only");
  const out = Buffer.from(file);
  let n = 0;
  for (let at = out.indexOf(a); at >= 0; at = out.indexOf(a, at + 1), n++) b.copy(out, at);
  if (!n) throw new Error(`replaceBytes: ${from} not found`);
  return out;
}

function zlibCrc32(data: Buffer): number {
  return zlib.crc32(data) >>> 0;
}

/** Sets the CRC-32 of entry `name` of the last zip, in its local and central headers (the data stays). */
export function setEntryCrc(file: Buffer, name: string, crc: number): Buffer {
  const z = lastZip(file);
  const rec = centralRecordsAt(file, z).find((r) => r.name === name);
  if (!rec) throw new Error(`no entry ${name}`);
  const out = Buffer.from(file);
  out.writeUInt32LE(crc >>> 0, rec.localHeaderOffset + z.shift + 14);
  out.writeUInt32LE(crc >>> 0, rec.at + 16);
  return out;
}
