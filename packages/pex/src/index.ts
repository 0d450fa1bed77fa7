export { parsePexInfo, formatPexInfo, pexInfoToJson, computePexHash, pythonJsonDumps, pexLayers, LAYER_FILE_NAME, type PexInfo, type PexLayer, type InheritPath } from "./pex-info";
export { LocalLayerStore, defaultLayerStore, layerStoreIn, layerFileName, layerNameSha256, type StoredLayer } from "./layers";
export { openPex, openPexSource, readPexInfo, locateLastZip, depsArchive, type OpenedPex, type PexLayoutKind } from "./archive";
/** Re-exported from @cluster-pack/zip (where it lives), for callers that imported it from here. */
export { sliceSource } from "@cluster-pack/zip";
export {
  PexBuilder,
  buildPex,
  contentHash,
  CLUSTER_PACK_PEX_VERSION,
  validateBytecodeOptions,
  type PexBuilderOptions,
  type PexBuildOptions,
  type PexBuildResult,
  type PexWheel,
  type PexLayout,
} from "./builder";
export { inspectPex, inspectPexSource, verifyPex, type PexInspection, type PexVerification, type PexDistribution, type SizeFacts, type InspectOptions } from "./inspect";
export { BOOTSTRAP_PACKAGE, RUNTIME_DIR, bootstrapFiles, mainStub } from "./runtime";
export { diffPex, type PexDiff, type DiffSide } from "./diff";
export { PEX_ERROR_CODES, type PexErrorCode } from "./error-codes";
