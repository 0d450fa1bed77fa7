import {
  decodeHadoopToken,
  encodeDelegationTokenIdentifier,
  encodeHadoopToken,
  hadoopTokenFile,
  hdfsTokenServices,
  selectHdfsToken,
  parseDelegationTokenIdentifier,
  parseHadoopTokenFile,
} from "./hadoop-token";

// Tokens real namenodes / KMS servers issued, as printed in public documentation (IBM
// watsonx "Using delegation token endpoints"; HADOOP-12521's KMS example).
const HDFS_TOKEN = "NAAFdXNlcjEFZHN4aGkSZHN4aGlARllSRS5JQk0uQ09NigFz_1WBFIoBdCNiBRSOIcKOA2YUIL4Lk3BvwhlTZOMNP4G5TrTgmLMVSERGU19ERUxFR0FUSU9OX1RPS0VOD2hhLWhkZnM6bWFnaWNucw";
const KMS_TOKEN = "KAAKaGRmcy1oZHA2NApKb2JUcmFja2VyAIoBUKtGzIGKAVDPU1CBBwQUKoAqp3yAQe2JrbuL26feN8Kv_EAGa21zLWR0AA";

describe("Hadoop delegation tokens (Token.encodeToUrlString, WritableUtils vints)", () => {
  it("decodes a real HDFS delegation token and encodes it back to the same string", () => {
    const t = decodeHadoopToken(HDFS_TOKEN);
    expect(t.kind).toBe("HDFS_DELEGATION_TOKEN");
    expect(t.service).toBe("ha-hdfs:magicns");
    expect(t.password.length).toBe(20); // HMAC-SHA1
    const id = parseDelegationTokenIdentifier(t.identifier);
    expect(id).toMatchObject({ owner: "user1", renewer: "dsxhi", realUser: "dsxhi@FYRE.IBM.COM" });
    expect(id.maxDate - id.issueDate).toBe(7 * 24 * 3600 * 1000);
    expect(new Date(id.issueDate).getUTCFullYear()).toBe(2020);
    expect(encodeHadoopToken(t)).toBe(HDFS_TOKEN);
    expect(encodeDelegationTokenIdentifier(id)).toEqual(t.identifier);
  });

  it("decodes a real KMS token (empty service)", () => {
    const t = decodeHadoopToken(KMS_TOKEN);
    expect(t).toMatchObject({ kind: "kms-dt", service: "" });
    expect(parseDelegationTokenIdentifier(t.identifier)).toMatchObject({ owner: "hdfs-hdp64", renewer: "JobTracker", realUser: "" });
    expect(encodeHadoopToken(t)).toBe(KMS_TOKEN);
  });

  it("round-trips vints of every size, negative ones included", () => {
    for (const v of [0, 1, -1, 127, -112, 128, -113, 255, 256, 65_535, 1_700_000_000_000, -1_700_000_000_000, Number.MAX_SAFE_INTEGER]) {
      const id = { owner: "o", renewer: "r", realUser: "", issueDate: v, maxDate: v, sequenceNumber: 1, masterKeyId: 2 };
      expect(parseDelegationTokenIdentifier(encodeDelegationTokenIdentifier(id))).toEqual(id);
    }
  });

  it("refuses strings that are not tokens, truncated ones and trailing bytes, without echoing them", () => {
    expect(() => decodeHadoopToken("not a token!")).toThrow(/not a Hadoop URL-safe token/);
    expect(() => decodeHadoopToken(HDFS_TOKEN.slice(0, 40))).toThrow(/truncated/);
    const extra = Buffer.concat([Buffer.from(HDFS_TOKEN, "base64url"), Buffer.from([0])]).toString("base64url");
    expect(() => decodeHadoopToken(extra)).toThrow(/trailing bytes/);
    expect(() => decodeHadoopToken(HDFS_TOKEN.slice(0, 40))).not.toThrow(new RegExp(HDFS_TOKEN.slice(0, 20)));
  });

  it("writes a token storage file (HDTS, version 0) and reads it back", () => {
    const tokens = [decodeHadoopToken(HDFS_TOKEN), decodeHadoopToken(KMS_TOKEN)];
    const file = hadoopTokenFile(tokens);
    expect(file.subarray(0, 5)).toEqual(Buffer.from([0x48, 0x44, 0x54, 0x53, 0]));
    expect(parseHadoopTokenFile(file)).toEqual(tokens);
    expect(() => parseHadoopTokenFile(Buffer.from("HDTS\x01\x00"))).toThrow(/version 1/);
    expect(() => parseHadoopTokenFile(Buffer.from("nope"))).toThrow(/HDTS/);
    // A count larger than the bytes that follow is a lie, not an allocation.
    expect(() => parseHadoopTokenFile(Buffer.from([0x48, 0x44, 0x54, 0x53, 0, 0x8c, 0x7f, 0xff, 0xff, 0xff]))).toThrow(/corrupt/);
  });

  it("names a cluster's token services as Hadoop's selectors do (HA nameservice, RPC and HTTP addresses, by name and IP)", async () => {
    const lookup = async (host: string) => ({ nn1: ["10.0.0.1"], nn2: ["10.0.0.2", "fd00::2"] })[host] ?? Promise.reject(new Error("ENOTFOUND"));
    expect(await hdfsTokenServices("magicns", ["http://nn1:9870", "http://nn2:9870"], lookup)).toEqual([
      "ha-hdfs:magicns", "ha-webhdfs:magicns", "ha-swebhdfs:magicns", "magicns:8020",
      "nn1:9870", "10.0.0.1:9870", "nn2:9870", "10.0.0.2:9870", "[fd00::2]:9870",
    ]);
    expect(await hdfsTokenServices("nn1:8020", ["https://nn1:9871"], lookup)).toEqual(["nn1:8020", "10.0.0.1:8020", "nn1:9871", "10.0.0.1:9871"]);
  });

  it("picks only an HDFS token of this cluster from a token file: never another cluster's, never KMS or YARN tokens", () => {
    const hdfs = decodeHadoopToken(HDFS_TOKEN); // service ha-hdfs:magicns
    const kms = decodeHadoopToken(KMS_TOKEN);
    const other = { ...hdfs, service: "ha-hdfs:othercluster" };
    const yarn = { ...hdfs, kind: "YARN_AM_RM_TOKEN", service: "10.0.0.1:8030" };
    expect(selectHdfsToken([kms, other, yarn, hdfs], ["ha-hdfs:magicns", "10.0.0.1:8030"])).toBe(hdfs);
    expect(selectHdfsToken([kms, other, yarn], ["ha-hdfs:magicns", "10.0.0.1:8030"])).toBeUndefined();
    const web = { ...hdfs, kind: "WEBHDFS delegation", service: "10.0.0.1:9870" };
    expect(selectHdfsToken([other, web], ["nn1:9870", "10.0.0.1:9870"])).toBe(web);
  });
});
