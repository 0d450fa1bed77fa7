import crypto, { randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import os from "node:os";
import path from "node:path";

/** What the fault hook may do with one request before s3rver sees it. */
export type S3Fault =
  | { status: number; code: string; message?: string }
  /** Destroy the connection before answering (a crash / connection reset). */
  | "reset"
  /** Let s3rver answer, but cut the connection after this many body bytes (reset mid-download). */
  | { resetAfterBytes: number }
  /** Read the request, never answer (a stalled server or a black-holed connection). */
  | "hang";

export interface S3RequestInfo {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  /** Bytes of the request body (its Content-Length; the kit's clients send no chunked bodies). */
  bytesIn: number;
  /** Bytes of the response body sent so far (what a download actually fetched). */
  bytesOut: number;
}

export interface TestS3Server {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  /** s3rver's storage directory (removed by close()). */
  directory: string;
  /** Settings for S3FileSystem / S3Client (path style, the S3RVER account, checksums only when required). */
  clientOptions: {
    endpoint: string;
    region: string;
    forcePathStyle: true;
    credentials: { accessKeyId: string; secretAccessKey: string };
    clientConfig: { requestChecksumCalculation: "WHEN_REQUIRED"; responseChecksumValidation: "WHEN_REQUIRED" };
  };
  /** Every request seen (for round-trip counts); clear with `requests.length = 0`. */
  requests: S3RequestInfo[];
  /** Decides per request whether to inject a fault; undefined = pass through. */
  fault: ((req: S3RequestInfo) => S3Fault | undefined) | undefined;
  createBucket(name: string): Promise<void>;
  /** Multipart uploads started and neither completed nor aborted. */
  pendingUploads(bucket: string): string[];
  /** Kills the server: every open connection is destroyed, new ones are refused. */
  stop(): Promise<void>;
  /** Starts it again on the same port and storage. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts s3rver on 127.0.0.1 behind a thin front server of ours. s3rver's limits, and
 * how the kit closes the gap with what S3 guarantees (so tests exercise our code, not
 * s3rver's shortcuts):
 * - s3rver writes objects in place (a reader can see a half-written object, and its PUT
 *   answers before the file is flushed); S3 makes a PUT or completed multipart upload
 *   visible atomically. The kit patches the store to write a temporary file and rename it.
 *   Metadata stays in s3rver's separate files, so it follows the object by a moment.
 * - s3rver has no AbortMultipartUpload or ListMultipartUploads; the front server answers
 *   both from s3rver's upload directory.
 * - s3rver checks the access key id (account S3RVER/S3RVER) but does not verify SigV4
 *   signatures: a wrong secret is accepted. Tests of that case inject the 403
 *   SignatureDoesNotMatch answer S3 would give through the `fault` hook.
 */
export async function startS3Server(options: { buckets?: string[]; port?: number } = {}): Promise<TestS3Server> {
  const S3rver = loadS3rver();
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "cp-s3rver-"));
  const app = new S3rver({ directory, silent: true, address: "127.0.0.1", configureBuckets: (options.buckets ?? []).map((name) => ({ name })) });
  makeWritesAtomic(app.store);
  fixListingAndRanges(app.store);
  guardParts(app.store);
  await app.configureBuckets();
  const handler = app.callback() as http.RequestListener;

  const sockets = new Set<Socket>();
  const kit: TestS3Server = {
    endpoint: "",
    port: options.port ?? 0,
    directory,
    clientOptions: undefined as never,
    requests: [],
    fault: undefined,
    async createBucket(name) {
      await app.store.putBucket(name);
    },
    pendingUploads(bucket) {
      const dir = app.store.getResourcePath(bucket, undefined, "uploads");
      return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    async start() {
      server = createServer();
      await listen(server, kit.port);
    },
    async close() {
      if (server.listening) await kit.stop();
      app.logger?.close?.();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };

  const createServer = () => {
    const s = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      const info: S3RequestInfo = { method: req.method ?? "GET", path: url.pathname, query: url.searchParams, headers: req.headers, bytesIn: Number(req.headers["content-length"] ?? 0) || 0, bytesOut: 0 };
      kit.requests.push(info);
      countBody(res, info);
      const fault = kit.fault?.(info);
      if (fault === "reset") {
        req.socket.destroy();
        return;
      }
      if (fault === "hang") {
        req.resume();
        return;
      }
      if (fault && "status" in fault) {
        req.resume();
        res.writeHead(fault.status, { "content-type": "application/xml" });
        res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.code}</Code><Message>${fault.message ?? fault.code}</Message><RequestId>kit</RequestId></Error>`);
        return;
      }
      if (fault && "resetAfterBytes" in fault) cutAfter(res, fault.resetAfterBytes);
      try {
        if (handleMissingMultipartOps(app.store, info, req, res)) return;
      } catch (err) {
        // A kit bug must answer like a broken store (500), never crash the test process or leave the client waiting.
        req.resume();
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/xml" });
        res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code><Message>${escapeXml(String((err as Error).message))}</Message></Error>`);
        return;
      }
      handler(req, res);
    });
    s.on("connection", (sock) => {
      sockets.add(sock);
      sock.on("close", () => sockets.delete(sock));
    });
    return s;
  };
  let server = createServer();
  await listen(server, kit.port);
  kit.port = (server.address() as AddressInfo).port;
  kit.endpoint = `http://127.0.0.1:${kit.port}`;
  kit.clientOptions = {
    endpoint: kit.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    // s3rver predates the SDK's default CRC32 trailers (aws-chunked bodies); send checksums only when required.
    clientConfig: { requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" },
  };
  return kit;
}

// s3rver ships no types: the part of it the kit drives and patches.
interface S3rverApp {
  store: S3rverStore;
  logger?: { close?(): void };
  callback(): http.RequestListener;
  configureBuckets(): Promise<void>;
}
interface S3rverObject {
  content?: NodeJS.ReadableStream & { destroy(): void };
  range?: { start: number; end: number };
}
interface S3rverStore {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  putBucket(name: string): Promise<void>;
  listObjects(bucket: string, options: { delimiter?: string; prefix?: string; maxKeys?: number }): Promise<{ objects: { key: string }[]; commonPrefixes: string[]; isTruncated: boolean }>;
  getObject(bucket: string, key: string, options?: { start?: number; end?: number }): Promise<S3rverObject | null>;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5?: string): Promise<void>;
  putObject(object: { bucket: string; key: string; content: Buffer | NodeJS.ReadableStream; metadata: Record<string, string> }): Promise<{ size: number; md5: string }>;
  putPart(bucket: string, uploadId: string, partNumber: number, content: NodeJS.ReadableStream): Promise<{ size: number; md5: string }>;
}
type S3ErrorCtor = new (code: string, message: string, detail: Record<string, string>) => Error;

/**
 * s3rver, required lazily: it is an optional peer dependency of @cluster-pack/fs, needed
 * only by this kit (and heavy), so `@cluster-pack/fs/test-kit` loads without it.
 */
function loadS3rver(): new (options: Record<string, unknown>) => S3rverApp {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer, loaded on first use
    return require("s3rver");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND" && String((err as Error).message).includes("'s3rver'")) {
      throw new Error("startS3Server needs s3rver, an optional peer dependency of @cluster-pack/fs: npm install --save-dev --save-exact s3rver@3.7.1", { cause: err });
    }
    throw err;
  }
}

function listen(server: http.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** Adds every response body byte written to `info.bytesOut`. */
function countBody(res: http.ServerResponse, info: S3RequestInfo): void {
  const size = (chunk: unknown) => (chunk === undefined || chunk === null || typeof chunk === "function" ? 0 : Buffer.isBuffer(chunk) || chunk instanceof Uint8Array ? chunk.byteLength : Buffer.byteLength(String(chunk)));
  const write = res.write.bind(res) as (chunk: unknown, ...rest: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => http.ServerResponse;
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    info.bytesOut += size(chunk);
    return write(chunk, ...rest);
  }) as typeof res.write;
  res.end = ((...args: unknown[]) => {
    info.bytesOut += size(args[0]);
    return end(...args);
  }) as typeof res.end;
}

/** Destroys the connection once `limit` body bytes have gone out. */
function cutAfter(res: http.ServerResponse, limit: number): void {
  let sent = 0;
  const write = res.write.bind(res) as (chunk: unknown, ...rest: unknown[]) => boolean;
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    if (sent + buf.length >= limit) {
      const ok = write(buf.subarray(0, Math.max(0, limit - sent)), ...rest);
      sent = limit;
      setImmediate(() => res.socket?.destroy());
      return ok;
    }
    sent += buf.length;
    return write(buf, ...rest);
  }) as typeof res.write;
}

/** AbortMultipartUpload and ListMultipartUploads, which s3rver lacks. */
function handleMissingMultipartOps(store: S3rverStore, info: S3RequestInfo, req: http.IncomingMessage, res: http.ServerResponse): boolean {
  const [, bucket, ...keyParts] = info.path.split("/");
  if (!bucket) return false;
  const uploadsDir = store.getResourcePath(bucket, undefined, "uploads");
  if (info.method === "DELETE" && info.query.has("uploadId") && keyParts.length) {
    req.resume();
    const id = info.query.get("uploadId") ?? "";
    const dir = path.join(uploadsDir, path.basename(id));
    if (!id || !fs.existsSync(dir)) {
      res.writeHead(404, { "content-type": "application/xml" });
      res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>`);
      return true;
    }
    // Like S3, the abort is one atomic step: the upload leaves `uploads/` by a rename, so a
    // part still arriving finds no upload (NoSuchUpload) instead of racing the removal
    // (rmSync of a directory a part is being written into fails with ENOTEMPTY).
    const grave = path.join(store.getResourcePath(bucket, undefined, "aborted"), `${path.basename(id)}-${randomBytes(4).toString("hex")}`);
    fs.mkdirSync(path.dirname(grave), { recursive: true });
    fs.renameSync(dir, grave);
    fs.rmSync(grave, { recursive: true, force: true, maxRetries: 5 });
    res.writeHead(204);
    res.end();
    return true;
  }
  if (info.method === "GET" && info.query.has("uploads") && keyParts.length === 0) {
    req.resume();
    const ids = fs.existsSync(uploadsDir) ? fs.readdirSync(uploadsDir) : [];
    const uploads = ids
      .map((id) => `<Upload><Key>${escapeXml(fs.readFileSync(path.join(uploadsDir, id, "key"), "utf8"))}</Key><UploadId>${id}</UploadId></Upload>`)
      .join("");
    res.writeHead(200, { "content-type": "application/xml" });
    res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult><Bucket>${bucket}</Bucket>${uploads}</ListMultipartUploadsResult>`);
    return true;
  }
  return false;
}

/**
 * Two s3rver listing/range bugs that real S3 does not have: a delimiter listing drops the
 * common prefix of keys nested two levels below it, and `Range: bytes=0-0` returns the
 * whole object (its code treats end 0 as "no end").
 */
function fixListingAndRanges(store: S3rverStore): void {
  const listObjects = store.listObjects.bind(store);
  store.listObjects = async (bucket: string, options: { delimiter?: string; prefix?: string; maxKeys?: number }) => {
    const { delimiter = "", prefix = "", maxKeys = Infinity } = options;
    if (!delimiter) return listObjects(bucket, options);
    const all = await listObjects(bucket, { ...options, delimiter: "", maxKeys: Infinity });
    const objects: { key: string }[] = [];
    const prefixes = new Set<string>();
    let isTruncated = false;
    for (const o of [...(all.objects as { key: string }[])].sort((a, b) => (a.key < b.key ? -1 : 1))) {
      const rest = o.key.slice(prefix.length);
      const idx = rest.indexOf(delimiter);
      const cp = idx === -1 ? undefined : prefix + rest.slice(0, idx + delimiter.length);
      if (cp !== undefined && prefixes.has(cp)) continue;
      if (objects.length + prefixes.size >= maxKeys) {
        isTruncated = true;
        break;
      }
      if (cp !== undefined) prefixes.add(cp);
      else objects.push(o);
    }
    return { objects, commonPrefixes: [...prefixes].sort(), isTruncated };
  };
  const getObject = store.getObject.bind(store);
  store.getObject = async (bucket: string, key: string, options?: { start?: number; end?: number }) => {
    if (options?.end !== 0) return getObject(bucket, key, options);
    const object = await getObject(bucket, key, { start: options.start ?? 0, end: 1 });
    if (object?.content) {
      object.content.destroy();
      object.content = fs.createReadStream(store.getResourcePath(bucket, key, "object"), { start: 0, end: 0 });
      object.range = { start: 0, end: 0 };
    }
    return object;
  };
}

/**
 * s3rver writes a part with an unguarded write stream and recreates a removed upload
 * directory: a part still arriving after an abort would crash the process or resurrect the
 * upload. Like S3, a part for an unknown upload is NoSuchUpload.
 */
function guardParts(store: S3rverStore): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- s3rver's own error class, loaded with s3rver
  const S3Error = require("s3rver/lib/models/error") as S3ErrorCtor;
  store.putPart = async (bucket: string, uploadId: string, partNumber: number, content: NodeJS.ReadableStream) => {
    const dir = path.join(store.getResourcePath(bucket, undefined, "uploads"), uploadId);
    if (!fs.existsSync(path.join(dir, "key"))) {
      content.resume();
      throw new S3Error("NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", { UploadId: uploadId });
    }
    const partPath = path.join(dir, String(partNumber));
    const tmp = `${partPath}.tmp-${randomBytes(6).toString("hex")}`;
    try {
      const { size, md5: digest } = await writeToFile(content, tmp);
      await fs.promises.writeFile(`${tmp}.md5`, digest);
      await fs.promises.rename(`${tmp}.md5`, `${partPath}.md5`);
      await fs.promises.rename(tmp, partPath);
      return { size, md5: digest };
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      await fs.promises.rm(`${tmp}.md5`, { force: true });
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new S3Error("NoSuchUpload", "The specified upload does not exist (aborted while this part was sent).", { UploadId: uploadId });
      throw err;
    }
  };
}

/** Patches s3rver's FilesystemStore so an object appears whole or not at all, like on S3. */
function makeWritesAtomic(store: S3rverStore): void {
  const writeAtomic = async (file: string, data: string) => {
    const tmp = `${file}.tmp-${randomBytes(6).toString("hex")}`;
    await fs.promises.writeFile(tmp, data);
    await fs.promises.rename(tmp, file);
  };
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded with s3rver
  const allowed: string[] = require("s3rver/lib/models/object").ALLOWED_METADATA;
  // s3rver rewrites metadata.json in place too; a reader could parse half a file.
  store.putMetadata = async function putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5?: string) {
    const metadataPath: string = store.getResourcePath(bucket, key, "metadata.json");
    const md5Path: string = store.getResourcePath(bucket, key, "object.md5");
    const json: Record<string, string> = {};
    for (const [k, v] of Object.entries(metadata ?? {})) {
      if (k.startsWith("x-amz-meta-") || allowed.includes(k)) json[k] = v;
    }
    if (md5) await writeAtomic(md5Path, md5);
    await writeAtomic(metadataPath, JSON.stringify(json, null, 2));
  };
  store.putObject = async function putObject(object: { bucket: string; key: string; content: Buffer | NodeJS.ReadableStream; metadata: Record<string, string> }) {
    const objectPath: string = store.getResourcePath(object.bucket, object.key, "object");
    await fs.promises.mkdir(path.dirname(objectPath), { recursive: true });
    const tmp = `${objectPath}.tmp-${randomBytes(6).toString("hex")}`;
    try {
      const { size, md5: digest } = await writeToFile(object.content, tmp);
      // Object first, then its metadata: a reader may briefly see new bytes with old metadata,
      // which makes an up-to-date check say "stale" (safe), never the reverse.
      await fs.promises.rename(tmp, objectPath);
      await store.putMetadata(object.bucket, object.key, object.metadata, digest);
      return { size, md5: digest };
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      throw err;
    }
  };
}

/** Streams (or writes) `content` to `file`, with its size and MD5 (s3rver's ETag). */
async function writeToFile(content: Buffer | NodeJS.ReadableStream, file: string): Promise<{ size: number; md5: string }> {
  const md5 = crypto.createHash("md5");
  let size = 0;
  await new Promise<void>((resolve, reject) => {
    const out = fs.createWriteStream(file);
    out.on("error", reject).on("close", () => resolve());
    if (Buffer.isBuffer(content)) {
      md5.update(content);
      size = content.length;
      out.end(content);
      return;
    }
    content.on("error", (err) => {
      out.destroy();
      reject(err);
    });
    content.on("data", (chunk: Buffer) => {
      md5.update(chunk);
      size += chunk.length;
      if (!out.write(chunk)) {
        content.pause();
        out.once("drain", () => content.resume());
      }
    });
    content.on("end", () => out.end());
  });
  return { size, md5: md5.digest("hex") };
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
