/**
 * The S3 server of @cluster-pack/fs's test kit (s3rver on loopback, atomic writes,
 * request log, fault hooks), typed for this package's tests: the kit is not part of
 * @cluster-pack/fs's exports, so it is required through jest's workspace mapping.
 */
export interface S3Kit {
  endpoint: string;
  clientOptions: {
    endpoint: string;
    region: string;
    forcePathStyle: true;
    credentials: { accessKeyId: string; secretAccessKey: string };
    clientConfig: Record<string, string>;
  };
  requests: { method: string; path: string; query: URLSearchParams; headers: Record<string, string | string[] | undefined>; bytesIn: number; bytesOut: number }[];
  /** Answers a request with an error instead of passing it to s3rver (see @cluster-pack/fs's kit). */
  fault: ((req: { method: string; path: string }) => { status: number; code: string; message?: string } | "reset" | undefined) | undefined;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startS3(buckets: string[]): Promise<S3Kit> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const kit = require("@cluster-pack/fs/test-kit/s3-server") as { startS3Server(o: { buckets: string[] }): Promise<S3Kit> };
  return kit.startS3Server({ buckets });
}

/** @cluster-pack/fs's WebHDFS server (Hadoop's REST protocol on loopback, backed by a directory). */
export interface WebHdfsKit {
  namenode: string;
  datanode: string;
  root: string;
  requests: { server: "namenode" | "datanode"; method: string; op: string; path: string }[];
  close(): Promise<void>;
}

export async function startWebHdfs(options: { superuser?: string } = {}): Promise<WebHdfsKit> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const kit = require("@cluster-pack/fs/test-kit/webhdfs-server") as { startWebHdfsServer(o: { superuser?: string }): Promise<WebHdfsKit> };
  return kit.startWebHdfsServer(options);
}
