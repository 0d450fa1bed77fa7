import { promises as fsp } from "node:fs";
import path from "node:path";
import { InvalidInputError } from "@cluster-pack/errors";
import { formatFromName, type PackResult } from "@cluster-pack/conda";
import { sha256File } from "@cluster-pack/io";
import type { InstalledEnvironment } from "../environment";
import type { LockDescription } from "../sidecar";
import type { ArchiveBuild, PackerSource, PrepareInput } from "./packer";

/**
 * What the conda and venv packers share: the archive is the environment itself, packed
 * file for file (relocatable), so the lock is every installed distribution (and, for
 * conda, every package record), and package edits cannot apply.
 */
export function checkEnvironmentArchive(packer: "conda" | "venv", source: PackerSource): InstalledEnvironment {
  const env = source.installed;
  if (!env) {
    throw new InvalidInputError(`The ${packer} packer packs an installed environment.`, { optionNames: ["env", "packer"], hint: `pass \`env\` (a prefix) instead of requirements, or use \`packer\` "pex".` });
  }
  if (source.hasEdits) {
    throw new InvalidInputError(
      `The ${packer} packer packs ${env.prefix} as it is, so package edits (\`additionalPackages\`/\`ignoredPackages\`/\`onlyPackages\`) cannot be applied.`,
      { optionNames: ["additionalPackages", "ignoredPackages", "onlyPackages", "packer"], hint: 'install or remove the packages in the environment, or use `packer` "pex".' },
    );
  }
  return env;
}

/** The plan of an environment archive; `pack` writes it (conda-pack's or venv-pack's rules). */
export async function prepareEnvironmentArchive(
  input: PrepareInput,
  packer: "conda" | "venv",
  pack: (env: InstalledEnvironment, common: { output: string; format: string; signal: AbortSignal | undefined; onProgress: (p: { phase: "scan" | "write"; done: number; total: number }) => void; force: true }) => Promise<PackResult>,
): Promise<ArchiveBuild> {
  const env = input.installed!;
  const format = input.packagePath ? formatFromName(input.packagePath) : "tar.gz";
  if (!format) {
    throw new InvalidInputError(
      `\`packagePath\` ${input.packagePath} has no archive extension the ${packer} packer writes.`,
      { optionNames: ["packagePath"], hint: "use .tar.gz, .tgz, .zip, .tar, .tar.bz2, .tar.xz or .tar.zst." },
    );
  }
  const extension = input.packagePath ? archiveExtension(input.packagePath) : "tar.gz";
  const requirements = input.dists.map((d) => `${d.normalizedName}==${d.version}${d.editable ? " (editable)" : ""}`);
  const records = env.kind === "conda" ? (await fsp.readdir(path.join(env.prefix, "conda-meta"))).filter((f) => f.endsWith(".json")).sort() : [];
  const lock: LockDescription = {
    requirements,
    platform: `${process.platform}_${process.arch}`,
    pythonVersion: env.pythonVersion,
    packer,
    extra: { format, prefix: env.prefix, condaRecords: records },
  };
  return {
    lock,
    extension,
    kind: packer,
    async build(output) {
      const onProgress = (p: { phase: "scan" | "write"; done: number; total: number }) =>
        input.onProgress?.({ phase: "build", done: p.done, total: p.total, unit: "items", detail: p.phase });
      // The archive is built in a fresh work directory: nothing to protect from replacing.
      const result = await pack(env, { output, format, signal: input.signal, onProgress, force: true });
      return { sha256: result.sha256 ?? (await sha256File(output)), size: result.size };
    },
  };
}

function archiveExtension(file: string): string {
  const m = /\.(tar\.gz|tgz|tar\.bz2|tbz2|tar\.xz|txz|tar\.zst|tzst|tar|zip)$/i.exec(file);
  return m ? m[1]!.toLowerCase() : "tar.gz";
}
