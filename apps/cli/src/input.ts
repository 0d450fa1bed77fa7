import { IntegrityError, InvalidInputError } from "@cluster-pack/errors";

/**
 * Reads a file or URL the user named on the command line. Bytes that fail their checks
 * there (a truncated PEX, a corrupt zip) are bad input the user gave, exit 2 as a missing
 * file is, in every command; the same failure on data the tool fetched itself (an index's
 * wheel) stays an operation failure (exit 1). A store's "no such file" for the named path
 * becomes one line naming it.
 */
export async function asInput<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof IntegrityError) throw new InvalidInputError(err.message, { code: err.code, cause: err, optionNames: err.optionNames, ...(err.hint === undefined ? {} : { hint: err.hint }) });
    const e = err as { code?: unknown; driver?: unknown; path?: unknown };
    if (e.code === "ENOENT" && typeof e.driver === "string" && typeof e.path === "string") {
      throw new InvalidInputError(`${e.path} does not exist.`, { code: "ERR_FILE_NOT_FOUND", cause: err, hint: "check the path." });
    }
    throw err;
  }
}
