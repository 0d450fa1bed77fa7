import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { LocalFileSystem } from "./adapters/local";
import { HttpFileSystem } from "./adapters/http";
import { WebHdfsFileSystem } from "./adapters/webhdfs";
import { loadHadoopConfig, parseHadoopXml, resolveViewFs, webHdfsEndpointFor } from "./hadoop-config";
import { isUpToDate, publish, resolveFileSystem } from "./resolve";
import { S3FileSystem } from "./s3";
import { startWebHdfsServer } from "./test-kit/webhdfs-server";

// The preset's testTimeout is not applied under the root multi-project run; the machine is shared.
jest.setTimeout(120_000);

function confDir(core: Record<string, string>, hdfs: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cp-hadoop-conf-"));
  const xml = (props: Record<string, string>) =>
    `<?xml version="1.0"?>\n<?xml-stylesheet type="text/xsl" href="configuration.xsl"?>\n<configuration>\n${Object.entries(props)
      .map(([k, v]) => `  <property>\n    <name>${k}</name>\n    <value>${v}</value>\n    <description>x &amp; y</description>\n  </property>`)
      .join("\n")}\n</configuration>\n`;
  fs.writeFileSync(path.join(dir, "core-site.xml"), xml(core));
  fs.writeFileSync(path.join(dir, "hdfs-site.xml"), xml(hdfs));
  return dir;
}

describe("Hadoop configuration", () => {
  it("parses *-site.xml with entities and variables", () => {
    const m = parseHadoopXml("<configuration><property><name>a</name><value> x&amp;y </value></property><property><name>b</name><value>${a}/z</value></property></configuration>");
    expect(m.get("a")).toBe("x&y");
    const dir = confDir({ "hadoop.tmp.dir": "/tmp/h", "fs.defaultFS": "hdfs://nn1.example:8020", "x.path": "${hadoop.tmp.dir}/dfs" });
    const conf = loadHadoopConfig({ env: { HADOOP_CONF_DIR: dir } })!;
    expect(conf.get("x.path")).toBe("/tmp/h/dfs");
    expect(loadHadoopConfig({ env: {} })).toBeNull();
    expect(() => parseHadoopXml("<nope/>", "bad.xml")).toThrow(/bad.xml has no <configuration>/);
  });

  it("finds HA namenodes of a nameservice, and HTTPS when the policy says so", () => {
    const dir = confDir(
      { "fs.defaultFS": "hdfs://mycluster" },
      {
        "dfs.nameservices": "mycluster,other",
        "dfs.ha.namenodes.mycluster": "nn1, nn2",
        "dfs.namenode.http-address.mycluster.nn1": "m1.example:9870",
        "dfs.namenode.http-address.mycluster.nn2": "m2.example:9870",
        "dfs.namenode.https-address.mycluster.nn1": "m1.example:9871",
        "dfs.namenode.https-address.mycluster.nn2": "m2.example:9871",
      },
    );
    const conf = loadHadoopConfig({ dir })!;
    expect(webHdfsEndpointFor("mycluster", conf)).toEqual({ namenodes: ["http://m1.example:9870", "http://m2.example:9870"], authority: "mycluster" });
    expect(webHdfsEndpointFor("", conf).authority).toBe("mycluster");
    expect(() => webHdfsEndpointFor("other", conf)).toThrow(/dfs.ha.namenodes.other/);
    const https = loadHadoopConfig({ dir: confDir({}, { "dfs.http.policy": "HTTPS_ONLY", "dfs.namenode.https-address": "0.0.0.0:9871" }) })!;
    expect(webHdfsEndpointFor("nn.example:8020", https).namenodes).toEqual(["https://nn.example:9871"]);
    expect(webHdfsEndpointFor("nn.example:8020", null).namenodes).toEqual(["http://nn.example:9870"]);
    expect(() => webHdfsEndpointFor("", null)).toThrow(/fs.defaultFS is not set/);
    const off = loadHadoopConfig({ dir: confDir({}, { "dfs.webhdfs.enabled": "false" }) })!;
    expect(() => webHdfsEndpointFor("nn", off)).toThrow(/WebHDFS is disabled/);
  });

  it("resolves viewfs through the mount table, longest mount first, or says what is missing", () => {
    const conf = loadHadoopConfig({
      dir: confDir({
        "fs.viewfs.mounttable.cl.link./user": "hdfs://nn1:8020/user",
        "fs.viewfs.mounttable.cl.link./user/big": "hdfs://nn2:8020/big",
        "fs.viewfs.mounttable.cl.linkFallback": "hdfs://nn3:8020/",
      }),
    })!;
    expect(resolveViewFs("viewfs://cl/user/alice/env.pex", conf)).toBe("hdfs://nn1:8020/user/alice/env.pex");
    expect(resolveViewFs("viewfs://cl/user/big/x", conf)).toBe("hdfs://nn2:8020/big/x");
    expect(resolveViewFs("viewfs://cl/tmp/x", conf)).toBe("hdfs://nn3:8020/tmp/x");
    expect(() => resolveViewFs("viewfs://other/x", conf)).toThrow(/no mount point of viewfs cluster "other"/);
    expect(() => resolveViewFs("viewfs://cl/x", null)).toThrow(
      expect.objectContaining({ message: "Cannot resolve viewfs://cl/x: viewfs needs the mount table from core-site.xml.", hint: expect.stringMatching(/^set HADOOP_CONF_DIR/) }),
    );
  });
});

describe("resolveFileSystem", () => {
  it("dispatches by scheme", async () => {
    const local = await resolveFileSystem("./some/file");
    expect(local.fs).toBeInstanceOf(LocalFileSystem);
    expect(local.path).toBe(path.resolve("some/file"));
    expect((await resolveFileSystem("file:///tmp/a%20b")).path).toBe("/tmp/a b");
    const s3 = await resolveFileSystem("s3a://bucket/dir/env.pex", { env: { AWS_REGION: "eu-west-1", AWS_ENDPOINT_URL_S3: "http://127.0.0.1:9" } });
    expect(s3.fs).toBeInstanceOf(S3FileSystem);
    expect(s3.path).toBe("/bucket/dir/env.pex");
    expect(s3.url).toBe("s3://bucket/dir/env.pex");
    const client = (s3.fs as S3FileSystem).client;
    expect(await client.config.region()).toBe("eu-west-1");
    expect(client.config.forcePathStyle).toBe(true);
    const ep = await client.config.endpoint!();
    expect(`${ep.protocol}//${ep.hostname}:${ep.port}`).toBe("http://127.0.0.1:9");
    const http = await resolveFileSystem("https://user:pw@example.com/a/b.whl?x=1");
    expect(http.fs).toBeInstanceOf(HttpFileSystem);
    expect(http.path).toBe("/a/b.whl?x=1");
    expect(http.url).not.toContain("pw");
    const hdfs = await resolveFileSystem("hdfs://nn.example:8020/user/a", { env: {} });
    expect(hdfs.fs).toBeInstanceOf(WebHdfsFileSystem);
    expect(hdfs.url).toBe("hdfs://nn.example:8020/user/a");
    await expect(resolveFileSystem("ftp://x/y")).rejects.toThrow(/Unsupported storage URL scheme "ftp:\/\/"/);
    await expect(resolveFileSystem("s3:///key")).rejects.toThrow(/no bucket/);
  });

  it("refuses a scheme without its two slashes instead of taking it for a local path", async () => {
    for (const bad of ["s3:/x/env.pex", "s3a:/x", "hdfs:/user/me/env.pex", "webhdfs:/nn/x"]) {
      await expect(resolveFileSystem(bad)).rejects.toMatchObject({ code: "ERR_INVALID_URL", message: expect.stringContaining(`${bad} is not a valid URL`) });
    }
    // Written as a path, the same characters are a local path.
    expect((await resolveFileSystem("./s3:/x/env.pex")).path).toBe(path.resolve("s3:/x/env.pex"));
    expect((await resolveFileSystem("file:/tmp/env.pex")).path).toBe("/tmp/env.pex");
  });

  it("publishes to hdfs:/// through fs.defaultFS and a viewfs mount, one GETXATTRS per up-to-date check", async () => {
    const server = await startWebHdfsServer();
    try {
      const port = new URL(server.namenode).port;
      const dir = confDir(
        { "fs.defaultFS": "hdfs://127.0.0.1:8020", "fs.viewfs.mounttable.prod.link./envs": "hdfs://127.0.0.1:8020/shared/envs" },
        { "dfs.namenode.http-address": `127.0.0.1:${port}` },
      );
      const env = { HADOOP_CONF_DIR: dir, HADOOP_USER_NAME: "alice" };
      const local = path.join(dir, "env.pex");
      fs.writeFileSync(local, "pex");
      const res = await publish(local, "viewfs://prod/envs/env.pex", { env, metadata: { lock: "1" } });
      expect(res.url).toBe("hdfs://127.0.0.1:8020/shared/envs/env.pex");
      expect(fs.readFileSync(path.join(server.root, "shared/envs/env.pex"), "utf8")).toBe("pex");
      server.requests.length = 0;
      expect((await isUpToDate("hdfs:///shared/envs/env.pex", { metadata: { lock: "1" }, size: 3 }, { env })).upToDate).toBe(true);
      expect(server.requests.length).toBe(1);
      expect(server.requests[0]!.query.get("user.name")).toBe("alice");
    } finally {
      await server.close();
    }
  });
});
