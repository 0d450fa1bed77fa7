export * from "./errors";
export * from "./filesystem";
export { LocalFileSystem } from "./adapters/local";
export { MemoryFileSystem, type MemoryFileSystemOptions } from "./adapters/memory";
export { WebHdfsFileSystem, type WebHdfsOptions, type WebHdfsDelegationToken } from "./adapters/webhdfs";
export { SpnegoClient, KerberosError, KERBEROS_PACKAGE, type KerberosLogin, type KerberosFailure, type SpnegoExchange } from "./kerberos";
export {
  decodeHadoopToken,
  encodeHadoopToken,
  parseDelegationTokenIdentifier,
  encodeDelegationTokenIdentifier,
  hadoopTokenFile,
  parseHadoopTokenFile,
  hdfsTokenServices,
  selectHdfsToken,
  type HadoopToken,
  type DelegationTokenIdentifier,
} from "./hadoop-token";
export { HttpFileSystem, type HttpFileSystemOptions } from "./adapters/http";
export { loadHadoopConfig, parseHadoopXml, resolveViewFs, webHdfsEndpointFor, type HadoopConfig, type WebHdfsEndpoint } from "./hadoop-config";
export { resolveFileSystem, publish, isUpToDate, openRandomAccess, type ResolveOptions, type ResolvedLocation } from "./resolve";
// The retry policy is @cluster-pack/io's (one for the whole project), re-exported for adapters' options.
export { withRetry, isTransientError, type RetryOptions } from "@cluster-pack/io";
// The S3 adapter itself is `@cluster-pack/fs/s3` (loaded lazily by resolveFileSystem: the AWS SDK is heavy).
export type { S3FileSystemOptions } from "./s3";
// The Azure adapter is `@cluster-pack/fs/azure` (loaded lazily by resolveFileSystem: @azure/storage-blob is optional).
export type { AzureBlobFileSystemOptions, AzureScheme, AzureTokenCredential } from "./azure";
export { FS_ERROR_CODES, type FsErrorCode } from "./error-codes";
