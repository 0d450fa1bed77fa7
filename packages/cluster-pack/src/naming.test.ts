import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { defaultPackagePath, getDefaultFs, getEnvName, getUser, sidecarPath } from "./naming";

describe("naming", () => {
  it("names a venv <basename>_<sha1(path)[:7]> like cluster-pack, default outside one", () => {
    const prefix = "/home/me/proj/.venv";
    const sha = createHash("sha1").update(prefix).digest("hex").slice(0, 7);
    expect(getEnvName({ prefix, kind: "venv", name: ".venv", python: "", pythonVersion: "3.11", sitePackages: [] })).toBe(`.venv_${sha}`);
    expect(getEnvName(undefined)).toBe("default");
  });

  it("takes the user from C_PACK_USER, else the login name", () => {
    expect(getUser({ env: { C_PACK_USER: "alice" } })).toBe("alice");
    expect(getUser({ env: {} })).toBe(os.userInfo().username);
  });

  it("reads fs.defaultFS from HADOOP_CONF_DIR, comments ignored", async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "cp-hadoop-"));
    try {
      await fsp.writeFile(
        path.join(dir, "core-site.xml"),
        `<?xml version="1.0"?><configuration>
<!-- <property><name>fs.defaultFS</name><value>hdfs://commented</value></property> -->
<property>
  <name>fs.defaultFS</name>
  <value>hdfs://root/</value>
</property></configuration>`,
      );
      expect(await getDefaultFs({ env: { HADOOP_CONF_DIR: dir } })).toBe("hdfs://root");
      expect(await getDefaultFs({ env: { XDG_DATA_HOME: dir } })).toBe(`file://${dir}/cluster-pack`);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  it("builds cluster-pack's default path and its .json sidecar beside it", () => {
    const p = defaultPackagePath("hdfs://root/", "bob", "venv_abc1234", "pex");
    expect(p).toBe("hdfs://root/user/bob/envs/venv_abc1234.pex");
    expect(sidecarPath(p)).toBe("hdfs://root/user/bob/envs/venv_abc1234.json");
    expect(sidecarPath("s3://b/k/env.tar.gz")).toBe("s3://b/k/env.tar.json");
    expect(sidecarPath("/a.b/env")).toBe("/a.b/env.json");
  });
});
