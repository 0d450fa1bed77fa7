// Test helpers every package's tests share (`@cluster-pack/io/test-kit`, built and
// published): HTTP(S) servers on loopback that record what they received, a self-signed
// certificate, the one finder of Python interpreters (pyenv's and the system's), real wheels
// from the configured pip index, and `ensureBuilt` for this repository's tests that run built code.
export { startHttpServer, selfSignedCert, ensureBuilt, type TestHttpServer, type SeenRequest, type SelfSignedCert } from "./servers";
export { pythonInterpreters, pythonInterpreter, pythonMatrix, findPython, pythonRuns, which, SYSTEM_PYTHON, type PythonInterpreter } from "./pythons";
export { downloadWheels, realWheel, wheelCacheDir, pipIndexArgs, pipIndexUnavailable } from "./wheels";
