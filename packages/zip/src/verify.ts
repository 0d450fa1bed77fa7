import { IntegrityError, throwIfAborted } from "@cluster-pack/errors";
import { locateCentralDirectory } from "./directory";
import { ZipReader, type ZipReadOptions } from "./reader";
import { sliceSource } from "./source";
import type { RandomAccessSource } from "./source";

/** What `verifyZip` checked. */
export interface ZipVerification {
  archive: string;
  size: number;
  /** The zips of the file, first to last: one, or several glued one after another (a split PEX's bulk and boot zips). */
  zips: { start: number; end: number; entries: number; bytes: number }[];
  /** Bytes before the first zip: 0, or the length of a `#!` line. */
  prefixLength: number;
  /** Entries and inflated bytes checked, over all zips. */
  entries: number;
  bytes: number;
}

export interface VerifyZipOptions extends Pick<ZipReadOptions, "maxEntries" | "maxEntrySize" | "maxTotalSize"> {
  signal?: AbortSignal;
  /** Called after each entry is read. */
  onEntry?: () => void;
}

/** Most zips glued one after another that verifyZip follows. */
const MAX_ZIPS = 16;

/**
 * Checks every byte of a file made of zips: the last zip, and when the bytes before it
 * end with an end record, the zip they hold, and so on (a split PEX is its bulk archive
 * followed by its boot zip); before the first one, nothing or a `#!` line. Each zip must
 * pass `ZipReader.open` and `checkLayout` (the central directory accounts for every byte:
 * no hidden, unlisted or overlapping data) and each entry must read back with its
 * declared size and CRC. Throws IntegrityError on the first problem.
 */
export async function verifyZip(source: RandomAccessSource, options: VerifyZipOptions = {}): Promise<ZipVerification> {
  const { signal, onEntry, ...limits } = options;
  const zips: ZipVerification["zips"] = [];
  let end = source.size;
  for (;;) {
    throwIfAborted(signal);
    const view = end === source.size ? source : sliceSource(source, 0, end);
    const reader = await ZipReader.open(view, { ...limits, signal, keepSourceOpen: true });
    let bytes = 0;
    try {
      await reader.checkLayout({ signal });
      for (const entry of reader.entries) {
        for await (const chunk of (await reader.openEntryStream(entry, { signal })) as AsyncIterable<Buffer>) bytes += chunk.length;
        onEntry?.();
      }
    } finally {
      await reader.close();
    }
    const start = reader.prefixLength;
    zips.unshift({ start, end, entries: reader.entries.length, bytes });
    if (start === 0) break;
    const prefix = await source.read(0, Math.min(start, SHEBANG_MAX + 1), signal);
    if (start <= SHEBANG_MAX && isShebangLine(prefix)) break;
    if (zips.length >= MAX_ZIPS || !(await endsWithZip(source, start, signal))) {
      throw new IntegrityError(
        `${source.name}: the ${start} bytes before the first entry of the zip at offset ${start} are neither a "#!" line nor another zip archive: unlisted data, which some readers may take for entries. The file is corrupt or crafted.`,
        { code: "ERR_UNLISTED_DATA" },
      );
    }
    end = start;
  }
  return {
    archive: source.name,
    size: source.size,
    zips,
    prefixLength: zips[0]!.start,
    entries: zips.reduce((n, z) => n + z.entries, 0),
    bytes: zips.reduce((n, z) => n + z.bytes, 0),
  };
}

/** The longest `#!` line accepted before a zip (Linux reads at most 256 bytes of it). */
const SHEBANG_MAX = 4096;

/**
 * True when `bytes` are exactly one `#!` line, as a zipapp or PEX starts: `#!`, no NUL, one
 * `\n`, at the end. The only prefix a verified archive may carry before its first zip.
 */
export function isShebangLine(bytes: Buffer): boolean {
  if (bytes.length < 3 || bytes.length > SHEBANG_MAX || bytes[0] !== 0x23 || bytes[1] !== 0x21 || bytes[bytes.length - 1] !== 0x0a) return false;
  return bytes.indexOf(0x0a) === bytes.length - 1 && bytes.indexOf(0) < 0;
}

/**
 * True when `source[0, end)` ends with a zip's end record, so it is read as a zip (whose
 * problems, if any, the next round reports); false when there is no end record.
 */
async function endsWithZip(source: RandomAccessSource, end: number, signal?: AbortSignal): Promise<boolean> {
  try {
    await locateCentralDirectory(sliceSource(source, 0, end), signal);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_NOT_A_ZIP") return false;
    return true;
  }
}
