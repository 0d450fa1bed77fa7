import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { InvalidInputError, throwIfAborted } from "@cluster-pack/errors";
import { pythonEnvironment } from "@cluster-pack/engines";
import { readPexInfo } from "@cluster-pack/pex";
import { ZipReader } from "@cluster-pack/zip";
import { defaultPackagePath, getDefaultFs, getUser } from "./naming";
import type { StoreOptions } from "./store";
import type { EditableArchive, UploadEnvResult, UploadProgress } from "./types";
import { uploadZip } from "./upload-zip";
import { zipPath } from "./zip-path";

/** cluster-pack's index of editable packages, written in a job's working directory by its launchers. */
export const EDITABLE_PACKAGES_INDEX = "editable_packages_index";

export interface RunningPexOptions {
  packagePath?: string;
  forceUpload?: boolean;
  includeEditable?: boolean;
  store?: StoreOptions;
  environ: NodeJS.ProcessEnv;
  /** Where `editable_packages_index` is looked for (default: the current directory). */
  cwd?: string;
  signal?: AbortSignal;
  onProgress?: (progress: UploadProgress) => void;
  onLog: (message: string) => void;
  /** Ships a package directory (zipped) or an existing code zip as `remote`. */
  ship: (name: string, source: { dir: string } | { zip: string }, remote: string) => Promise<EditableArchive>;
}

/**
 * cluster-pack's behaviour inside a PEX (a job that launches more work): the running PEX
 * is uploaded as uploadZip does (skipped when the remote one has the same pex_hash). An
 * unpacked large PEX (a directory) is zipped again first, deterministically. With
 * includeEditable, the packages named in `editable_packages_index` are found on
 * PYTHONPATH (a directory, or a code zip shipped with the job) and shipped beside it.
 */
export async function uploadRunningPex(pex: string, options: RunningPexOptions): Promise<UploadEnvResult> {
  const { signal, environ } = options;
  const st = await fsp.stat(pex).catch(() => undefined);
  if (!st) throw new InvalidInputError(`The running PEX ${pex} (the PEX variable) does not exist.`, { optionNames: ["env", "python"], hint: `unset PEX, or pass \`env\`, \`python\` or requirements.` });
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), "cluster-pack-running-pex-"));
  try {
    let file = pex;
    let base = path.basename(pex);
    if (st.isDirectory()) {
      // An unpacked `.pex.zip` (YARN names the directory after the archive) or a packed PEX.
      base = base.endsWith(".pex.zip") ? base : `${base.replace(/\.pex$/, "")}.pex.zip`;
      file = (await zipPath(pex, { includeBaseName: false, compress: false, output: path.join(work, base), signal })).path;
    } else if (!/\.pex(\.zip)?$/.test(base)) {
      base = `${base}.pex`;
      file = path.join(work, base);
      await fsp.copyFile(pex, file);
    }
    const envName = base.replace(/\.pex(\.zip)?$/, "");
    const extension = base.endsWith(".zip") ? "pex.zip" : "pex";
    const packagePath = options.packagePath ?? defaultPackagePath(await getDefaultFs({ env: environ, signal }), getUser({ env: environ }), envName, extension);
    options.onLog(`running from the PEX ${pex}: uploading it as it is`);
    const uploaded = await uploadZip(file, {
      packagePath,
      forceUpload: Boolean(options.forceUpload),
      environ,
      ...(options.store ? { store: options.store } : {}),
      ...(signal ? { signal } : {}),
      onProgress: (p) => options.onProgress?.({ phase: "upload", done: p.done, ...(p.total === undefined ? {} : { total: p.total }), unit: "bytes" }),
    });
    const info = st.isDirectory() ? await readPexInfo(pex, { signal }) : await readPexInfo(file, { signal });
    const editableArchives = options.includeEditable ? await shipIndexedEditables(options, packagePath, envName) : [];
    const environment = pythonEnvironment(packagePath, { codeArchives: editableArchives.map((e) => e.packagePath) });
    return { packagePath, envName, environment, editableArchives, uploaded: uploaded.uploaded, requirements: info.requirements, lockHash: `pex_hash:${uploaded.pexHash}` };
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
}

async function shipIndexedEditables(options: RunningPexOptions, packagePath: string, envName: string): Promise<EditableArchive[]> {
  const cwd = options.cwd ?? process.cwd();
  const text = await fsp.readFile(path.join(cwd, EDITABLE_PACKAGES_INDEX), "utf8").catch(() => undefined);
  if (text === undefined) {
    options.onLog(`no ${EDITABLE_PACKAGES_INDEX} in ${cwd}: no editable code to ship from this PEX`);
    return [];
  }
  const entries = (options.environ.PYTHONPATH ?? "").split(path.delimiter).filter(Boolean).map((e) => path.resolve(cwd, e));
  const out: EditableArchive[] = [];
  const dir = packagePath.slice(0, packagePath.lastIndexOf("/") + 1);
  for (const name of text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean)) {
    throwIfAborted(options.signal);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new InvalidInputError(`${path.join(cwd, EDITABLE_PACKAGES_INDEX)} names "${name}", which is not a Python package name.`, { hint: "fix the file." });
    const remote = `${dir}${envName}_editable/${name}.zip`;
    const found = await findOnPath(name, entries);
    if (!found) {
      options.onLog(`editable package ${name} (${EDITABLE_PACKAGES_INDEX}) is not on PYTHONPATH: not shipped`);
      continue;
    }
    out.push(await options.ship(name, found.kind === "dir" ? { dir: found.path } : { zip: found.path }, remote));
  }
  return out;
}

async function findOnPath(name: string, entries: string[]): Promise<{ kind: "dir" | "zip"; path: string } | undefined> {
  for (const entry of entries) {
    const st = await fsp.stat(entry).catch(() => undefined);
    if (st?.isDirectory()) {
      if (await fsp.access(path.join(entry, name, "__init__.py")).then(() => true, () => false)) return { kind: "dir", path: path.join(entry, name) };
    } else if (st?.isFile() && entry.endsWith(".zip")) {
      const reader = await ZipReader.open(entry).catch(() => undefined);
      if (!reader) continue;
      try {
        if (reader.getEntry(`${name}/__init__.py`)) return { kind: "zip", path: entry };
      } finally {
        await reader.close();
      }
    }
  }
  return undefined;
}
