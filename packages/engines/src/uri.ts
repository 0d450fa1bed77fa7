import { locationScheme } from "@cluster-pack/io";

/**
 * The scheme of a URL in lower case (`s3`, `hdfs`, `https`), or `undefined` for a plain
 * path; a scheme without its `//` (`s3:/x`) is refused (ERR_INVALID_URL). The rule is
 * @cluster-pack/io's `locationScheme`, shared with the stores that upload the archives.
 */
export function urlScheme(url: string): string | undefined {
  return locationScheme(url);
}

/**
 * Rewrites `s3://` and `s3n://` to `s3a://`: Hadoop (and so Spark and YARN) only ships the
 * s3a connector, while the rest of the world writes `s3://`.
 */
export function toS3a(url: string): string {
  return url.replace(/^s3n?:\/\//i, "s3a://");
}

/** The inverse for tools that speak S3 directly (Ray, boto3, fsspec): `s3a://` -> `s3://`. */
export function toS3(url: string): string {
  return url.replace(/^s3[an]:\/\//i, "s3://");
}

/**
 * `hdfs://nn:8020` for a resource on a named HDFS (or webhdfs/swebhdfs), undefined for
 * anything else or `hdfs:///path` (the default file system, already covered).
 */
export function hadoopFsRoot(url: string): string | undefined {
  const scheme = urlScheme(url);
  if (scheme !== "hdfs" && scheme !== "webhdfs" && scheme !== "swebhdfs" && scheme !== "viewfs") return undefined;
  const m = /^[A-Za-z]+:\/\/([^/?#]+)/.exec(url);
  if (!m) return undefined;
  return `${scheme}://${m[1]!.replace(/^[^@]*@/, "")}`;
}
