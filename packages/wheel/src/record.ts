import { createHash } from "node:crypto";
import { IntegrityError } from "@cluster-pack/errors";

/** One row of a RECORD file. */
export interface RecordEntry {
  path: string;
  /** `sha256=<urlsafe-b64-nopad>`, or undefined for RECORD itself and signatures. */
  hash?: string;
  size?: number;
}

/**
 * Parses a RECORD file (CSV as Python's csv module writes it: comma separated, fields
 * with commas/quotes/newlines quoted with `"` and quotes doubled). `source` names the
 * wheel in errors.
 */
export function parseRecord(text: string, source = "RECORD"): RecordEntry[] {
  const rows = parseCsv(text);
  const out: RecordEntry[] = [];
  for (const [i, row] of rows.entries()) {
    if (row.length === 1 && row[0] === "") continue;
    if (row.length < 1 || row.length > 3 || !row[0]) {
      throw new IntegrityError(`${source}: RECORD line ${i + 1} is malformed (expected path,hash,size).`, { hint: "rebuild the wheel." });
    }
    const entry: RecordEntry = { path: row[0] };
    const hash = row[1] ?? "";
    const size = row[2] ?? "";
    if (hash) {
      if (!/^[A-Za-z0-9_]+=[A-Za-z0-9_-]*=*$/.test(hash)) {
        throw new IntegrityError(`${source}: RECORD line ${i + 1} has a malformed hash "${hash}" for ${row[0]}.`);
      }
      entry.hash = hash;
    }
    if (size) {
      if (!/^\d+$/.test(size)) throw new IntegrityError(`${source}: RECORD line ${i + 1} has a malformed size "${size}" for ${row[0]}.`);
      entry.size = Number(size);
    }
    out.push(entry);
  }
  return out;
}

/** Writes RECORD rows the way Python's csv module does (and pip/installer do), `\n` line ends. */
export function formatRecord(entries: readonly RecordEntry[]): string {
  return entries.map((e) => [e.path, e.hash ?? "", e.size === undefined ? "" : String(e.size)].map(csvField).join(",")).join("\n") + (entries.length ? "\n" : "");
}

/** `sha256=<urlsafe base64 without padding>` of `data`, the RECORD hash form. */
export function recordHash(data: Buffer | string, algorithm = "sha256"): string {
  return `${algorithm}=${toUrlsafeNoPad(createHash(algorithm).update(data).digest())}`;
}

/** Hash algorithms a RECORD may use; weaker ones (md5, sha1) are refused as PEP 427 says. */
export const RECORD_ALGORITHMS = new Set(["sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512", "blake2b", "blake2s"]);

/** Streaming hasher for one RECORD entry; `check` throws IntegrityError naming wheel and file. */
export class RecordVerifier {
  private readonly hasher;
  private readonly algorithm: string;
  private size = 0;

  constructor(
    private readonly wheel: string,
    private readonly entry: RecordEntry,
  ) {
    const algorithm = entry.hash?.split("=", 1)[0] ?? "sha256";
    if (!RECORD_ALGORITHMS.has(algorithm)) {
      throw new IntegrityError(`${wheel}: RECORD uses the hash algorithm "${algorithm}" for ${entry.path}, which PEP 427 forbids or this installer does not know.`, { hint: "rebuild the wheel with sha256." });
    }
    this.algorithm = algorithm;
    this.hasher = createHash(nodeAlgorithm(algorithm));
  }

  update(chunk: Buffer): void {
    this.size += chunk.length;
    this.hasher.update(chunk);
  }

  /** The digest in RECORD form (`sha256=...`). */
  digest(): string {
    return `${this.algorithm}=${toUrlsafeNoPad(this.hasher.digest())}`;
  }

  check(): { hash: string; size: number } {
    const hash = this.digest();
    if (this.entry.size !== undefined && this.entry.size !== this.size) {
      throw new IntegrityError(`${this.wheel}: ${this.entry.path} is ${this.size} bytes but RECORD says ${this.entry.size}; the wheel is corrupt or was tampered with.`);
    }
    if (this.entry.hash !== undefined && stripPad(this.entry.hash) !== hash) {
      throw new IntegrityError(`${this.wheel}: ${this.entry.path} does not match its RECORD hash (${this.entry.hash} expected, ${hash} found); the wheel is corrupt or was tampered with.`);
    }
    return { hash, size: this.size };
  }
}

// RECORD hashes are urlsafe base64 "with trailing = removed"; tolerate writers that kept it.
function stripPad(hash: string): string {
  return hash.replace(/=+$/, "");
}

function toUrlsafeNoPad(buf: Buffer): string {
  return buf.toString("base64url");
}

function nodeAlgorithm(a: string): string {
  return a.startsWith("sha3_") ? a.replace("_", "-") : a === "blake2b" ? "blake2b512" : a === "blake2s" ? "blake2s256" : a;
}

function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

// The small CSV dialect of RECORD; hand-written because it is ~30 lines and a CSV
// dependency would be the only one of this package.
function parseCsv(text: string): string[][] {
  // Fast path for the usual RECORD (no quoted fields): the same rows, far less per-char work.
  if (!text.includes('"')) {
    const lines = text.split(/\r\n|\r|\n/);
    if (lines[lines.length - 1] === "") lines.pop();
    return lines.map((l) => l.split(","));
  }
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += c;
      i++;
      continue;
    }
    if (c === '"' && field === "") quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      if (c === "\r" && text[i + 1] === "\n") i++;
    } else field += c;
    i++;
  }
  if (field !== "" || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
