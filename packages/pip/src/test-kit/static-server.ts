import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";

/**
 * Serves local directories over HTTP on loopback, like a real index host: `index.html` for
 * directories, byte ranges, ETag (304 on If-None-Match), and PyPI's `Cache-Control:
 * max-age=600` on HTML pages. Used to serve the configured mirror (/opt/pypi) to pip and to
 * us alike.
 */
export async function startStaticServer(mounts: Record<string, string>): Promise<{ origin: string; close(): Promise<void>; requests: number }> {
  const state = { requests: 0 };
  const server = http.createServer((req, res) => {
    state.requests++;
    const url = new URL(req.url ?? "/", "http://x");
    const pathname = decodeURIComponent(url.pathname);
    const mount = Object.keys(mounts).find((m) => pathname === m || pathname.startsWith(`${m}/`));
    if (!mount) return void res.writeHead(404).end();
    let file = path.join(mounts[mount]!, pathname.slice(mount.length));
    if (!file.startsWith(mounts[mount]!)) return void res.writeHead(403).end();
    let st = fs.statSync(file, { throwIfNoEntry: false });
    if (st?.isDirectory()) {
      file = path.join(file, "index.html");
      st = fs.statSync(file, { throwIfNoEntry: false });
    }
    // Like PyPI, missing project pages are cacheable for a while.
    if (!st?.isFile()) return void res.writeHead(404, { "cache-control": "max-age=600, public" }).end();
    const etag = `"${crypto.createHash("sha1").update(`${st.size}-${st.mtimeMs}`).digest("hex")}"`;
    const headers: Record<string, string | number> = { etag, "accept-ranges": "bytes", "last-modified": st.mtime.toUTCString() };
    if (file.endsWith(".html")) {
      headers["content-type"] = "text/html";
      headers["cache-control"] = "max-age=600, public";
    }
    if (req.headers["if-none-match"] === etag) return void res.writeHead(304, headers).end();
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
    if (range) {
      const start = range[1] === "" ? Math.max(0, st.size - Number(range[2])) : Number(range[1]);
      const end = range[1] !== "" && range[2] ? Math.min(Number(range[2]), st.size - 1) : st.size - 1;
      res.writeHead(206, { ...headers, "content-range": `bytes ${start}-${end}/${st.size}`, "content-length": end - start + 1 });
      fs.createReadStream(file, { start, end }).pipe(res);
      return;
    }
    res.writeHead(200, { ...headers, "content-length": st.size });
    if (req.method === "HEAD") return void res.end();
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    get requests() {
      return state.requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
