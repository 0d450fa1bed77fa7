import { crc32, isSafeEntryName, normalizeMode } from "./index";
import { entryKey, unsafeReason } from "./names";

describe("isSafeEntryName", () => {
  it.each(["a", "a/b.py", "pkg/", "six-1.17.0.dist-info/RECORD", "été/ñ.txt", "a/./b", "a//b", "x..y", "..x", "x/..y/z", ".deps/six.whl/six.py", ".bootstrap/", "./a", ".x/./y"])("accepts %j", (name) => {
    expect(isSafeEntryName(name)).toBe(true);
  });

  it.each([
    ["", "empty"],
    ["../evil", "'..'"],
    ["a/../../evil", "'..'"],
    ["a/..", "'..'"],
    ["/etc/passwd", "absolute"],
    ["C:/Windows/x", "drive letter"],
    ["c:evil", "drive letter"],
    ["a\\..\\b", "backslash"],
    ["a\u0000b", "NUL"],
    ["a\nb", "control"],
    [".", "names no file"],
    ["./", "names no file"],
    [".//./", "names no file"],
    ["./../x", "'..'"],
    [".\\x", "backslash"],
    ["/", "absolute"],
  ])("rejects %j (%s)", (name, why) => {
    expect(isSafeEntryName(name)).toBe(false);
    expect(unsafeReason(name)).toContain(why);
  });
});

describe("entryKey", () => {
  it("normalises what lands on the same path", () => {
    expect(entryKey("a/./b/")).toBe("a/b");
    expect(entryKey("a//b")).toBe("a/b");
    expect(entryKey("./a")).toBe("a");
    // NFD "é" and NFC "é" are one file name on macOS and in most tools.
    expect(entryKey("e\u0301")).toBe(entryKey("\u00e9"));
    expect(entryKey("a/b")).not.toBe(entryKey("a/c"));
  });
});

describe("normalizeMode", () => {
  it("gives files 0644 or 0755 with type bits", () => {
    expect(normalizeMode(0o100600, "file")).toBe(0o100644);
    expect(normalizeMode(0o100700, "file")).toBe(0o100755);
    expect(normalizeMode(0o100654, "file")).toBe(0o100755); // any x bit counts
    expect(normalizeMode(0, "file")).toBe(0o100644);
    expect(normalizeMode(0o4777, "file")).toBe(0o100755); // setuid dropped
  });
  it("gives directories 0755 and symlinks 0777", () => {
    expect(normalizeMode(0o700, "directory")).toBe(0o040755);
    expect(normalizeMode(0o644, "symlink")).toBe(0o120777);
  });
});

describe("crc32", () => {
  it("matches the standard check value and continues across chunks", () => {
    expect(crc32(Buffer.from("123456789"))).toBe(0xcbf43926);
    const whole = crc32(Buffer.from("hello world"));
    expect(crc32(Buffer.from(" world"), crc32(Buffer.from("hello")))).toBe(whole);
    expect(crc32(Buffer.alloc(0))).toBe(0);
  });
});
