import crypto from "node:crypto";
import fs from "node:fs";
import zlib from "node:zlib";
import { IntegrityError } from "@cluster-pack/errors";
import { EntryDataCheck, inflateVerified, LOCAL_HEADER_SIZE, parseLocalHeader } from "@cluster-pack/zip/records";
import { RecordVerifier, type RecordEntry } from "./record";

// The program of WheelVerifier's worker threads (one job at a time each): hashes wheel
// files, and checks raw wheel entries against their central directory record (inflated
// size, CRC-32) and their RECORD row (size, hash). Memory stays bounded: files are hashed
// in 4 MiB reads, entries up to 64 MiB are inflated in one call, larger ones streamed.

/** One raw wheel entry to check: where it is, what its central directory record says, its RECORD row. */
export interface VerifyJobEntry {
  /** The entry name (as in RECORD). */
  path: string;
  /** Absolute offset of the local header in the wheel file. */
  offset: number;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  record: RecordEntry;
}

export type VerifyJob = { kind: "hash"; path: string } | { kind: "verify"; path: string; wheel: string; entries: VerifyJobEntry[] };

const CHUNK = 4 << 20;
const WHOLE = 64 << 20;

/** Runs one job: the wheel file's sha256 (hex), or nothing once every entry checked out. */
export async function handle(job: VerifyJob): Promise<string | undefined> {
  if (job.kind === "hash") return hashFile(job.path);
  const fd = fs.openSync(job.path, "r");
  try {
    for (const e of job.entries) await checkEntry(fd, job.path, job.wheel, e);
  } finally {
    fs.closeSync(fd);
  }
  return undefined;
}

function hashFile(file: string): string {
  const fd = fs.openSync(file, "r");
  try {
    const h = crypto.createHash("sha256");
    const buf = Buffer.allocUnsafe(CHUNK);
    for (let pos = 0, n; (n = fs.readSync(fd, buf, 0, CHUNK, pos)) > 0; pos += n) h.update(buf.subarray(0, n));
    return h.digest("hex");
  } finally {
    fs.closeSync(fd);
  }
}

async function checkEntry(fd: number, file: string, wheel: string, e: VerifyJobEntry): Promise<void> {
  const entry = { name: e.path, method: e.method, crc32: e.crc32, compressedSize: e.compressedSize, uncompressedSize: e.uncompressedSize };
  // One read for the header and, usually, the data: a local extra field is rarely longer than 64 bytes.
  const guess = LOCAL_HEADER_SIZE + Buffer.byteLength(e.path) + 64;
  const whole = e.compressedSize <= WHOLE;
  const head = readAt(fd, guess + (whole ? e.compressedSize : 0), e.offset, wheel, LOCAL_HEADER_SIZE);
  const header = parseLocalHeader(head);
  if (!header) throw new IntegrityError(`${wheel}: ${e.path}: no local header at offset ${e.offset}; the wheel is corrupt.`, { code: "ERR_HEADER_MISMATCH" });
  const start = e.offset + header.size;
  const record = new RecordVerifier(wheel, e.record);
  if (whole) {
    // Inflated size and CRC against the central directory, then RECORD's size and hash.
    const stored = header.size + e.compressedSize <= head.length ? head.subarray(header.size, header.size + e.compressedSize) : readAt(fd, e.compressedSize, start, wheel);
    await inflateVerified(wheel, entry, stored, { syncUpTo: Infinity, copy: false, each: (slice) => record.update(slice) });
  } else {
    const check = new EntryDataCheck(wheel, entry);
    const input = fs.createReadStream(file, { start, end: start + e.compressedSize - 1, highWaterMark: 1 << 20 });
    const inflated = e.method === 8 ? input.pipe(zlib.createInflateRaw()) : input;
    input.on("error", (err) => inflated.destroy(err));
    try {
      for await (const chunk of inflated as AsyncIterable<Buffer>) {
        check.update(chunk);
        record.update(chunk);
      }
    } catch (err) {
      if (err instanceof IntegrityError) throw err;
      throw new IntegrityError(`${wheel}: entry ${e.path} does not inflate (${(err as Error).message}); the wheel is corrupt.`, { cause: err, code: "ERR_CORRUPT_ENTRY" });
    } finally {
      input.destroy();
    }
    check.finish();
  }
  record.check();
}

/** `length` bytes at `position`, or fewer at the end of the file when at least `atLeast` are there. */
function readAt(fd: number, length: number, position: number, wheel: string, atLeast = length): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  if (done < atLeast) throw new IntegrityError(`${wheel}: the file is shorter than its zip directory says (truncated or changed).`, { code: "ERR_SOURCE_CHANGED" });
  return done < length ? buf.subarray(0, done) : buf;
}
