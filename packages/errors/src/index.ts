/**
 * One base error for the whole project. Every error has a stable `code` that callers and
 * the CLI can switch on, a message that says what was wrong and where, a `hint` that says
 * what to do (never inside the message: a test scans the sources for that), and keeps the
 * underlying error as `cause`. Messages never carry credentials: pass URLs
 * through `redactUrl` before putting them in a message.
 */
export class ClusterPackError extends Error {
  readonly code: string;
  /** What to do about it, in one sentence, kept apart from the message so a front end can show it on its own line. */
  readonly hint: string | undefined;
  /**
   * The options of the library call that the message names, each written in it as
   * `name` (in backticks): a front end shows them its own way (the CLI as its flags, see
   * `phraseOptions`), so a library message never has to mention a flag its users lack.
   */
  readonly optionNames: readonly string[];

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options?.hint;
    this.optionNames = options?.optionNames ?? [];
    this.name = new.target.name;
  }
}

/** What every error of the project accepts besides its message. */
export interface ErrorOptions {
  cause?: unknown;
  /** The fix, when the message alone does not say it (flags as the CLI spells them). */
  hint?: string;
  /** Library options the message names as `name`; see ClusterPackError.optionNames. */
  optionNames?: readonly string[];
}

/** The input was wrong: a file, an option, a requirement. The message names it, the hint gives the fix. */
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
 * Names `spell` does not know keep their library spelling. `text` (default: the message)
 * phrases another text of the error the same way, such as its hint.
 */
export function phraseOptions(err: unknown, spell: (name: string) => string | undefined, text?: string): string {
  const message = text ?? (err instanceof Error ? err.message : String(err));
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
  constructor(message = "The operation was aborted", options?: ErrorOptions) {
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

/** An error as plain data, for crossing a worker thread or a process boundary (structured-cloneable, JSON-safe). */
export interface ErrorData {
  /** The class name: `InvalidInputError` and `IntegrityError` come back as themselves, `AbortError` too. */
  name?: string;
  message: string;
  code?: string;
  hint?: string;
  optionNames?: string[];
  path?: string;
}

/** The plain-data form of any thrown value (keeps code, hint and the class name). */
export function errorToData(err: unknown): ErrorData {
  const e = (typeof err === "object" && err !== null ? err : {}) as Record<string, unknown>;
  const data: ErrorData = { message: typeof e.message === "string" ? e.message : String(err) };
  if (typeof e.name === "string") data.name = e.name;
  if (typeof e.code === "string") data.code = e.code;
  if (typeof e.hint === "string") data.hint = e.hint;
  if (typeof e.path === "string") data.path = e.path;
  if (Array.isArray(e.optionNames) && e.optionNames.length) data.optionNames = e.optionNames.filter((n): n is string => typeof n === "string");
  return data;
}

/**
 * The error `errorToData` described, rebuilt as the same class with the same code and hint
 * (an error without a code becomes a ClusterPackError with `fallbackCode`).
 */
export function errorFromData(data: ErrorData, fallbackCode = "ERR_WORKER"): ClusterPackError {
  const options: ErrorOptions & { code?: string } = {
    ...(data.hint === undefined ? {} : { hint: data.hint }),
    ...(data.optionNames ? { optionNames: data.optionNames } : {}),
  };
  const code = data.code ?? fallbackCode;
  switch (data.name) {
    case "InvalidInputError":
      return new InvalidInputError(data.message, { ...options, code });
    case "IntegrityError":
      return new IntegrityError(data.message, { ...options, code });
    case "AbortError":
      return new AbortError(data.message, options);
    default:
      return new ClusterPackError(code, data.message, options);
  }
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

export { ERRORS_ERROR_CODES, type ErrorsErrorCode } from "./error-codes";
