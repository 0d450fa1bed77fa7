import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { ZipReader, ZipWriter } from "./index";
import { python, runPython, tempDir, which } from "./test-kit";

jest.setTimeout(120_000);

const PY = python();
let tmp: ReturnType<typeof tempDir>;
beforeAll(() => (tmp = tempDir()));
afterAll(() => tmp.cleanup());

const LOCATOR = Buffer.from([0x50, 0x4b, 0x06, 0x07]);

function endRecord(zip: Buffer): { count: number; cdSize: number; cdOffset: number } {
  const at = zip.length - 22; // no comment
  expect(zip.readUInt32LE(at)).toBe(0x06054b50);
  return { count: zip.readUInt16LE(at + 10), cdSize: zip.readUInt32LE(at + 12), cdOffset: zip.readUInt32LE(at + 16) };
}

function pythonCount(file: string): number {
  return Number(runPython("import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(len(z.infolist()))", [file]).trim());
}

describe("ZIP64 by entry count", () => {
  it("switches to ZIP64 end records above 65,535 entries, and not at 65,535", async () => {
    for (const total of [65_535, 65_537]) {
      const w = new ZipWriter();
      // 255 directories of files: implicit directory entries count too.
      let n = 0;
      for (let d = 0; n < total; d++) {
        n++; // the directory itself
        for (let f = 0; f < 256 && n < total; f++, n++) w.addBuffer(`d${d}/f${f}.txt`, `${d}/${f}`);
      }
      expect(w.size).toBe(total);
      const { path: file } = await w.writeTo(path.join(tmp.dir, `${total}.zip`));
      const bytes = fs.readFileSync(file);
      const end = endRecord(bytes);
      const hasLocator = bytes.subarray(bytes.length - 22 - 20, bytes.length - 22 - 16).equals(LOCATOR);
      if (total > 0xffff) {
        expect(hasLocator).toBe(true);
        expect(end.count).toBe(0xffff);
      } else {
        expect(hasLocator).toBe(false);
        expect(end.count).toBe(total);
      }
      const r = await ZipReader.open(file);
      expect(r.entries.length).toBe(total);
      expect((await r.readEntry("d200/f17.txt")).toString()).toBe("200/17");
      await r.close();
      if (PY) expect(pythonCount(file)).toBe(total);
      if (which("unzip")) {
        const u = spawnSync("unzip", ["-tqq", file], { encoding: "utf8" });
        expect({ status: u.status, err: u.stderr }).toEqual({ status: 0, err: "" });
      }
    }
  });
});

describe("forced ZIP64", () => {
  it("writes ZIP64 extra fields and end records that every reader accepts", async () => {
    const w = new ZipWriter({ forceZip64: true, prefix: "#!/usr/bin/env python3\n" });
    w.addBuffer("__main__.py", "print('zip64 ok')\n");
    w.addBuffer("pkg/data.txt", "data ".repeat(1000));
    const { path: file } = await w.writeTo(path.join(tmp.dir, "forced.zip"));
    const bytes = fs.readFileSync(file);
    expect(bytes.subarray(bytes.length - 42, bytes.length - 38).equals(LOCATOR)).toBe(true);
    const r = await ZipReader.open(file);
    expect(r.prefixLength).toBe(23);
    expect((await r.readEntry("pkg/data.txt")).toString()).toBe("data ".repeat(1000));
    await r.close();
    if (PY) {
      expect(pythonCount(file)).toBe(3);
      const info = JSON.parse(runPython("import zipfile,sys,json; print(json.dumps([i.extra.hex() for i in zipfile.ZipFile(sys.argv[1]).infolist()]))", [file]));
      for (const extra of info) expect(extra.startsWith("0100")).toBe(true); // ZIP64 extended information
    }
    if (which("unzip")) expect(spawnSync("unzip", ["-tqq", file]).status).toBe(0);
    // Python 3.13's zipimport reads ZIP64 archives (older ones cannot: see the PEX layout).
    const py313 = path.join(process.env.HOME ?? "/root", ".pyenv/versions/3.13.0/bin/python3");
    if (fs.existsSync(py313)) expect(spawnSync(py313, [file], { encoding: "utf8" }).stdout).toBe("zip64 ok\n");
  });
});
