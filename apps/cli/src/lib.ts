/* eslint-disable @typescript-eslint/no-require-imports -- loading on first use is the point of this file */
/**
 * The libraries behind the commands, each loaded the first time a command calls for it:
 * `cluster-pack --help` (and every command's `--help`) costs Node and commander only.
 * Command modules import these packages as types (`import type`, erased at build) and
 * reach their code through here, inside their actions.
 */
export const lib = {
  pip: (): typeof import("@cluster-pack/pip") => require("@cluster-pack/pip"),
  pex: (): typeof import("@cluster-pack/pex") => require("@cluster-pack/pex"),
  conda: (): typeof import("@cluster-pack/conda") => require("@cluster-pack/conda"),
  zip: (): typeof import("@cluster-pack/zip") => require("@cluster-pack/zip"),
  fs: (): typeof import("@cluster-pack/fs") => require("@cluster-pack/fs"),
  io: (): typeof import("@cluster-pack/io") => require("@cluster-pack/io"),
  engines: (): typeof import("@cluster-pack/engines") => require("@cluster-pack/engines"),
  clusterPack: (): typeof import("cluster-pack") => require("cluster-pack"),
};
