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

  it("takes the user from C_PACK_USER (blanks stripped, empty is unset), else the login name; refuses a path in it", () => {
    expect(getUser({ env: { C_PACK_USER: "alice" } })).toBe("alice");
    expect(getUser({ env: { C_PACK_USER: "  alice\n" } })).toBe("alice");
    expect(getUser({ env: { C_PACK_USER: "   " } })).toBe(os.userInfo().username);
    expect(getUser({ env: {} })).toBe(os.userInfo().username);
    expect(() => getUser({ env: { C_PACK_USER: "../../etc" } })).toThrow(/C_PACK_USER "\.\.\/\.\.\/etc" is not a user name/);
    expect(() => getUser({ env: { C_PACK_USER: "a b" } })).toThrow(/not a user name/);
  });

  it("names a conda env after itself for the conda packer, as cluster-pack's CondaPacker", () => {
    const env = { prefix: "/opt/conda/envs/ml", kind: "conda" as const, name: "ml", python: "", pythonVersion: "3.11", sitePackages: [] };
    expect(getEnvName(env, "conda")).toBe("ml");
    expect(getEnvName(env, "pex")).toMatch(/^ml_[0-9a-f]{7}$/);
  });

  it("falls back to /etc/hadoop/conf, then to `hdfs getconf -confKey fs.defaultFS` when hdfs is on PATH", async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "cp-hadoop-"));
    try {
      const etc = path.join(dir, "etc-hadoop-conf");
      await fsp.mkdir(etc);
      await fsp.writeFile(path.join(etc, "core-site.xml"), "<configuration><property><name>fs.defaultFS</name><value>hdfs://from-etc</value></property></configuration>");
      expect(await getDefaultFs({ env: {}, hadoopConfDirs: [etc] })).toBe("hdfs://from-etc");
      // Hadoop is not installed here: a stand-in `hdfs` answering the one query cluster-pack
      // makes (it checks the arguments, and logs a line first as the JVM may).
      const bin = path.join(dir, "bin");
      await fsp.mkdir(bin);
      await fsp.writeFile(
        path.join(bin, "hdfs"),
        '#!/bin/sh\n[ "$1 $2 $3" = "getconf -confKey fs.defaultFS" ] || exit 3\necho "WARN util.NativeCodeLoader: no native library" >&2\necho "log line"\necho "viewfs://cluster/"\n',
        { mode: 0o755 },
      );
      expect(await getDefaultFs({ env: { PATH: bin }, hadoopConfDirs: [path.join(dir, "none")] })).toBe("viewfs://cluster");
      // HADOOP_CONF_DIR still comes first; a failing hdfs falls through to the local store.
      expect(await getDefaultFs({ env: { PATH: bin, HADOOP_CONF_DIR: etc }, hadoopConfDirs: [] })).toBe("hdfs://from-etc");
      await fsp.writeFile(path.join(bin, "hdfs"), "#!/bin/sh\nexit 1\n", { mode: 0o755 });
      expect(await getDefaultFs({ env: { PATH: bin, XDG_DATA_HOME: dir }, hadoopConfDirs: [] })).toBe(`file://${dir}/cluster-pack`);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
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
