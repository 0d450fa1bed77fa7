import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

/** What a test server saw: one line per request. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

export interface TestHttpServer {
  /** `http://127.0.0.1:<port>` or `https://127.0.0.1:<port>` */
  origin: string;
  port: number;
  requests: SeenRequest[];
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 recording every request before `handler` answers it. */
export async function startHttpServer(handler: http.RequestListener, options: { tls?: SelfSignedCert } = {}): Promise<TestHttpServer> {
  const requests: SeenRequest[] = [];
  const listener: http.RequestListener = (req, res) => {
    requests.push({ method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers });
    handler(req, res);
  };
  const server = options.tls ? https.createServer({ key: options.tls.key, cert: options.tls.cert }, listener) : http.createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `${options.tls ? "https" : "http"}://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface SelfSignedCert {
  key: string;
  cert: string;
}

/** A certificate for 127.0.0.1 made with openssl, or null (with the reason) when openssl is missing. */
export function selfSignedCert(): SelfSignedCert | { skip: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cp-io-cert-"));
  try {
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
      { stdio: "ignore" },
    );
    return { key: fs.readFileSync(path.join(dir, "key.pem"), "utf8"), cert: fs.readFileSync(path.join(dir, "cert.pem"), "utf8") };
  } catch (err) {
    return { skip: `openssl could not make a test certificate (${(err as Error).message})` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Builds a workspace package and its dependencies (turbo, cached) so that child processes
 * can run the real built code; `npm test` has built everything already. For this
 * repository's own tests only (from `src/test-kit` or `dist/test-kit` the root is 4 levels up).
 */
export function ensureBuilt(workspace: string): void {
  const root = path.resolve(__dirname, "../../../..");
  if (!fs.existsSync(path.join(root, "turbo.json"))) throw new Error(`ensureBuilt(${JSON.stringify(workspace)}) builds workspaces of the cluster-pack repository; ${root} is not one`);
  execFileSync("npx", ["turbo", "run", "build", `--filter=${workspace}...`, "--output-logs=errors-only"], { cwd: root, stdio: "inherit", timeout: 600_000 });
}
