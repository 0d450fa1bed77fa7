export { writeWheel, writeSdist, writeCliFixture, wheelFilename, sdistFilename, metadataText, type FakeDist } from "./wheels";
export { MemoryIndex, type MemoryDist, type MemoryIndexOptions } from "./memory-index";
export { MemoryDependencyProvider, type MemoryVersions } from "./memory-provider";
export { startIndexServer, type IndexServer, type IndexServerOptions, type ServedFile } from "./index-server";
export { startStaticServer } from "./static-server";
