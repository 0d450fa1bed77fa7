export { canonicalizeName, canonicalizeExtra, escapeName, escapeVersion, isValidName, requireValidName } from "./names";
export { Version, InvalidVersionError, parseVersion, compareVersions, sameVersion } from "./version";
export { Specifier, SpecifierSet, InvalidSpecifierError, type Operator } from "./specifiers";
export { Marker, InvalidMarkerError, type MarkerEnvironment, type MarkerValues, type MarkerList, type MarkerCompare, type MarkerOperand } from "./markers";
export { parseRequirement, formatRequirement, InvalidRequirementError, type Requirement } from "./requirement";
export {
  parseTagSet,
  tagToString,
  targetTags,
  platformTags,
  manylinuxPlatforms,
  musllinuxPlatforms,
  macPlatforms,
  TagRanking,
  InvalidTagError,
  type Tag,
  type TagTarget,
} from "./tags";
export {
  checkDistributionFilename,
  parseWheelFilename,
  parseSdistFilename,
  unsafeComponentReason,
  DistributionFilenameError,
  type WheelFilename,
  type SdistFilename,
  type DistributionFilename,
  type ExpectedDistribution,
} from "./filename";
export { HASH_HEX_LENGTHS, STRONG_HASH_ALGORITHMS, isHashAlgorithm, isValidHexDigest, checkHash, checkHashes, InvalidHashError, type HashAlgorithm } from "./hashes";
export { PACKAGING_ERROR_CODES, type PackagingErrorCode } from "./error-codes";
export { ensureAscii } from "./python-json";
