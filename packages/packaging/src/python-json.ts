/**
 * JSON text as Python's `json.dumps(..., ensure_ascii=True)` writes it, from the text
 * `JSON.stringify` wrote: every UTF-16 unit from U+007F (DEL) up becomes a lower-case
 * `\uXXXX` escape (astral characters as their surrogate pair), as Python escapes all but
 * printable ASCII; `JSON.stringify` already escapes the control characters below U+0020.
 * Non-ASCII only occurs inside strings, so escaping it in the whole text is exact. Used
 * where our files must be byte-identical to the ones Python tools write (PEX-INFO,
 * cluster-pack's sidecar).
 */
export function ensureAscii(jsonText: string): string {
  return jsonText.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
