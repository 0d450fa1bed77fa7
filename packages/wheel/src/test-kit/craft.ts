// Crafted wheels, as a malicious or broken index would serve them (excluded from the build).
import fs from "node:fs";
import path from "node:path";
import { ZipWriter } from "@cluster-pack/zip";
import { setEntryCrc } from "@cluster-pack/zip/test-kit";
import { formatRecord, recordHash } from "../record";

export interface CraftOptions {
  /** Files besides the .dist-info ones (default: `<name>/__init__.py`). */
  files?: Record<string, string | Buffer>;
  /** METADATA's Name and Version (default: the file name's). */
  metadataName?: string;
  metadataVersion?: string;
  /** WHEEL's Tag lines (default: `py3-none-any`). */
  wheelTags?: string[];
  /** More `.dist-info` directories, each with a METADATA (listed in RECORD too). */
  extraDistInfo?: string[];
  /** Entries whose CRC-32 fields (local and central) are set wrong; RECORD stays right. */
  wrongCrc?: string[];
  /** Entries whose RECORD row has the right size but the hash of the content with its last byte changed. */
  wrongHash?: string[];
  /** Entries written stored (method 0) instead of deflated. */
  stored?: string[];
}

/**
 * Writes `dir/<fileName>` (e.g. `memo-1.0-py3-none-any.whl`): a wheel whose RECORD lists
 * every file with its true hash and size, changed as `options` say. Returns its path.
 */
export async function craftWheel(dir: string, fileName: string, options: CraftOptions = {}): Promise<string> {
  const [dist, version] = fileName.split("-") as [string, string];
  const di = `${dist}-${version}.dist-info`;
  const files: Record<string, string | Buffer> = {
    [`${di}/METADATA`]: `Metadata-Version: 2.1\nName: ${options.metadataName ?? dist}\nVersion: ${options.metadataVersion ?? version}\n`,
    [`${di}/WHEEL`]: `Wheel-Version: 1.0\nGenerator: crafted\nRoot-Is-Purelib: true\n${(options.wheelTags ?? ["py3-none-any"]).map((t) => `Tag: ${t}\n`).join("")}`,
    ...(options.files ?? { [`${dist}/__init__.py`]: `VALUE = ${JSON.stringify(`${dist} ${version}`)}\n` }),
  };
  for (const other of options.extraDistInfo ?? []) files[`${other}/METADATA`] = `Metadata-Version: 2.1\nName: ${other.split("-")[0]}\nVersion: ${other.split("-")[1]!.replace(/\.dist-info$/, "")}\n`;
  const rows = Object.entries(files).map(([p, c]) => ({ path: p, hash: recordHash(options.wrongHash?.includes(p) ? lastByteChanged(c) : c), size: Buffer.byteLength(c) }));
  const w = new ZipWriter();
  for (const [p, c] of Object.entries(files)) w.addBuffer(p, c, options.stored?.includes(p) ? { compress: false } : {});
  w.addBuffer(`${di}/RECORD`, formatRecord([...rows, { path: `${di}/RECORD` }]));
  fs.mkdirSync(dir, { recursive: true });
  const out = path.join(dir, fileName);
  await w.writeTo(out);
  let bytes: Buffer = fs.readFileSync(out);
  for (const name of options.wrongCrc ?? []) bytes = setEntryCrc(bytes, name, 0x0badc0de);
  fs.writeFileSync(out, bytes);
  return out;
}

function lastByteChanged(content: string | Buffer): Buffer {
  const b = Buffer.from(content);
  if (b.length) b[b.length - 1] = b[b.length - 1]! ^ 1;
  return b;
}
