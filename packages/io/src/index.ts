export { type RandomAccessSource, OutOfRangeError, checkRange, fileSource, bufferSource, sliceSource, withSignal, unreadableFile } from "./source";
export { locationScheme } from "./location";
export { defaultCacheRoot } from "./cache-root";
export { type HttpRangeSourceOptions, httpRangeSource } from "./http-range";
export {
  type HttpRequestOptions,
  type HttpResponse,
  type HttpTransport,
  type FollowOptions,
  HttpTimeoutError,
  HttpStatusError,
  RedirectRefusedError,
  httpRequest,
  httpRequestFollowing,
  httpGet,
  retryingTransport,
  responseHeader,
  readBody,
  discardBody,
  splitUrlCredentials,
  basicAuthorization,
} from "./http";
export { type RetryOptions, DEFAULT_RETRY, withRetry, retryDelay, parseRetryAfter, sleep, isTransientError, isTransientStatus } from "./retry";
export { type FileIdentity, RACY_NS, fileIdentity, identityOf, stillIdentical, hashFile, sha256File, shardedPath, DigestMemo, IdentitySetMemo } from "./identity";
export { decodeFileName, encodeFileName, hasRawBytes, fsPath, showFileName, isPathInside, toPosix } from "./fs-names";
export { type ForEachLimitOptions, Limiter, forEachLimit, settleAll } from "./limiter";
export {
  type PublishOptions,
  type TempContext,
  publishFile,
  withTempFile,
  publishDirectory,
  writeFileAtomic,
  writeFileAtomicSync,
  moveIntoPlace,
  makeTempDir,
  withTempDir,
  removeTemp,
  tempPath,
  tempSiblingName,
  parseTempName,
  isStaleTemp,
  sweepStaleTemps,
  trackTemp,
  removeLiveTempsSync,
  liveTemps,
  isNoSpaceError,
  describeWriteError,
  outputExistsError,
} from "./temp";
export { IO_ERROR_CODES, type IoErrorCode } from "./error-codes";
