import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort, stopChild } from "./child-process";

const run = promisify(execFile);

export interface TestKdc {
  /** The realm the test cluster lives in (`CP.TEST`). */
  realm: string;
  /** A second realm served by the same KDC, with no trust between the two (`OTHER.TEST`). */
  otherRealm: string;
  /** Temporary directory holding everything: configuration, databases, keytabs, caches. */
  dir: string;
  /** krb5.conf of both realms; KDC on 127.0.0.1, `localhost` and `127.0.0.1` mapped to `realm`. */
  krb5Config: string;
  port: number;
  /** Variables a Kerberos client of this KDC runs with: KRB5_CONFIG, and KRB5CCNAME when given. */
  env(ccache?: string): NodeJS.ProcessEnv;
  /** Adds a principal (`alice`, `HTTP/localhost`, `bob@OTHER.TEST`): with a password, or a random key. */
  addPrincipal(principal: string, password?: string): Promise<void>;
  /** Exports the keys of these principals into a keytab file (random keys are re-generated, as kadmin ktadd does). */
  keytab(file: string, principals: string[]): Promise<string>;
  /** Gets a ticket into `ccache` (`FILE:<path>` or a path) with a password or a keytab; `lifetime` as kinit -l takes it. */
  kinit(principal: string, ccache: string, login: { password: string } | { keytab: string }, lifetime?: string): Promise<void>;
  /** True while `ccache` holds a valid, unexpired ticket (klist -s). */
  hasValidTicket(ccache: string): Promise<boolean>;
  close(): Promise<void>;
}

const TOOLS = { krb5kdc: "krb5kdc", kdb5_util: "kdb5_util", kadmin: "kadmin.local", kinit: "kinit", klist: "klist" } as const;

/**
 * Why a real KDC cannot run here, or undefined when it can: MIT's KDC and tools (Debian
 * krb5-kdc, krb5-admin-server, krb5-user) and Debian's python3-gssapi, which the
 * WebHDFS test server verifies SPNEGO tokens with.
 */
export function kdcUnavailableReason(): string | undefined {
  const missing = Object.values(TOOLS).filter((t) => !findTool(t));
  if (missing.length) return `MIT Kerberos tools missing (${missing.join(", ")}): apt-get install krb5-kdc krb5-admin-server krb5-user`;
  if (!fs.existsSync("/usr/bin/python3")) return "/usr/bin/python3 missing (the SPNEGO acceptor runs on Debian's python3 with python3-gssapi)";
  try {
    execFileSync("/usr/bin/python3", ["-c", "import gssapi"], { stdio: "ignore" });
  } catch {
    return "python3-gssapi missing for /usr/bin/python3: apt-get install python3-gssapi";
  }
  return undefined;
}

/**
 * Starts MIT krb5kdc on 127.0.0.1 with two throwaway realms in a temporary directory.
 * Nothing outside it is read or written: every tool runs with KRB5_CONFIG and
 * KRB5_KDC_PROFILE pointing inside, and callers give their own ticket caches.
 */
export async function startKdc(options: { realm?: string; otherRealm?: string } = {}): Promise<TestKdc> {
  const realm = options.realm ?? "CP.TEST";
  const otherRealm = options.otherRealm ?? "OTHER.TEST";
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cp-kdc-"));
  const port = await freePort();
  const krb5Config = path.join(dir, "krb5.conf");
  const kdcProfile = path.join(dir, "kdc.conf");
  fs.writeFileSync(
    krb5Config,
    `[libdefaults]
  default_realm = ${realm}
  dns_lookup_kdc = false
  dns_lookup_realm = false
  dns_canonicalize_hostname = false
  rdns = false
  udp_preference_limit = 1
  default_ccache_name = FILE:${path.join(dir, "default-ccache")}
  default_client_keytab_name = FILE:${path.join(dir, "default-client.keytab")}
  default_keytab_name = FILE:${path.join(dir, "default.keytab")}
[realms]
  ${realm} = {
    kdc = 127.0.0.1:${port}
  }
  ${otherRealm} = {
    kdc = 127.0.0.1:${port}
  }
[domain_realm]
  localhost = ${realm}
  127.0.0.1 = ${realm}
`,
  );
  const realmBlock = (r: string) => `  ${r} = {
    database_name = ${path.join(dir, `${r}.db`)}
    key_stash_file = ${path.join(dir, `${r}.stash`)}
    acl_file = ${path.join(dir, "kadm5.acl")}
    max_life = 10h
    max_renewable_life = 0
    supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
  }
`;
  fs.writeFileSync(
    kdcProfile,
    `[kdcdefaults]
  kdc_listen = 127.0.0.1:${port}
  kdc_tcp_listen = 127.0.0.1:${port}
[realms]
${realmBlock(realm)}${realmBlock(otherRealm)}[logging]
  kdc = FILE:${path.join(dir, "kdc.log")}
`,
  );
  fs.writeFileSync(path.join(dir, "kadm5.acl"), "");
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, KRB5_CONFIG: krb5Config, KRB5_KDC_PROFILE: kdcProfile, KRB5CCNAME: `FILE:${path.join(dir, "tool-ccache")}`, KRB5RCACHEDIR: dir };
  const tool = (name: keyof typeof TOOLS) => findTool(TOOLS[name]) as string;
  for (const r of [realm, otherRealm]) await run(tool("kdb5_util"), ["create", "-s", "-r", r, "-P", "cluster-pack-test-master"], { env });
  const kdc: ChildProcess = spawn(tool("krb5kdc"), ["-n", "-r", realm, "-r", otherRealm], { env, stdio: ["ignore", "ignore", "pipe"] });
  let kdcErr = "";
  kdc.stderr?.on("data", (d: Buffer) => (kdcErr += d.toString()));
  await waitForPort(port, () => (kdc.exitCode !== null ? `krb5kdc exited (${kdc.exitCode}): ${kdcErr.trim()}` : undefined));

  const realmOf = (principal: string) => /@([^@]+)$/.exec(principal)?.[1] ?? realm;
  const kadmin = (principal: string, query: string) => run(tool("kadmin"), ["-r", realmOf(principal), "-q", query], { env });
  const ccacheName = (c: string) => (/^[A-Z]+:/.test(c) ? c : `FILE:${c}`);

  return {
    realm,
    otherRealm,
    dir,
    krb5Config,
    port,
    env: (ccache) => ({ KRB5_CONFIG: krb5Config, ...(ccache ? { KRB5CCNAME: ccacheName(ccache) } : {}) }),
    async addPrincipal(principal, password) {
      const { stdout, stderr } = await kadmin(principal, password === undefined ? `addprinc -randkey ${principal}` : `addprinc -pw ${password} ${principal}`);
      if (!/created/i.test(`${stdout}${stderr}`)) throw new Error(`kadmin could not add ${principal}: ${stderr.trim()}`);
    },
    async keytab(file, principals) {
      for (const p of principals) await kadmin(p, `ktadd -k ${file} ${p}`);
      return file;
    },
    async kinit(principal, ccache, login, lifetime) {
      const args = ["-c", ccacheName(ccache), ...(lifetime ? ["-l", lifetime] : []), ...("keytab" in login ? ["-k", "-t", login.keytab] : []), principal];
      await new Promise<void>((resolve, reject) => {
        const child = spawn(tool("kinit"), args, { env: { ...env, KRB5CCNAME: ccacheName(ccache) }, stdio: ["pipe", "ignore", "pipe"] });
        let err = "";
        child.stderr.on("data", (d: Buffer) => (err += d.toString()));
        child.on("error", reject);
        child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`kinit ${principal} failed (${code}): ${err.trim()}`))));
        child.stdin.end("password" in login ? `${login.password}\n` : "");
      });
    },
    async hasValidTicket(ccache) {
      try {
        await run(tool("klist"), ["-s", "-c", ccacheName(ccache)], { env });
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await stopChild(kdc);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function findTool(name: string): string | undefined {
  for (const d of [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/sbin", "/usr/bin"]) {
    if (!d) continue;
    const full = path.join(d, name);
    try {
      fs.accessSync(full, fs.constants.X_OK);
      return full;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Waits until the KDC accepts TCP connections (bounded: 200 tries). */
async function waitForPort(port: number, failed: () => string | undefined): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const why = failed();
    if (why) throw new Error(why);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, "127.0.0.1");
      sock.once("connect", () => {
        sock.destroy();
        resolve(true);
      });
      sock.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`krb5kdc did not listen on 127.0.0.1:${port}`);
}
