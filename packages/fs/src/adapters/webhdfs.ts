import { promises as dns } from "node:dns";
import fs from "node:fs";
import os from "node:os";
import { Readable, Transform } from "node:stream";
import { InvalidInputError } from "@cluster-pack/errors";
import {
  FileSystem,
  bodyToStream,
  isReopenable,
  normalizeStorePath,
  validateMetadata,
  type FileStat,
  type ObjectHead,
  type OpOptions,
  type ReadStreamOptions,
  type RenameOptions,
  type RmOptions,
  type WriteBody,
  type WriteOptions,
} from "../filesystem";
import { FsError, type FsErrorCode, toAbortError } from "../errors";
import { httpRequest, isTransientError, readBody, withRetry, type HttpResponse, type RetryOptions } from "@cluster-pack/io";
import { decodeHadoopToken, encodeHadoopToken, hdfsTokenServices, parseHadoopTokenFile, selectHdfsToken, type HadoopToken } from "../hadoop-token";
import { KerberosError, SpnegoClient, asksForNegotiate, type KerberosLogin, type SpnegoExchange } from "../kerberos";
import { resumableStream } from "../resumable";

const MAX_TOKEN_FILE = 1024 * 1024;

export interface WebHdfsOptions {
  /** Namenode HTTP(S) base URLs (`http://nn1:9870`); several for HA, tried in order with failover. */
  namenodes: string[];
  /** Authority shown in URLs: `hdfs://<authority>/path` (nameservice or host:port). */
  authority?: string;
  /** `user.name` for simple auth (default HADOOP_USER_NAME, then the login name). Ignored with a token or Kerberos. */
  user?: string;
  /**
   * Delegation token (URL-safe string as WebHDFS expects). Default: HADOOP_TOKEN, else this
   * cluster's HDFS token in the token file at HADOOP_TOKEN_FILE_LOCATION (what YARN gives
   * every container), matched by service as Hadoop does. Used instead of Kerberos.
   */
  delegationToken?: string;
  /**
   * `auto` (default): simple auth until a server answers 401 `WWW-Authenticate: Negotiate`,
   * then SPNEGO; `kerberos`: SPNEGO from the first request (core-site.xml's
   * hadoop.security.authentication=kerberos); `simple`: never SPNEGO.
   */
  auth?: "auto" | "simple" | "kerberos";
  /**
   * Kerberos login: without it, the ticket cache (KRB5CCNAME or the default) from kinit;
   * with principal + keytab, a private login that leaves the ticket cache alone.
   */
  kerberos?: KerberosLogin;
  retry?: RetryOptions;
  /** Per-request idle timeout (default 60 s). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

interface HdfsFileStatus {
  pathSuffix: string;
  type: "FILE" | "DIRECTORY" | "SYMLINK";
  length: number;
  modificationTime: number;
}

/** What GETDELEGATIONTOKEN returns: the token as `delegation=` takes it, and its decoded fields. */
export interface WebHdfsDelegationToken {
  /** The URL-safe string (a secret: never print it). */
  urlString: string;
  token: HadoopToken;
}

/** xattr (under `user.`) holding the byte count written with metadata. */
const SIZE_XATTR = "cluster-pack.size";

/** Hadoop exception class -> Node code. */
const EXCEPTION_CODES: Record<string, FsErrorCode> = {
  FileNotFoundException: "ENOENT",
  FileAlreadyExistsException: "EEXIST",
  AccessControlException: "EACCES",
  SecurityException: "EACCES",
  AuthorizationException: "EACCES",
  InvalidToken: "EACCES",
  ParentNotDirectoryException: "ENOTDIR",
  PathIsNotEmptyDirectoryException: "ENOTEMPTY",
  PathIsNotDirectoryException: "ENOTDIR",
  UnsupportedOperationException: "ENOTSUP",
  IllegalArgumentException: "EINVAL",
  SafeModeException: "EROFS",
};

/**
 * HDFS over the WebHDFS REST API. Namenode operations are one request; data goes through
 * the 307 redirect to a datanode (CREATE, APPEND, OPEN). A file being written is visible
 * at its path in HDFS, so `publish` writes a temporary sibling and renames it over the
 * target (rename with OVERWRITE is atomic in the namenode). User metadata is kept as
 * `user.*` extended attributes, which follow the file through the rename.
 */
export class WebHdfsFileSystem extends FileSystem {
  readonly driver = "webhdfs";
  readonly capabilities = { rename: true, atomicWrite: false, writable: true };
  private readonly namenodes: string[];
  private active = 0;
  private token: string | undefined;
  /** The token file's token, read once on first use (HADOOP_TOKEN_FILE_LOCATION). */
  private tokenFromFile: Promise<void> | undefined;
  /** Where the token came from, for error hints. */
  private tokenSource = "the delegation token (HADOOP_TOKEN)";
  private readonly user: string;
  private readonly authMode: "auto" | "simple" | "kerberos";
  /** SPNEGO in use: set by `auth: "kerberos"`, a keytab, or the first 401 Negotiate. */
  private kerberosActive: boolean;
  private spnego: SpnegoClient | undefined;
  private readonly kerberosLogin: KerberosLogin;
  /** Hadoop's signed `hadoop.auth` cookie per origin: one SPNEGO exchange, then the cookie. */
  private readonly cookies = new Map<string, { value: string; expires: number }>();
  private readonly env: NodeJS.ProcessEnv;
  private readonly authority: string;
  private readonly retry: RetryOptions;
  private readonly timeoutMs: number;

  constructor(options: WebHdfsOptions) {
    super();
    if (!options.namenodes.length) throw new InvalidInputError("[webhdfs] no namenode address", { hint: "pass namenodes or set dfs.namenode.http-address in hdfs-site.xml." });
    this.namenodes = options.namenodes.map((n) => n.replace(/\/+$/, ""));
    this.env = options.env ?? process.env;
    this.token = options.delegationToken ?? this.env.HADOOP_TOKEN;
    if (options.delegationToken) this.tokenSource = "the delegation token (delegationToken option)";
    this.user = options.user ?? this.env.HADOOP_USER_NAME ?? os.userInfo().username;
    this.authMode = options.auth ?? "auto";
    this.kerberosLogin = options.kerberos ?? {};
    if (this.authMode === "simple" && this.kerberosLogin.keytab) throw new InvalidInputError("[webhdfs] a Kerberos keytab was given with auth \"simple\".", { hint: "drop the keytab or use auth \"kerberos\"." });
    this.kerberosActive = this.authMode === "kerberos" || Boolean(this.kerberosLogin.keytab);
    this.authority = options.authority ?? new URL(this.namenodes[0]!).host;
    this.retry = options.retry ?? {};
    this.timeoutMs = options.timeoutMs ?? 60_000;
  }

  url(p: string): string {
    return `hdfs://${this.authority}${normalizeStorePath(p)}`;
  }

  async stat(p: string, options: OpOptions = {}): Promise<FileStat> {
    const norm = normalizeStorePath(p);
    const r = await this.json<{ FileStatus: HdfsFileStatus }>("GET", "GETFILESTATUS", norm, {}, options.signal);
    return toStat(norm, r.FileStatus, norm.slice(norm.lastIndexOf("/") + 1));
  }

  async list(p: string, options: OpOptions = {}): Promise<FileStat[]> {
    const norm = normalizeStorePath(p);
    const r = await this.json<{ FileStatuses: { FileStatus: HdfsFileStatus[] } }>("GET", "LISTSTATUS", norm, {}, options.signal);
    const entries = r.FileStatuses.FileStatus;
    // LISTSTATUS of a file answers with the file itself.
    if (entries.length === 1 && entries[0]!.pathSuffix === "" && entries[0]!.type === "FILE") throw this.error("ENOTDIR", "list", norm, "not a directory");
    return entries
      .map((s) => toStat(norm === "/" ? `/${s.pathSuffix}` : `${norm}/${s.pathSuffix}`, s, s.pathSuffix))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async readStream(p: string, options: ReadStreamOptions = {}): Promise<Readable> {
    const norm = normalizeStorePath(p);
    if (options.length === 0) return Readable.from([]);
    return resumableStream(
      async (pos, end, signal) => {
        const params: Record<string, string> = { offset: String(pos) };
        if (end !== undefined) params.length = String(end - pos);
        const dn = await this.redirect("GET", "OPEN", norm, params, signal);
        const res = await this.dataRequest("GET", dn, undefined, signal, "read", norm);
        const len = Number(res.headers["content-length"]);
        return { stream: res.body, ...(Number.isFinite(len) ? { end: pos + len } : {}) };
      },
      { offset: options.offset, length: options.length, signal: options.signal, retry: this.retry },
    );
  }

  async write(p: string, body: WriteBody, options: WriteOptions = {}): Promise<void> {
    const norm = normalizeStorePath(p);
    const metadata = validateMetadata(options.metadata);
    const overwrite = options.overwrite !== false;
    const replayable = isReopenable(body) || Buffer.isBuffer(body) || typeof body === "string" || body instanceof Uint8Array;
    let created = false;
    let written = 0;
    try {
      await withRetry(
        async () => {
          const dn = await this.redirect("PUT", "CREATE", norm, { overwrite: String(overwrite) }, options.signal);
          created = true;
          const { stream, size } = bodyToStream(body);
          let done = 0;
          const counted = stream.pipe(
            new Transform({
              transform(chunk: Buffer, _e, cb) {
                done += chunk.length;
                options.onProgress?.({ bytesDone: done, ...(size === undefined ? {} : { bytesTotal: size }) });
                cb(null, chunk);
              },
            }),
          );
          stream.on("error", (err) => counted.destroy(err));
          (await this.dataRequest("PUT", dn, counted, options.signal, "write", norm, { "content-type": "application/octet-stream" })).body.resume();
          written = done;
        },
        (err) => replayable && isTransientError(err),
        { ...this.retry, signal: options.signal },
      );
      // The size rides along as an xattr so the up-to-date check stays one GETXATTRS.
      if (Object.keys(metadata).length) metadata[SIZE_XATTR] = String(written);
      for (const [k, v] of Object.entries(metadata)) {
        await this.json("PUT", "SETXATTR", norm, { "xattr.name": `user.${k}`, "xattr.value": `"${v}"`, flag: "CREATE" }, options.signal);
      }
    } catch (err) {
      // HDFS shows a file while it is written: never leave a partial one behind.
      if (created && !(err as FsError).code?.startsWith("EEXIST")) await this.rm(norm, { force: true }).catch(() => undefined);
      if (options.signal?.aborted) throw toAbortError(options.signal, err);
      throw err;
    }
  }

  /**
   * Appends to an existing file (WebHDFS APPEND through the datanode redirect). Not
   * retried: a half-sent append cannot be told apart from a complete one.
   */
  async append(p: string, body: Buffer | string | Readable, options: OpOptions = {}): Promise<void> {
    const norm = normalizeStorePath(p);
    const dn = await this.redirect("POST", "APPEND", norm, {}, options.signal);
    const { stream } = bodyToStream(body);
    (await this.dataRequest("POST", dn, stream, options.signal, "append", norm, { "content-type": "application/octet-stream" })).body.resume();
  }

  async rm(p: string, options: RmOptions = {}): Promise<void> {
    const norm = normalizeStorePath(p);
    if (norm === "/") throw this.error("EINVAL", "rm", norm, "refusing to remove the root");
    const r = await this.json<{ boolean: boolean }>("DELETE", "DELETE", norm, { recursive: String(Boolean(options.recursive)) }, options.signal);
    if (!r.boolean && !options.force) throw this.error("ENOENT", "rm", norm, "no such file or directory");
  }

  async mkdirp(p: string, options: OpOptions = {}): Promise<void> {
    const norm = normalizeStorePath(p);
    const r = await this.json<{ boolean: boolean }>("PUT", "MKDIRS", norm, {}, options.signal);
    if (!r.boolean) throw this.error("EEXIST", "mkdirp", norm, "could not create the directory (a file is in the way?)");
  }

  async head(p: string, options: OpOptions = {}): Promise<ObjectHead | null> {
    const norm = normalizeStorePath(p);
    try {
      const r = await this.json<{ XAttrs: { name: string; value: string | null }[] }>("GET", "GETXATTRS", norm, { encoding: "text" }, options.signal);
      const metadata: Record<string, string> = {};
      for (const x of r.XAttrs ?? []) {
        if (x.name.startsWith("user.") && x.value !== null) metadata[x.name.slice(5)] = x.value.replace(/^"(.*)"$/s, "$1");
      }
      const size = metadata[SIZE_XATTR];
      delete metadata[SIZE_XATTR];
      return { metadata, ...(size !== undefined && /^\d+$/.test(size) ? { size: Number(size) } : {}) };
    } catch (err) {
      if ((err as FsError).code === "ENOENT") return null;
      throw err;
    }
  }

  override async rename(from: string, to: string, options: RenameOptions = {}): Promise<void> {
    const src = normalizeStorePath(from);
    const dst = normalizeStorePath(to);
    // HDFS rename does not create the destination's parent.
    const parent = dst.slice(0, dst.lastIndexOf("/")) || "/";
    if (parent !== "/") await this.mkdirp(parent, options);
    await this.json("PUT", "RENAME", src, { destination: dst, renameoptions: options.overwrite === false ? "NONE" : "OVERWRITE" }, options.signal);
  }

  /** Ends the Kerberos helper process, if one was started (it also ends with this process). */
  close(): void {
    this.spnego?.close();
    this.spnego = undefined;
  }

  /**
   * A delegation token for this cluster (WebHDFS GETDELEGATIONTOKEN), to hand to work that
   * runs without a ticket: write it with `hadoopTokenFile` and point
   * HADOOP_TOKEN_FILE_LOCATION at the file, or pass `urlString` as another client's
   * `delegationToken`. Namenodes issue tokens only to Kerberos-authenticated callers.
   */
  async getDelegationToken(options: OpOptions & { renewer?: string } = {}): Promise<WebHdfsDelegationToken> {
    await this.loadTokenFile();
    if (this.token) throw this.error("EINVAL", "getDelegationToken", "/", "a delegation token cannot be used to get another one", undefined, "authenticate with Kerberos (kinit, or principal and keytab) instead.");
    const r = await this.json<{ Token?: { urlString?: string } | null }>("GET", "GETDELEGATIONTOKEN", "/", options.renewer ? { renewer: options.renewer } : {}, options.signal);
    const urlString = r.Token?.urlString;
    if (!urlString) {
      throw this.error("ENOTSUP", "getDelegationToken", "/", "the namenode issued no token: security is off on this cluster (simple authentication), where user.name is all a job needs");
    }
    let token: HadoopToken;
    try {
      token = decodeHadoopToken(urlString);
    } catch (err) {
      throw this.error("EIO", "getDelegationToken", "/", `the namenode answered with an unreadable token (${(err as Error).message})`, err);
    }
    return { urlString, token };
  }

  /** Cancels a token from `getDelegationToken` (CANCELDELEGATIONTOKEN) once the work that used it is done. */
  async cancelDelegationToken(urlString: string, options: OpOptions = {}): Promise<void> {
    await this.json("PUT", "CANCELDELEGATIONTOKEN", "/", { token: urlString }, options.signal);
  }

  /** A namenode call answering JSON, with HA failover and bounded retries. */
  private async json<T>(method: string, op: string, p: string, params: Record<string, string>, signal: AbortSignal | undefined): Promise<T> {
    return withRetry(
      async () => {
        const res = await this.namenodeRequest(method, op, p, params, signal);
        if (res.status === 307) {
          res.body.resume();
          throw this.error("EIO", op, p, "unexpected redirect from the namenode");
        }
        const text = (await readBody(res.body)).toString("utf8");
        if (res.status < 200 || res.status > 299) throw this.remoteError(res.status, text, op, p);
        // SETXATTR, SETPERMISSION and rename2 answer 200 with an empty body.
        if (text.trim() === "") return {} as T;
        try {
          return JSON.parse(text) as T;
        } catch (err) {
          throw this.error("EIO", op, p, `the namenode answered HTTP ${res.status} with invalid JSON`, err);
        }
      },
      isTransientError,
      { ...this.retry, signal },
    ).catch((err) => {
      if (signal?.aborted) throw toAbortError(signal, err);
      throw err;
    });
  }

  /** Asks the namenode for the datanode URL of a data operation (307 Location). */
  private async redirect(method: string, op: string, p: string, params: Record<string, string>, signal: AbortSignal | undefined): Promise<string> {
    const res = await this.namenodeRequest(method, op, p, params, signal);
    const text = res.status === 307 ? "" : (await readBody(res.body)).toString("utf8");
    if (res.status === 307 && typeof res.headers.location === "string") {
      res.body.resume();
      return res.headers.location;
    }
    if (res.status >= 200 && res.status < 300) {
      // `noredirect=true` style answer: {"Location": "..."}
      const loc = (JSON.parse(text || "{}") as { Location?: string }).Location;
      if (loc) return loc;
    }
    throw this.remoteError(res.status, text, op, p);
  }

  /** Tries the namenodes starting with the last active one; standby or unreachable ones are skipped. */
  private async namenodeRequest(method: string, op: string, p: string, params: Record<string, string>, signal: AbortSignal | undefined): Promise<HttpResponse> {
    await this.loadTokenFile();
    let lastErr: unknown;
    for (let i = 0; i < this.namenodes.length; i++) {
      const idx = (this.active + i) % this.namenodes.length;
      const url = () => {
        const u = new URL(`${this.namenodes[idx]}/webhdfs/v1${encodePath(p)}`);
        u.searchParams.set("op", op);
        for (const [k, v] of Object.entries({ ...params, ...this.authParams() })) u.searchParams.set(k, v);
        return u;
      };
      try {
        const res = await this.authedRequest(url, { method }, signal, op, p);
        if (res.status === 403 && this.namenodes.length > 1) {
          const text = (await readBody(res.body)).toString("utf8");
          if (/StandbyException/.test(text)) {
            lastErr = this.remoteError(res.status, text, op, p);
            continue;
          }
          throw this.remoteError(res.status, text, op, p);
        }
        this.active = idx;
        return res;
      } catch (err) {
        if (signal?.aborted) throw toAbortError(signal, err);
        if (err instanceof FsError || !isTransientError(err)) throw err;
        lastErr = err;
      }
    }
    const msg = this.namenodes.length > 1 ? `no active namenode among ${this.namenodes.join(", ")}` : `namenode ${this.namenodes[0]} unreachable`;
    throw Object.assign(this.error("EIO", op, p, `${msg}: ${(lastErr as Error)?.message ?? lastErr}`, lastErr), { transient: true });
  }

  private async dataRequest(method: string, location: string, body: Readable | undefined, signal: AbortSignal | undefined, op: string, p: string, headers: Record<string, string> = {}): Promise<HttpResponse> {
    const res = await this.authedRequest(() => new URL(location), { method, body, headers }, signal, op, p);
    if (res.status >= 200 && res.status < 300) return res;
    throw this.remoteError(res.status, (await readBody(res.body)).toString("utf8"), op, p);
  }

  /**
   * Without an explicit token, the one YARN left for this cluster in HADOOP_TOKEN_FILE_LOCATION.
   * A file that is set but unreadable or corrupt is an error (Hadoop's UGI fails the same
   * way); a file without a token for this cluster leaves Kerberos or simple auth as they were.
   */
  private loadTokenFile(): Promise<void> {
    const file = this.env.HADOOP_TOKEN_FILE_LOCATION;
    if (this.token || !file || this.authMode === "simple") return Promise.resolve();
    this.tokenFromFile ??= (async () => {
      let data: Buffer;
      try {
        // A token file holds a few tokens of a few hundred bytes; anything huge is not one.
        const { size } = await fs.promises.stat(file);
        if (size > MAX_TOKEN_FILE) throw Object.assign(new Error(`${size} bytes, more than a token file's ${MAX_TOKEN_FILE}`), { code: "EFBIG" });
        data = await fs.promises.readFile(file);
      } catch (err) {
        throw new InvalidInputError(`[webhdfs] cannot read the Hadoop token file ${file} (HADOOP_TOKEN_FILE_LOCATION): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, { cause: err, hint: "fix or unset HADOOP_TOKEN_FILE_LOCATION." });
      }
      const tokens = parseHadoopTokenFile(data, `the Hadoop token file ${file} (HADOOP_TOKEN_FILE_LOCATION)`);
      const services = await hdfsTokenServices(this.authority, this.namenodes, async (host) => (await dns.lookup(host, { all: true })).map((a) => a.address));
      const token = selectHdfsToken(tokens, services);
      if (token) {
        this.token = encodeHadoopToken(token);
        this.tokenSource = `the ${token.kind} for ${token.service} in ${file} (HADOOP_TOKEN_FILE_LOCATION)`;
      }
    })();
    return this.tokenFromFile;
  }

  /** Query parameters that authenticate a namenode call: the delegation token, or user.name for simple auth. */
  private authParams(): Record<string, string> {
    if (this.token) return { delegation: this.token };
    return this.kerberosActive ? {} : { "user.name": this.user };
  }

  /**
   * One request with Hadoop's HTTP authentication (hadoop-auth's AuthenticatedURL): a
   * URL carrying a delegation token needs nothing else; otherwise the `hadoop.auth`
   * cookie when one is held, else SPNEGO for `HTTP/<host of this URL>` (the namenode's,
   * or the datanode's after a 307) once Kerberos is known to be in use. A 401 Negotiate
   * switches to Kerberos and replays the request when it has no body; a body already
   * sent cannot be replayed, so that failure is marked transient for the caller's retry.
   */
  private async authedRequest(url: () => URL, req: { method: string; body?: Readable; headers?: Record<string, string> }, signal: AbortSignal | undefined, op: string, p: string): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt++) {
      const u = url();
      const headers: Record<string, string> = { ...req.headers };
      let exchange: SpnegoExchange | undefined;
      const byToken = u.searchParams.has("delegation");
      const cookie = byToken ? undefined : this.cookies.get(u.origin);
      if (cookie && cookie.expires > Date.now()) headers.cookie = `hadoop.auth=${cookie.value}`;
      else if (!byToken && this.kerberosActive) {
        exchange = await this.spnegoClient().begin(u.hostname, signal).catch((err: unknown) => {
          throw this.kerberosFailure(err, op, p);
        });
        headers.authorization = exchange.header;
      }
      const res = await httpRequest(u, { method: req.method, body: req.body, signal, headers, timeoutMs: this.timeoutMs });
      const www = res.headers["www-authenticate"];
      if (res.status === 401 && !byToken && asksForNegotiate(www)) {
        const text = (await readBody(res.body).catch(() => Buffer.alloc(0))).toString("utf8");
        if (exchange) throw this.error("EACCES", op, p, `${u.host} refused the Kerberos ticket from ${this.spnegoClient().describe()}: ${authMessage(text)}`, undefined, "check that the ticket is valid (klist) and its principal may use the cluster.");
        if (this.authMode === "simple") throw this.error("EACCES", op, p, `${u.host} requires Kerberos (SPNEGO) and auth is "simple"`, undefined, `use auth "kerberos" (or "auto") after kinit, or a delegation token.`);
        this.cookies.delete(u.origin);
        this.kerberosActive = true;
        if (req.body !== undefined || attempt > 0) {
          throw Object.assign(this.error("EACCES", op, p, `${u.host} asked for Kerberos after the request body was sent`), { transient: true });
        }
        continue;
      }
      if (exchange && res.status === 403 && !isRemoteException(res.headers["content-type"])) {
        // hadoop-auth's AuthenticationFilter answers 403 for a token it cannot verify.
        const text = (await readBody(res.body).catch(() => Buffer.alloc(0))).toString("utf8");
        throw this.error("EACCES", op, p, `${u.host} refused the Kerberos ticket from ${this.spnegoClient().describe()}: ${authMessage(text)}`);
      }
      if (exchange) {
        try {
          await exchange.finish(www);
        } catch (err) {
          res.body.destroy();
          throw this.kerberosFailure(err, op, p);
        }
      }
      this.keepCookie(u.origin, res.headers["set-cookie"]);
      return res;
    }
  }

  private spnegoClient(): SpnegoClient {
    this.spnego ??= new SpnegoClient({ ...this.kerberosLogin, env: this.env });
    return this.spnego;
  }

  /** Remembers a `hadoop.auth` cookie until its `e=` expiry (an empty one clears it). The cookie is a credential: never printed. */
  private keepCookie(origin: string, setCookie: string[] | undefined): void {
    for (const c of setCookie ?? []) {
      const m = /^\s*hadoop\.auth=("[^"]*"|[^;]*)/.exec(c);
      if (!m) continue;
      const value = m[1]!;
      if (value === "" || value === '""') {
        this.cookies.delete(origin);
        continue;
      }
      const e = /(?:^|[&"])e=(\d+)/.exec(value);
      // Renegotiate a little before the server's expiry.
      this.cookies.set(origin, { value, expires: e ? Number(e[1]) - 30_000 : Date.now() + 60_000 });
    }
  }

  private kerberosFailure(err: unknown, op: string, p: string): FsError {
    if (err instanceof FsError) return err;
    if (!(err instanceof KerberosError)) return this.error("EACCES", op, p, `Kerberos: ${(err as Error)?.message ?? err}`, err);
    const code: FsErrorCode = err.failure === "not-installed" ? "ENOTSUP" : err.failure === "kdc-unreachable" ? "EIO" : "EACCES";
    const mapped = this.error(code, op, p, `Kerberos: ${err.message}`, err, err.hint);
    return err.failure === "kdc-unreachable" ? Object.assign(mapped, { transient: true }) : mapped;
  }

  /** Maps a RemoteException JSON answer (or a bare HTTP status) to an FsError. */
  private remoteError(status: number, text: string, op: string, p: string): FsError {
    let remote: { exception?: string; javaClassName?: string; message?: string } = {};
    try {
      remote = (JSON.parse(text) as { RemoteException?: typeof remote }).RemoteException ?? {};
    } catch {
      // Not JSON: a proxy or a gateway answered; keep the status.
    }
    const exception = remote.exception ?? "";
    const code: FsErrorCode =
      EXCEPTION_CODES[exception] ?? (status === 404 ? "ENOENT" : status === 401 || status === 403 ? (exception ? "EIO" : "EACCES") : "EIO");
    const hint = code !== "EACCES" ? undefined : this.token ? `check ${this.tokenSource} and the path's permissions.` : this.kerberosActive ? `check the Kerberos principal (${this.spnegoClient().describe()}) and the path's permissions.` : "check user.name / the delegation token (HADOOP_USER_NAME, HADOOP_TOKEN) and the path's permissions.";
    const err = this.error(code, op, p, `${exception || `HTTP ${status}`}: ${remote.message ?? text.slice(0, 200)}`, Object.assign(new Error(remote.message ?? text.slice(0, 200)), { status, remote }), hint);
    const transient = status >= 500 || exception === "RetriableException" || exception === "StandbyException";
    return transient ? Object.assign(err, { transient: true }) : err;
  }
}

/** hadoop-auth errors come as HTML or text pages; keep one short line. */
function authMessage(text: string): string {
  const plain = text.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
  return plain.slice(0, 200) || "no reason given";
}

function isRemoteException(contentType: string | undefined): boolean {
  return /json/i.test(contentType ?? "");
}

function toStat(p: string, s: HdfsFileStatus, name: string): FileStat {
  return { path: p, name, size: s.type === "FILE" ? s.length : 0, isFile: s.type === "FILE", isDirectory: s.type === "DIRECTORY", mtimeMs: s.modificationTime };
}

function encodePath(p: string): string {
  return p.split("/").map(encodeURIComponent).join("/");
}
