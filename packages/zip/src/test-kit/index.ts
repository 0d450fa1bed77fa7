// Test helpers for @cluster-pack/zip and packages that build on it (excluded from the build).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import type { ZipWriter } from "../writer";

/** A fresh directory under the OS temp dir, removed by `cleanup()`. */
export function tempDir(prefix = "cp-zip-"): { dir: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** The bytes a writer produces (through writeToStream). */
export async function zipBytes(writer: ZipWriter): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await writer.writeToStream(
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(Buffer.from(chunk));
        cb();
      },
    }),
  );
  return Buffer.concat(chunks);
}

/** The first interpreter that exists among the system python3 and pyenv's. */
export function python(): string | undefined {
  const candidates = ["/usr/bin/python3", ...pyenvPythons()];
  return candidates.find((p) => fs.existsSync(p));
}

/** Every pyenv interpreter installed here (`~/.pyenv/versions/<v>/bin/python3`), oldest first. */
export function pyenvPythons(): string[] {
  const root = path.join(process.env.PYENV_ROOT ?? path.join(os.homedir(), ".pyenv"), "versions");
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .filter((v) => /^\d+\.\d+\.\d+$/.test(v))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
    .map((v) => path.join(root, v, "bin", "python3"))
    .filter((p) => fs.existsSync(p));
}

/** Runs a Python snippet; returns stdout, throws with stderr on failure. */
export function runPython(code: string, args: string[] = [], interpreter = python()): string {
  if (!interpreter) throw new Error("no python3 interpreter found");
  const r = spawnSync(interpreter, ["-c", code, ...args], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Absolute path of a command on PATH, or undefined. */
export function which(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const p = path.join(dir, command);
    if (dir && fs.existsSync(p)) return p;
  }
  return undefined;
}

/**
 * A real wheel from the pip index configured on this machine (`pip download`, so pip's
 * own configuration decides where it comes from), cached under the OS temp dir. Returns
 * undefined, with the reason, when pip cannot provide it.
 */
export function realWheel(requirement: string): { path?: string; reason?: string } {
  const py = python();
  if (!py) return { reason: "no python3 interpreter to run pip" };
  const cache = path.join(os.tmpdir(), "cp-zip-test-wheels");
  fs.mkdirSync(cache, { recursive: true });
  const name = requirement.split(/[=<>!~ ]/)[0]!.toLowerCase().replace(/[-_.]+/g, "_");
  const find = () => fs.readdirSync(cache).find((f) => f.toLowerCase().replace(/[-_.]+/g, "_").startsWith(`${name}_`) && f.endsWith(".whl"));
  const cached = find();
  if (cached) return { path: path.join(cache, cached) };
  const r = spawnSync(py, ["-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--disable-pip-version-check", "-q", "-d", cache, requirement], { encoding: "utf8" });
  const got = find();
  if (r.status !== 0 || !got) return { reason: `pip could not download ${requirement} from the configured index: ${(r.stderr || "").trim().split("\n").pop()}` };
  return { path: path.join(cache, got) };
}

/** Parsed central directory records of a zip in memory (for tests that patch bytes). */
export interface RawCentralRecord {
  /** Offset of this record in the buffer. */
  at: number;
  name: string;
  localHeaderOffset: number;
  compressedSize: number;
  uncompressedSize: number;
}

/** Lists central directory records of a small non-ZIP64 zip, by walking from the end record. */
export function centralRecords(zip: Buffer): RawCentralRecord[] {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new Error("no end record");
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const out: RawCentralRecord[] = [];
  for (let i = 0; i < count; i++) {
    const nameLength = zip.readUInt16LE(at + 28);
    out.push({
      at,
      name: zip.subarray(at + 46, at + 46 + nameLength).toString("utf8"),
      compressedSize: zip.readUInt32LE(at + 20),
      uncompressedSize: zip.readUInt32LE(at + 24),
      localHeaderOffset: zip.readUInt32LE(at + 42),
    });
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return out;
}
