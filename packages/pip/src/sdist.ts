import fs from "node:fs";
import zlib from "node:zlib";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { IntegrityError } from "@cluster-pack/errors";
import { ZipReader } from "@cluster-pack/zip";

/**
 * Reads `<name>-<version>/PKG-INFO` from a .tar.gz or .zip sdist. Returns null when the
 * metadata is not trustworthy without a build (Metadata-Version < 2.2, or Requires-Dist /
 * Requires-Python declared Dynamic, per PEP 643).
 */
export async function readStaticSdistMetadata(file: string, signal?: AbortSignal): Promise<string | null> {
  const text = file.endsWith(".zip") ? await fromZip(file, signal) : await fromTarGz(file, signal);
  if (text === null) return null;
  const header = text.split(/\r?\n\r?\n/, 1)[0]!;
  const mv = /^Metadata-Version:\s*(\d+)\.(\d+)/im.exec(header);
  if (!mv || Number(mv[1]) < 2 || (Number(mv[1]) === 2 && Number(mv[2]) < 2)) return null;
  if (/^Dynamic:\s*(Requires-Dist|Requires-Python|Provides-Extra)\s*$/im.test(header)) return null;
  return text;
}

async function fromTarGz(file: string, signal?: AbortSignal): Promise<string | null> {
  const extract = tar.extract();
  let found: string | null = null;
  extract.on("entry", (header, stream, next) => {
    const parts = header.name.replace(/^\.\//, "").split("/");
    if (found === null && parts.length === 2 && parts[1] === "PKG-INFO" && header.type === "file" && (header.size ?? 0) < 16 << 20) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: unknown) => chunks.push(c as Buffer));
      stream.on("end", () => {
        found = Buffer.concat(chunks).toString("utf8");
        next();
      });
    } else {
      stream.on("end", next);
      stream.resume();
    }
  });
  try {
    await pipeline(fs.createReadStream(file, { signal }), zlib.createGunzip(), extract);
  } catch (err) {
    throw new IntegrityError(`${file}: not a readable .tar.gz source distribution (${(err as Error).message}).`, { code: "ERR_SDIST_INVALID", cause: err });
  }
  return found;
}

async function fromZip(file: string, signal?: AbortSignal): Promise<string | null> {
  const reader = await ZipReader.open(file, { signal });
  try {
    const e = reader.entries.find((x) => /^[^/]+\/PKG-INFO$/.test(x.name));
    return e ? (await reader.readEntry(e, { maxBytes: 16 << 20 })).toString("utf8") : null;
  } finally {
    await reader.close();
  }
}
