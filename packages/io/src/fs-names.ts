import path from "node:path";

/**
 * File names are bytes; JavaScript strings are UTF-16. Node decodes names it reads with
 * UTF-8, turning every invalid byte into U+FFFD: two different names can become one, and
 * the decoded name opens nothing. These helpers carry any name through a string exactly,
 * as Python's `surrogateescape` does: valid UTF-8 decodes as usual, and each byte of an
 * invalid sequence becomes the lone surrogate U+DC80..U+DCFF, which no valid UTF-8
 * produces. `fsPath` turns such a string back into bytes for Node's fs calls.
 */

const RAW = /[\uDC80-\uDCFF]/u;

/** The name's bytes as a string: UTF-8, with each byte of an invalid sequence as U+DC80 + (byte - 0x80). */
export function decodeFileName(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = buf.toString("utf8");
  // Fast path: no replacement character means every byte was valid UTF-8 ...
  if (!text.includes("\uFFFD")) return text;
  // ... and one that encodes back to the same bytes was a real U+FFFD.
  if (Buffer.from(text, "utf8").equals(buf)) return text;
  let out = "";
  let i = 0;
  while (i < buf.length) {
    const n = validSequenceLength(buf, i);
    if (n > 0) {
      out += buf.toString("utf8", i, i + n);
      i += n;
    } else {
      out += String.fromCharCode(0xdc00 + buf[i]!);
      i++;
    }
  }
  return out;
}

/** The bytes a `decodeFileName` string stands for. */
export function encodeFileName(name: string): Buffer {
  if (!RAW.test(name)) return Buffer.from(name, "utf8");
  const parts: Buffer[] = [];
  let run = "";
  for (const ch of name) {
    const c = ch.charCodeAt(0);
    if (ch.length === 1 && c >= 0xdc80 && c <= 0xdcff) {
      if (run) parts.push(Buffer.from(run, "utf8"));
      run = "";
      parts.push(Buffer.of(c - 0xdc00));
    } else run += ch;
  }
  if (run) parts.push(Buffer.from(run, "utf8"));
  return Buffer.concat(parts);
}

/** True when the name holds bytes that are not UTF-8 (escaped by `decodeFileName`). */
export function hasRawBytes(name: string): boolean {
  return RAW.test(name);
}

/** A path for Node's fs calls: the string when it is plain UTF-8, else its bytes. */
export function fsPath(p: string): string | Buffer {
  return RAW.test(p) ? encodeFileName(p) : p;
}

/** For messages: the name with its raw bytes shown as \xNN. */
export function showFileName(name: string): string {
  return name.replace(/[\uDC80-\uDCFF]/gu, (c) => `\\x${(c.charCodeAt(0) - 0xdc00).toString(16)}`);
}

/** Length of the valid (strict: no overlong form, surrogate or value above U+10FFFF) UTF-8 sequence at `i`, or 0. */
function validSequenceLength(b: Buffer, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c >= 0xe1 && c <= 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** A relative path in POSIX form (archive member names, RECORD paths). */
export function toPosix(p: string): string {
  return p.split(path.sep).join("/");
}

/**
 * True when the absolute path `p` is `root` or lies below it (compared as paths, after
 * normalisation: resolve symlinks first when the kernel's view matters). A name such as
 * `..foo` is inside; `..` and `../x` are not.
 */
export function isPathInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}
