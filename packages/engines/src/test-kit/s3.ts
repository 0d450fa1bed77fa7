import { S3FileSystem } from "@cluster-pack/fs/s3";
import { startS3Server, type TestS3Server } from "@cluster-pack/fs/test-kit";

/**
 * The one S3 test server (`@cluster-pack/fs/test-kit`: s3rver on loopback with S3's
 * atomic writes) with one bucket, and what these tests do with it through
 * `@cluster-pack/fs`'s S3 adapter: put a shipped file, and fetch a URL the way YARN's
 * localiser does.
 */
export interface LocalS3 {
  endpoint: string;
  bucket: string;
  server: TestS3Server;
  /** Uploads `file` as `key`; returns its `s3://` URL. */
  put(key: string, file: string): Promise<string>;
  /** Downloads `s3://`/`s3a://` URLs of this server's bucket to `dest`. */
  download(url: string, dest: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startLocalS3(bucket = "envs"): Promise<LocalS3> {
  const server = await startS3Server({ buckets: [bucket] });
  // The SDK's default CRC32 over every body is computed in JavaScript (minutes for the 300 MB
  // Ray environment): the kit's client options send checksums only when required.
  const store = new S3FileSystem(server.clientOptions);
  return {
    endpoint: server.endpoint,
    bucket,
    server,
    async put(key, file) {
      await store.put(file, `/${bucket}/${key}`);
      return `s3://${bucket}/${key}`;
    },
    // An arrow function: the tests pass it around as a plain callback.
    download: async (url, dest) => {
      const m = /^s3a?:\/\/([^/]+)\/(.+)$/.exec(url);
      if (!m || m[1] !== bucket) throw new Error(`test S3 server has no object at ${url}`);
      await store.get(`/${bucket}/${m[2]}`, dest);
    },
    async stop() {
      store.client.destroy();
      await server.close();
    },
  };
}
