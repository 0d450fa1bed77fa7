export { canonicalizeName, canonicalizeExtra, isValidName, requireValidName } from "./names";
export { Version, InvalidVersionError, parseVersion, compareVersions } from "./version";
export { Specifier, SpecifierSet, InvalidSpecifierError, type Operator } from "./specifiers";
export {
  Marker,
  InvalidMarkerError,
  InvalidRequirementError,
  parseRequirement,
  formatRequirement,
  type MarkerEnvironment,
  type MarkerValues,
  type MarkerList,
  type MarkerCompare,
  type Requirement,
} from "./markers";
export {
  parseTagSet,
  parseWheelFilename,
  parseSdistFilename,
  platformTags,
  manylinuxPlatforms,
  macPlatforms,
  targetTags,
  tagToString,
  TagRanking,
  type Tag,
  type TagTarget,
  type WheelFilename,
} from "./tags";
