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
export { explicitTarget, probeInterpreter, resolveTarget, rankingFor, type TargetEnvironment, type ExplicitTargetOptions, type ProbeOptions } from "./target";
export { loadPipConfig, parseIni, DEFAULT_INDEX_URL, type PipSettings, type PipConfigOptions } from "./config";
export { HttpClient, NetworkError, parseNetrc, type HttpClientOptions, type FetchTextResult } from "./http";
export { SimpleIndex, FindLinks, parseProjectPage, type DistributionFile, type PackageSource } from "./simple-index";
export { MetadataFetcher, toDistributionMetadata, type DistributionMetadata, type MetadataOrigin } from "./metadata";
export { PackageFinder, requiresPythonOk, type Candidate, type CandidateReport, type CandidateFinder, type MetadataSource, type FinderOptions } from "./finder";
export { resolve, ResolutionImpossibleError, numberLines, type Resolution, type ResolvedPackage, type ResolveOptions } from "./resolver";
export { explainDerivation, buildDerivation, type Derivation, type DerivationNode, type DerivationTerm, type DerivationKind, type DerivationWords } from "./pubgrub/report";
export { solve, type SolveResult, type SolveOptions } from "./pubgrub/solver";
export type { DependencyProvider, Dependencies, Dependency, Constraint, PendingPackage, SolutionView } from "./pubgrub/provider";
export type { Incompatibility, Cause } from "./pubgrub/incompatibility";
export { fullSet, versionSet, countVersions, type Term } from "./pubgrub/term";
export { readRequirementsFile, parseRequirementArgs, parseRequirementLine, emptyRequirementsInput, type RequirementsInput, type SourcedRequirement, type ReadRequirementsOptions } from "./reqfile";
export { DistributionCache, defaultCacheDir, placeFile, type CachedFile } from "./cache";
export { PipSession, resolveRequirements, resolveAndDownload, type PipSessionOptions, type DownloadedDistribution } from "./session";
export { lockFromResolution, formatPyLock, writePyLock, readPyLock, selectFromLock, fetchLocked, targetMarker, type PyLock, type LockedPackage, type LockedFile, type LockedSelection } from "./pylock";
export { readStaticSdistMetadata } from "./sdist";
export { installDistributions, prefixScheme, type InstallTreeOptions } from "./install";
export { SdistBuilder, findPython, unpackSdist, type SdistBuilderOptions, type BuildDependencyInstaller, type BuiltWheel } from "./build";
