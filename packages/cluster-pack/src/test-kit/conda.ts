/**
 * @cluster-pack/conda's test kit (a realistic conda env built without conda), typed for
 * this package's tests; it is not part of @cluster-pack/conda's exports, so it is
 * required through jest's workspace mapping.
 */
export interface CondaEnvKit {
  root: string;
  prefix: string;
  pythonVersion: string;
}

interface Kit {
  makeCondaEnv(options: { root: string; envName?: string; pipPackage?: string | false }): CondaEnvKit;
  findKitInterpreter(): { python: string; version: string; home: string } | null;
  extractArchive(archive: string, dest: string): void;
}

export function condaKit(): Kit {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("@cluster-pack/conda/test-kit") as Kit;
}
