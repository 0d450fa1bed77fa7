import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { writeFileAtomic } from "./temp";

/**
 * A file's identity: what the kernel changes whenever its content changes (real path,
 * device, inode, size, mtime and ctime in ns). ctime cannot be set by users, so any
 * rewrite of the file changes the identity (the reasoning of git's index). Timestamps
 * under 2 s old are "racy": a write in the same coarse kernel tick would not show, so
 * nothing is recorded for them.
 */
export interface FileIdentity {
  /** The real path that was stat'ed. */
  path: string;
  /** sha1 over the identity fields: the record's name. */
  key: string;
  size: number;
  /** Changed too recently for its timestamps to prove the content unchanged. */
  racy: boolean;
  /** The value recorded for exactly this identity, when there is one. */
  value?: string;
}

/** Timestamps this recent may share a kernel tick with a later write (git's "racy" files). */
const RACY_NS = 2_000_000_000n;

/**
 * Records of facts proven about a file's bytes (its sha256), keyed by the file's
 * identity, so later runs trust the fact without reading the file again: the verified
 * wheels' sha256 index, the local layer store. One small file per identity under `dir`;
 * best effort (a record that cannot be read or written is a miss), published atomically.
 */
export class FileIdentityRecords {
  constructor(readonly dir: string) {}

  /** Stats the file and looks up the value recorded for its identity. */
  async identify(file: string): Promise<FileIdentity> {
    const real = await fs.promises.realpath(file);
    const st = await fs.promises.stat(real, { bigint: true });
    const key = identityKey(real, st);
    const now = BigInt(Date.now()) * 1_000_000n;
    const racy = now - (st.mtimeNs > st.ctimeNs ? st.mtimeNs : st.ctimeNs) < RACY_NS;
    const text = await fs.promises.readFile(this.recordPath(key), "utf8").catch(() => "");
    const value = /^[0-9a-f]{16,128}\n$/.test(text) ? text.trim() : undefined;
    return { path: real, key, size: Number(st.size), racy, ...(value ? { value } : {}) };
  }

  /** Records `value` (lowercase hex) for the identity, if the file still has it and it is not racy. */
  async remember(id: FileIdentity, value: string): Promise<void> {
    if (id.racy || id.value === value || !/^[0-9a-f]{16,128}$/.test(value)) return;
    const st = await fs.promises.stat(id.path, { bigint: true }).catch(() => undefined);
    if (!st || identityKey(id.path, st) !== id.key) return;
    await writeFileAtomic(this.recordPath(id.key), `${value}\n`).catch(() => undefined);
  }

  private recordPath(key: string): string {
    return path.join(this.dir, key.slice(0, 2), key);
  }
}

function identityKey(real: string, st: fs.BigIntStats): string {
  return crypto.createHash("sha1").update(`${real}\0${st.dev}\0${st.ino}\0${st.size}\0${st.mtimeNs}\0${st.ctimeNs}`).digest("hex");
}

/** sha256 (hex) of a file, streamed in 1 MiB reads (archives can be gigabytes). */
export async function sha256File(file: string, options: { signal?: AbortSignal } = {}): Promise<string> {
  const h = crypto.createHash("sha256");
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20, ...(options.signal ? { signal: options.signal } : {}) })) h.update(chunk as Buffer);
  return h.digest("hex");
}
