import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { decodeFileName, encodeFileName, fsPath, hasRawBytes, isPathInside, showFileName } from "./fs-names";

describe("file names as bytes", () => {
  test("every byte string survives decode -> encode, and distinct names stay distinct", () => {
    const cases = [
      Buffer.from("plain.txt"),
      Buffer.from("café-\u{1F600}.py"),
      Buffer.from([0x66, 0xff, 0x6f]), // a stray byte
      Buffer.from([0xe9, 0x74, 0xe9]), // latin-1 "été"
      Buffer.from([0xed, 0xa0, 0x80]), // an encoded surrogate (invalid UTF-8)
      Buffer.from([0xc0, 0xaf]), // an overlong "/"
      Buffer.from([0xf4, 0x90, 0x80, 0x80]), // above U+10FFFF
      Buffer.from([0xe2, 0x82]), // a cut sequence
      Buffer.from("\uFFFD real replacement char"),
      Buffer.from([0xf0, 0x90, 0x82, 0x80, 0x80]), // U+10080 (low half DC80) then a stray byte
    ];
    const decoded = cases.map(decodeFileName);
    for (const [i, b] of cases.entries()) expect(encodeFileName(decoded[i]!).equals(b)).toBe(true);
    expect(new Set(decoded).size).toBe(cases.length);
    expect(decoded.map(hasRawBytes)).toEqual([false, false, true, true, true, true, true, true, false, true]);
    expect(showFileName(decoded[3]!)).toBe("\\xe9t\\xe9");
    expect(decoded[9]).toBe("\u{10080}\uDC80");
  });

  test("fsPath opens a file whose name is not UTF-8", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cp-names-"));
    try {
      const raw = Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0x6e, 0xe9, 0x65])]);
      fs.writeFileSync(raw, "bytes");
      const [name] = fs.readdirSync(dir, { encoding: "buffer" });
      const p = path.join(dir, decodeFileName(name!));
      expect(typeof fsPath(p)).not.toBe("string");
      expect(fs.readFileSync(fsPath(p), "utf8")).toBe("bytes");
      expect(fsPath(`${dir}/plain`)).toBe(`${dir}/plain`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

test("isPathInside: the root and what is below it, nothing beside or above", () => {
  expect(["/env", "/env/a", "/env/..foo", "/env/a/../b"].map((p) => isPathInside("/env", p))).toEqual([true, true, true, true]);
  expect(["/", "/envx", "/env/..", "/other/env", "/env/../x"].map((p) => isPathInside("/env", p))).toEqual([false, false, false, false, false]);
});
