import { InvalidInputError } from "@cluster-pack/errors";
import { packVenv } from "@cluster-pack/conda";
import { checkEnvironmentArchive, prepareEnvironmentArchive } from "./env-archive";
import type { Packer } from "./packer";

/** A virtualenv as a relocatable archive (venv-pack's rules, no fix-up step on the target). */
export const venvPacker: Packer = {
  name: "venv",
  check(source) {
    const env = checkEnvironmentArchive("venv", source);
    if (env.kind !== "venv") throw new InvalidInputError(`${env.prefix} is not a virtualenv (no pyvenv.cfg).`, { optionNames: ["packer"], hint: `use \`packer\` "conda" or "pex".` });
  },
  prepare: (input) => prepareEnvironmentArchive(input, "venv", (env, common) => packVenv({ ...common, prefix: env.prefix, ignoreEditablePackages: input.includeEditable })),
};
