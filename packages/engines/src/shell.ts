/**
 * POSIX shell quoting for generated scripts. Hand-written because it is four lines and
 * the generated scripts must not depend on a library's choice of quoting style: words of
 * safe characters stay bare, anything else is single-quoted with `'` written as `'\''`.
 */
export function shellQuote(word: string): string {
  if (word !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A command line from argv, each word quoted as needed. */
export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(" ");
}

/** `export K=V` lines, in the given order. */
export function shellExports(env: Record<string, string>): string[] {
  return Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}`);
}
