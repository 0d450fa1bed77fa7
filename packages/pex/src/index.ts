export { parsePexInfo, formatPexInfo, pexInfoToJson, computePexHash, pythonJsonDumps, type PexInfo, type InheritPath } from "./pex-info";
export { openPex, readPexInfo, locateLastZip, sliceSource, depsArchive, type OpenedPex, type PexLayoutKind } from "./archive";
export {
  PexBuilder,
  buildPex,
  contentHash,
  CLUSTER_PACK_PEX_VERSION,
  type PexBuilderOptions,
  type PexBuildOptions,
  type PexBuildResult,
  type PexWheel,
  type PexLayout,
} from "./builder";
export { inspectPex, verifyPex, type PexInspection, type PexVerification } from "./inspect";
export { BOOTSTRAP_PACKAGE, RUNTIME_DIR, bootstrapFiles, mainStub } from "./runtime";
