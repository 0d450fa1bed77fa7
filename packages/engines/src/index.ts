export {
  pythonEnvironment,
  codePythonPath,
  shippedResources,
  guessKind,
  baseName,
  DEFAULT_ENV_ALIAS,
  type EnvironmentKind,
  type PythonEnvironment,
  type PythonEnvironmentOptions,
  type ShippedResource,
  type PexRootMode,
} from "./environment";
export { toS3a, toS3, urlScheme, hadoopFsRoot } from "./uri";
export { shellQuote, shellJoin, shellExports } from "./shell";
export {
  sparkConfigFor,
  clusterManagerOf,
  s3aConf,
  pysparkEnv,
  s3SettingsFromEnv,
  kerberosConf,
  type SparkKerberosOptions,
  type SparkConfig,
  type SparkConfigOptions,
  type SparkClusterManager,
  type SparkDeployMode,
  type S3Settings,
} from "./spark/conf";
export {
  mergeSparkConf,
  parseSparkDefaults,
  parseConfArgs,
  redactSparkConf,
  isSecretKey,
  splitList,
  localisedName,
  LIST_KEYS,
  type ConflictPolicy,
  type MergeResult,
  type SparkConfEntries,
} from "./spark/merge";
export { sparkSubmitArgv, sparkDefaultsLines, sparkSessionBuilderSnippet, type RenderOptions, type SparkSubmitOptions } from "./spark/render";
export { azureConf, azureLocation, type AzureSettings, type AzureLocation } from "./spark/azure";
export { DOCUMENTED_SPARK_KEYS, DOCUMENTED_S3A_KEYS, DOCUMENTED_AZURE_KEYS, isDocumentedSparkKey, documentedSourceOf, type DocumentedKey } from "./spark/documented-keys";
export {
  tfConfigFor,
  tfConfigsForCluster,
  tfConfigEnv,
  validateTfCluster,
  type TfStrategy,
  type TfTaskType,
  type TfCluster,
  type TfTask,
  type TfConfig,
} from "./tensorflow";
export { torchDistributedEnv, torchProcessEnv, type TorchDistributedOptions, type TorchProcessEnv } from "./torch";
export {
  skeinSpecFor,
  skeinSpecYaml,
  skeinSpecJson,
  pythonModuleCommand,
  containerEnv,
  type SkeinFile,
  type SkeinResources,
  type SkeinServiceOptions,
  type SkeinKerberosOptions,
  type SkeinSpecOptions,
  type SkeinApplicationSpec,
  type SkeinServiceSpec,
  type SkeinSubmission,
} from "./skein";
export {
  daskCommands,
  daskYarnClusterKwargs,
  daskYarnSnippet,
  daskSkeinSpec,
  type ProcessLaunch,
  type DaskCommandOptions,
  type DaskYarnOptions,
  type DaskYarnClusterKwargs,
  type DaskSkeinOptions,
} from "./dask";
export { rayRuntimeEnvFor, rayStartCommand, type RayRuntimeEnv, type RayRuntimeEnvOptions, type RayStartOptions } from "./ray";
export { ENGINES_ERROR_CODES, type EnginesErrorCode } from "./error-codes";
