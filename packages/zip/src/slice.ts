import { IntegrityError } from "@cluster-pack/errors";
import type { RandomAccessSource } from "./source";

/**
 * The bytes `[start, start + length)` of `source` as a source of their own: how a zip that
 * does not start at byte 0 is read (an archive glued after a prefix, each zip of a split
 * PEX). Reads outside the window are refused (ERR_OUT_OF_BOUNDS), so nothing read through
 * it can reach the bytes around it. Closing it does not close `source`.
 */
export function sliceSource(source: RandomAccessSource, start: number, length: number): RandomAccessSource {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(length) || start < 0 || length < 0 || start + length > source.size) {
    throw new IntegrityError(`${source.name}: the range of ${length} bytes at ${start} is outside the file (${source.size} bytes).`, { code: "ERR_OUT_OF_BOUNDS" });
  }
  const check = (offset: number, len: number) => {
    if (offset < 0 || len < 0 || offset + len > length) {
      throw new IntegrityError(`${source.name}: read of ${len} bytes at ${offset} past the end of the archive window (${length} bytes at ${start}).`, { code: "ERR_OUT_OF_BOUNDS" });
    }
  };
  const readSync = source.readSync;
  const createReadStream = source.createReadStream;
  return {
    name: source.name,
    size: length,
    ...(source.preferredReadSize !== undefined ? { preferredReadSize: source.preferredReadSize } : {}),
    read: async (offset, len, signal) => {
      check(offset, len);
      return source.read(start + offset, len, signal);
    },
    ...(createReadStream
      ? {
          createReadStream: (offset: number, len: number, signal?: AbortSignal) => {
            check(offset, len);
            return createReadStream.call(source, start + offset, len, signal);
          },
        }
      : {}),
    ...(readSync
      ? {
          readSync: (offset: number, len: number, into?: Buffer) => {
            check(offset, len);
            return readSync.call(source, start + offset, len, into);
          },
        }
      : {}),
  };
}
