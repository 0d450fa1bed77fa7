export {
  findEnvironment,
  readInstalledDistributions,
  getEditableRequirements,
  type InstalledEnvironment,
  type InstalledDistribution,
  type EditableInstall,
  type DirectUrl,
  type FindEnvironmentOptions,
} from "./environment";
export { applyPackageEdits, type PackageEdits, type EditedPackages } from "./edits";
export { getUser, getEnvName, getDefaultFs, defaultPackagePath, sidecarPath, type NamingOptions } from "./naming";
export { lockHash, makeSidecar, parseSidecar, serializeSidecar, isSidecarUpToDate, type Sidecar, type LockDescription } from "./sidecar";
export { zipPath, type ZipPathOptions, type ZipPathResult } from "./zip-path";
export { addPackagedEnvironment, addEditableRequirements, addS3Params, pysparkEnvironment, type SparkConfInput, type SparkHelperOptions } from "./spark";
export type { PackerName, UploadPhase, UploadProgress, EditableArchive, UploadEnvResult } from "./types";
export { uploadEnv, defaultCacheDir, LOCK_METADATA_KEY, type UploadEnvOptions } from "./upload-env";
export { uploadZip, readPexHash, type UploadZipOptions, type UploadZipResult } from "./upload-zip";
export type { StoreOptions } from "./store";
export type { TargetOptions, IndexOptions, PexOptions } from "./packers/index";
export { CLUSTER_PACK_ERROR_CODES, type ClusterPackErrorCode } from "./error-codes";
export { gc, parseDuration, DEFAULT_GC_GRACE_MS, type GcOptions, type GcResult, type GcLayer } from "./gc";
export { diffEnvironments, inspectLocation, type DiffOptions } from "./diff";
export { publishLayers, defaultLayerStoreUrl, fetchLayers, environmentLayers, type PublishedLayer, type LocalLayer, type FetchedLayer, type FetchLayersOptions } from "./layers";
