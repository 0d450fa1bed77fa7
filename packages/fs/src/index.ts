export * from "./errors";
export * from "./filesystem";
export { LocalFileSystem } from "./adapters/local";
export { MemoryFileSystem, type MemoryFileSystemOptions } from "./adapters/memory";
export { withRetry, isTransientError, type RetryOptions } from "./retry";
export type { S3FileSystemOptions } from "./s3";
