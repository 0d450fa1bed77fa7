export { type RandomAccessSource, type HttpRangeSourceOptions, OutOfRangeError, fileSource, bufferSource, sliceSource, httpRangeSource } from "./source";
export { type ZipEntry, type ZipReadOptions, type ExtractOptions, ZipReader } from "./reader";
export { type ZipEntryOptions, type ZipWriterOptions, type ZipWriteResult, type ZipWriteOptions, type PrecompressedEntry, type RawSpan, ZipWriter, entryDeflateOptions } from "./writer";
export { normalizeMode, crc32, isSafeEntryName } from "./names";
export { type PeekedEntry, type PeekOptions, type ReadPeekedOptions, peekEntries, readPeekedEntry } from "./peek";
export { type WorkerPoolOptions, type WorkerErrorDetail, WorkerPool } from "./worker-pool";
