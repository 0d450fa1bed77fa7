import { InvalidInputError } from "@cluster-pack/errors";
import type { PackerName } from "../types";
import { condaPacker } from "./conda";
import type { Packer } from "./packer";
import { pexPacker } from "./pex";
import { venvPacker } from "./venv";

export type { ArchiveBuild, BuiltArchive, IndexOptions, Packer, PackerSource, PexOptions, PrepareInput, TargetOptions } from "./packer";

/** Every packer by name: uploadEnv's `packer` option. */
export const PACKERS: Readonly<Record<PackerName, Packer>> = { pex: pexPacker, conda: condaPacker, venv: venvPacker };

/** The packer called `name`, or a clear error naming the choices. */
export function packerFor(name: string): Packer {
  const packer = (PACKERS as Record<string, Packer | undefined>)[name];
  if (!packer) throw new InvalidInputError(`Unknown packer "${name}".`, { optionNames: ["packer"], hint: `use ${Object.keys(PACKERS).map((n) => `"${n}"`).join(", ")} (\`packer\`).` });
  return packer;
}
