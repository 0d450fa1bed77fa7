import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { WebHdfsFileSystem } from "./webhdfs";
import { KerberosError, SpnegoClient } from "../kerberos";
import type { FsError } from "../errors";
import { resolveFileSystem } from "../resolve";
import { decodeHadoopToken, hadoopTokenFile, parseDelegationTokenIdentifier, parseHadoopTokenFile } from "../hadoop-token";
import { kdcUnavailableReason, startKdc, type TestKdc } from "../test-kit/kdc";
import { startWebHdfsServer, type TestWebHdfsServer } from "../test-kit/webhdfs-server";

// The preset's testTimeout is not applied under the root multi-project run; the machine is shared.
jest.setTimeout(120_000);

/*
 * A real MIT KDC (krb5kdc on 127.0.0.1, two throwaway realms in a temporary directory)
 * and a WebHDFS server whose SPNEGO filter verifies tokens with Debian's python3-gssapi.
 * Every client gets its own KRB5_CONFIG / KRB5CCNAME through `env`: nothing on the
 * machine's Kerberos setup is read or written.
 */
const skipReason = kdcUnavailableReason() ?? kerberosPackageMissing();
const maybe = skipReason ? describe.skip : describe;
if (skipReason) console.warn(`skipping the Kerberos WebHDFS tests: ${skipReason}`);

maybe(`WebHDFS with Kerberos (SPNEGO against a real MIT KDC)${skipReason ? `: skipped, ${skipReason}` : ""}`, () => {
  let kdc: TestKdc;
  let nn: TestWebHdfsServer;
  let dnSpnego: TestWebHdfsServer;
  let dir: string;
  const aliceCache = () => path.join(dir, "alice.ccache");
  const clients: WebHdfsFileSystem[] = [];
  const client = (env: NodeJS.ProcessEnv, extra: Partial<ConstructorParameters<typeof WebHdfsFileSystem>[0]> = {}, server = nn) => {
    const c = new WebHdfsFileSystem({ namenodes: [server.namenode], env: { PATH: process.env.PATH, ...env }, user: "not-used", ...extra });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    kdc = await startKdc();
    dir = kdc.dir;
    await kdc.addPrincipal("alice", "alice-pw");
    await kdc.addPrincipal(`bob@${kdc.otherRealm}`, "bob-pw");
    await kdc.addPrincipal("svc/robot");
    await kdc.addPrincipal("HTTP/localhost");
    await kdc.addPrincipal("HTTP/127.0.0.1");
    const httpKeytab = await kdc.keytab(path.join(dir, "http.keytab"), ["HTTP/localhost", "HTTP/127.0.0.1"]);
    await kdc.keytab(path.join(dir, "robot.keytab"), ["svc/robot"]);
    await kdc.kinit("alice", aliceCache(), { password: "alice-pw" });
    const kerberos = { keytab: httpKeytab, krb5Config: kdc.krb5Config, realm: kdc.realm };
    nn = await startWebHdfsServer({ kerberos });
    dnSpnego = await startWebHdfsServer({ kerberos: { ...kerberos, datanodeSpnego: true } });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await nn?.close();
    await dnSpnego?.close();
    await kdc?.close();
  });

  it("good ticket: negotiates once with HTTP/<namenode host>, then rides the hadoop.auth cookie", async () => {
    const hdfs = client(kdc.env(aliceCache()));
    nn.requests.length = 0;
    nn.negotiations.length = 0;
    await hdfs.mkdirp("/user/alice");
    const local = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cp-krb-")), "env.pex");
    fs.writeFileSync(local, "pex bytes");
    await hdfs.publish(local, "/user/alice/env.pex", { metadata: { "lock-sha256": "feed" } });
    expect((await hdfs.read("/user/alice/env.pex")).toString()).toBe("pex bytes");
    expect(await hdfs.isUpToDate("/user/alice/env.pex", { metadata: { "lock-sha256": "feed" } })).toMatchObject({ upToDate: true });
    expect((await hdfs.stat("/user/alice/env.pex")).size).toBe(9);
    // auto mode: the first call met 401 Negotiate, then one SPNEGO exchange served every other call.
    expect(nn.negotiations).toEqual([{ server: "namenode", service: "HTTP@localhost", principal: `alice@${kdc.realm}` }]);
    expect(nn.requests[0]!.query.get("user.name")).toBe("not-used");
    const later = nn.requests.slice(2).filter((r) => r.server === "namenode");
    expect(later.every((r) => !r.query.has("user.name") && /hadoop\.auth=/.test(String(r.headers.cookie)))).toBe(true);
    // The datanode got the delegation token the namenode put in the redirect, not Kerberos.
    const dn = nn.requests.filter((r) => r.server === "datanode");
    expect(dn.length).toBeGreaterThan(0);
    expect(dn.every((r) => r.query.has("delegation") && r.headers.authorization === undefined)).toBe(true);
    expect(fs.statSync(path.join(nn.root, "user/alice/env.pex")).size).toBe(9);
  });

  it('auth "kerberos" sends the token with the first request (no 401 round trip)', async () => {
    const hdfs = client(kdc.env(aliceCache()), { auth: "kerberos" });
    nn.requests.length = 0;
    await hdfs.stat("/user/alice");
    expect(nn.requests).toHaveLength(1);
    expect(String(nn.requests[0]!.headers.authorization)).toMatch(/^Negotiate [A-Za-z0-9+/]+=*$/);
  });

  it("hdfs:// URLs follow core-site.xml's hadoop.security.authentication=kerberos", async () => {
    const conf = fs.mkdtempSync(path.join(dir, "conf-"));
    const prop = (k: string, v: string) => `<property><name>${k}</name><value>${v}</value></property>`;
    fs.writeFileSync(path.join(conf, "core-site.xml"), `<configuration>${prop("fs.defaultFS", "hdfs://localhost:8020")}${prop("hadoop.security.authentication", "kerberos")}</configuration>`);
    fs.writeFileSync(path.join(conf, "hdfs-site.xml"), `<configuration>${prop("dfs.namenode.http-address", `localhost:${new URL(nn.namenode).port}`)}</configuration>`);
    const { fs: hdfs, path: p } = await resolveFileSystem("hdfs:///user/alice", { env: { PATH: process.env.PATH, HADOOP_CONF_DIR: conf, ...kdc.env(aliceCache()) } });
    clients.push(hdfs as WebHdfsFileSystem);
    nn.requests.length = 0;
    expect((await hdfs.stat(p)).isDirectory).toBe(true);
    expect(nn.requests).toHaveLength(1);
    expect(String(nn.requests[0]!.headers.authorization)).toMatch(/^Negotiate /);
  });

  it("the datanode's own SPNEGO after the 307 uses HTTP/<datanode host>", async () => {
    const hdfs = client(kdc.env(aliceCache()), { auth: "kerberos" }, dnSpnego);
    dnSpnego.negotiations.length = 0;
    await hdfs.write("/tmp/dn.txt", "through the datanode");
    expect((await hdfs.read("/tmp/dn.txt")).toString()).toBe("through the datanode");
    expect(dnSpnego.negotiations.map((n) => `${n.server}:${n.service}:${n.principal}`)).toEqual([
      `namenode:HTTP@localhost:alice@${kdc.realm}`,
      `datanode:HTTP@127.0.0.1:alice@${kdc.realm}`,
    ]);
  });

  it("no ticket: a clear error naming kinit and the ticket cache", async () => {
    const empty = path.join(dir, "nobody.ccache");
    const hdfs = client(kdc.env(empty));
    const err = await hdfs.stat("/").catch((e: Error) => e);
    expect(err).toMatchObject({ code: "EACCES", driver: "webhdfs" });
    expect((err as Error).message).toMatch(/no Kerberos ticket \(ticket cache FILE:.*nobody\.ccache\) \(GETFILESTATUS /);
    expect((err as FsError).hint).toMatch(/^run kinit/);
  });

  it("expired ticket: says so and asks for kinit again", async () => {
    const short = path.join(dir, "short.ccache");
    await kdc.kinit("alice", short, { password: "alice-pw" }, "2s");
    // Wait for the ticket to expire (bounded): what is asserted is the state, not a time.
    for (let i = 0; i < 100 && (await kdc.hasValidTicket(short)); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await kdc.hasValidTicket(short)).toBe(false);
    const err = await client(kdc.env(short)).stat("/").catch((e: Error) => e);
    expect(err).toMatchObject({ code: "EACCES" });
    expect((err as Error).message).toMatch(/Kerberos ticket in ticket cache .*short\.ccache has expired \(GETFILESTATUS /);
    expect((err as FsError).hint).toMatch(/^run kinit/);
  });

  it("wrong realm: a ticket of a realm without trust names both realms and the fix", async () => {
    const bob = path.join(dir, "bob.ccache");
    await kdc.kinit(`bob@${kdc.otherRealm}`, bob, { password: "bob-pw" });
    const err = await client(kdc.env(bob)).stat("/").catch((e: Error) => e);
    expect(err).toMatchObject({ code: "EACCES" });
    expect((err as Error).message).toMatch(new RegExp(`realm ${kdc.otherRealm}.*no trust with realm ${kdc.realm} of HTTP/localhost \\(GETFILESTATUS `));
    expect((err as FsError).hint).toMatch(new RegExp(`^run kinit as a principal of ${kdc.realm}`));
  });

  it("keytab login: logs in as the principal without touching the ticket cache", async () => {
    const untouched = path.join(dir, "untouched.ccache");
    const hdfs = client(kdc.env(untouched), { kerberos: { principal: `svc/robot@${kdc.realm}`, keytab: path.join(dir, "robot.keytab") } });
    nn.negotiations.length = 0;
    await hdfs.write("/tmp/robot.txt", "from a keytab");
    expect(nn.negotiations.map((n) => n.principal)).toEqual([`svc/robot@${kdc.realm}`]);
    expect((await client(kdc.env(aliceCache())).read("/tmp/robot.txt")).toString()).toBe("from a keytab");
    expect(fs.existsSync(untouched)).toBe(false);
    // The file belongs to the keytab's principal (HDFS's DEFAULT auth_to_local: first component).
    expect(nn.ownerOf("/tmp/robot.txt")).toBe("svc");
    await expect(client({}, { kerberos: { principal: "svc/robot", keytab: path.join(dir, "missing.keytab") } }).stat("/")).rejects.toThrow(/Cannot read the keytab .*missing\.keytab/);
    const wrong = client(kdc.env(untouched), { kerberos: { principal: `alice@${kdc.realm}`, keytab: path.join(dir, "robot.keytab") } });
    await expect(wrong.stat("/")).rejects.toThrow(/keytab .*robot\.keytab holds no usable key for alice@/);
  });

  it("fetches a delegation token that works without any ticket, ships as a token file, and cancels", async () => {
    const hdfs = client(kdc.env(aliceCache()));
    const { urlString, token } = await hdfs.getDelegationToken({ renewer: "yarn" });
    expect(token.kind).toBe("WEBHDFS delegation");
    expect(token.service).toBe(`127.0.0.1:${new URL(nn.namenode).port}`);
    expect(parseDelegationTokenIdentifier(token.identifier)).toMatchObject({ owner: `alice@${kdc.realm}`, renewer: "yarn" });
    // A job with no ticket at all reads through the token.
    const job = client(kdc.env(path.join(dir, "no-ticket.ccache")), { delegationToken: urlString });
    expect((await job.read("/user/alice/env.pex")).toString()).toBe("pex bytes");
    // The token file a YARN client reads (HADOOP_TOKEN_FILE_LOCATION) holds the same token.
    const file = path.join(dir, "tokens.bin");
    fs.writeFileSync(file, hadoopTokenFile([token]));
    expect(parseHadoopTokenFile(fs.readFileSync(file))).toEqual([decodeHadoopToken(urlString)]);
    // A container with that file as HADOOP_TOKEN_FILE_LOCATION and no ticket reads through it.
    const container = client({ ...kdc.env(path.join(dir, "no-ticket.ccache")), HADOOP_TOKEN_FILE_LOCATION: file });
    expect((await container.read("/user/alice/env.pex")).toString()).toBe("pex bytes");
    // A token cannot buy another token; a cancelled one stops working.
    await expect(job.getDelegationToken()).rejects.toThrow(/cannot be used to get another one/);
    await hdfs.cancelDelegationToken(urlString);
    const err = await job.stat("/").catch((e: Error) => e);
    expect(err).toMatchObject({ code: "EACCES" });
    expect((err as Error).message).not.toContain(urlString);
  });

  it("without a loadable kerberos package: names the package and how to install it", async () => {
    // A package that is there but whose native part did not build fails the same way.
    const broken = path.join(dir, "broken-kerberos.js");
    fs.writeFileSync(broken, 'throw new Error("Cannot find module \'../build/Release/kerberos.node\'");\n');
    const spnego = new SpnegoClient({ env: kdc.env(aliceCache()), kerberosModule: broken });
    try {
      const err = await spnego.begin("localhost").catch((e: Error) => e);
      expect(err).toMatchObject({ failure: "not-installed" });
      expect((err as Error).message).toMatch(/optional package "kerberos", which is not installed or did not build$/);
      expect((err as KerberosError).hint).toMatch(/^npm install kerberos@7\.0\.0.*libkrb5-dev/);
    } finally {
      spnego.close();
    }
  });

  it('auth "simple" against a Kerberos cluster fails with the fix, not a hang', async () => {
    const err = await client(kdc.env(aliceCache()), { auth: "simple" }).stat("/").catch((e: Error) => e);
    expect(err).toMatchObject({ code: "EACCES" });
    expect((err as Error).message).toMatch(/requires Kerberos \(SPNEGO\) and auth is "simple"/);
    expect((err as FsError).hint).toMatch(/^use auth "kerberos"/);
  });

  it("a server whose key changed refuses the ticket: the error says the server refused it", async () => {
    // Re-keying HTTP/localhost makes alice's cached service ticket (old key) undecryptable.
    const rekeyed = await kdc.keytab(path.join(dir, "rekeyed.keytab"), ["HTTP/localhost"]);
    const other = await startWebHdfsServer({ kerberos: { keytab: rekeyed, krb5Config: kdc.krb5Config, realm: kdc.realm } });
    try {
      const stale = path.join(dir, "stale.ccache");
      fs.copyFileSync(aliceCache(), stale);
      const err = await client(kdc.env(stale), { auth: "kerberos" }, other).stat("/").catch((e: Error) => e);
      expect(err).toMatchObject({ code: "EACCES" });
      expect((err as Error).message).toMatch(/localhost:\d+ refused the Kerberos ticket from ticket cache .*stale\.ccache: GSSException/);
      expect(other.negotiations[0]?.error).toBeDefined();
    } finally {
      await other.close();
    }
  });
});

function kerberosPackageMissing(): string | undefined {
  try {
    require.resolve("kerberos");
    return undefined;
  } catch {
    return 'the optional npm package "kerberos" is not installed (npm install kerberos@7.0.0; it builds against libkrb5-dev)';
  }
}
