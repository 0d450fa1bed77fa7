import { InvalidInputError } from "@cluster-pack/errors";

/**
 * Prefix relocation, byte for byte what conda does when it links a package:
 * text files get a plain replacement; binary files get the replacement inside each
 * NUL-terminated string, padded with NULs so every offset in the file stays put.
 */

export type FileMode = "text" | "binary";

/** Replaces every `placeholder` by `replacement` (text mode). Returns `data` itself when absent. */
export function replaceText(data: Buffer, placeholder: string, replacement: string): Buffer {
  const from = Buffer.from(placeholder);
  let at = data.indexOf(from);
  if (at < 0) return data;
  const to = Buffer.from(replacement);
  const parts: Buffer[] = [];
  let last = 0;
  while (at >= 0) {
    parts.push(data.subarray(last, at), to);
    last = at + from.length;
    at = data.indexOf(from, last);
  }
  parts.push(data.subarray(last));
  return Buffer.concat(parts);
}

/**
 * Binary mode: for each run "placeholder ... NUL", replaces every placeholder in the run
 * and pads with NULs after the terminator so the file keeps its length (conda's
 * `binary_replace`). Throws when `replacement` is longer than `placeholder`: the string
 * would overflow into the next one. `file` names the file in that error.
 */
export function replaceBinary(data: Buffer, placeholder: string, replacement: string, file: string): Buffer {
  const from = Buffer.from(placeholder);
  const to = Buffer.from(replacement);
  let at = data.indexOf(from);
  if (at < 0) return data;
  if (to.length > from.length) {
    throw new InvalidInputError(
      `${file}: the new prefix ${replacement} (${to.length} bytes) is longer than the ${from.length} bytes reserved for it in this binary file`,
      { code: "ERR_PREFIX_TOO_LONG", hint: `use a prefix of at most ${from.length} characters.` },
    );
  }
  const out = Buffer.from(data);
  while (at >= 0) {
    const nul = data.indexOf(0, at);
    // A placeholder with no terminator runs to the end of the file; conda leaves it alone.
    if (nul < 0) break;
    const replaced = replaceText(data.subarray(at, nul), placeholder, replacement);
    replaced.copy(out, at);
    // The shortened string, then NULs up to and including the old terminator.
    out.fill(0, at + replaced.length, nul + 1);
    at = data.indexOf(from, nul + 1);
  }
  return out;
}

/** Applies one relocation record. */
export function relocate(data: Buffer, placeholder: string, replacement: string, mode: FileMode, file: string): Buffer {
  return mode === "binary" ? replaceBinary(data, placeholder, replacement, file) : replaceText(data, placeholder, replacement);
}

/**
 * Rewrites a shebang whose interpreter lives under `prefix` to `#!/usr/bin/env NAME`,
 * keeping its options (with `env -S`, since Linux passes everything after the
 * interpreter as one argument). Returns null when the first line is not such a shebang.
 */
export function rewriteShebang(data: Buffer, prefix: string): Buffer | null {
  if (data.length < 3 || data[0] !== 0x23 || data[1] !== 0x21) return null;
  let eol = data.indexOf(0x0a);
  if (eol < 0) eol = data.length;
  const raw = data.subarray(2, eol).toString("utf8");
  const cr = raw.endsWith("\r") ? "\r" : "";
  const line = cr ? raw.slice(0, -1) : raw;
  const m = /^\s*(\S+)(?:[ \t]+(.*))?$/.exec(line);
  if (!m) return null;
  const interpreter = m[1]!;
  const root = prefix.endsWith("/") ? prefix : `${prefix}/`;
  if (!interpreter.startsWith(root)) return null;
  const name = interpreter.slice(interpreter.lastIndexOf("/") + 1);
  const args = (m[2] ?? "").trim();
  const shebang = args ? `#!/usr/bin/env -S ${name} ${args}` : `#!/usr/bin/env ${name}`;
  return Buffer.concat([Buffer.from(shebang + cr), data.subarray(eol)]);
}

/** True when `data` looks like text: no NUL byte and valid UTF-8 (conda-pack's test). */
export function isText(data: Buffer): boolean {
  if (data.includes(0)) return false;
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(data);
    return true;
  } catch {
    return false;
  }
}
