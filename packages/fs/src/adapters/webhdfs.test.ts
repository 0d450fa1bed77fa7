import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { tempSiblingName } from "@cluster-pack/io";
import { WebHdfsFileSystem } from "./webhdfs";
import { encodeHadoopToken, hadoopTokenFile, type HadoopToken } from "../hadoop-token";
import { runConformanceSuite } from "../test-kit/conformance";
import { startWebHdfsServer, type TestWebHdfsServer } from "../test-kit/webhdfs-server";

// The preset's testTimeout is not applied under the root multi-project run; the machine is shared.
jest.setTimeout(120_000);

let server: TestWebHdfsServer | undefined;

runConformanceSuite("webhdfs (test-kit namenode + datanode on loopback)", async () => {
  server = await startWebHdfsServer();
  return {
    fs: new WebHdfsFileSystem({ namenodes: [server.namenode], user: "alice" }),
    root: "/user/alice/conformance",
    cleanup: async () => server?.close(),
  };
});

describe("WebHdfsFileSystem protocol details", () => {
  let nn: TestWebHdfsServer;
  let standby: TestWebHdfsServer;
  beforeAll(async () => {
    nn = await startWebHdfsServer({ tokens: { "tok-123": "bob" } });
    standby = await startWebHdfsServer({ standby: true });
  });
  afterAll(async () => {
    await nn.close();
    await standby.close();
  });

  it("goes through the datanode redirect for CREATE and OPEN, with offset/length", async () => {
    const hdfs = new WebHdfsFileSystem({ namenodes: [nn.namenode], delegationToken: "tok-123" });
    nn.requests.length = 0;
    await hdfs.write("/data/x.bin", Buffer.from("0123456789"));
    expect((await hdfs.read("/data/x.bin", { offset: 2, length: 3 })).toString()).toBe("234");
    const ops = nn.requests.map((r) => `${r.server}:${r.op}`);
    expect(ops).toEqual(["namenode:CREATE", "datanode:CREATE", "namenode:OPEN", "datanode:OPEN"]);
    const open = nn.requests.find((r) => r.server === "namenode" && r.op === "OPEN")!;
    expect(open.query.get("offset")).toBe("2");
    expect(open.query.get("length")).toBe("3");
    expect(open.query.get("delegation")).toBe("tok-123");
    expect(open.query.has("user.name")).toBe(false);
  });

  it("appends through the datanode redirect; ENOENT for a missing file", async () => {
    const hdfs = new WebHdfsFileSystem({ namenodes: [nn.namenode], delegationToken: "tok-123" });
    await hdfs.write("/data/log.txt", "one\n");
    nn.requests.length = 0;
    await hdfs.append("/data/log.txt", "two\n");
    expect(nn.requests.map((r) => `${r.server}:${r.method}:${r.op}`)).toEqual(["namenode:POST:APPEND", "datanode:POST:APPEND"]);
    expect((await hdfs.read("/data/log.txt")).toString()).toBe("one\ntwo\n");
    await expect(hdfs.append("/data/none.txt", "x")).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("refuses a bad token with EACCES and a hint, without printing the token", async () => {
    const hdfs = new WebHdfsFileSystem({ namenodes: [nn.namenode], delegationToken: "wrong-secret-token" });
    const err = await hdfs.stat("/").catch((e) => e);
    expect(err).toMatchObject({ code: "EACCES", driver: "webhdfs" });
    expect(err.message).toMatch(/SecurityException: Failed to obtain user group information: token is invalid \(GETFILESTATUS /);
    expect(err.hint).toMatch(/^check the delegation token \(delegationToken option\)/);
    expect(err.message).not.toContain("wrong-secret-token");
    expect(err.hint).not.toContain("wrong-secret-token");
  });

  it("maps AccessControlException to EACCES on a directory the user cannot write", async () => {
    const owner = new WebHdfsFileSystem({ namenodes: [nn.namenode], delegationToken: "tok-123" });
    await owner.mkdirp("/private");
    nn.setPermission("/private", 0o755, "bob");
    const carol = await startWebHdfsServer({ root: nn.root });
    try {
      // A second namenode over the same namespace where user.name is accepted.
      carol.setPermission("/private", 0o755, "bob");
      const other = new WebHdfsFileSystem({ namenodes: [carol.namenode], user: "carol" });
      await expect(other.write("/private/f", "x")).rejects.toMatchObject({ code: "EACCES" });
      await expect(other.write("/private/f", "x")).rejects.toThrow(/Permission denied: user=carol/);
    } finally {
      await carol.close();
    }
  });

  it("fails over from a standby namenode to the active one (HA)", async () => {
    const hdfs = new WebHdfsFileSystem({ namenodes: [standby.namenode, nn.namenode], delegationToken: "tok-123", authority: "mycluster" });
    await hdfs.write("/ha/f.txt", "ha");
    expect((await hdfs.read("/ha/f.txt")).toString()).toBe("ha");
    expect(hdfs.url("/ha/f.txt")).toBe("hdfs://mycluster/ha/f.txt");
    expect(standby.requests.length).toBeGreaterThan(0);
    // Both standby: a clear error, not a hang.
    const stuck = new WebHdfsFileSystem({ namenodes: [standby.namenode, standby.namenode], user: "x", retry: { attempts: 2, baseDelayMs: 1 } });
    await expect(stuck.stat("/")).rejects.toThrow(/no active namenode/);
  });

  it("publish renames over the target with OVERWRITE and keeps xattrs", async () => {
    const hdfs = new WebHdfsFileSystem({ namenodes: [nn.namenode], delegationToken: "tok-123" });
    const local = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cp-hdfs-")), "env.pex");
    fs.writeFileSync(local, "pex bytes");
    nn.requests.length = 0;
    await hdfs.publish(local, "/envs/env.pex", { metadata: { "lock-sha256": "feed" } });
    const rename = nn.requests.find((r) => r.op === "RENAME")!;
    expect(rename.query.get("renameoptions")).toBe("OVERWRITE");
    expect(rename.path).toMatch(/^\/envs\/\.env\.pex\.cp-tmp-/);
    nn.requests.length = 0;
    expect(await hdfs.isUpToDate("/envs/env.pex", { metadata: { "lock-sha256": "feed" } })).toMatchObject({ upToDate: true });
    expect(nn.requests.map((r) => r.op)).toEqual(["GETXATTRS"]);
  });

  it("publish removes the temporaries a dead process of this host left beside the target", async () => {
    const hdfs = new WebHdfsFileSystem({ namenodes: [nn.namenode], delegationToken: "tok-123" });
    const dead = Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout);
    const stale = tempSiblingName("/stale/env.pex").replace(`-${process.pid}-`, `-${dead}-`);
    const alive = tempSiblingName("/stale/env.pex").replace(`-${process.pid}-`, `-${process.ppid}-`);
    await hdfs.write(stale, "half an archive");
    await hdfs.write(alive, "another run still writing");
    const local = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cp-hdfs-")), "env.pex");
    fs.writeFileSync(local, "pex bytes");
    await hdfs.publish(local, "/stale/env.pex");
    expect((await hdfs.list("/stale")).map((e) => e.path).sort()).toEqual([alive, "/stale/env.pex"].sort());
  });
});

describe("HADOOP_TOKEN_FILE_LOCATION (the token file YARN gives each container)", () => {
  // Tokens the namenode accepts; filled once its port (part of a token's service) is known.
  const accepted: Record<string, string> = {};
  let nn: TestWebHdfsServer;
  let dir: string;
  const token = (kind: string, service: string, owner: string): HadoopToken => ({ identifier: Buffer.from(`id-${owner}`), password: Buffer.alloc(20, owner.length), kind, service });
  let mine: HadoopToken;
  let otherCluster: HadoopToken;
  let yarn: HadoopToken;
  beforeAll(async () => {
    nn = await startWebHdfsServer({ tokens: accepted });
    const port = new URL(nn.namenode).port;
    mine = token("HDFS_DELEGATION_TOKEN", `127.0.0.1:${port}`, "carol");
    // The server would accept these too: only the service and kind keep them from being sent.
    otherCluster = token("HDFS_DELEGATION_TOKEN", "ha-hdfs:othercluster", "mallory");
    yarn = token("YARN_AM_RM_TOKEN", `127.0.0.1:${port}`, "yarn");
    for (const [t, user] of [[mine, "carol"], [otherCluster, "mallory"], [yarn, "yarn"]] as const) accepted[encodeHadoopToken(t)] = user;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cp-tokenfile-"));
  });
  afterAll(async () => {
    await nn.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const tokenFile = (name: string, tokens: HadoopToken[]) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, hadoopTokenFile(tokens));
    return f;
  };

  it("uses this cluster's HDFS token from the file, matched by service (by IP, as Hadoop writes it, for a localhost URL)", async () => {
    const file = tokenFile("container_tokens", [yarn, otherCluster, mine]);
    const port = new URL(nn.namenode).port;
    const hdfs = new WebHdfsFileSystem({ namenodes: [`http://localhost:${port}`], env: { HADOOP_TOKEN_FILE_LOCATION: file } });
    nn.requests.length = 0;
    await hdfs.write("/user/carol/x.txt", "from a container");
    expect((await hdfs.read("/user/carol/x.txt")).toString()).toBe("from a container");
    const sent = nn.requests.filter((r) => r.server === "namenode").map((r) => r.query.get("delegation"));
    expect(new Set(sent)).toEqual(new Set([encodeHadoopToken(mine)]));
    expect(nn.ownerOf("/user/carol/x.txt")).toBe("carol");
  });

  it("a file without a token for this cluster sends none of its tokens and falls back to the other auth", async () => {
    const file = tokenFile("foreign_tokens", [otherCluster, yarn]);
    const hdfs = new WebHdfsFileSystem({ namenodes: [nn.namenode], env: { HADOOP_TOKEN_FILE_LOCATION: file, HADOOP_USER_NAME: "dave" } });
    nn.requests.length = 0;
    const err = await hdfs.stat("/").catch((e: Error) => e);
    expect(err).toMatchObject({ code: "EACCES" }); // this namenode wants a token; user.name alone is refused
    expect(nn.requests.every((r) => !r.query.has("delegation") && r.query.get("user.name") === "dave")).toBe(true);
  });

  it("HADOOP_TOKEN and the delegationToken option win over the file", async () => {
    const file = tokenFile("t", [mine]);
    const hdfs = new WebHdfsFileSystem({ namenodes: [nn.namenode], env: { HADOOP_TOKEN_FILE_LOCATION: file, HADOOP_TOKEN: encodeHadoopToken(otherCluster) } });
    nn.requests.length = 0;
    await hdfs.stat("/");
    expect(nn.requests[0]!.query.get("delegation")).toBe(encodeHadoopToken(otherCluster));
  });

  it("a token file that is missing, corrupt or huge: a clear error naming HADOOP_TOKEN_FILE_LOCATION, never its bytes", async () => {
    const missing = new WebHdfsFileSystem({ namenodes: [nn.namenode], env: { HADOOP_TOKEN_FILE_LOCATION: path.join(dir, "nope") } });
    await expect(missing.stat("/")).rejects.toThrow(
      expect.objectContaining({ message: expect.stringMatching(/cannot read the Hadoop token file .*nope \(HADOOP_TOKEN_FILE_LOCATION\): ENOENT\.$/), hint: "fix or unset HADOOP_TOKEN_FILE_LOCATION." }),
    );
    const corrupt = path.join(dir, "corrupt");
    fs.writeFileSync(corrupt, hadoopTokenFile([mine]).subarray(0, 12));
    const bad = new WebHdfsFileSystem({ namenodes: [nn.namenode], env: { HADOOP_TOKEN_FILE_LOCATION: corrupt } });
    const err = (await bad.stat("/").catch((e: Error) => e)) as Error;
    expect(err.message).toMatch(/Hadoop token file .*corrupt \(HADOOP_TOKEN_FILE_LOCATION\)/);
    expect(err.message).not.toContain(encodeHadoopToken(mine));
    const huge = path.join(dir, "huge");
    fs.writeFileSync(huge, Buffer.alloc(2 * 1024 * 1024));
    await expect(new WebHdfsFileSystem({ namenodes: [nn.namenode], env: { HADOOP_TOKEN_FILE_LOCATION: huge } }).stat("/")).rejects.toThrow(/EFBIG/);
  });
});
