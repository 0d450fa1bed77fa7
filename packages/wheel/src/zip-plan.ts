import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { IntegrityError, throwIfAborted } from "@cluster-pack/errors";
import { DigestMemo, writeFileAtomic, type FileIdentity, shardedPath } from "@cluster-pack/io";
import type { RandomAccessSource, ZipReader, ZipWriter } from "@cluster-pack/zip";
import type { AddWheelToZipOptions, WheelZipFacts, ZipInstalledWheel } from "./install";
import { isVerifiedWheel } from "./verify";

/**
 * Bump when addWheelToZip would lay out a wheel differently (planInstall, launchers,
 * RECORD rewriting), when the plan file changes, or when planning checks more (3: one
 * .dist-info, METADATA and WHEEL agree with the file name): older plans are then never read.
 */
const PLAN_FORMAT = 3;

/** A verified wheel's addWheelToZip result, replayable against the same file bytes. */
export interface WheelZipPlan extends WheelZipFacts {
  sha256: string;
  /** Size of the wheel file. */
  size: number;
  entries: PlanEntry[];
}

/**
 * `[rel, mode, method, crc32, compressedSize, uncompressedSize, headerOffset, dataOffset]`,
 * `[rel, mode, base64 content]`, or `[rel, mode]` for the RECORD (the plan's recordText).
 */
type PlanEntry = [string, number, number, number, number, number, number, number] | [string, number, string] | [string, number];

/** A wheel file's identity for the sha256 index (@cluster-pack/io's rule), with the sha256 recorded for it, when known. */
export type WheelFileIdentity = FileIdentity & { sha256?: string };

/**
 * The install plans of verified wheels, beside the verification memo (`verified-wheels/`),
 * so that a warm build copies each wheel's entries without opening it as a zip, parsing
 * METADATA and RECORD, or hashing it:
 *
 * - `stat/`: the wheel's sha256 by file identity (real path, device, inode, size, mtime
 *   and ctime in ns). ctime cannot be set by users, so any rewrite of the file changes
 *   the identity (the reasoning of git's index); identities whose timestamps are under 2 s
 *   old are not recorded, since a write in the same kernel tick would not show.
 * - `plans/`: per wheel sha256 and install options, what addWheelToZip added (raw entries
 *   as byte spans of the wheel, generated files as content). Written only for wheels whose
 *   every file was verified against RECORD, read only while the verification marker
 *   exists; each span's local header is re-checked when copied (ZipWriter.addRawSpan).
 *
 * Everything is best effort: an unreadable, corrupt or stale entry is a miss, and files
 * are written to a temporary name and renamed, so readers never see half a file.
 */
export class WheelPlanCache {
  private readonly digests: DigestMemo;
  constructor(readonly dir: string) {
    this.digests = new DigestMemo(path.join(dir, "stat"));
  }

  /** Stats the wheel and looks its sha256 up by identity. */
  identify(wheelPath: string): Promise<WheelFileIdentity> {
    return this.digests.lookup(wheelPath);
  }

  /** Records `sha256` for the identity, if the file still has it and it is not racy. */
  rememberSha256(id: WheelFileIdentity, sha256: string): Promise<void> {
    return this.digests.remember(id, sha256);
  }

  /** The plan of a verified wheel for these options, or undefined. */
  async load(sha256: string, options: PlanOptions): Promise<WheelZipPlan | undefined> {
    if (!(await isVerifiedWheel(this.dir, sha256))) return undefined; // not (or no longer) verified
    const text = await fs.promises.readFile(this.planPath(sha256, options), "utf8").catch(() => undefined);
    if (text === undefined) return undefined;
    try {
      const plan = JSON.parse(text) as WheelZipPlan & { format?: number };
      return plan.format === PLAN_FORMAT && plan.sha256 === sha256 && isPlan(plan) ? plan : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Saves the plan of a wheel just added with addWheelToZip (from `reader`, still open)
   * and verified as `sha256`. Reads each raw entry's local header to record where its data
   * starts (ZipReader.rawSpan).
   */
  async save(sha256: string, installed: ZipInstalledWheel, reader: ZipReader, options: PlanOptions, signal?: AbortSignal): Promise<void> {
    const entries: PlanEntry[] = [];
    const record = Buffer.from(installed.recordText);
    for (const a of installed.added) {
      throwIfAborted(signal);
      if (a.content) {
        entries.push(a.content.equals(record) ? [a.rel, a.mode] : [a.rel, a.mode, a.content.toString("base64")]);
        continue;
      }
      const s = await reader.rawSpan(a.entry!, signal ? { signal } : {});
      entries.push([a.rel, a.mode, s.method, s.crc32, s.compressedSize, s.uncompressedSize, s.headerOffset, s.dataOffset]);
    }
    const { metadata, recordText, fingerprint, files, bytes } = installed;
    const plan = { format: PLAN_FORMAT, sha256, size: reader.source.size, metadata, recordText, fingerprint, files, bytes, entries };
    await writeAtomic(this.planPath(sha256, options), JSON.stringify(plan));
  }

  private planPath(sha256: string, options: PlanOptions): string {
    return shardedPath(path.join(this.dir, "plans"), sha256, `${sha256}.${optionsKey(options)}.json`);
  }
}

/** The addWheelToZip options a plan depends on (the prefix is applied when replaying). */
export type PlanOptions = Pick<AddWheelToZipOptions, "interpreter" | "installer" | "directUrl" | "requested" | "chrootScheme">;

/**
 * Replays a plan into `writer` under `prefix`: the same entries addWheelToZip would add,
 * copied from `source` (the wheel file, which must stay open until the write ends).
 */
export function addPlannedWheelToZip(writer: ZipWriter, source: RandomAccessSource, plan: WheelZipPlan, prefix: string): WheelZipFacts {
  const p = prefix.endsWith("/") || prefix === "" ? prefix : `${prefix}/`;
  if (source.size !== plan.size) throw new IntegrityError(`${source.name} is ${source.size} bytes but its install plan was made for ${plan.size}; the file changed.`, { hint: "build again." });
  for (const e of plan.entries) {
    if (e.length === 2) writer.addBuffer(p + e[0], plan.recordText, { mode: e[1] });
    else if (e.length === 3) writer.addBuffer(p + e[0], Buffer.from(e[2], "base64"), { mode: e[1] });
    else writer.addRawSpan(p + e[0], source, { method: e[2], crc32: e[3], compressedSize: e[4], uncompressedSize: e[5], headerOffset: e[6], dataOffset: e[7] }, { mode: e[1] });
  }
  const { metadata, recordText, fingerprint, files, bytes } = plan;
  return { metadata, recordText, fingerprint, files, bytes };
}

// Helpers.

function optionsKey(o: PlanOptions): string {
  const parts = [PLAN_FORMAT, o.interpreter ?? "python", o.installer ?? "cluster-pack", o.directUrl ?? null, !!o.requested, o.chrootScheme ?? null];
  return crypto.createHash("sha1").update(JSON.stringify(parts)).digest("hex").slice(0, 16);
}

function isPlan(p: WheelZipPlan): boolean {
  const int = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
  if (!int(p.size) || typeof p.recordText !== "string" || typeof p.fingerprint !== "string" || !int(p.files) || !int(p.bytes)) return false;
  if (typeof p.metadata?.filename?.filename !== "string" || typeof p.metadata?.metadata?.name !== "string" || !Array.isArray(p.entries)) return false;
  for (const e of p.entries) {
    if (!Array.isArray(e) || typeof e[0] !== "string" || !int(e[1])) return false;
    if (e.length === 2) continue;
    if (e.length === 3 ? typeof e[2] !== "string" : e.length !== 8 || !int(e[2]) || !int(e[3]) || !int(e[4]) || !int(e[5]) || !int(e[6]) || !int(e[7])) return false;
  }
  return true;
}

/** Best effort: a cache file that could not be written only costs a recomputation. */
async function writeAtomic(target: string, text: string): Promise<void> {
  await writeFileAtomic(target, text).catch(() => undefined);
}
