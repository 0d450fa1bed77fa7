import { InvalidInputError, redactUrl } from "@cluster-pack/errors";

/**
 * The scheme of a location in lower case (`s3`, `hdfs`, `https`, `file`), or `undefined`
 * for a local path: the one rule for telling a URL from a path, used wherever a store
 * path or an archive URL is taken (`@cluster-pack/fs`'s resolution, the engines' confs).
 *
 * A URL is `scheme://...`. A string that starts with a scheme and a colon but not `//`
 * (`s3:/bucket/key`, `hdfs:path`) is refused: read as a local path it would quietly
 * write `./s3:/bucket/key`. Only `file:/path` and Spark's `local:/path` are single-slash
 * forms with a meaning (RFC 8089; files present on every node). Windows drive letters
 * (`C:\x`) and paths starting with `.` or `/` are paths.
 */
export function locationScheme(location: string): string | undefined {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(\/\/)?/.exec(location);
  if (!m || m[1]!.length === 1) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (m[2] === undefined && !SINGLE_SLASH_SCHEMES.has(scheme)) {
    throw new InvalidInputError(
      `${redactUrl(location)} is not a valid URL: ${scheme} URLs start with ${scheme}:// (two slashes).`,
      { code: "ERR_INVALID_URL", hint: `for a local path with a colon in it, write ./${redactUrl(location)}.` },
    );
  }
  return scheme;
}

const SINGLE_SLASH_SCHEMES = new Set(["file", "local"]);
