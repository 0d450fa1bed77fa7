/**
 * One base error for the whole project. Every error has a stable `code` that callers and
 * the CLI can switch on, a message that says what was wrong, where, and what to do, and
 * keeps the underlying error as `cause`. Messages never carry credentials: pass URLs
 * through `redactUrl` before putting them in a message.
 */
export class ClusterPackError extends Error {
  readonly code: string;
  /**
   * The options of the library call that the message names, each written in it as
   * `name` (in backticks): a front end shows them its own way (the CLI as its flags, see
   * `phraseOptions`), so a library message never has to mention a flag its users lack.
   */
  readonly optionNames: readonly string[];

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.optionNames = options?.optionNames ?? [];
    this.name = new.target.name;
  }
}

export interface ErrorOptions {
  cause?: unknown;
  /** Library options the message names as `name`; see ClusterPackError.optionNames. */
  optionNames?: readonly string[];
}

/** The input was wrong: a file, an option, a requirement. The message names it and the fix. */
export class InvalidInputError extends ClusterPackError {
  constructor(message: string, options?: ErrorOptions & { code?: string }) {
    super(options?.code ?? "ERR_INVALID_INPUT", message, options);
  }
}

/** Data read from outside (an archive, an index, a remote store) is not what it claims to be. */
export class IntegrityError extends ClusterPackError {
  constructor(message: string, options?: ErrorOptions & { code?: string }) {
    super(options?.code ?? "ERR_INTEGRITY", message, options);
  }
}

/**
 * An error's message with each option it names (`name`, listed in `optionNames`) spelled
 * by `spell`, e.g. as the CLI flag that sets it: "pass `force`" becomes "pass --force".
 * Names `spell` does not know keep their library spelling.
 */
export function phraseOptions(err: unknown, spell: (name: string) => string | undefined): string {
  const message = err instanceof Error ? err.message : String(err);
  const names = err instanceof ClusterPackError ? err.optionNames : [];
  let out = message;
  for (const name of names) {
    const flag = spell(name);
    if (flag !== undefined) out = out.split(`\`${name}\``).join(flag);
  }
  return out;
}

/** The operation was cancelled through an AbortSignal. */
export class AbortError extends ClusterPackError {
  constructor(message = "The operation was aborted", options?: { cause?: unknown }) {
    super("ABORT_ERR", message, options);
  }
}

/** Throws an AbortError when `signal` is aborted; call it between units of work. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new AbortError(undefined, { cause: signal.reason });
  }
}

/** True when `err` is a ClusterPackError with this code (works across package copies). */
export function hasErrorCode(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === code;
}

const SECRET_QUERY_KEYS = /^(x-amz-signature|x-amz-credential|x-amz-security-token|signature|token|delegation|access_token|password|secret)$/i;

/**
 * Strips what must never be printed from a URL: user info (`user:pass@`), and query
 * parameters that carry signatures or tokens. It cannot fail open: a string that does not
 * parse as a URL (`http://user:pw@[bad/simple`) still loses everything between `//` and
 * the last `@`, and its secret-looking query values.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return redactUnparsed(url);
  }
  if (parsed.username || parsed.password) {
    parsed.username = parsed.username ? "***" : "";
    parsed.password = "";
  }
  for (const key of [...parsed.searchParams.keys()]) {
    if (SECRET_QUERY_KEYS.test(key)) parsed.searchParams.set(key, "***");
  }
  return parsed.toString();
}

/** Redaction by pattern alone, for strings the URL parser refuses: removes too much rather than too little. */
function redactUnparsed(text: string): string {
  return text
    .replace(/\/\/[^]*@/, "//***@")
    .replace(/([?&;])([^=&#\s]+)=([^&#\s]*)/g, (all, sep: string, key: string) => (SECRET_QUERY_KEYS.test(key) ? `${sep}${key}=***` : all));
}
