import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { createInterface } from "node:readline";
import { InvalidInputError } from "@cluster-pack/errors";
import { checkAborted } from "./errors";

/** A Kerberos login other than the ticket cache: a principal and its keytab (as Spark's spark.kerberos.*). */
export interface KerberosLogin {
  /** `user@REALM` or `service/host@REALM`; without a keytab, picks that principal's ticket in a cache collection. */
  principal?: string;
  /** Keytab file holding the principal's key: logs in without kinit and never touches the user's ticket cache. */
  keytab?: string;
}

/** Why a Kerberos step failed, sorted so callers can name the fix. */
export type KerberosFailure = "no-ticket" | "expired" | "wrong-realm" | "unknown-service" | "kdc-unreachable" | "keytab" | "clock-skew" | "not-installed" | "other";

export class KerberosError extends Error {
  /** The fix, kept apart from the message (the store's FsError carries it on). */
  readonly hint: string | undefined;

  constructor(
    message: string,
    readonly failure: KerberosFailure,
    options?: { cause?: unknown; hint?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options?.hint;
  }
}

/** One SPNEGO exchange: the header to send, and the check of the server's answer (mutual authentication). */
export interface SpnegoExchange {
  /** `Negotiate <base64 token>` for the Authorization header. */
  header: string;
  /** Verifies the server's `WWW-Authenticate: Negotiate <token>` answer; resolves when there is none to check. */
  finish(wwwAuthenticate: string | string[] | undefined): Promise<void>;
}

/** Version the project was tested with; installs name it. */
export const KERBEROS_PACKAGE = "kerberos@7.0.0";

/**
 * SPNEGO (HTTP Negotiate, RFC 4559) tokens for `HTTP/<host>` over MIT Kerberos, through the
 * `kerberos` npm package. GSSAPI reads its ticket cache, configuration and client keytab
 * from the process environment (KRB5CCNAME, KRB5_CONFIG, KRB5_CLIENT_KTNAME) and the
 * package has no per-context cache, so tokens come from a small helper process started
 * with this client's environment: each client gets its own credentials (a keytab login
 * lives in a private in-memory cache, never in the user's) and this process's
 * environment is never changed. The helper starts on first use and ends with its stdin.
 */
export class SpnegoClient {
  private readonly env: NodeJS.ProcessEnv;
  private readonly principal: string | undefined;
  private readonly keytab: string | undefined;
  private helper: Helper | undefined;
  private readonly modulePath: string | undefined;

  /** `kerberosModule`: where the helper loads the package from (default: resolved from here); tests point it elsewhere. */
  constructor(options: KerberosLogin & { env?: NodeJS.ProcessEnv; kerberosModule?: string } = {}) {
    if (options.keytab !== undefined && !options.principal) {
      throw new InvalidInputError(`A keytab login needs the principal too.`, { hint: `pass principal (e.g. svc/host@REALM) with keytab ${options.keytab}.` });
    }
    this.principal = options.principal || undefined;
    this.keytab = options.keytab;
    this.modulePath = options.kerberosModule;
    const base = options.env ?? process.env;
    this.env = this.keytab
      ? // MIT's client keytab: GSSAPI gets (and renews) the TGT from it into this memory cache.
        { ...base, KRB5_CLIENT_KTNAME: `FILE:${this.keytab}`, KRB5CCNAME: `MEMORY:cluster-pack-${process.pid}-${randomBytes(6).toString("hex")}` }
      : { ...base };
  }

  /** Where tickets come from, for messages: `keytab <file> (<principal>)` or the ticket cache. */
  describe(): string {
    if (this.keytab) return `keytab ${this.keytab} (${this.principal})`;
    return `ticket cache ${this.env.KRB5CCNAME ?? "(the default, /tmp/krb5cc_<uid>)"}`;
  }

  /** Starts an exchange with `HTTP@<host>` (GSS host-based service name: principal HTTP/<host>@REALM). */
  async begin(host: string, signal?: AbortSignal): Promise<SpnegoExchange> {
    checkAborted(signal);
    if (this.keytab) {
      try {
        fs.accessSync(this.keytab, fs.constants.R_OK);
      } catch (err) {
        throw new InvalidInputError(`Cannot read the keytab ${this.keytab} (${(err as NodeJS.ErrnoException).code}).`, { cause: err, hint: "fix the keytab path or its permissions." });
      }
    }
    const service = `HTTP@${host}`;
    const helper = this.ensureHelper();
    const id = helper.nextId++;
    const answer = await helper.call({ op: "init", id, service, ...(this.principal ? { principal: this.principal } : {}) }, signal).catch((err: unknown) => {
      throw this.explain(err, host);
    });
    const token = answer.token;
    if (typeof token !== "string" || !/^[A-Za-z0-9+/]+={0,2}$/.test(token)) throw new KerberosError("the Kerberos helper returned no token", "other");
    let finished = false;
    return {
      header: `Negotiate ${token}`,
      finish: async (www) => {
        if (finished) return;
        finished = true;
        const reply = negotiateToken(www);
        if (reply === undefined) {
          helper.send({ op: "drop", id });
          return;
        }
        await helper.call({ op: "verify", id, token: reply }).catch((err: unknown) => {
          // A ticket that ran out within the clock-skew allowance passes the server, then its context is dead on arrival.
          if (/context has expired|Ticket expired/i.test((err as Error).message)) throw this.explain(err, host);
          throw new KerberosError(`the answer of HTTP/${host} failed Kerberos mutual authentication (${(err as Error).message}): the server is not the one its principal names`, "other", { cause: err });
        });
      },
    };
  }

  /** Ends the helper process (it also ends on its own when this process exits). */
  close(): void {
    this.helper?.close();
    this.helper = undefined;
  }

  private ensureHelper(): Helper {
    if (!this.helper || this.helper.dead) this.helper = new Helper(this.env, this.modulePath);
    return this.helper;
  }

  /** Turns GSSAPI's message into one that names the fix. */
  private explain(err: unknown, host: string): KerberosError {
    if (err instanceof KerberosError) return err;
    const msg = String((err as Error)?.message ?? err);
    const where = this.describe();
    const kinit = this.principal ? `kinit ${this.principal}` : "kinit <user>@<REALM>";
    const m = /Server krbtgt\/([^@\s]+)@(\S+) not found/.exec(msg);
    if (m) {
      return new KerberosError(
        `the ticket in ${where} is for realm ${m[2]}, and ${m[2]} has no trust with realm ${m[1]} of HTTP/${host}`,
        "wrong-realm",
        { cause: err, hint: `run kinit as a principal of ${m[1]} (kinit <user>@${m[1]}), or map ${host} to the right realm in krb5.conf [domain_realm].` },
      );
    }
    const unknown = /Server (\S+) not found in Kerberos database/.exec(msg);
    if (unknown) {
      return new KerberosError(`the KDC does not know the service ${unknown[1]}`, "unknown-service", { cause: err, hint: "use the host name of the namenode's principal (HTTP/<fqdn>) in the URL, or fix [domain_realm] in krb5.conf." });
    }
    if (/Ticket expired|credentials? ha(s|ve) expired|context has expired/i.test(msg)) {
      return new KerberosError(`the Kerberos ticket in ${where} has expired`, "expired", { cause: err, hint: `run ${kinit} again (or kinit -R while it is renewable).` });
    }
    if (this.keytab && /Can't find client principal|Key table entry not found|No key table entry|keytab/i.test(msg)) {
      return new KerberosError(`the keytab ${this.keytab} holds no usable key for ${this.principal} (${msg})`, "keytab", { cause: err, hint: `check with klist -k ${this.keytab}.` });
    }
    if (/No credentials were supplied|No Kerberos credentials|credentials cache .*not found|No credentials cache found|SPNEGO cannot find mechanisms|Can't find client principal/i.test(msg)) {
      return new KerberosError(`no Kerberos ticket (${where})`, "no-ticket", { cause: err, hint: `run ${kinit} first, or pass principal and keytab.` });
    }
    if (/Cannot contact any KDC|Cannot find KDC|Cannot resolve network address for KDC/i.test(msg)) {
      return new KerberosError(`cannot reach a KDC (${msg})`, "kdc-unreachable", { cause: err, hint: "check the [realms] kdc entries of krb5.conf (KRB5_CONFIG) and the network." });
    }
    if (/Clock skew too great/i.test(msg)) return new KerberosError("the clocks of this machine and the KDC differ by more than 5 minutes", "clock-skew", { cause: err, hint: "fix the time (NTP)." });
    return new KerberosError(`Kerberos failed: ${msg}`, "other", { cause: err });
  }
}

/** The token of a `WWW-Authenticate: Negotiate <token>` header, if any. */
export function negotiateToken(www: string | string[] | undefined): string | undefined {
  for (const h of Array.isArray(www) ? www : www === undefined ? [] : [www]) {
    for (const part of h.split(",")) {
      const m = /^\s*Negotiate\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(part);
      if (m) return m[1];
    }
  }
  return undefined;
}

/** True when a 401 asks for SPNEGO (`WWW-Authenticate: Negotiate`). */
export function asksForNegotiate(www: string | string[] | undefined): boolean {
  return (Array.isArray(www) ? www : www === undefined ? [] : [www]).some((h) => /(^|,)\s*Negotiate\b/i.test(h));
}

// The helper: plain JavaScript run by `node -e`, so it works the same from sources and dist.
const HELPER_SOURCE = String.raw`"use strict";
let k;
try { k = require(process.argv[1]); } catch (e) { k = e; }
const contexts = new Map();
const send = (m) => process.stdout.write(JSON.stringify(m) + "\n");
require("readline").createInterface({ input: process.stdin }).on("line", async (line) => {
  let m;
  try { m = JSON.parse(line); } catch { return; }
  try {
    if (k instanceof Error) { send({ id: m.id, error: String(k.message), notInstalled: true }); return; }
    if (m.op === "init") {
      const c = await k.initializeClient(m.service, { mechOID: k.GSS_MECH_OID_SPNEGO, ...(m.principal ? { principal: m.principal } : {}) });
      const token = await c.step("");
      contexts.set(m.id, c);
      send({ id: m.id, token });
    } else if (m.op === "verify") {
      const c = contexts.get(m.id);
      contexts.delete(m.id);
      if (!c) throw new Error("no pending Kerberos context");
      await c.step(m.token);
      send({ id: m.id, ok: true });
    } else if (m.op === "drop") {
      contexts.delete(m.id);
    }
  } catch (e) {
    send({ id: m.id, error: String((e && e.message) || e) });
  }
}).on("close", () => process.exit(0));
`;

interface HelperAnswer {
  id: number;
  token?: string;
  ok?: boolean;
  error?: string;
  notInstalled?: boolean;
}

class Helper {
  nextId = 1;
  dead = false;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<number, { resolve: (a: HelperAnswer) => void; reject: (e: unknown) => void }>();
  private stderr = "";

  constructor(env: NodeJS.ProcessEnv, given?: string) {
    let modulePath: string;
    try {
      modulePath = given ?? require.resolve("kerberos");
    } catch (err) {
      throw notInstalled(err);
    }
    this.child = spawn(process.execPath, ["-e", HELPER_SOURCE, modulePath], { env, stdio: ["pipe", "pipe", "pipe"] });
    this.child.stderr.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-2000);
    });
    createInterface({ input: this.child.stdout }).on("line", (line) => {
      let a: HelperAnswer;
      try {
        a = JSON.parse(line) as HelperAnswer;
      } catch {
        return;
      }
      const p = this.pending.get(a.id);
      if (!p) return;
      this.pending.delete(a.id);
      this.refCount();
      if (a.notInstalled) p.reject(notInstalled(new Error(a.error)));
      else if (a.error !== undefined) p.reject(new Error(a.error));
      else p.resolve(a);
    });
    const fail = (err: unknown) => {
      this.dead = true;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.child.on("error", (err) => fail(new KerberosError(`cannot start the Kerberos helper (${err.message})`, "other", { cause: err })));
    this.child.on("exit", (code, sig) => fail(new KerberosError(`the Kerberos helper exited (${sig ?? code})${this.stderr ? `: ${this.stderr.trim().split("\n").pop()}` : ""}`, "other")));
    this.child.stdin.on("error", () => undefined);
    this.refCount();
  }

  call(msg: { op: string; id: number; [k: string]: unknown }, signal?: AbortSignal): Promise<HelperAnswer> {
    if (this.dead) return Promise.reject(new KerberosError("the Kerberos helper is not running", "other"));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.pending.delete(msg.id);
        this.refCount();
        this.send({ op: "drop", id: msg.id });
        reject(signal?.reason ?? new Error("aborted"));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.pending.set(msg.id, {
        resolve: (a) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(a);
        },
        reject: (e) => {
          signal?.removeEventListener("abort", onAbort);
          reject(e);
        },
      });
      this.refCount();
      this.send(msg);
    });
  }

  send(msg: object): void {
    if (!this.dead) this.child.stdin.write(`${JSON.stringify(msg)}\n`);
  }

  close(): void {
    this.dead = true;
    this.child.stdin.end();
  }

  /** The helper keeps this process alive only while an answer is awaited. */
  private refCount(): void {
    const streams = [this.child.stdout, this.child.stderr, this.child.stdin] as unknown as { ref?: () => void; unref?: () => void }[];
    if (this.pending.size > 0) {
      this.child.ref();
      for (const s of streams) s.ref?.();
    } else {
      this.child.unref();
      for (const s of streams) s.unref?.();
    }
  }
}

function notInstalled(cause: unknown): KerberosError {
  return new KerberosError(
    `Kerberos (SPNEGO) needs the optional package "kerberos", which is not installed or did not build`,
    "not-installed",
    { cause, hint: `npm install ${KERBEROS_PACKAGE} (it builds against MIT Kerberos: apt-get install libkrb5-dev, or dnf install krb5-devel).` },
  );
}
