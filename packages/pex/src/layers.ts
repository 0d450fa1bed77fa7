import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { throwIfAborted } from "@cluster-pack/errors";
import { DigestMemo, defaultCacheRoot, hashFile, shardedPath, withTempFile, writeFileAtomic } from "@cluster-pack/io";
import type { ZipWriter } from "@cluster-pack/zip";

/**
 * The local layer store of layered PEX files: each distribution, installed as in a PEX's
 * `.deps/<wheel>` (the packed layout's per-distribution zip, the same writer), is a zip
 * named by its own sha256, `<dir>/<sha256>.zip`, written once and never changed. The same
 * wheel gives the same layer bytes on any machine (the writer is deterministic), so the
 * store is a cache that uploads and engines share by name.
 *
 * - `<dir>/<sha256>.zip`: the layers, published by rename from a temporary sibling.
 * - `<dir>/by-wheel/<xx>/<wheel sha256>.<options>`: which layer a verified wheel made with
 *   these writer options (`<layer sha256> <size>`), written only once the wheel passed its
 *   RECORD check, so a rebuild that changes one package writes one layer.
 * - `<dir>/stat/`: each layer file's sha256 by file identity (@cluster-pack/io's
 *   DigestMemo): a layer is trusted without rehashing only while its identity is
 *   the one whose bytes were hashed; otherwise it is hashed again (and rewritten when its
 *   bytes are not its name).
 *
 * Layout version 1 (the directory name carries it: bump it when a layer's bytes for the
 * same wheel would change, e.g. a new chroot scheme, so old and new never mix).
 */
export class LocalLayerStore {
  private readonly digests: DigestMemo;

  constructor(readonly dir: string = defaultLayerStore()) {
    this.digests = new DigestMemo(path.join(dir, "stat"));
  }

  layerPath(sha256: string): string {
    return path.join(this.dir, `${sha256}.zip`);
  }

  /**
   * The layer a verified wheel made before with these options, when its file is still
   * there with those bytes (proven by its identity record, or by hashing it now).
   */
  async find(wheelSha256: string, optionsKey: string, signal?: AbortSignal): Promise<StoredLayer | undefined> {
    const text = await fs.promises.readFile(this.indexPath(wheelSha256, optionsKey), "utf8").catch(() => "");
    const m = /^([0-9a-f]{64}) (\d+)\n$/.exec(text);
    if (!m) return undefined;
    const sha256 = m[1]!;
    const size = Number(m[2]);
    return (await this.check(sha256, size, signal)) ? { sha256, size, path: this.layerPath(sha256), reused: true } : undefined;
  }

  /** Is `<sha256>.zip` in the store with exactly these bytes (and this size, when given)? */
  async check(sha256: string, size?: number, signal?: AbortSignal): Promise<boolean> {
    const file = this.layerPath(sha256);
    const id = await this.digests.lookup(file).catch(() => undefined);
    if (!id || (size !== undefined && id.size !== size)) return false;
    return this.digests.verify(id.path, sha256, signal ? { signal } : {});
  }

  /** Writes a distribution's zip as a layer (named by the sha256 of its bytes). */
  async write(writer: ZipWriter, signal?: AbortSignal): Promise<StoredLayer> {
    throwIfAborted(signal);
    return withTempFile(
      path.join(this.dir, "layer.zip"),
      async (temp) => {
        const r = await writer.writeTo(temp, { digest: true, ...(signal ? { signal } : {}) });
        const target = this.layerPath(r.sha256);
        // Content-addressed: an existing file of this name is either these bytes or damaged; replace it.
        await this.digests.publishVerified(temp, target, r.sha256);
        return { sha256: r.sha256, size: r.size, path: target, reused: false };
      },
      signal ? { signal } : {},
    );
  }

  /**
   * Adds a layer made elsewhere (downloaded from a store): `fill` writes its bytes to a
   * temporary sibling, which is published as `<sha256>.zip` only when its bytes hash to
   * `sha256`; otherwise nothing is published and the result says what the bytes were.
   */
  async add(sha256: string, fill: (temp: string) => Promise<void>, signal?: AbortSignal): Promise<{ layer: StoredLayer } | { actual: string; size: number }> {
    return withTempFile(
      path.join(this.dir, "layer.zip"),
      async (temp) => {
        await fill(temp);
        const { digests, size } = await hashFile(temp, ["sha256"], signal ? { signal } : {});
        if (digests.sha256 !== sha256) return { actual: digests.sha256!, size };
        const target = this.layerPath(sha256);
        await this.digests.publishVerified(temp, target, sha256);
        return { layer: { sha256, size, path: target, reused: false } };
      },
      signal ? { signal } : {},
    );
  }

  /** Records which layer a wheel (now verified) made, for the next builds. */
  async remember(wheelSha256: string, optionsKey: string, layer: { sha256: string; size: number }): Promise<void> {
    await writeFileAtomic(this.indexPath(wheelSha256, optionsKey), `${layer.sha256} ${layer.size}\n`).catch(() => undefined);
  }

  private indexPath(wheelSha256: string, optionsKey: string): string {
    return shardedPath(path.join(this.dir, "by-wheel"), wheelSha256, `${wheelSha256}.${optionsKey}`);
  }
}

/** A layer in the local store. */
export interface StoredLayer {
  sha256: string;
  size: number;
  /** `<store>/<sha256>.zip`. */
  path: string;
  /** Found in the store (made by an earlier build) rather than written now. */
  reused: boolean;
}

/** `<cluster-pack cache>/layers.1` (beside `verified-wheels`). */
export function defaultLayerStore(env: Record<string, string | undefined> = process.env): string {
  return layerStoreIn(defaultCacheRoot(env));
}

/** The local layer store in a cache root (`layers.<layout version>`). */
export function layerStoreIn(cacheRoot: string): string {
  return path.join(cacheRoot, "layers.1");
}

/** The writer settings a layer's bytes depend on, as a short key. */
export function layerOptionsKey(settings: unknown[]): string {
  return createHash("sha1").update(JSON.stringify(settings)).digest("hex").slice(0, 16);
}

/** The layer file name PEX-INFO lists for a layer, and the name it has in every store. */
export function layerFileName(sha256: string): string {
  return `${sha256}.zip`;
}

/** The sha256 a layer file name claims (`layerFileName`'s inverse), or undefined for any other name. */
export function layerNameSha256(fileName: string): string | undefined {
  return /^([0-9a-f]{64})\.zip$/.exec(fileName)?.[1];
}
