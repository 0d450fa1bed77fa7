import zlib from "node:zlib";

/** Unix file type bits, as stored in the high 16 bits of a zip entry's external attributes. */
export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;

/**
 * The one mode each kind of entry gets in a deterministic archive: files 0644, or 0755
 * when any execute bit is set; directories 0755; symlinks 0777. Type bits included.
 */
export function normalizeMode(mode: number, kind: "file" | "directory" | "symlink"): number {
  switch (kind) {
    case "directory":
      return S_IFDIR | 0o755;
    case "symlink":
      return S_IFLNK | 0o777;
    default:
      return S_IFREG | (mode & 0o111 ? 0o755 : 0o644);
  }
}

/** CRC-32 (zip's checksum), continuing from `previous` when given. Native zlib, no JS loop. */
export function crc32(data: Buffer | Uint8Array, previous = 0): number {
  return zlib.crc32(data, previous);
}

/**
 * True when an entry name can be extracted without leaving the target directory and
 * means the same thing on every platform: relative, `/`-separated, no `..` segment, no
 * drive letter, no backslash, no NUL or other control character, not empty. A trailing
 * `/` (a directory) is allowed; empty and `.` segments are tolerated and normalised away.
 */
export function isSafeEntryName(name: string): boolean {
  return unsafeReason(name) === undefined;
}

const COMMON_SAFE = /^[A-Za-z0-9_.][A-Za-z0-9_+\-.=@~ /]*$/;
const NOT_DOT_OR_SLASH = /[^./]/;

/** Why `name` is unsafe (for error messages), or undefined when it is safe. */
export function unsafeReason(name: string): string | undefined {
  // Fast path for ordinary names (a PEX's `.deps/...` too): starts with a letter, digit,
  // "_" or "." (not absolute; no ":" so no drive letter), only portable characters (no
  // backslash, NUL, control), no "..", and not made of "." and "/" alone.
  if (COMMON_SAFE.test(name) && !name.includes("..") && (name.charCodeAt(0) !== 0x2e || NOT_DOT_OR_SLASH.test(name))) return undefined;
  if (name.length === 0) return "it is empty";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return "it contains a NUL or control character";
  if (name.includes("\\")) return "it contains a backslash (a Windows path separator)";
  if (name.startsWith("/")) return "it is an absolute path";
  if (/^[A-Za-z]:/.test(name)) return "it starts with a drive letter";
  const segments = name.split("/");
  if (segments.includes("..")) return "it has a '..' segment that climbs out of the target";
  if (segments.every((s) => s === "" || s === ".")) return "it names no file (only '.' and '/')";
  return undefined;
}

/**
 * The comparison key of an entry name: `.` and empty segments dropped, no trailing `/`,
 * Unicode NFC. Two entries with the same key would land on the same path.
 */
export function entryKey(name: string): string {
  // Fast path: most names are already normal (no "./", "//", trailing "/", non-ASCII).
  if (/^[\x20-\x7e]*$/.test(name) && !/(^|\/)\.?(\/|$)/.test(name)) return name;
  return name
    .split("/")
    .filter((s) => s !== "" && s !== ".")
    .join("/")
    .normalize("NFC");
}
