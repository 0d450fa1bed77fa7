// Test helpers other packages reuse (`@cluster-pack/io/test-kit` under jest): HTTP(S)
// servers on loopback that record what they received, a self-signed certificate, and
// `ensureBuilt` for tests that run built code in child processes.
export { startHttpServer, selfSignedCert, ensureBuilt, type TestHttpServer, type SeenRequest, type SelfSignedCert } from "./servers";
