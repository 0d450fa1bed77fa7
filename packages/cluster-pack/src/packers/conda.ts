import { InvalidInputError } from "@cluster-pack/errors";
import { packCondaEnvironment } from "@cluster-pack/conda";
import { checkEnvironmentArchive, prepareEnvironmentArchive } from "./env-archive";
import type { Packer } from "./packer";

/** A conda environment as a relocatable archive (conda-pack's rules, conda-unpack inside). */
export const condaPacker: Packer = {
  name: "conda",
  check(source) {
    const env = checkEnvironmentArchive("conda", source);
    if (env.kind !== "conda") throw new InvalidInputError(`${env.prefix} is not a conda environment (no conda-meta/).`, { optionNames: ["packer"], hint: `use \`packer\` "venv" or "pex".` });
  },
  prepare: (input) => prepareEnvironmentArchive(input, "conda", (env, common) => packCondaEnvironment({ ...common, prefix: env.prefix })),
};
