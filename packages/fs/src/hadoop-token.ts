import { InvalidInputError } from "@cluster-pack/errors";

/**
 * A Hadoop delegation token (org.apache.hadoop.security.token.Token): what WebHDFS's
 * GETDELEGATIONTOKEN returns as `urlString`, what `delegation=` takes, and what a YARN
 * container finds in its token file (HADOOP_TOKEN_FILE_LOCATION).
 */
export interface HadoopToken {
  identifier: Buffer;
  password: Buffer;
  /** `HDFS_DELEGATION_TOKEN`, `WEBHDFS delegation`, `SWEBHDFS delegation`... */
  kind: string;
  /** Where the token is good: `ha-hdfs:<nameservice>`, `<host>:<port>`. */
  service: string;
}

/** The fields of a delegation token identifier (AbstractDelegationTokenIdentifier). */
export interface DelegationTokenIdentifier {
  owner: string;
  renewer: string;
  realUser: string;
  issueDate: number;
  maxDate: number;
  sequenceNumber: number;
  masterKeyId: number;
}

/**
 * Decodes Token.encodeToUrlString: URL-safe base64 (no padding) of the token's Writable
 * form (vint-prefixed identifier and password, then kind and service as Text). The
 * string is a secret: messages never include it.
 */
export function decodeHadoopToken(urlString: string): HadoopToken {
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(urlString)) throw new InvalidInputError("The delegation token is not a Hadoop URL-safe token string (base64url).", { hint: "pass the urlString GETDELEGATIONTOKEN returned." });
  const r = new WritableReader(Buffer.from(urlString, "base64url"), "delegation token");
  const token = { identifier: r.bytes(), password: r.bytes(), kind: r.text(), service: r.text() };
  r.end();
  return token;
}

/** Token.encodeToUrlString: the form WebHDFS's `delegation=` parameter takes. */
export function encodeHadoopToken(token: HadoopToken): string {
  const w = new WritableWriter();
  writeToken(w, token);
  return w.buffer().toString("base64url");
}

/** Reads owner, renewer, dates and sequence number from an HDFS/WebHDFS delegation token identifier. */
export function parseDelegationTokenIdentifier(identifier: Buffer): DelegationTokenIdentifier {
  const r = new WritableReader(identifier, "delegation token identifier");
  const version = r.byte();
  if (version !== 0) throw new InvalidInputError(`Unknown delegation token identifier version ${version}; this reads version 0 (Hadoop 2 and 3).`);
  const out = { owner: r.text(), renewer: r.text(), realUser: r.text(), issueDate: r.vlong(), maxDate: r.vlong(), sequenceNumber: r.vlong(), masterKeyId: r.vlong() };
  return out;
}

/** The identifier bytes for these fields (version 0), as a namenode writes them. */
export function encodeDelegationTokenIdentifier(id: DelegationTokenIdentifier): Buffer {
  const w = new WritableWriter();
  w.byte(0);
  w.text(id.owner);
  w.text(id.renewer);
  w.text(id.realUser);
  w.vlong(id.issueDate);
  w.vlong(id.maxDate);
  w.vlong(id.sequenceNumber);
  w.vlong(id.masterKeyId);
  return w.buffer();
}

/**
 * A Hadoop token storage file (Credentials.writeTokenStorageFile, format WRITABLE: `HDTS`,
 * version 0), readable by every Hadoop 2/3 client: point HADOOP_TOKEN_FILE_LOCATION at it
 * and spark-submit, skein or any YARN client submits with these tokens, no ticket needed.
 * Tokens are keyed by their service, as Hadoop does.
 */
export function hadoopTokenFile(tokens: readonly HadoopToken[]): Buffer {
  const w = new WritableWriter();
  w.raw(Buffer.from("HDTS"));
  w.byte(0);
  w.vlong(tokens.length);
  for (const t of tokens) {
    w.text(t.service);
    writeToken(w, t);
  }
  w.vlong(0); // no secret keys
  return w.buffer();
}

/** Reads a token storage file (WRITABLE format, version 0). The protobuf format (version 1) is refused with a clear error. */
export function parseHadoopTokenFile(data: Buffer, source = "token file"): HadoopToken[] {
  if (data.length < 5 || data.subarray(0, 4).toString("latin1") !== "HDTS") throw new InvalidInputError(`${source} is not a Hadoop token storage file (no HDTS header).`);
  const version = data[4];
  if (version !== 0) throw new InvalidInputError(`${source} uses token storage format version ${version}; only version 0 (WRITABLE) is read.`, { hint: "write it with hadoop.security.credential.storage.format or fetch the token again." });
  const r = new WritableReader(data.subarray(5), source);
  const count = r.count();
  const tokens: HadoopToken[] = [];
  for (let i = 0; i < count; i++) {
    r.text(); // alias
    tokens.push({ identifier: r.bytes(), password: r.bytes(), kind: r.text(), service: r.text() });
  }
  const keys = r.count();
  for (let i = 0; i < keys; i++) {
    r.text();
    r.bytes();
  }
  r.end();
  return tokens;
}

/** Kinds of token a WebHDFS namenode accepts as `delegation=` (its secret manager is HDFS's). */
const HDFS_TOKEN_KINDS = new Set(["HDFS_DELEGATION_TOKEN", "WEBHDFS delegation", "SWEBHDFS delegation"]);

/**
 * The token services that name one HDFS cluster, as Hadoop's token selectors match them:
 * `ha-hdfs:<ns>` (and `ha-webhdfs:`, `ha-swebhdfs:`) for an HA nameservice, else the RPC
 * address (`hdfs://host[:8020]`) and each namenode's HTTP address, as `host:port` and as
 * `ip:port` (Hadoop's default, hadoop.security.token.service.use_ip). `lookup` resolves
 * a host to its addresses; a host that does not resolve is matched by name only.
 */
export async function hdfsTokenServices(authority: string, namenodes: readonly string[], lookup: (host: string) => Promise<string[]>): Promise<string[]> {
  const services = new Set<string>();
  const addHostPort = async (host: string, port: string) => {
    services.add(`${host}:${port}`);
    for (const ip of await lookup(host).catch(() => [])) services.add(`${ip.includes(":") ? `[${ip}]` : ip}:${port}`);
  };
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(authority);
  if (m && !m[2]) for (const scheme of ["hdfs", "webhdfs", "swebhdfs"]) services.add(`ha-${scheme}:${m[1]}`);
  if (m) await addHostPort(m[1]!.replace(/^\[|\]$/g, ""), m[2] ?? "8020");
  for (const nn of namenodes) {
    const u = new URL(nn);
    await addHostPort(u.hostname.replace(/^\[|\]$/g, ""), u.port || (u.protocol === "https:" ? "443" : "80"));
  }
  return [...services];
}

/**
 * The HDFS delegation token in a token storage file for a cluster known by `services`
 * (from `hdfsTokenServices`), or undefined. Tokens of other services and kinds (other
 * clusters, KMS, YARN) are never picked: a token is a credential, and sending one to the
 * wrong cluster would hand it over.
 */
export function selectHdfsToken(tokens: readonly HadoopToken[], services: readonly string[]): HadoopToken | undefined {
  const wanted = new Set(services);
  return tokens.find((t) => HDFS_TOKEN_KINDS.has(t.kind) && wanted.has(t.service));
}

// Helpers: Hadoop's WritableUtils zero-compressed vints and Text, as DataOutput writes them.

function writeToken(w: WritableWriter, t: HadoopToken): void {
  w.bytes(t.identifier);
  w.bytes(t.password);
  w.text(t.kind);
  w.text(t.service);
}

class WritableWriter {
  private readonly parts: Buffer[] = [];

  raw(b: Buffer): void {
    this.parts.push(b);
  }

  byte(b: number): void {
    this.parts.push(Buffer.from([b & 0xff]));
  }

  /** WritableUtils.writeVLong: one byte for -112..127, else a length byte then big-endian bytes. */
  vlong(value: number): void {
    if (!Number.isSafeInteger(value)) throw new InvalidInputError(`${value} is not an integer a Hadoop vlong can hold here.`);
    if (value >= -112 && value <= 127) {
      this.byte(value);
      return;
    }
    let v = BigInt(value);
    let len = -112;
    if (v < 0n) {
      v = ~v;
      len = -120;
    }
    const bytes: number[] = [];
    for (let t = v; t !== 0n; t >>= 8n) bytes.unshift(Number(t & 0xffn));
    this.byte(len - bytes.length);
    this.parts.push(Buffer.from(bytes));
  }

  bytes(b: Buffer): void {
    this.vlong(b.length);
    this.parts.push(b);
  }

  text(s: string): void {
    this.bytes(Buffer.from(s, "utf8"));
  }

  buffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Bounds-checked reader: every length is a claim checked against the bytes left. */
class WritableReader {
  private pos = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  byte(): number {
    if (this.pos >= this.buf.length) throw this.truncated();
    return this.buf[this.pos++]!;
  }

  vlong(): number {
    const first = (this.byte() << 24) >> 24; // signed
    if (first >= -112) return first;
    const negative = first < -120;
    const len = negative ? -(first + 120) : -(first + 112);
    if (len > 8) throw new InvalidInputError(`${this.what} is corrupt (a ${len}-byte integer).`);
    let v = 0n;
    for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(this.byte());
    if (negative) v = ~v;
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new InvalidInputError(`${this.what} is corrupt (an integer out of range).`);
    return Number(v);
  }

  count(): number {
    const n = this.vlong();
    // Each entry takes at least one byte: a larger count is a lie.
    if (n < 0 || n > this.buf.length - this.pos) throw new InvalidInputError(`${this.what} is corrupt (claims ${n} entries).`);
    return n;
  }

  bytes(): Buffer {
    const n = this.vlong();
    if (n < 0 || n > this.buf.length - this.pos) throw this.truncated();
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return Buffer.from(out);
  }

  text(): string {
    return this.bytes().toString("utf8");
  }

  end(): void {
    if (this.pos !== this.buf.length) throw new InvalidInputError(`${this.what} has ${this.buf.length - this.pos} unexpected trailing bytes.`);
  }

  private truncated(): InvalidInputError {
    return new InvalidInputError(`${this.what} is truncated or corrupt.`);
  }
}
