// Test helpers other packages reuse (`@cluster-pack/fs/test-kit` under jest): a real S3
// server (s3rver), a WebHDFS server (with Kerberos), Azurite, an MIT KDC on loopback, and the adapter conformance suite.
export { startS3Server, type S3Fault, type S3RequestInfo, type TestS3Server } from "./s3-server";
export { startWebHdfsServer, type TestWebHdfsServer, type WebHdfsServerOptions } from "./webhdfs-server";
export { runConformanceSuite, versionBytes, checkVersion, type ConformanceOptions, type ConformanceTarget } from "./conformance";
export { startAzurite, type TestAzurite } from "./azurite-server";
export { startKdc, kdcUnavailableReason, type TestKdc } from "./kdc";
export { freePort, stopChild } from "./child-process";
