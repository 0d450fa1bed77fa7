import { createHash } from "node:crypto";
import os from "node:os";
import { ensureAscii, isValidHexDigest } from "@cluster-pack/packaging";

/**
 * The metadata file written beside every archive. The first three keys are exactly what
 * cluster-pack's `_dump_archive_metadata` writes (its package list, `platform.uname()`'s
 * `system-release` of the building machine, the environment's Python version), so its
 * `_is_archive_up_to_date` judges our archives as it judges its own; `lock_hash` and the
 * archive facts are ours. No timestamps: the same inputs give the same bytes.
 */
export interface Sidecar {
  package_installed: string[];
  platform: string;
  python_version: string;
  /** sha256 of the lock: resolved pins + target + packer settings. */
  lock_hash?: string;
  packer?: string;
  archive_sha256?: string;
  archive_size?: number;
}

/** What decides whether an archive must be rebuilt. */
export interface LockDescription {
  /** Pinned requirements ("name==version"), any order. */
  requirements: string[];
  /** The target the archive is built for. */
  platform: string;
  pythonVersion: string;
  /** "pex" | "conda" | "venv". */
  packer: string;
  /** Anything else that changes the archive's bytes (builder settings, conda records...). */
  extra?: Record<string, unknown>;
  /**
   * What cluster-pack itself records for the same source (default: `requirements` and
   * `pythonVersion`): every non-editable installed `name==version` (pip and setuptools
   * included, as `pip list` shows them), or `[sha1 of the requirements file]` for a spec.
   */
  clusterPack?: { packages: string[]; pythonVersion: string };
}

/** Version of the lock-hash recipe: bump when archives built by older code must be rebuilt. */
const LOCK_RECIPE = 1;

/** Content hash of a lock: sha256 over canonical JSON, independent of input order. */
export function lockHash(lock: LockDescription): string {
  const canonical = canonicalJson({
    recipe: LOCK_RECIPE,
    requirements: sortedRequirements(lock.requirements),
    platform: lock.platform,
    python_version: lock.pythonVersion,
    packer: lock.packer,
    extra: lock.extra ?? {},
  });
  return `sha256:${createHash("sha256").update(canonical).digest("hex")}`;
}

/**
 * cluster-pack's `platform` value: `f"{system}-{release}"` of `platform.uname()` on the
 * machine that builds (it compares it with its own when deciding "up to date").
 */
export function hostPlatform(): string {
  return `${os.type()}-${os.release()}`;
}

/** Builds the sidecar for an archive. */
export function makeSidecar(lock: LockDescription, archive: { sha256: string; size: number }): Sidecar {
  return {
    package_installed: clusterPackForm(lock).packages,
    platform: hostPlatform(),
    python_version: clusterPackForm(lock).pythonVersion,
    lock_hash: lockHash(lock),
    packer: lock.packer,
    archive_sha256: archive.sha256,
    archive_size: archive.size,
  };
}

/**
 * Sidecar bytes as Python's `json.dumps(metadata_dict, indent=4)` writes cluster-pack's
 * (its three keys first, in its order; no trailing newline; non-ASCII escaped), then our
 * keys sorted.
 */
export function serializeSidecar(sidecar: Sidecar): Buffer {
  const { package_installed, platform, python_version, ...ours } = sidecar;
  const ordered = { package_installed, platform, python_version, ...(sortKeys(ours) as object) };
  const text = ensureAscii(JSON.stringify(ordered, null, 4));
  return Buffer.from(text, "utf8");
}

/** Parses sidecar bytes; undefined when they are not a sidecar (a stale or foreign file means "rebuild"). */
export function parseSidecar(data: Buffer | string): Sidecar | undefined {
  let value: unknown;
  try {
    value = JSON.parse(typeof data === "string" ? data : data.toString("utf8"));
  } catch {
    return undefined;
  }
  // cluster-pack's oldest format: a bare list of "name==version".
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) {
    return { package_installed: value as string[], platform: "", python_version: "" };
  }
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (!Array.isArray(v.package_installed) || !v.package_installed.every((p) => typeof p === "string")) return undefined;
  const out: Sidecar = {
    package_installed: v.package_installed as string[],
    platform: typeof v.platform === "string" ? v.platform : "",
    python_version: typeof v.python_version === "string" ? v.python_version : "",
  };
  if (typeof v.lock_hash === "string") out.lock_hash = v.lock_hash;
  if (typeof v.packer === "string") out.packer = v.packer;
  // A claim from the store: kept only when it is a sha256 at all.
  if (typeof v.archive_sha256 === "string" && isValidHexDigest("sha256", v.archive_sha256)) out.archive_sha256 = v.archive_sha256;
  if (typeof v.archive_size === "number") out.archive_size = v.archive_size;
  return out;
}

/**
 * The skip rule. Our sidecars: the lock hash must be equal. Sidecars written by Python
 * cluster-pack (no lock hash): its own `_is_archive_up_to_date`, equal sorted package
 * lists, this machine's platform and the environment's Python version.
 */
export function isSidecarUpToDate(sidecar: Sidecar | undefined, lock: LockDescription): boolean {
  if (!sidecar) return false;
  if (sidecar.lock_hash !== undefined) return sidecar.lock_hash === lockHash(lock);
  const expected = clusterPackForm(lock);
  const a = [...sidecar.package_installed].sort();
  const b = [...expected.packages].sort();
  return a.length === b.length && a.every((x, i) => x === b[i]) && sidecar.platform === hostPlatform() && sidecar.python_version === expected.pythonVersion;
}

/** sha1 of a requirements file as cluster-pack's upload_spec hashes it (text mode: universal newlines). */
export function specFileHash(text: string): string {
  return createHash("sha1").update(text.replace(/\r\n?/g, "\n"), "utf8").digest("hex");
}

function clusterPackForm(lock: LockDescription): { packages: string[]; pythonVersion: string } {
  return lock.clusterPack ?? { packages: sortedRequirements(lock.requirements), pythonVersion: lock.pythonVersion };
}

function sortedRequirements(reqs: string[]): string[] {
  return [...new Set(reqs.map((r) => r.trim()))].sort();
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}
