import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { pipeline } from "node:stream/promises";
import { decodeHadoopToken, encodeDelegationTokenIdentifier, encodeHadoopToken, parseDelegationTokenIdentifier } from "../hadoop-token";
import { stopChild } from "./child-process";

export interface WebHdfsServerOptions {
  /** Answer every namenode call with StandbyException (an HA standby). */
  standby?: boolean;
  /** Bypasses permission checks, owns `/` (default "hdfs"). */
  superuser?: string;
  /** Delegation tokens accepted, token -> user. When set, `user.name` alone is refused (401). */
  tokens?: Record<string, string>;
  /** Serve this directory instead of a fresh temporary one (two namenodes, one namespace). */
  root?: string;
  /** A secure cluster: hadoop-auth's SPNEGO filter in front of the namenode (and datanode). */
  kerberos?: WebHdfsKerberosOptions;
}

export interface WebHdfsKerberosOptions {
  /** Keytab holding `HTTP/<namenodeHost>` (and `HTTP/<datanodeHost>`) of `realm`. */
  keytab: string;
  /** krb5.conf the acceptor reads (the test KDC's). */
  krb5Config: string;
  realm: string;
  /** Host clients must use for the namenode; its principal is `HTTP/<host>` (default "localhost"). */
  namenodeHost?: string;
  /** Host in the 307 to the datanode (default "127.0.0.1", principal `HTTP/127.0.0.1`). */
  datanodeHost?: string;
  /**
   * The datanode asks for SPNEGO itself. Default false: like Hadoop, the namenode puts a
   * delegation token for the user in the redirect and the datanode checks that.
   */
  datanodeSpnego?: boolean;
  /** Validity of the signed `hadoop.auth` cookie (default 10 h, hadoop-auth's token.validity). */
  cookieTtlMs?: number;
}

export interface TestWebHdfsServer {
  /** `http://127.0.0.1:<namenode port>` */
  namenode: string;
  /** `http://127.0.0.1:<datanode port>` */
  datanode: string;
  /** Backing directory: HDFS `/a/b` is `<root>/a/b`. */
  root: string;
  requests: { server: "namenode" | "datanode"; method: string; op: string; path: string; query: URLSearchParams; headers: http.IncomingHttpHeaders }[];
  /** Every SPNEGO token checked: the service it was for and who it proved, or why it was refused. */
  negotiations: { server: "namenode" | "datanode"; service: string; principal?: string; error?: string }[];
  /** Switch between active and standby (HA failover tests). */
  setStandby(standby: boolean): void;
  /** The HDFS owner of a path (who the server authenticated when it was created). */
  ownerOf(hdfsPath: string): string;
  /** chmod/chown a path in the namespace (permission tests). */
  setPermission(hdfsPath: string, mode: number, owner?: string): void;
  close(): Promise<void>;
}

interface Inode {
  owner: string;
  mode: number;
  xattrs: Map<string, string>;
}

class RemoteError extends Error {
  constructor(
    readonly status: number,
    readonly exception: string,
    readonly javaClassName: string,
    message: string,
  ) {
    super(message);
  }
}

const notFound = (p: string) => new RemoteError(404, "FileNotFoundException", "java.io.FileNotFoundException", `File does not exist: ${p}`);
const exists = (p: string) => new RemoteError(403, "FileAlreadyExistsException", "org.apache.hadoop.fs.FileAlreadyExistsException", `${p} already exists`);
const denied = (user: string, p: string, access: string) =>
  new RemoteError(403, "AccessControlException", "org.apache.hadoop.security.AccessControlException", `Permission denied: user=${user}, access=${access}, inode="${p}"`);

/**
 * A WebHDFS server following Hadoop's documented REST protocol, backed by a temporary
 * directory (Hadoop cannot run here): a namenode port answering metadata operations and
 * 307-redirecting CREATE/APPEND/OPEN to a separate datanode port, RemoteException JSON
 * errors with Hadoop's status codes, owner/permission checks, overwrite semantics,
 * RENAME with `renameoptions` (rename2), user.* xattrs, and an HA standby mode.
 * Like HDFS, a file being written is visible at its path while the datanode writes it.
 */
export async function startWebHdfsServer(options: WebHdfsServerOptions = {}): Promise<TestWebHdfsServer> {
  const root = options.root ?? fs.mkdtempSync(path.join(os.tmpdir(), "cp-webhdfs-"));
  const ownsRoot = options.root === undefined;
  const superuser = options.superuser ?? "hdfs";
  const inodes = new Map<string, Inode>([["/", { owner: superuser, mode: 0o777, xattrs: new Map() }]]);
  let standby = Boolean(options.standby);
  const requests: TestWebHdfsServer["requests"] = [];
  const sockets = new Set<Socket>();

  const disk = (p: string) => path.join(root, p);
  const inode = (p: string): Inode => inodes.get(p) ?? { owner: superuser, mode: p.endsWith("/") ? 0o755 : 0o777, xattrs: new Map() };
  const parentOf = (p: string) => path.posix.dirname(p);
  const statOf = (p: string): fs.Stats | null => {
    try {
      return fs.statSync(disk(p));
    } catch {
      return null;
    }
  };
  const canWrite = (user: string, dir: string) => {
    if (user === superuser) return true;
    const n = inode(dir);
    return n.owner === user ? (n.mode & 0o200) !== 0 : (n.mode & 0o002) !== 0;
  };
  const checkParentWritable = (user: string, p: string) => {
    // The nearest existing ancestor decides (HDFS checks the deepest existing one for mkdirs).
    let dir = parentOf(p);
    while (dir !== "/" && !statOf(dir)) dir = parentOf(dir);
    const st = statOf(dir);
    if (st && !st.isDirectory()) throw new RemoteError(403, "ParentNotDirectoryException", "org.apache.hadoop.fs.ParentNotDirectoryException", `Parent path is not a directory: ${dir}`);
    if (!canWrite(user, dir)) throw denied(user, dir, "WRITE");
  };
  const mkdirs = (user: string, p: string) => {
    const parts = p.split("/").filter(Boolean);
    let cur = "";
    for (const part of parts) {
      cur += `/${part}`;
      const st = statOf(cur);
      if (st && !st.isDirectory()) throw new RemoteError(403, "ParentNotDirectoryException", "org.apache.hadoop.fs.ParentNotDirectoryException", `Parent path is not a directory: ${cur}`);
      if (!st) {
        fs.mkdirSync(disk(cur));
        inodes.set(cur, { owner: user, mode: 0o755, xattrs: new Map() });
      }
    }
  };
  const fileStatus = (p: string, st: fs.Stats, suffix: string) => {
    const n = inode(p);
    return {
      accessTime: Math.floor(st.atimeMs),
      blockSize: 134217728,
      childrenNum: st.isDirectory() ? fs.readdirSync(disk(p)).length : 0,
      fileId: st.ino,
      group: "supergroup",
      length: st.isDirectory() ? 0 : st.size,
      modificationTime: Math.floor(st.mtimeMs),
      owner: n.owner,
      pathSuffix: suffix,
      permission: n.mode.toString(8),
      replication: st.isDirectory() ? 0 : 3,
      storagePolicy: 0,
      type: st.isDirectory() ? "DIRECTORY" : "FILE",
    };
  };
  const moveInodes = (src: string, dst: string) => {
    for (const [k, v] of [...inodes]) {
      if (k === src || k.startsWith(`${src}/`)) {
        inodes.delete(k);
        inodes.set(dst + k.slice(src.length), v);
      }
    }
  };
  const dropInodes = (p: string) => {
    for (const k of [...inodes.keys()]) if (k === p || k.startsWith(`${p}/`)) inodes.delete(k);
  };

  const kerberos = options.kerberos;
  const tokenSecret = randomBytes(32);
  const cancelled = new Set<string>();
  let tokenSeq = 0;
  const negotiations: TestWebHdfsServer["negotiations"] = [];
  const acceptor = kerberos ? startAcceptor(kerberos) : undefined;
  const nnHost = kerberos?.namenodeHost ?? "localhost";
  const dnHost = kerberos?.datanodeHost ?? "127.0.0.1";

  /** A delegation token as a namenode issues one: identifier fields, HMAC password, WebHDFS kind. */
  const issueToken = (owner: string, renewer: string): string => {
    const now = Date.now();
    const identifier = encodeDelegationTokenIdentifier({ owner, renewer, realUser: "", issueDate: now, maxDate: now + 7 * 24 * 3600_000, sequenceNumber: ++tokenSeq, masterKeyId: 1 });
    const password = createHmac("sha1", tokenSecret).update(identifier).digest();
    return encodeHadoopToken({ identifier, password, kind: "WEBHDFS delegation", service: `127.0.0.1:${nnPortOf()}` });
  };
  /** The short user of a token this server issued and did not cancel, else undefined. */
  const tokenUser = (urlString: string): string | undefined => {
    if (options.tokens?.[urlString]) return options.tokens[urlString];
    if (cancelled.has(urlString)) return undefined;
    try {
      const t = decodeHadoopToken(urlString);
      const expected = createHmac("sha1", tokenSecret).update(t.identifier).digest();
      if (t.password.length !== expected.length || !timingSafeEqual(t.password, expected)) return undefined;
      const id = parseDelegationTokenIdentifier(t.identifier);
      return id.maxDate > Date.now() ? shortName(id.owner) : undefined;
    } catch {
      return undefined;
    }
  };
  const cookieSign = (payload: string) => createHmac("sha256", tokenSecret).update(payload).digest("base64");

  /**
   * hadoop-auth's AuthenticationFilter with the Kerberos handler: a valid signed
   * `hadoop.auth` cookie, else `Authorization: Negotiate` checked by GSSAPI (the
   * principal's realm must be the cluster's), else 401 `WWW-Authenticate: Negotiate`.
   * Returns the principal, or null when it has answered the request itself.
   */
  const spnego = async (req: http.IncomingMessage, res: http.ServerResponse, server: "namenode" | "datanode", host: string): Promise<string | null> => {
    const cookie = /(?:^|;\s*)hadoop\.auth="?([^";]*)"?/.exec(req.headers.cookie ?? "")?.[1];
    if (cookie) {
      const at = cookie.lastIndexOf("&s=");
      const payload = at > 0 ? cookie.slice(0, at) : "";
      const fields = new URLSearchParams(payload);
      if (at > 0 && cookie.slice(at + 3) === cookieSign(payload) && Number(fields.get("e")) > Date.now() && fields.get("p")) return fields.get("p")!;
    }
    const auth = /^Negotiate\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1];
    if (!auth) {
      res.writeHead(401, { "www-authenticate": "Negotiate", "set-cookie": 'hadoop.auth=""; Path=/; HttpOnly', "content-type": "text/html", "content-length": "37" });
      res.end("<html><h2>401 Unauthorized</h2></html>");
      return null;
    }
    const service = `HTTP@${host}`;
    const answer = await acceptor!.check(service, auth);
    negotiations.push({ server, service, ...(answer.principal ? { principal: answer.principal } : {}), ...(answer.error ? { error: answer.error } : {}) });
    const realmOk = answer.principal?.endsWith(`@${kerberos!.realm}`);
    if (!answer.principal || !realmOk) {
      const text = answer.principal ? `No rules applied to ${answer.principal}` : `GSSException: ${answer.error}`;
      res.writeHead(403, { "content-type": "text/html", "content-length": String(Buffer.byteLength(text)) });
      res.end(text);
      return null;
    }
    const payload = `u=${shortName(answer.principal)}&p=${answer.principal}&t=kerberos&e=${Date.now() + (kerberos!.cookieTtlMs ?? 36_000_000)}`;
    res.setHeader("set-cookie", `hadoop.auth="${payload}&s=${cookieSign(payload)}"; Path=/; HttpOnly`);
    if (answer.token) res.setHeader("www-authenticate", `Negotiate ${answer.token}`);
    return answer.principal;
  };

  /** `{ user, via }` for a namenode call; throws RemoteError for a bad token or missing user.name. */
  const authenticate = (q: URLSearchParams, principal: string | null): { user: string; via: "token" | "kerberos" | "simple" } => {
    const token = q.get("delegation");
    if (token) {
      const user = tokenUser(token);
      if (!user) throw new RemoteError(401, "SecurityException", "java.lang.SecurityException", "Failed to obtain user group information: token is invalid");
      return { user, via: "token" };
    }
    if (principal) return { user: shortName(principal), via: "kerberos" };
    if (options.tokens) throw new RemoteError(401, "SecurityException", "java.lang.SecurityException", "Authentication required");
    const user = q.get("user.name");
    if (!user) throw new RemoteError(401, "SecurityException", "java.lang.SecurityException", "Failed to obtain user group information: user.name is missing");
    return { user, via: "simple" };
  };

  let dnPort = 0;
  let nnPort = 0;
  const nnPortOf = () => nnPort;
  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- the handler answers every request itself, errors included
  const namenode = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const p = decodeHdfsPath(url.pathname);
    const q = url.searchParams;
    const op = (q.get("op") ?? "").toUpperCase();
    requests.push({ server: "namenode", method: req.method ?? "GET", op, path: p ?? url.pathname, query: q, headers: req.headers });
    req.resume();
    let principal: string | null = null;
    if (kerberos && !q.has("delegation")) {
      try {
        principal = await spnego(req, res, "namenode", nnHost);
      } catch (err) {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(String(err));
        return;
      }
      if (principal === null) return;
    }
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      const text = body === undefined ? "" : JSON.stringify(body);
      res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)), ...headers });
      res.end(text);
    };
    try {
      if (standby) throw new RemoteError(403, "StandbyException", "org.apache.hadoop.ipc.StandbyException", `Operation category ${req.method === "GET" ? "READ" : "WRITE"} is not supported in state standby`);
      if (p === null) throw new RemoteError(400, "IllegalArgumentException", "java.lang.IllegalArgumentException", `Invalid path: ${url.pathname}`);
      const { user, via } = authenticate(q, principal);
      const st = statOf(p);
      const redirect = () => {
        const loc = new URL(`http://${kerberos ? dnHost : "127.0.0.1"}:${dnPort}/webhdfs/v1${encodeHdfsPath(p)}`);
        for (const [k, v] of q) loc.searchParams.set(k, v);
        loc.searchParams.delete("delegation");
        // A secure namenode hands the datanode a token for the user, not a user name.
        if (!kerberos) loc.searchParams.set("user.name", user);
        else if (!kerberos.datanodeSpnego) loc.searchParams.set("delegation", issueToken(`${user}@${kerberos.realm}`, user));
        loc.searchParams.set("namenoderpcaddress", "127.0.0.1:8020");
        send(307, undefined, { location: loc.toString() });
      };
      switch (`${req.method} ${op}`) {
        case "GET GETFILESTATUS":
          if (!st) throw notFound(p);
          return send(200, { FileStatus: fileStatus(p, st, "") });
        case "GET LISTSTATUS": {
          if (!st) throw notFound(p);
          if (!st.isDirectory()) return send(200, { FileStatuses: { FileStatus: [fileStatus(p, st, "")] } });
          const names = fs.readdirSync(disk(p)).sort();
          const list = names.flatMap((n) => {
            const cp = p === "/" ? `/${n}` : `${p}/${n}`;
            const cst = statOf(cp);
            return cst ? [fileStatus(cp, cst, n)] : [];
          });
          return send(200, { FileStatuses: { FileStatus: list } });
        }
        case "GET OPEN":
          if (!st) throw notFound(p);
          if (st.isDirectory()) throw new RemoteError(403, "FileNotFoundException", "java.io.FileNotFoundException", `Path is not a file: ${p}`);
          return redirect();
        case "GET GETXATTRS": {
          if (!st) throw notFound(p);
          const xattrs = [...inode(p).xattrs].map(([name, value]) => ({ name, value: q.get("encoding") === "text" ? value : value }));
          return send(200, { XAttrs: xattrs });
        }
        case "PUT CREATE": {
          if (st?.isDirectory()) throw new RemoteError(403, "FileAlreadyExistsException", "org.apache.hadoop.fs.FileAlreadyExistsException", `${p} already exists as a directory`);
          if (st && q.get("overwrite") !== "true") throw exists(p);
          checkParentWritable(user, p);
          return redirect();
        }
        case "POST APPEND":
          if (!st) throw notFound(p);
          if (!canWrite(user, p) && inode(p).owner !== user) throw denied(user, p, "WRITE");
          return redirect();
        case "PUT MKDIRS":
          if (st && !st.isDirectory()) throw exists(p);
          checkParentWritable(user, p);
          mkdirs(user, p);
          return send(200, { boolean: true });
        case "PUT SETXATTR": {
          if (!st) throw notFound(p);
          const n = inodes.get(p) ?? { ...inode(p), xattrs: new Map() };
          inodes.set(p, n);
          const name = q.get("xattr.name") ?? "";
          if (!/^(user|trusted|security|system|raw)\./.test(name)) throw new RemoteError(400, "IllegalArgumentException", "java.lang.IllegalArgumentException", `Invalid xattr name: ${name}`);
          if (user !== superuser && n.owner !== user) throw denied(user, p, "WRITE");
          const flag = (q.get("flag") ?? "").toUpperCase();
          if (flag === "CREATE" && n.xattrs.has(name)) throw new RemoteError(403, "IOException", "java.io.IOException", `XAttr: ${name} already exists`);
          if (flag === "REPLACE" && !n.xattrs.has(name)) throw new RemoteError(403, "IOException", "java.io.IOException", `XAttr: ${name} does not exist`);
          n.xattrs.set(name, q.get("xattr.value") ?? "");
          return send(200);
        }
        case "PUT SETPERMISSION": {
          if (!st) throw notFound(p);
          const n = inodes.get(p) ?? { ...inode(p), xattrs: new Map() };
          if (user !== superuser && n.owner !== user) throw denied(user, p, "OWNER");
          n.mode = parseInt(q.get("permission") ?? "755", 8);
          inodes.set(p, n);
          return send(200);
        }
        case "PUT RENAME": {
          const dst = decodeHdfsPath(q.get("destination") ?? "");
          if (dst === null) throw new RemoteError(400, "IllegalArgumentException", "java.lang.IllegalArgumentException", "Invalid destination");
          const opts = q.get("renameoptions");
          const dstSt = statOf(dst);
          const dstParent = statOf(parentOf(dst));
          if (opts === null) {
            // rename(): answers false instead of throwing.
            if (!st || !dstParent?.isDirectory() || (dstSt && !dstSt.isDirectory())) return send(200, { boolean: false });
            checkParentWritable(user, p);
            const target = dstSt?.isDirectory() ? path.posix.join(dst, path.posix.basename(p)) : dst;
            checkParentWritable(user, target);
            fs.renameSync(disk(p), disk(target));
            moveInodes(p, target);
            return send(200, { boolean: true });
          }
          // rename2(): OVERWRITE replaces a file (or empty dir) atomically, else errors.
          if (!st) throw notFound(p);
          if (!dstParent) throw new RemoteError(404, "FileNotFoundException", "java.io.FileNotFoundException", `rename destination parent ${parentOf(dst)} not found.`);
          if (!dstParent.isDirectory()) throw new RemoteError(403, "ParentNotDirectoryException", "org.apache.hadoop.fs.ParentNotDirectoryException", `rename destination parent ${parentOf(dst)} is a file.`);
          checkParentWritable(user, p);
          checkParentWritable(user, dst);
          if (dstSt) {
            if (!opts.split(",").includes("OVERWRITE")) throw new RemoteError(403, "FileAlreadyExistsException", "org.apache.hadoop.fs.FileAlreadyExistsException", `rename destination ${dst} already exists.`);
            if (dstSt.isDirectory() !== st.isDirectory()) throw new RemoteError(403, "IOException", "java.io.IOException", `Source ${p} and destination ${dst} must both be directories or files`);
            if (dstSt.isDirectory() && fs.readdirSync(disk(dst)).length) throw new RemoteError(403, "IOException", "java.io.IOException", `rename destination directory is not empty: ${dst}`);
            dropInodes(dst);
          }
          fs.renameSync(disk(p), disk(dst));
          moveInodes(p, dst);
          return send(200);
        }
        case "DELETE DELETE": {
          if (!st) return send(200, { boolean: false });
          if (p === "/") throw new RemoteError(403, "IOException", "java.io.IOException", "Cannot delete /");
          checkParentWritable(user, p);
          if (st.isDirectory()) {
            if (q.get("recursive") !== "true" && fs.readdirSync(disk(p)).length) {
              throw new RemoteError(403, "PathIsNotEmptyDirectoryException", "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException", `\`${p} is non empty': Directory is not empty`);
            }
            fs.rmSync(disk(p), { recursive: true, force: true });
          } else fs.unlinkSync(disk(p));
          dropInodes(p);
          return send(200, { boolean: true });
        }
        case "GET GETDELEGATIONTOKEN": {
          if (!kerberos) return send(200, { Token: null });
          if (via !== "kerberos") throw new RemoteError(403, "IOException", "java.io.IOException", "Delegation Token can be issued only with kerberos or web authentication");
          return send(200, { Token: { urlString: issueToken(principal!, q.get("renewer") ?? user) } });
        }
        case "PUT CANCELDELEGATIONTOKEN": {
          const token = q.get("token") ?? "";
          if (!tokenUser(token)) throw new RemoteError(403, "InvalidToken", "org.apache.hadoop.security.token.SecretManager$InvalidToken", "Token not found");
          cancelled.add(token);
          return send(200);
        }
        default:
          throw new RemoteError(400, "IllegalArgumentException", "java.lang.IllegalArgumentException", `Invalid value for webhdfs parameter "op": No enum constant ${op} for ${req.method}`);
      }
    } catch (err) {
      if (res.headersSent) return;
      const e = err instanceof RemoteError ? err : new RemoteError(500, "IOException", "java.io.IOException", (err as Error).message);
      send(e.status, { RemoteException: { exception: e.exception, javaClassName: e.javaClassName, message: e.message } });
    }
  });

  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- every await is inside the try, whose catch answers
  const datanode = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const p = decodeHdfsPath(url.pathname);
    const q = url.searchParams;
    const op = (q.get("op") ?? "").toUpperCase();
    requests.push({ server: "datanode", method: req.method ?? "GET", op, path: p ?? url.pathname, query: q, headers: req.headers });
    const fail = (e: RemoteError) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const text = JSON.stringify({ RemoteException: { exception: e.exception, javaClassName: e.javaClassName, message: e.message } });
      res.writeHead(e.status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) });
      res.end(text);
    };
    try {
      if (p === null || !q.get("namenoderpcaddress")) throw new RemoteError(400, "IllegalArgumentException", "java.lang.IllegalArgumentException", "namenoderpcaddress is not specified.");
      let user = q.get("user.name") ?? "";
      if (kerberos) {
        if (kerberos.datanodeSpnego) {
          const principal = await spnego(req, res, "datanode", dnHost);
          if (principal === null) {
            req.resume();
            return;
          }
          user = shortName(principal);
        } else {
          const u = tokenUser(q.get("delegation") ?? "");
          if (!u) throw new RemoteError(403, "InvalidToken", "org.apache.hadoop.security.token.SecretManager$InvalidToken", "the datanode needs the delegation token the namenode put in the redirect");
          user = u;
        }
      }
      if (req.method === "PUT" && op === "CREATE") {
        const overwrite = q.get("overwrite") === "true";
        mkdirs(user, parentOf(p));
        dropInodes(p);
        inodes.set(p, { owner: user, mode: parseInt(q.get("permission") ?? "644", 8), xattrs: new Map() });
        // Written in place, visible while written: that is what HDFS does.
        await pipeline(req, fs.createWriteStream(disk(p), { flags: overwrite ? "w" : "wx" }));
        res.writeHead(201, { location: `hdfs://127.0.0.1:8020${p}`, "content-length": "0" });
        res.end();
        return;
      }
      if (req.method === "POST" && op === "APPEND") {
        if (!statOf(p)) throw notFound(p);
        await pipeline(req, fs.createWriteStream(disk(p), { flags: "a" }));
        res.writeHead(200, { "content-length": "0" });
        res.end();
        return;
      }
      if (req.method === "GET" && op === "OPEN") {
        req.resume();
        const st = statOf(p);
        if (!st) throw notFound(p);
        const offset = Number(q.get("offset") ?? 0);
        const length = q.has("length") ? Number(q.get("length")) : st.size - offset;
        if (offset > st.size || offset < 0) throw new RemoteError(403, "IOException", "java.io.IOException", `Offset=${offset} out of the range [0, ${st.size})`);
        const n = Math.max(0, Math.min(length, st.size - offset));
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(n) });
        if (n === 0) {
          res.end();
          return;
        }
        await pipeline(fs.createReadStream(disk(p), { start: offset, end: offset + n - 1 }), res);
        return;
      }
      throw new RemoteError(400, "IllegalArgumentException", "java.lang.IllegalArgumentException", `Invalid datanode operation ${op}`);
    } catch (err) {
      req.resume();
      fail(err instanceof RemoteError ? err : new RemoteError(err && (err as NodeJS.ErrnoException).code === "EEXIST" ? 403 : 500, (err as NodeJS.ErrnoException).code === "EEXIST" ? "FileAlreadyExistsException" : "IOException", "java.io.IOException", (err as Error).message));
    }
  });

  for (const s of [namenode, datanode]) {
    s.on("connection", (sock) => {
      sockets.add(sock);
      sock.on("close", () => sockets.delete(sock));
    });
  }
  const listen = (s: http.Server) => new Promise<number>((resolve) => s.listen(0, "127.0.0.1", () => resolve((s.address() as AddressInfo).port)));
  nnPort = await listen(namenode);
  dnPort = await listen(datanode);

  return {
    namenode: `http://${kerberos ? nnHost : "127.0.0.1"}:${nnPort}`,
    datanode: `http://${kerberos ? dnHost : "127.0.0.1"}:${dnPort}`,
    root,
    requests,
    negotiations,
    setStandby(v) {
      standby = v;
    },
    ownerOf(hdfsPath) {
      return inode(hdfsPath).owner;
    },
    setPermission(hdfsPath, mode, owner) {
      const n = inodes.get(hdfsPath) ?? { ...inode(hdfsPath), xattrs: new Map() };
      n.mode = mode;
      if (owner) n.owner = owner;
      inodes.set(hdfsPath, n);
    },
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all([namenode, datanode].map((s) => new Promise((r) => s.close(r))));
      await acceptor?.close();
      if (ownsRoot) fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Hadoop's DEFAULT auth_to_local rule: the first component of the principal (`svc/host@R` -> `svc`). */
function shortName(principal: string): string {
  return principal.replace(/@.*$/, "").replace(/\/.*$/, "");
}

/** The Python GSSAPI acceptor (spnego_acceptor.py) as a long-lived helper, one request per line. */
function startAcceptor(k: WebHdfsKerberosOptions): { check(service: string, token: string): Promise<{ principal?: string; token?: string; error?: string }>; close(): Promise<void> } {
  const rcache = fs.mkdtempSync(path.join(os.tmpdir(), "cp-spnego-rcache-"));
  // The replay cache goes to a temporary directory: nothing outside it is written.
  const child: ChildProcessWithoutNullStreams = spawn("/usr/bin/python3", [path.join(__dirname, "spnego_acceptor.py"), k.keytab], {
    env: { PATH: process.env.PATH, KRB5_CONFIG: k.krb5Config, KRB5RCACHEDIR: rcache, KRB5_KTNAME: `FILE:${k.keytab}` },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const pending = new Map<number, (a: { principal?: string; token?: string; error?: string }) => void>();
  let next = 1;
  createInterface({ input: child.stdout }).on("line", (line) => {
    const a = JSON.parse(line) as { id: number; principal?: string; token?: string | null; error?: string };
    const done = pending.get(a.id);
    pending.delete(a.id);
    done?.({ ...(a.principal ? { principal: a.principal } : {}), ...(a.token ? { token: a.token } : {}), ...(a.error ? { error: a.error } : {}) });
  });
  child.on("exit", () => {
    for (const done of pending.values()) done({ error: `the SPNEGO acceptor exited: ${stderr.trim()}` });
    pending.clear();
  });
  return {
    check(service, token) {
      const id = next++;
      return new Promise((resolve) => {
        pending.set(id, resolve);
        child.stdin.write(`${JSON.stringify({ id, service, token })}\n`);
      });
    },
    async close() {
      await stopChild(child, () => child.stdin.end());
      fs.rmSync(rcache, { recursive: true, force: true });
    },
  };
}

/** `/webhdfs/v1/a/b` -> `/a/b`; null for anything that is not a clean absolute path. */
function decodeHdfsPath(pathname: string): string | null {
  const raw = pathname.startsWith("/webhdfs/v1") ? pathname.slice("/webhdfs/v1".length) || "/" : pathname;
  let p: string;
  try {
    p = decodeURIComponent(raw);
  } catch {
    return null;
  }
  if (!p.startsWith("/") || p.split("/").some((s) => s === ".." || s === ".") || p.includes("\0")) return null;
  return p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p;
}

function encodeHdfsPath(p: string): string {
  return p.split("/").map(encodeURIComponent).join("/");
}
