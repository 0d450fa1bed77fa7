import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";

/** One file the server lists for a project. */
export interface ServedFile {
  /** Path of the file on disk. */
  path: string;
  requiresPython?: string;
  yanked?: boolean | string;
  /** PEP 658 metadata text to serve at <url>.metadata (and announce). */
  metadata?: string;
  /** Lie about the sha256 in the index (to test verification). */
  wrongHash?: boolean;
  /** List this sha256 text instead (malformed-hash tests). */
  listedSha256?: string;
  /** The file name the page lists, and serves the file under (default: the file's own). Anchors percent-encode it, so a "/" in it becomes "%2F". */
  filename?: string;
  /** List no hash at all (an index without hashes). */
  noHash?: boolean;
  /** Serve only the first N bytes, as a complete (chunked) response without Content-Length. */
  truncateTo?: number;
  /** Announce the full Content-Length, send N bytes, then drop the connection. */
  cutAt?: number;
}

/** The name a served file is listed and downloaded under. */
function listedName(f: ServedFile): string {
  return f.filename ?? path.basename(f.path);
}

function listedHash(f: ServedFile, hashOf: (p: string) => string): string {
  return f.listedSha256 ?? (f.wrongHash ? "0".repeat(64) : hashOf(f.path));
}

export interface IndexServerOptions {
  /** Serve JSON (PEP 691) when asked; false to force HTML. Default true. */
  json?: boolean;
  /** Honour Range requests on files. Default true. */
  ranges?: boolean;
  /** Require HTTP basic auth with these credentials. */
  auth?: { user: string; password: string };
  /** Answer project pages with this body instead (garbage tests). */
  garbage?: string;
  /** Never answer (timeout tests). */
  hang?: boolean;
  /** Answer this many requests with 503 first (retry tests). */
  failFirst?: number;
  /** Cache-Control of project pages (e.g. "max-age=600", as PyPI sends): warm runs then do not ask again. */
  pageCacheControl?: string;
}

export interface IndexServer {
  /** http://127.0.0.1:<port>/simple */
  url: string;
  origin: string;
  /** Every request path with its method, in order. */
  requests: Array<{ method: string; path: string; range?: string; status: number }>;
  projects: Map<string, ServedFile[]>;
  close(): Promise<void>;
}

/**
 * A real PEP 503/691 index on loopback: project pages (HTML or JSON by Accept), files with
 * ETag and byte ranges, optional PEP 658 metadata files, basic auth, and injected faults.
 */
export async function startIndexServer(projects: Map<string, ServedFile[]>, options: IndexServerOptions = {}): Promise<IndexServer> {
  const requests: IndexServer["requests"] = [];
  let failures = options.failFirst ?? 0;
  const hashes = new Map<string, string>();
  const hashOf = (p: string) => {
    let h = hashes.get(p);
    if (!h) {
      h = crypto.createHash("sha256").update(fs.readFileSync(p)).digest("hex");
      hashes.set(p, h);
    }
    return h;
  };
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const log = (status: number) => requests.push({ method: req.method ?? "GET", path: url.pathname, range: req.headers.range, status });
    if (options.hang) {
      hanging.add(res);
      log(0);
      return;
    }
    if (failures > 0) {
      failures--;
      log(503);
      res.writeHead(503).end("busy");
      return;
    }
    if (options.auth) {
      const want = `Basic ${Buffer.from(`${options.auth.user}:${options.auth.password}`).toString("base64")}`;
      if (req.headers.authorization !== want) {
        log(401);
        res.writeHead(401, { "www-authenticate": 'Basic realm="test"' }).end();
        return;
      }
    }
    const m = /^\/simple\/([^/]+)\/?$/.exec(url.pathname);
    if (m) {
      const files = projects.get(m[1]!);
      if (!files) {
        log(404);
        res.writeHead(404).end("not found");
        return;
      }
      if (options.garbage !== undefined) {
        log(200);
        res.writeHead(200, { "content-type": "text/html" }).end(options.garbage);
        return;
      }
      const wantsJson = options.json !== false && /application\/vnd\.pypi\.simple\.v1\+json/.test(String(req.headers.accept));
      const body = wantsJson ? jsonPage(m[1]!, files, hashOf, options) : htmlPage(files, hashOf);
      const etag = `"${crypto.createHash("sha1").update(body).digest("hex")}"`;
      if (req.headers["if-none-match"] === etag) {
        log(304);
        res.writeHead(304, { etag }).end();
        return;
      }
      log(200);
      res.writeHead(200, { "content-type": wantsJson ? "application/vnd.pypi.simple.v1+json" : "text/html", etag, ...(options.pageCacheControl ? { "cache-control": options.pageCacheControl } : {}) }).end(body);
      return;
    }
    const f = /^\/files\/(.+)$/.exec(url.pathname);
    if (f) {
      const name = decodeURIComponent(f[1]!);
      const all = [...projects.values()].flat();
      if (name.endsWith(".metadata")) {
        const sf = all.find((x) => listedName(x) === name.slice(0, -".metadata".length) && x.metadata);
        if (!sf) {
          log(404);
          res.writeHead(404).end();
          return;
        }
        log(200);
        res.writeHead(200).end(sf.metadata);
        return;
      }
      const sf = all.find((x) => listedName(x) === name);
      if (!sf) {
        log(404);
        res.writeHead(404).end();
        return;
      }
      const data = fs.readFileSync(sf.path);
      const etag = `"${hashOf(sf.path).slice(0, 16)}"`;
      const range = req.headers.range;
      if (range && options.ranges !== false) {
        const r = /^bytes=(\d*)-(\d*)$/.exec(range);
        let start: number;
        let end: number;
        if (r && r[1] === "") {
          start = Math.max(0, data.length - Number(r[2]));
          end = data.length - 1;
        } else if (r) {
          start = Number(r[1]);
          end = r[2] ? Math.min(Number(r[2]), data.length - 1) : data.length - 1;
        } else {
          log(416);
          res.writeHead(416).end();
          return;
        }
        log(206);
        res.writeHead(206, { "content-range": `bytes ${start}-${end}/${data.length}`, "content-length": end - start + 1, etag, "accept-ranges": "bytes" }).end(data.subarray(start, end + 1));
        return;
      }
      log(200);
      if (sf.truncateTo !== undefined) {
        res.writeHead(200, { etag }).end(data.subarray(0, sf.truncateTo));
        return;
      }
      if (sf.cutAt !== undefined) {
        res.writeHead(200, { "content-length": data.length, etag });
        res.write(data.subarray(0, sf.cutAt), () => res.destroy());
        return;
      }
      res.writeHead(200, { "content-length": data.length, etag }).end(data);
      return;
    }
    log(404);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/simple`,
    origin,
    requests,
    projects,
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of hanging) r.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function htmlPage(files: ServedFile[], hashOf: (p: string) => string): string {
  const links = files.map((f) => {
    const name = listedName(f);
    const hash = listedHash(f, hashOf);
    let attrs = `href="../../files/${encodeURIComponent(name)}${f.noHash ? "" : `#sha256=${hash}`}"`;
    if (f.requiresPython) attrs += ` data-requires-python="${f.requiresPython.replace(/</g, "&lt;").replace(/>/g, "&gt;")}"`;
    if (f.yanked) attrs += ` data-yanked="${typeof f.yanked === "string" ? f.yanked : ""}"`;
    if (f.metadata) attrs += ` data-core-metadata="sha256=${crypto.createHash("sha256").update(f.metadata).digest("hex")}"`;
    return `<a ${attrs}>${name}</a><br/>`;
  });
  return `<!DOCTYPE html><html><body>\n${links.join("\n")}\n</body></html>`;
}

function jsonPage(project: string, files: ServedFile[], hashOf: (p: string) => string, _o: IndexServerOptions): string {
  return JSON.stringify({
    meta: { "api-version": "1.1" },
    name: project,
    files: files.map((f) => {
      const name = listedName(f);
      const out: Record<string, unknown> = { filename: name, url: `../../files/${encodeURIComponent(name)}`, hashes: f.noHash ? {} : { sha256: listedHash(f, hashOf) } };
      if (f.requiresPython) out["requires-python"] = f.requiresPython;
      if (f.yanked) out.yanked = f.yanked;
      if (f.metadata) out["core-metadata"] = { sha256: crypto.createHash("sha256").update(f.metadata).digest("hex") };
      out.size = fs.statSync(f.path).size;
      return out;
    }),
  });
}
