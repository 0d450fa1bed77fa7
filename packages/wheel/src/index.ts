export { parseRecord, formatRecord, recordHash, RecordVerifier, RECORD_ALGORITHMS, type RecordEntry } from "./record";
export {
  parseCoreMetadata,
  parseWheelInfo,
  parseEntryPoints,
  parseEntryPointValue,
  readWheelMetadata,
  type CoreMetadata,
  type WheelInfo,
  type EntryPoints,
  type EntryPointTarget,
  type WheelMetadata,
} from "./metadata";
export { scriptLauncher } from "./scripts";
export {
  installWheel,
  addWheelToZip,
  addRecordRows,
  openWheelReader,
  type WheelInput,
  PEX_CHROOT_SCHEME,
  type InstallScheme,
  type SchemeKey,
  type InstallCommonOptions,
  type InstallWheelOptions,
  type InstalledWheel,
  type AddWheelToZipOptions,
  type ZipInstalledWheel,
  type AddedZipEntry,
  type WheelZipFacts,
} from "./install";
export { WheelPlanCache, addPlannedWheelToZip, type WheelZipPlan, type WheelFileIdentity, type PlanOptions } from "./zip-plan";
export { WheelVerifier, defaultVerifiedWheelsDir, verifiedWheelsDirIn, isVerifiedWheel, type RecordCheck, type WheelVerifierOptions, type WheelVerification } from "./verify";
export { rebuildInstalledWheel, ERR_NOT_REBUILDABLE, type InstalledLayout, type RebuildInstalledOptions, type RebuiltWheel } from "./rebuild-installed";
export { WHEEL_ERROR_CODES, type WheelErrorCode } from "./error-codes";
