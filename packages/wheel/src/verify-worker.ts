import crypto from "node:crypto";
import fs from "node:fs";
import { IntegrityError } from "@cluster-pack/errors";
import { checkStoredVerified, inflateVerified, inflateVerifiedPieces, LOCAL_HEADER_SIZE, parseLocalHeader, ReusingInflater, VERIFY_PIECE } from "@cluster-pack/zip/records";
import { RecordVerifier, type RecordEntry } from "./record";

// The program of WheelVerifier's worker threads (one job at a time each): hashes wheel
// files, and checks raw wheel entries against their central directory record (inflated
// size, CRC-32) and their RECORD row (size, hash). Memory per worker is bounded whatever
// the wheel: files are hashed in 4 MiB reads into one reused buffer; entries of up to
// WHOLE bytes (stored and inflated) are read with their header into one reused buffer and
// inflated on this thread; larger ones stream in 1 MiB pieces read into the same buffer
// (inflateVerifiedPieces), so a 500 MB library never sits in memory whole. Inflated
// content goes into one reused 256 KiB output (ReusingInflater): nothing is allocated per
// entry or piece, so a worker holds its read buffer, that output and zlib's state, and no
// garbage waits for V8's external-memory threshold (which let each worker grow by tens of
// MB). Where Node's zlib lacks the handle it drives, the public API is used as before.

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
/** Entries whose stored and inflated sizes are both at most this are checked in one piece. */
const WHOLE = 4 << 20;

/** This thread's read buffer, reused by every job (a fresh one per entry costs page faults and GC). */
let scratch: Buffer | undefined;
/** This thread's inflater (undefined: this Node's zlib has no handle to reuse; `null`: not made yet). */
let inflater: ReusingInflater | undefined | null = null;
function inflaterOf(): ReusingInflater | undefined {
  if (inflater === null) inflater = ReusingInflater.create();
  return inflater;
}
function scratchOf(length: number): Buffer {
  if (!scratch || scratch.length < length) scratch = Buffer.allocUnsafeSlow(Math.max(length, CHUNK));
  return scratch;
}

/** Runs one job: the wheel file's sha256 (hex), or nothing once every entry checked out. */
export async function handle(job: VerifyJob): Promise<string | undefined> {
  if (job.kind === "hash") return hashFile(job.path);
  const fd = fs.openSync(job.path, "r");
  try {
    for (const e of job.entries) await checkEntry(fd, job.wheel, e);
  } finally {
    fs.closeSync(fd);
  }
  return undefined;
}

function hashFile(file: string): string {
  const fd = fs.openSync(file, "r");
  try {
    const h = crypto.createHash("sha256");
    const buf = scratchOf(CHUNK).subarray(0, CHUNK);
    for (let pos = 0, n; (n = fs.readSync(fd, buf, 0, CHUNK, pos)) > 0; pos += n) h.update(buf.subarray(0, n));
    return h.digest("hex");
  } finally {
    fs.closeSync(fd);
  }
}

async function checkEntry(fd: number, wheel: string, e: VerifyJobEntry): Promise<void> {
  const entry = { name: e.path, method: e.method, crc32: e.crc32, compressedSize: e.compressedSize, uncompressedSize: e.uncompressedSize };
  const whole = e.compressedSize <= WHOLE && e.uncompressedSize <= WHOLE;
  // One read for the header and, for entries checked whole, the data: a local extra field is rarely longer than 64 bytes.
  const guess = LOCAL_HEADER_SIZE + Buffer.byteLength(e.path) + 64;
  const length = guess + (whole ? e.compressedSize : 0);
  const head = readAt(fd, scratchOf(length), length, e.offset, wheel, LOCAL_HEADER_SIZE);
  const header = parseLocalHeader(head);
  if (!header) throw new IntegrityError(`${wheel}: ${e.path}: no local header at offset ${e.offset}; the wheel is corrupt.`, { code: "ERR_HEADER_MISMATCH" });
  const start = e.offset + header.size;
  const record = new RecordVerifier(wheel, e.record);
  const each = (slice: Buffer) => record.update(slice);
  if (whole) {
    // Inflated size and CRC against the central directory, then RECORD's size and hash.
    const inPlace = header.size + e.compressedSize <= head.length;
    const stored = inPlace ? head.subarray(header.size, header.size + e.compressedSize) : readAt(fd, Buffer.allocUnsafe(e.compressedSize), e.compressedSize, start, wheel);
    const reusing = inflaterOf();
    if (reusing) checkStoredVerified(wheel, entry, stored, reusing, { each });
    else await inflateVerified(wheel, entry, stored, { syncUpTo: Infinity, copy: false, each });
  } else {
    const reusing = inflaterOf();
    const input = scratchOf(VERIFY_PIECE).subarray(0, VERIFY_PIECE);
    await inflateVerifiedPieces(wheel, entry, (position, into) => fs.readSync(fd, into, 0, into.length, start + position), { each, input, ...(reusing ? { inflater: reusing } : {}) });
  }
  record.check();
}

/** `length` bytes at `position` into `buf`, or fewer at the end of the file when at least `atLeast` are there. */
function readAt(fd: number, buf: Buffer, length: number, position: number, wheel: string, atLeast = length): Buffer {
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  if (done < atLeast) throw new IntegrityError(`${wheel}: the file is shorter than its zip directory says (truncated or changed).`, { code: "ERR_SOURCE_CHANGED" });
  return buf.subarray(0, done);
}
