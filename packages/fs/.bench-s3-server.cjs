"use strict";
var __importDefault = (this && this.__importDefault) || function (mod) {
    return (mod && mod.__esModule) ? mod : { "default": mod };
};
Object.defineProperty(exports, "__esModule", { value: true });
exports.startS3Server = startS3Server;
const node_crypto_1 = require("node:crypto");
const node_fs_1 = __importDefault(require("node:fs"));
const node_http_1 = __importDefault(require("node:http"));
const node_os_1 = __importDefault(require("node:os"));
const node_path_1 = __importDefault(require("node:path"));
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
async function startS3Server(options = {}) {
    // Required lazily: s3rver is a test-only dependency.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const S3rver = require("s3rver");
    const directory = node_fs_1.default.mkdtempSync(node_path_1.default.join(node_os_1.default.tmpdir(), "cp-s3rver-"));
    const app = new S3rver({ directory, silent: true, address: "127.0.0.1", configureBuckets: (options.buckets ?? []).map((name) => ({ name })) });
    makeWritesAtomic(app.store);
    fixListingAndRanges(app.store);
    guardParts(app.store);
    await app.configureBuckets();
    const handler = app.callback();
    const sockets = new Set();
    const kit = {
        endpoint: "",
        port: options.port ?? 0,
        directory,
        clientOptions: undefined,
        requests: [],
        fault: undefined,
        async createBucket(name) {
            await app.store.putBucket(name);
        },
        pendingUploads(bucket) {
            const dir = app.store.getResourcePath(bucket, undefined, "uploads");
            return node_fs_1.default.existsSync(dir) ? node_fs_1.default.readdirSync(dir) : [];
        },
        async stop() {
            for (const s of sockets)
                s.destroy();
            await new Promise((resolve) => server.close(() => resolve()));
        },
        async start() {
            server = createServer();
            await listen(server, kit.port);
        },
        async close() {
            if (server.listening)
                await kit.stop();
            app.logger?.close?.();
            node_fs_1.default.rmSync(directory, { recursive: true, force: true });
        },
    };
    const createServer = () => {
        const s = node_http_1.default.createServer((req, res) => {
            const url = new URL(req.url ?? "/", "http://x");
            const info = { method: req.method ?? "GET", path: url.pathname, query: url.searchParams, headers: req.headers };
            kit.requests.push(info);
            const fault = kit.fault?.(info);
            if (fault === "reset") {
                req.socket.destroy();
                return;
            }
            if (fault && "status" in fault) {
                req.resume();
                res.writeHead(fault.status, { "content-type": "application/xml" });
                res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.code}</Code><Message>${fault.message ?? fault.code}</Message><RequestId>kit</RequestId></Error>`);
                return;
            }
            if (fault && "resetAfterBytes" in fault)
                cutAfter(res, fault.resetAfterBytes);
            if (handleMissingMultipartOps(app.store, info, req, res))
                return;
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
    kit.port = server.address().port;
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
function listen(server, port) {
    return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, "127.0.0.1", () => {
            server.off("error", reject);
            resolve();
        });
    });
}
/** Destroys the connection once `limit` body bytes have gone out. */
function cutAfter(res, limit) {
    let sent = 0;
    const write = res.write.bind(res);
    res.write = ((chunk, ...rest) => {
        const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
        if (sent + buf.length >= limit) {
            const ok = write(buf.subarray(0, Math.max(0, limit - sent)), ...rest);
            sent = limit;
            setImmediate(() => res.socket?.destroy());
            return ok;
        }
        sent += buf.length;
        return write(buf, ...rest);
    });
}
/** AbortMultipartUpload and ListMultipartUploads, which s3rver lacks. */
function handleMissingMultipartOps(store, info, req, res) {
    const [, bucket, ...keyParts] = info.path.split("/");
    if (!bucket)
        return false;
    const uploadsDir = store.getResourcePath(bucket, undefined, "uploads");
    if (info.method === "DELETE" && info.query.has("uploadId") && keyParts.length) {
        req.resume();
        const id = info.query.get("uploadId") ?? "";
        const dir = node_path_1.default.join(uploadsDir, node_path_1.default.basename(id));
        if (!id || !node_fs_1.default.existsSync(dir)) {
            res.writeHead(404, { "content-type": "application/xml" });
            res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>`);
            return true;
        }
        node_fs_1.default.rmSync(dir, { recursive: true, force: true });
        res.writeHead(204);
        res.end();
        return true;
    }
    if (info.method === "GET" && info.query.has("uploads") && keyParts.length === 0) {
        req.resume();
        const ids = node_fs_1.default.existsSync(uploadsDir) ? node_fs_1.default.readdirSync(uploadsDir) : [];
        const uploads = ids
            .map((id) => `<Upload><Key>${escapeXml(node_fs_1.default.readFileSync(node_path_1.default.join(uploadsDir, id, "key"), "utf8"))}</Key><UploadId>${id}</UploadId></Upload>`)
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
function fixListingAndRanges(store) {
    const listObjects = store.listObjects.bind(store);
    store.listObjects = async (bucket, options) => {
        const { delimiter = "", prefix = "", maxKeys = Infinity } = options;
        if (!delimiter)
            return listObjects(bucket, options);
        const all = await listObjects(bucket, { ...options, delimiter: "", maxKeys: Infinity });
        const objects = [];
        const prefixes = new Set();
        let isTruncated = false;
        for (const o of [...all.objects].sort((a, b) => (a.key < b.key ? -1 : 1))) {
            const rest = o.key.slice(prefix.length);
            const idx = rest.indexOf(delimiter);
            const cp = idx === -1 ? undefined : prefix + rest.slice(0, idx + delimiter.length);
            if (cp !== undefined && prefixes.has(cp))
                continue;
            if (objects.length + prefixes.size >= maxKeys) {
                isTruncated = true;
                break;
            }
            if (cp !== undefined)
                prefixes.add(cp);
            else
                objects.push(o);
        }
        return { objects, commonPrefixes: [...prefixes].sort(), isTruncated };
    };
    const getObject = store.getObject.bind(store);
    store.getObject = async (bucket, key, options) => {
        if (options?.end !== 0)
            return getObject(bucket, key, options);
        const object = await getObject(bucket, key, { start: options.start ?? 0, end: 1 });
        if (object?.content) {
            object.content.destroy();
            object.content = node_fs_1.default.createReadStream(store.getResourcePath(bucket, key, "object"), { start: 0, end: 0 });
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
function guardParts(store) {
    const S3Error = require("s3rver/lib/models/error");
    const crypto = require("node:crypto");
    store.putPart = async (bucket, uploadId, partNumber, content) => {
        const dir = node_path_1.default.join(store.getResourcePath(bucket, undefined, "uploads"), uploadId);
        if (!node_fs_1.default.existsSync(node_path_1.default.join(dir, "key"))) {
            content.resume();
            throw new S3Error("NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", { UploadId: uploadId });
        }
        const partPath = node_path_1.default.join(dir, String(partNumber));
        const tmp = `${partPath}.tmp-${(0, node_crypto_1.randomBytes)(6).toString("hex")}`;
        const md5 = crypto.createHash("md5");
        let size = 0;
        try {
            await new Promise((resolve, reject) => {
                const out = node_fs_1.default.createWriteStream(tmp);
                out.on("error", reject).on("close", () => resolve());
                content.on("error", (err) => {
                    out.destroy();
                    reject(err);
                });
                content.on("data", (chunk) => {
                    md5.update(chunk);
                    size += chunk.length;
                    if (!out.write(chunk)) {
                        content.pause();
                        out.once("drain", () => content.resume());
                    }
                });
                content.on("end", () => out.end());
            });
            const digest = md5.digest("hex");
            await node_fs_1.default.promises.writeFile(`${tmp}.md5`, digest);
            await node_fs_1.default.promises.rename(`${tmp}.md5`, `${partPath}.md5`);
            await node_fs_1.default.promises.rename(tmp, partPath);
            return { size, md5: digest };
        }
        catch (err) {
            await node_fs_1.default.promises.rm(tmp, { force: true });
            await node_fs_1.default.promises.rm(`${tmp}.md5`, { force: true });
            if (err.code === "ENOENT")
                throw new S3Error("NoSuchUpload", "The specified upload does not exist (aborted while this part was sent).", { UploadId: uploadId });
            throw err;
        }
    };
}
/** Patches s3rver's FilesystemStore so an object appears whole or not at all, like on S3. */
function makeWritesAtomic(store) {
    const crypto = require("node:crypto");
    const writeAtomic = async (file, data) => {
        const tmp = `${file}.tmp-${(0, node_crypto_1.randomBytes)(6).toString("hex")}`;
        await node_fs_1.default.promises.writeFile(tmp, data);
        await node_fs_1.default.promises.rename(tmp, file);
    };
    const allowed = require("s3rver/lib/models/object").ALLOWED_METADATA;
    // s3rver rewrites metadata.json in place too; a reader could parse half a file.
    store.putMetadata = async function putMetadata(bucket, key, metadata, md5) {
        const metadataPath = store.getResourcePath(bucket, key, "metadata.json");
        const md5Path = store.getResourcePath(bucket, key, "object.md5");
        const json = {};
        for (const [k, v] of Object.entries(metadata ?? {})) {
            if (k.startsWith("x-amz-meta-") || allowed.includes(k))
                json[k] = v;
        }
        if (md5)
            await writeAtomic(md5Path, md5);
        await writeAtomic(metadataPath, JSON.stringify(json, null, 2));
    };
    store.putObject = async function putObject(object) {
        const objectPath = store.getResourcePath(object.bucket, object.key, "object");
        await node_fs_1.default.promises.mkdir(node_path_1.default.dirname(objectPath), { recursive: true });
        const tmp = `${objectPath}.tmp-${(0, node_crypto_1.randomBytes)(6).toString("hex")}`;
        const md5 = crypto.createHash("md5");
        let size = 0;
        try {
            await new Promise((resolve, reject) => {
                const out = node_fs_1.default.createWriteStream(tmp);
                out.on("error", reject).on("close", () => resolve());
                if (Buffer.isBuffer(object.content)) {
                    md5.update(object.content);
                    size = object.content.length;
                    out.end(object.content);
                    return;
                }
                const src = object.content;
                src.on("error", (err) => {
                    out.destroy();
                    reject(err);
                });
                src.on("data", (chunk) => {
                    md5.update(chunk);
                    size += chunk.length;
                    if (!out.write(chunk)) {
                        src.pause();
                        out.once("drain", () => src.resume());
                    }
                });
                src.on("end", () => out.end());
            });
            const digest = md5.digest("hex");
            // Object first, then its metadata: a reader may briefly see new bytes with old metadata,
            // which makes an up-to-date check say "stale" (safe), never the reverse.
            await node_fs_1.default.promises.rename(tmp, objectPath);
            await store.putMetadata(object.bucket, object.key, object.metadata, digest);
            return { size, md5: digest };
        }
        catch (err) {
            await node_fs_1.default.promises.rm(tmp, { force: true });
            throw err;
        }
    };
}
function escapeXml(s) {
    return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
