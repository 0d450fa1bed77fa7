export { type RandomAccessSource, type HttpRangeSourceOptions, OutOfRangeError, fileSource, bufferSource, sliceSource, httpRangeSource } from "./source";
export { type ZipEntry, type ZipReadOptions, type RawSpan, ZipReader } from "./reader";
export { type ExtractOptions } from "./extract";
export { type ZipEntryOptions, type ZipWriterOptions, type ZipWriteResult, type ZipWriteOptions, type PrecompressedEntry, ZipWriter, entryDeflateOptions } from "./writer";
export { normalizeMode, crc32, isSafeEntryName } from "./names";
export { type CentralDirectoryLocation, locateCentralDirectory } from "./directory";
export { type ZipVerification, type VerifyZipOptions, verifyZip, isShebangLine } from "./verify";
export { type PeekedEntry, type PeekOptions, type ReadPeekedOptions, peekEntries, readPeekedEntry } from "./peek";
export { type WorkerPoolOptions, type WorkerErrorDetail, WorkerPool } from "./worker-pool";
