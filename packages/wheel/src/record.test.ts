import { formatRecord, parseRecord, recordHash, RecordVerifier } from "./index";

describe("RECORD", () => {
  it("round-trips rows, including quoted paths with commas", () => {
    const text = 'six.py,sha256=abc_-,100\n"we,ird.py",sha256=def,2\nsix-1.0.dist-info/RECORD,,\n';
    const rows = parseRecord(text);
    expect(rows).toEqual([{ path: "six.py", hash: "sha256=abc_-", size: 100 }, { path: "we,ird.py", hash: "sha256=def", size: 2 }, { path: "six-1.0.dist-info/RECORD" }]);
    expect(formatRecord(rows)).toBe(text);
  });

  it("parses unquoted RECORDs (the fast path) like quoted ones, whatever the line ends", () => {
    const rows = [{ path: "a.py", hash: "sha256=x", size: 1 }, { path: "b/c.py", hash: "sha256=y", size: 22 }, { path: "d-1.dist-info/RECORD" }];
    for (const eol of ["\n", "\r\n", "\r"]) {
      const plain = `a.py,sha256=x,1${eol}${eol}b/c.py,sha256=y,22${eol}d-1.dist-info/RECORD,,`;
      expect(parseRecord(plain)).toEqual(rows);
      expect(parseRecord(plain + eol)).toEqual(rows);
      // One quoted field sends the same text through the full CSV parser: same rows.
      expect(parseRecord(plain.replace("a.py", '"a.py"'))).toEqual(rows);
    }
    expect(() => parseRecord("a.py,sha256=x,1\nb.py,sha256=y,2,3\n", "w.whl")).toThrow(/RECORD line 2 is malformed/);
  });

  it("rejects malformed rows", () => {
    expect(() => parseRecord("a.py,sha256=x,notanumber\n", "w.whl")).toThrow(/w.whl: RECORD line 1 has a malformed size/);
    expect(() => parseRecord("a.py,sha256=x,1,extra\n", "w.whl")).toThrow(/malformed/);
  });

  it("hashes like pip (urlsafe base64, no padding) and verifies hash and size", () => {
    expect(recordHash("hello")).toBe("sha256=LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ");
    const ok = new RecordVerifier("w.whl", { path: "a", hash: recordHash("hello"), size: 5 });
    ok.update(Buffer.from("hel"));
    ok.update(Buffer.from("lo"));
    expect(ok.check().size).toBe(5);
    const badHash = new RecordVerifier("w.whl", { path: "a", hash: recordHash("hellO"), size: 5 });
    badHash.update(Buffer.from("hello"));
    expect(() => badHash.check()).toThrow(/w.whl: a does not match its RECORD hash/);
    const badSize = new RecordVerifier("w.whl", { path: "a", hash: recordHash("hello"), size: 6 });
    badSize.update(Buffer.from("hello"));
    expect(() => badSize.check()).toThrow(/5 bytes but RECORD says 6/);
    expect(() => new RecordVerifier("w.whl", { path: "a", hash: "md5=xyz" })).toThrow(/md5/);
  });
});
