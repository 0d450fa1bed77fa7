import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { AbortError } from "@cluster-pack/errors";
import { fileSource, httpRangeSource, ZipReader, ZipWriter } from "./index";
import { realWheel, tempDir } from "./test-kit";

jest.setTimeout(60_000);

/**
 * A real HTTP server on loopback. /range/<file> honours single byte ranges (like nginx,
 * S3), with an ETag; /norange/<file> ignores Range; /changing/<file> changes its ETag
 * after the first request; /private/<file> wants a Basic authorization; anything else 404.
 */
class TestServer {
  readonly requests: Array<{ url: string; range?: string; bytes: number }> = [];
  private server!: http.Server;
  private changingHits = 0;
  base = "";

  constructor(private readonly files: Record<string, string>) {}

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  get bytesSent(): number {
    return this.requests.reduce((n, r) => n + r.bytes, 0);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const [, mode, name] = (req.url ?? "").split("/");
    const file = this.files[name ?? ""];
    const log = { url: req.url ?? "", range: req.headers.range, bytes: 0 };
    this.requests.push(log);
    if (!file || !["range", "norange", "changing", "private"].includes(mode ?? "")) {
      res.writeHead(404).end("not found");
      return;
    }
    if (mode === "private" && req.headers.authorization !== `Basic ${Buffer.from("user:s3cret").toString("base64")}`) {
      res.writeHead(401).end();
      return;
    }
    const data = fs.readFileSync(file);
    const etag = mode === "changing" ? `"v${this.changingHits++ === 0 ? 1 : 2}"` : `"fixed"`;
    if (req.headers["if-match"] && req.headers["if-match"] !== etag) {
      res.writeHead(412).end();
      return;
    }
    const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
    if (mode === "norange" || !m) {
      log.bytes = data.length;
      res.writeHead(200, { "content-length": data.length, etag }).end(data);
      return;
    }
    let start: number;
    let end: number;
    if (m[1] === "") {
      start = Math.max(0, data.length - Number(m[2]));
      end = data.length - 1;
    } else {
      start = Number(m[1]);
      end = m[2] === "" ? data.length - 1 : Math.min(Number(m[2]), data.length - 1);
    }
    if (start >= data.length || end < start) {
      res.writeHead(416, { "content-range": `bytes */${data.length}` }).end();
      return;
    }
    const body = data.subarray(start, end + 1);
    log.bytes = body.length;
    res.writeHead(206, { "content-range": `bytes ${start}-${end}/${data.length}`, "content-length": body.length, etag }).end(body);
  }
}

const TORCH = "/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl";
let tmp: ReturnType<typeof tempDir>;
let server: TestServer;
let small: string;

beforeAll(async () => {
  tmp = tempDir();
  const w = new ZipWriter();
  w.addBuffer("pkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n");
  w.addBuffer("pkg/big.txt", Buffer.alloc(3 * 1024 * 1024, "0123456789abcdef\n"));
  for (let i = 0; i < 300; i++) w.addBuffer(`pkg/mod${i}.py`, `X = ${i}\n`.repeat(50));
  small = (await w.writeTo(path.join(tmp.dir, "pkg.zip"))).path;
  fs.writeFileSync(path.join(tmp.dir, "empty"), "");
  const files: Record<string, string> = { "pkg.zip": small, empty: path.join(tmp.dir, "empty") };
  const six = realWheel("six==1.17.0");
  if (six.path) files["six.whl"] = six.path;
  if (fs.existsSync(TORCH)) files["torch.whl"] = TORCH;
  server = new TestServer(files);
  await server.start();
});
afterAll(async () => {
  await server.stop();
  tmp.cleanup();
});
beforeEach(() => server.requests.splice(0));

describe("httpRangeSource", () => {
  it("reads a zip's entries with range requests only", async () => {
    const source = await httpRangeSource(`${server.base}/range/pkg.zip`);
    expect(source.size).toBe(fs.statSync(small).size);
    const remote = await ZipReader.open(source);
    const local = await ZipReader.open(small);
    expect(remote.entries).toEqual(local.entries);
    expect((await remote.readEntry("pkg-1.0.dist-info/METADATA")).toString()).toContain("Name: pkg");
    // The big entry goes through the streaming path (one ranged GET).
    expect((await remote.readEntry("pkg/big.txt")).equals(await local.readEntry("pkg/big.txt"))).toBe(true);
    expect(server.requests.every((r) => r.range)).toBe(true);
    await remote.close();
    await local.close();
  });

  it("reads one entry of a big wheel for a small fraction of its bytes", async () => {
    if (!fs.existsSync(TORCH)) return console.warn(`skipped: ${TORCH} is not on this machine`);
    const remote = await ZipReader.open(await httpRangeSource(`${server.base}/range/torch.whl`));
    const metadata = (await remote.readEntry(remote.entries.find((e) => e.name.endsWith(".dist-info/METADATA"))!)).toString();
    expect(metadata).toContain("Name: torch");
    expect(server.bytesSent).toBeLessThan(fs.statSync(TORCH).size / 20);
    const local = await ZipReader.open(TORCH);
    expect(metadata).toBe((await local.readEntry(local.entries.find((e) => e.name.endsWith(".dist-info/METADATA"))!)).toString());
    // Tail, central directory (~1.2 MB) in windows growing 4x, then one read for the entry.
    expect(server.requests.length).toBeLessThanOrEqual(6);
    await remote.close();
    await local.close();
  });

  it("reads a real wheel from the pip mirror served over HTTP", async () => {
    if (!server["files"]["six.whl"]) return console.warn("skipped: pip could not provide six from the configured index");
    const remote = await ZipReader.open(await httpRangeSource(`${server.base}/range/six.whl`));
    expect((await remote.readEntry("six.py")).toString()).toContain("Utilities for writing code that runs on Python 2 and 3");
    expect(server.requests.length).toBe(1); // the whole small wheel came with the first tail request
    await remote.close();
  });

  it("raw-copies entries from a remote zip into a local one", async () => {
    const remote = await ZipReader.open(await httpRangeSource(`${server.base}/range/pkg.zip`));
    const w = new ZipWriter();
    for (const e of remote.entries) w.addRawEntry(e.name, remote, e);
    const { path: out } = await w.writeTo(path.join(tmp.dir, "copy.zip"));
    expect(fs.readFileSync(out).equals(fs.readFileSync(small))).toBe(true);
    await remote.close();
  });

  it("errors clearly when the server ignores Range", async () => {
    await expect(httpRangeSource(`${server.base}/norange/pkg.zip`)).rejects.toMatchObject({ code: "ERR_HTTP_RANGE_UNSUPPORTED", message: expect.stringContaining("ignored the Range request") });
  });

  it("reports 404 and 401 with the URL, and sends credentials from headers or the URL", async () => {
    await expect(httpRangeSource(`${server.base}/range/nothing.zip`)).rejects.toMatchObject({ code: "ERR_NOT_FOUND", message: expect.stringContaining("/range/nothing.zip") });
    await expect(httpRangeSource(`${server.base}/private/pkg.zip`)).rejects.toMatchObject({ code: "ERR_ACCESS_DENIED" });
    const auth = `Basic ${Buffer.from("user:s3cret").toString("base64")}`;
    const viaHeader = await httpRangeSource(`${server.base}/private/pkg.zip`, { headers: { Authorization: auth } });
    expect(viaHeader.size).toBeGreaterThan(0);
    const withCredentials = `${server.base.replace("http://", "http://user:s3cret@")}/private/pkg.zip`;
    const viaUrl = await httpRangeSource(withCredentials);
    expect(viaUrl.name).not.toContain("s3cret");
    await (await ZipReader.open(viaUrl)).readEntry("pkg/big.txt");
    const wrong = `${server.base.replace("http://", "http://user:wrong@")}/private/pkg.zip`;
    const err = (await httpRangeSource(wrong).catch((e: Error) => e)) as Error;
    expect(err.message).not.toContain("wrong");
    await expect(httpRangeSource("ftp://example.com/x.zip")).rejects.toMatchObject({ code: "ERR_INVALID_URL" });
  });

  it("detects a file replaced between requests (ETag pinned with If-Match)", async () => {
    const source = await httpRangeSource(`${server.base}/changing/pkg.zip`, { tailSize: 1024 });
    await expect(ZipReader.open(source)).rejects.toMatchObject({ code: "ERR_SOURCE_CHANGED" });
  });

  it("handles an empty file and out-of-range reads", async () => {
    const empty = await httpRangeSource(`${server.base}/range/empty`);
    expect(empty.size).toBe(0);
    await expect(ZipReader.open(empty)).rejects.toMatchObject({ code: "ERR_NOT_A_ZIP" });
    const source = await httpRangeSource(`${server.base}/range/pkg.zip`);
    await expect(source.read(source.size - 1, 2)).rejects.toMatchObject({ code: "ERR_OUT_OF_BOUNDS" });
  });

  it("honours abort signals", async () => {
    await expect(httpRangeSource(`${server.base}/range/pkg.zip`, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    const source = await httpRangeSource(`${server.base}/range/pkg.zip`, { tailSize: 1024 });
    await expect(source.read(0, 1000, AbortSignal.abort())).rejects.toBeInstanceOf(AbortError);
    const remote = await ZipReader.open(source);
    const controller = new AbortController();
    const stream = await remote.openEntryStream("pkg/big.txt", { signal: controller.signal });
    const reading = (async () => {
      for await (const _ of stream as AsyncIterable<Buffer>) controller.abort();
    })();
    await expect(reading).rejects.toBeInstanceOf(AbortError);
  });
});

describe("fileSource", () => {
  it("reads ranges and rejects reads outside the file", async () => {
    const source = await fileSource(small);
    const head = await source.read(0, 4);
    expect(head.readUInt32LE(0)).toBe(0x04034b50);
    await expect(source.read(source.size - 2, 4)).rejects.toMatchObject({ code: "ERR_OUT_OF_BOUNDS" });
    await expect(source.read(-1, 4)).rejects.toMatchObject({ code: "ERR_OUT_OF_BOUNDS" });
    await source.close!();
    await source.close!(); // idempotent
  });

  it("names the problem for missing files and directories", async () => {
    await expect(fileSource(path.join(tmp.dir, "nope.zip"))).rejects.toMatchObject({ code: "ERR_FILE_NOT_READABLE", message: expect.stringContaining("nope.zip") });
    await expect(fileSource(tmp.dir)).rejects.toMatchObject({ code: "ERR_FILE_NOT_READABLE", message: expect.stringContaining("not a regular file") });
  });
});
