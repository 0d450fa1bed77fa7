/**
 * The scheme of a URL in lower case (`s3`, `hdfs`, `https`), or `undefined` for a plain
 * path. Windows drive letters are not schemes.
 */
export function urlScheme(url: string): string | undefined {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url);
  if (!m || m[1] === undefined || m[1].length === 1) return undefined;
  return m[1].toLowerCase();
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
