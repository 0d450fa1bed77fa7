export { type RandomAccessSource, OutOfRangeError, checkRange, fileSource, bufferSource, sliceSource, withSignal } from "./source";
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
export { type ForEachLimitOptions, Limiter, forEachLimit } from "./limiter";
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
} from "./temp";
export { type FileIdentity, FileIdentityRecords, sha256File } from "./identity";
