import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";

/** A real S3 server (s3rver) on 127.0.0.1 with one bucket, and a client for it. */
export interface LocalS3 {
  endpoint: string;
  bucket: string;
  client: S3Client;
  put(key: string, file: string): Promise<string>;
  /** Downloads `s3://`/`s3a://` URLs of this server's bucket to `dest`. */
  download(url: string, dest: string): Promise<void>;
  stop(): Promise<void>;
}

// s3rver ships no types; this is the part of its API the kit uses.
interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverCtor = new (options: Record<string, unknown>) => S3rverInstance;

/**
 * Starts s3rver on a free loopback port with credentials S3RVER/S3RVER. Another package
 * (`@cluster-pack/fs`) is building a shared kit; this one only needs put/get.
 */
export async function startLocalS3(bucket = "envs"): Promise<LocalS3> {
  const S3rver = require("s3rver") as S3rverCtor;
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "cp-engines-s3-"));
  const server = new S3rver({ address: "127.0.0.1", port: 0, directory, silent: true, configureBuckets: [{ name: bucket, configs: [] }] });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    // The SDK's default CRC32 over every body is computed in JavaScript: minutes for the
    // 300 MB Ray environment; the tests compare what they run, not checksums.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  return {
    endpoint,
    bucket,
    client,
    async put(key, file) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: fs.createReadStream(file), ContentLength: fs.statSync(file).size }));
      return `s3://${bucket}/${key}`;
    },
    async download(url, dest) {
      const m = /^s3a?:\/\/([^/]+)\/(.+)$/.exec(url);
      if (!m || m[1] !== bucket) throw new Error(`test S3 server has no object at ${url}`);
      const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: m[2] }));
      if (!res.Body) throw new Error(`empty body for ${url}`);
      await pipeline(res.Body as NodeJS.ReadableStream, fs.createWriteStream(dest));
    },
    async stop() {
      client.destroy();
      await server.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}
