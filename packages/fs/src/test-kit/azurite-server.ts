import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { stopChild } from "./child-process";

export interface TestAzurite {
  /** `http://127.0.0.1:<port>/devstoreaccount1`: Azurite's path-style blob endpoint. */
  endpoint: string;
  account: string;
  /** Azurite's well-known development key (public, documented; not a secret). */
  accountKey: string;
  /** `DefaultEndpointsProtocol=http;AccountName=...;AccountKey=...;BlobEndpoint=...;` */
  connectionString: string;
  createContainer(name: string): Promise<void>;
  close(): Promise<void>;
}

const ACCOUNT = "devstoreaccount1";
const KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/**
 * Starts Azurite's blob service (npm `azurite`, a devDependency) on 127.0.0.1 with a
 * port of its choosing, in memory, in a child process (its module graph is large and
 * stays out of the test worker). `--skipApiVersionCheck` lets a newer SDK talk to it.
 * Azurite serves the Blob API only (no DFS endpoint), which is what the adapter uses.
 */
export async function startAzurite(): Promise<TestAzurite> {
  const main = require.resolve("azurite/dist/src/blob/main.js");
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "cp-azurite-"));
  const child: ChildProcess = spawn(
    process.execPath,
    [main, "--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence", "--extentMemoryLimit", "1024", "--skipApiVersionCheck", "--disableTelemetry", "--silent"],
    { cwd, stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH, AZURITE_ACCOUNTS: "" } },
  );
  let output = "";
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      const m = /successfully listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (m) resolve(Number(m[1]));
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`azurite exited (${code}) before listening: ${output.trim()}`)));
  });
  const endpoint = `http://127.0.0.1:${port}/${ACCOUNT}`;
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${KEY};BlobEndpoint=${endpoint};`;
  return {
    endpoint,
    account: ACCOUNT,
    accountKey: KEY,
    connectionString,
    async createContainer(name) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { BlobServiceClient } = require("@azure/storage-blob") as typeof import("@azure/storage-blob");
      await BlobServiceClient.fromConnectionString(connectionString).getContainerClient(name).createIfNotExists();
    },
    async close() {
      await stopChild(child);
      fs.rmSync(cwd, { recursive: true, force: true });
    },
  };
}
