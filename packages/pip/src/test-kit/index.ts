export { writeWheel, writeSdist, writeCliFixture, wheelFilename, metadataText, type FakeDist } from "./wheels";
export { startIndexServer, type IndexServer, type IndexServerOptions, type ServedFile } from "./index-server";
export { startStaticServer } from "./static-server";
