import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import {
  BlobSASPermissions,
  BlobServiceClient,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
  newPipeline,
  type RequestPolicy,
  type RequestPolicyFactory,
  type WebResource,
} from "@azure/storage-blob";
import { AzureBlobFileSystem, parseAzureUrl } from "./azure";
import { resolveFileSystem } from "./resolve";
import type { FsError } from "./errors";
import { runConformanceSuite } from "./test-kit/conformance";
import { startAzurite, type TestAzurite } from "./test-kit/azurite-server";

// The preset's testTimeout is not applied under the root multi-project run; the machine is shared.
jest.setTimeout(120_000);

let azurite: Promise<TestAzurite> | undefined;
const server = () => (azurite ??= startAzurite());
afterAll(async () => {
  if (azurite) await (await azurite).close();
});
let n = 0;

runConformanceSuite(
  "azure (Azurite on loopback)",
  async () => {
    const a = await server();
    await a.createContainer("conformance");
    // Small blocks so the 3 MiB put goes through staged blocks + Put Block List.
    const fs = new AzureBlobFileSystem({ account: a.account, connectionString: a.connectionString, blockSize: 1024 * 1024, singleUploadThreshold: 1024 * 1024, concurrency: 3 });
    return { fs, root: `/conformance/run-${++n}` };
  },
  { hierarchical: false },
);

describe("Azure specifics (Azurite)", () => {
  let a: TestAzurite;
  let requests: { method: string; url: string }[];
  const counted = (extra: Partial<ConstructorParameters<typeof AzureBlobFileSystem>[0]> = {}) => {
    // A pipeline policy that records every request the SDK sends (after its retries).
    const pipeline = newPipeline(new StorageSharedKeyCredential(a.account, a.accountKey));
    const counter: RequestPolicyFactory = {
      create: (next: RequestPolicy): RequestPolicy => ({
        sendRequest: (req: WebResource) => {
          requests.push({ method: req.method, url: req.url });
          return next.sendRequest(req);
        },
      }),
    };
    pipeline.factories.unshift(counter);
    return new AzureBlobFileSystem({ account: a.account, client: new BlobServiceClient(a.endpoint, pipeline), ...extra });
  };

  beforeAll(async () => {
    a = await server();
    await a.createContainer("specs");
  });
  beforeEach(() => {
    requests = [];
  });

  it("publishes staged blocks invisibly until the block list is committed, and refuses to overwrite with If-None-Match", async () => {
    const az = new AzureBlobFileSystem({ account: a.account, connectionString: a.connectionString, blockSize: 256 * 1024, singleUploadThreshold: 256 * 1024, concurrency: 2 });
    let sent = 0;
    let release!: () => void;
    const halfway = new Promise<void>((r) => (release = r));
    let resume!: () => void;
    const gate = new Promise<void>((r) => (resume = r));
    const body = new Readable({
      // eslint-disable-next-line @typescript-eslint/no-misused-promises -- a stream that pauses mid-body: Readable ignores read()'s value
      async read() {
        sent += 1;
        if (sent === 6) {
          release();
          await gate;
        }
        this.push(sent > 8 ? null : Buffer.alloc(128 * 1024, sent));
      },
    });
    const writing = az.write("/specs/staged.bin", body, { metadata: { "lock-sha256": "abc" } });
    await halfway;
    // Blocks are staged, nothing is committed: readers see no blob at all.
    expect(await az.exists("/specs/staged.bin")).toBe(false);
    resume();
    await writing;
    expect((await az.stat("/specs/staged.bin")).size).toBe(8 * 128 * 1024);
    const raw = BlobServiceClient.fromConnectionString(a.connectionString).getContainerClient("specs").getBlockBlobClient("staged.bin");
    const blocks = await raw.getBlockList("committed");
    expect(blocks.committedBlocks?.length).toBe(4);
    // Stored under an Azure-legal name, read back under ours.
    expect((await raw.getProperties()).metadata).toEqual({ cp_lock_sha256: "abc" });
    expect((await az.head("/specs/staged.bin"))?.metadata).toEqual({ "lock-sha256": "abc" });
    const again = Readable.from([Buffer.alloc(300 * 1024), Buffer.alloc(300 * 1024)]);
    await expect(az.write("/specs/staged.bin", again, { overwrite: false })).rejects.toMatchObject({ code: "EEXIST", driver: "azure" });
    expect((await az.stat("/specs/staged.bin")).size).toBe(8 * 128 * 1024);
  });

  it("a buffer between the block size and the single-upload threshold goes whole in one Put Blob", async () => {
    const az = counted({ blockSize: 256 * 1024, singleUploadThreshold: 1024 * 1024 });
    const body = Buffer.alloc(600 * 1024 + 3, 9);
    await az.write("/specs/mid.bin", body);
    expect(requests.filter((r) => r.method === "PUT").map((r) => new URL(r.url).searchParams.get("comp"))).toEqual([null]);
    expect(await az.read("/specs/mid.bin")).toEqual(body);
  });

  it("the up-to-date check is one request; a ranged read is one GET with a Range", async () => {
    const az = counted();
    const local = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cp-az-")), "env.pex");
    fs.writeFileSync(local, "0123456789");
    await az.publish(local, "/specs/envs/env.pex", { metadata: { "lock-sha256": "feed" } });
    requests.length = 0;
    expect(await az.isUpToDate("/specs/envs/env.pex", { metadata: { "lock-sha256": "feed" }, size: 10 })).toMatchObject({ upToDate: true });
    expect(requests.map((r) => r.method)).toEqual(["HEAD"]);
    const ra = await az.openRandomAccess("/specs/envs/env.pex");
    requests.length = 0;
    expect((await ra.read(3, 4)).toString()).toBe("3456");
    expect(requests.map((r) => r.method)).toEqual(["GET"]);
  });

  it("directories are Hadoop's hdi_isfolder markers, seen by list and stat", async () => {
    const az = new AzureBlobFileSystem({ account: a.account, connectionString: a.connectionString });
    await az.mkdirp("/specs/tree/empty");
    const raw = BlobServiceClient.fromConnectionString(a.connectionString).getContainerClient("specs").getBlockBlobClient("tree/empty");
    expect((await raw.getProperties()).metadata).toEqual({ hdi_isfolder: "true" });
    expect((await az.stat("/specs/tree/empty")).isDirectory).toBe(true);
    expect(await az.list("/specs/tree/empty")).toEqual([]);
    expect(await az.head("/specs/tree/empty")).toBeNull();
    await az.write("/specs/tree/empty/f.txt", "x");
    expect((await az.list("/specs/tree")).map((e) => [e.name, e.isDirectory])).toEqual([["empty", true]]);
    await expect(az.mkdirp("/specs/tree/empty/f.txt")).rejects.toMatchObject({ code: "EEXIST" });
    await az.rm("/specs/tree", { recursive: true });
    expect(await az.exists("/specs/tree/empty")).toBe(false);
  });

  it("a SAS token: reads with a read-only one, refuses writes with EACCES, never prints the signature", async () => {
    const admin = new AzureBlobFileSystem({ account: a.account, connectionString: a.connectionString });
    await admin.write("/specs/sas/readable.txt", "via sas");
    const sas = generateBlobSASQueryParameters(
      { containerName: "specs", permissions: BlobSASPermissions.parse("r"), expiresOn: new Date(Date.now() + 3600_000) },
      new StorageSharedKeyCredential(a.account, a.accountKey),
    ).toString();
    const env = { AZURE_STORAGE_SAS_TOKEN: sas };
    const ro = new AzureBlobFileSystem({ account: a.account, endpoint: a.endpoint, env });
    expect((await ro.read("/specs/sas/readable.txt")).toString()).toBe("via sas");
    const err = await ro.write("/specs/sas/new.txt", "nope").catch((e: Error) => e);
    expect(err).toMatchObject({ code: "EACCES", driver: "azure" });
    const sig = new URLSearchParams(sas).get("sig")!;
    expect((err as Error).message).not.toContain(sig);
    expect(String(((err as Error).cause as Error)?.message)).not.toContain(sig);
    expect((err as FsError).hint).not.toContain(sig);
    expect((err as FsError).hint).toMatch(/AZURE_STORAGE_SAS_TOKEN/);
  });

  it("AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY; a wrong key is EACCES; a missing container is named", async () => {
    const good = new AzureBlobFileSystem({ account: a.account, endpoint: a.endpoint, env: { AZURE_STORAGE_ACCOUNT: a.account, AZURE_STORAGE_KEY: a.accountKey } });
    await good.write("/specs/keyed.txt", "k");
    expect((await good.read("/specs/keyed.txt")).toString()).toBe("k");
    const wrongKey = Buffer.alloc(64, 7).toString("base64");
    const bad = new AzureBlobFileSystem({ account: a.account, endpoint: a.endpoint, env: { AZURE_STORAGE_ACCOUNT: a.account, AZURE_STORAGE_KEY: wrongKey } });
    const err = await bad.stat("/specs/keyed.txt").catch((e: Error) => e);
    expect(err).toMatchObject({ code: "EACCES" });
    expect((err as Error).message).not.toContain(wrongKey);
    await expect(good.stat("/no-such-container/x")).rejects.toThrow(/ENOENT: the container does not exist/);
  });

  it("resolves wasbs:// and abfss:// URLs through AZURE_STORAGE_CONNECTION_STRING, az:// through AZURE_STORAGE_ACCOUNT", async () => {
    const env = { AZURE_STORAGE_CONNECTION_STRING: a.connectionString };
    const w = await resolveFileSystem(`wasbs://specs@${a.account}.blob.core.windows.net/resolved/a.txt`, { env });
    await w.fs.write(w.path, "resolved");
    expect(w.url).toBe(`wasbs://specs@${a.account}.blob.core.windows.net/resolved/a.txt`);
    const d = await resolveFileSystem(`abfss://specs@${a.account}.dfs.core.windows.net/resolved/a.txt`, { env });
    expect((await d.fs.read(d.path)).toString()).toBe("resolved");
    expect(d.url).toBe(`abfss://specs@${a.account}.dfs.core.windows.net/resolved/a.txt`);
    const z = await resolveFileSystem("az://specs/resolved/a.txt", { env: { ...env, AZURE_STORAGE_ACCOUNT: a.account } });
    expect((await z.fs.read(z.path)).toString()).toBe("resolved");
    expect(z.url).toBe("az://specs/resolved/a.txt");
  });

  it("takes the account key Hadoop users keep in core-site.xml (fs.azure.account.key.<host>)", async () => {
    const conf = fs.mkdtempSync(path.join(os.tmpdir(), "cp-az-conf-"));
    fs.writeFileSync(path.join(conf, "core-site.xml"), `<configuration><property><name>fs.azure.account.key.${a.account}.dfs.core.windows.net</name><value>${a.accountKey}</value></property></configuration>`);
    const { fs: az, path: p } = await resolveFileSystem(`abfss://specs@${a.account}.dfs.core.windows.net/from-core-site.txt`, { env: { HADOOP_CONF_DIR: conf }, azure: { endpoint: a.endpoint } });
    await az.write(p, "hadoop's key");
    expect((await az.read(p)).toString()).toBe("hadoop's key");
    // Without it, the same URL has no credentials and says how to give some.
    const bare = await resolveFileSystem(`abfss://specs@${a.account}.dfs.core.windows.net/x`, { env: {}, azure: { endpoint: a.endpoint, sasToken: "sv=2024-08-04&sig=bad" } });
    await expect(bare.fs.read(bare.path)).rejects.toMatchObject({ code: "EACCES" });
  });
});

describe("Azure URLs and credentials (no server)", () => {
  it("parses the URL forms and says what is wrong with bad ones", () => {
    expect(parseAzureUrl("abfss://data@acct1.dfs.core.windows.net/envs/e.pex")).toEqual({ scheme: "abfss", account: "acct1", container: "data", path: "/envs/e.pex", endpointSuffix: "core.windows.net" });
    expect(parseAzureUrl("wasbs://c@acct2.blob.core.chinacloudapi.cn/x%20y")).toMatchObject({ account: "acct2", container: "c", path: "/x y", endpointSuffix: "core.chinacloudapi.cn" });
    expect(parseAzureUrl("az://c/p", { AZURE_STORAGE_ACCOUNT_NAME: "acct3" })).toMatchObject({ account: "acct3", container: "c", path: "/p" });
    expect(() => parseAzureUrl("abfss://acct1.dfs.core.windows.net/p")).toThrow(/has no container/);
    expect(() => parseAzureUrl("abfss://c@example.com/p")).toThrow(/not an account host/);
    expect(() => parseAzureUrl("az://c/p", {})).toThrow(expect.objectContaining({ message: "az://c/p names no storage account.", hint: expect.stringMatching(/^set AZURE_STORAGE_ACCOUNT/) }));
  });

  it("uses a connection string only for its own account, and says how to give credentials when none fit", () => {
    const other = "DefaultEndpointsProtocol=https;AccountName=someoneelse;AccountKey=a2V5;EndpointSuffix=core.windows.net";
    expect(() => new AzureBlobFileSystem({ account: "acct1", connectionString: other })).toThrow(/connection string is for account "someoneelse"/);
    // From the environment, another account's string is ignored; a key for acct1 is used instead.
    const az = new AzureBlobFileSystem({ account: "acct1", env: { AZURE_STORAGE_CONNECTION_STRING: other, AZURE_STORAGE_KEY: "a2V5" } });
    expect(az.client.url).toBe("https://acct1.blob.core.windows.net/");
    expect(() => new AzureBlobFileSystem({ account: "Bad_Name" })).toThrow(/not a storage account name/);
  });
});
