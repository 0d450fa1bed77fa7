import { checkHash, checkHashes, HASH_HEX_LENGTHS, isValidHexDigest } from "./hashes";

const SHA256 = "ab".repeat(32);

describe("hash fields", () => {
  test("a digest is hex of its algorithm's length, either case", () => {
    expect(isValidHexDigest("sha256", SHA256)).toBe(true);
    expect(isValidHexDigest("sha256", SHA256.toUpperCase())).toBe(true);
    expect(isValidHexDigest("sha256", SHA256.slice(2))).toBe(false);
    expect(isValidHexDigest("sha256", `${SHA256}00`)).toBe(false);
    expect(isValidHexDigest("sha256", `${SHA256.slice(2)}zz`)).toBe(false);
    expect(isValidHexDigest("sha256", `../../${SHA256.slice(6)}`)).toBe(false);
    expect(isValidHexDigest("md5", "0".repeat(32))).toBe(true);
    expect(isValidHexDigest("sha512", "0".repeat(128))).toBe(true);
    expect(isValidHexDigest("blake2b", "0".repeat(128))).toBe(false);
    expect(isValidHexDigest("constructor", "0")).toBe(false);
    expect(Object.keys(HASH_HEX_LENGTHS).sort()).toEqual(["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]);
  });

  test("checkHash names what it checked", () => {
    expect(checkHash("SHA256", SHA256.toUpperCase(), "x")).toEqual({ algorithm: "sha256", hex: SHA256 });
    expect(() => checkHash("sha256", "AB12", "foo-1.0.tar.gz from idx")).toThrow('foo-1.0.tar.gz from idx: the sha256 hash "AB12" is not 64 hex digits.');
    expect(() => checkHash("sha3_256", SHA256, "lock")).toThrow(expect.objectContaining({ message: 'lock: unknown hash algorithm "sha3_256".', hint: expect.stringMatching(/^use one of md5, sha1/) }));
  });

  test("checkHashes validates known algorithms and drops the ones nothing could check", () => {
    expect(checkHashes({ SHA256: SHA256.toUpperCase(), blake2b: "whatever" }, "f")).toEqual({ sha256: SHA256 });
    expect(checkHashes(undefined, "f")).toEqual({});
    expect(() => checkHashes({ sha256: "../../etc" }, "f")).toThrow(/f: the sha256 hash "..\/..\/etc" is not 64 hex digits/);
    expect(() => checkHashes({ sha256: 12 }, "f")).toThrow(/must be a string/);
    expect(() => checkHashes(["sha256"], "f")).toThrow(/must be a table/);
    expect(() => checkHashes({ md5: "x" }, "f")).toThrow(expect.objectContaining({ code: "ERR_INVALID_HASH", name: "InvalidHashError" }));
  });
});
