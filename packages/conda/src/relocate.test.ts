import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { isText, replaceBinary, replaceText, rewriteShebang } from "./relocate";
import { condaUnpackScript } from "./runtime";
import { tempDir } from "./test-kit";

describe("replaceText", () => {
  test("replaces every occurrence, returns the same buffer when absent", () => {
    expect(replaceText(Buffer.from("a/old/b /old"), "/old", "/new/longer").toString()).toBe("a/new/longer/b /new/longer");
    const b = Buffer.from("nothing here");
    expect(replaceText(b, "/old", "/new")).toBe(b);
  });
});

describe("replaceBinary", () => {
  const ph = "/placeholder/of/some/length";
  test("shortens inside the NUL-terminated string and pads with NULs", () => {
    const data = Buffer.concat([Buffer.from("\x01\x02"), Buffer.from(`${ph}/lib:${ph}/bin\0`), Buffer.from("tail\0")]);
    const out = replaceBinary(data, ph, "/short", "libx.so");
    expect(out.length).toBe(data.length);
    const expected = Buffer.concat([
      Buffer.from("\x01\x02"),
      Buffer.from("/short/lib:/short/bin\0"),
      Buffer.alloc(2 * (ph.length - "/short".length)),
      Buffer.from("tail\0"),
    ]);
    expect(out.equals(expected)).toBe(true);
  });

  test("a new prefix longer than the placeholder is an error naming the file", () => {
    expect(() => replaceBinary(Buffer.from(`${ph}\0`), ph, `${ph}/and/more`, "bin/tool")).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/^bin\/tool: .*is longer than the 27 bytes reserved/), hint: "use a prefix of at most 27 characters." }),
    );
  });

  test("a placeholder without a terminator is left alone", () => {
    const data = Buffer.from(`xx${ph}`);
    expect(replaceBinary(data, ph, "/s", "f").equals(data)).toBe(true);
  });

  test("matches conda's binary_replace (the Python in conda-unpack) byte for byte", () => {
    // Differential test: random binary blobs through both implementations.
    const dir = tempDir("diff");
    try {
      const cases: { data: string; placeholder: string; replacement: string }[] = [];
      let seed = 42;
      const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
      for (let i = 0; i < 200; i++) {
        const placeholder = `/p${"x".repeat(rand(40))}`;
        const replacement = `/r${"y".repeat(rand(placeholder.length - 1))}`;
        const parts: Buffer[] = [];
        for (let j = rand(8); j >= 0; j--) {
          const pick = rand(5);
          if (pick === 0) parts.push(Buffer.from(placeholder));
          else if (pick === 1) parts.push(Buffer.from([0]));
          else parts.push(Buffer.from(Array.from({ length: rand(12) }, () => rand(256))));
        }
        cases.push({ data: Buffer.concat(parts).toString("base64"), placeholder, replacement });
      }
      const script = path.join(dir, "conda_unpack.py");
      fs.writeFileSync(script, condaUnpackScript([]));
      const driver = `
import base64, json, sys, importlib.util
spec = importlib.util.spec_from_file_location("cu", ${JSON.stringify(script)})
cu = importlib.util.module_from_spec(spec); spec.loader.exec_module(cu)
out = []
for c in json.load(sys.stdin):
    out.append(base64.b64encode(cu.binary_replace(base64.b64decode(c["data"]), c["placeholder"].encode(), c["replacement"].encode(), "f")).decode())
print(json.dumps(out))
`;
      const r = spawnSync("python3", ["-c", driver], { input: JSON.stringify(cases), encoding: "utf8" });
      expect(r.stderr).toBe("");
      const py = JSON.parse(r.stdout) as string[];
      cases.forEach((c, i) => {
        const ours = replaceBinary(Buffer.from(c.data, "base64"), c.placeholder, c.replacement, "f").toString("base64");
        expect(ours).toBe(py[i]);
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("rewriteShebang", () => {
  test("interpreters under the prefix become /usr/bin/env NAME, options kept with -S", () => {
    expect(rewriteShebang(Buffer.from("#!/opt/env/bin/python3.11\nprint(1)\n"), "/opt/env")!.toString()).toBe("#!/usr/bin/env python3.11\nprint(1)\n");
    expect(rewriteShebang(Buffer.from("#!/opt/env/bin/python -E -s\nx\n"), "/opt/env")!.toString()).toBe("#!/usr/bin/env -S python -E -s\nx\n");
    expect(rewriteShebang(Buffer.from("#! /opt/env/bin/perl\r\nx"), "/opt/env/")!.toString()).toBe("#!/usr/bin/env perl\r\nx");
  });
  test("others are left alone", () => {
    expect(rewriteShebang(Buffer.from("#!/usr/bin/python\n"), "/opt/env")).toBeNull();
    expect(rewriteShebang(Buffer.from("#!/opt/envx/bin/python\n"), "/opt/env")).toBeNull();
    expect(rewriteShebang(Buffer.from("print(1)\n"), "/opt/env")).toBeNull();
  });
});

test("isText", () => {
  expect(isText(Buffer.from("héllo\n"))).toBe(true);
  expect(isText(Buffer.from([0x61, 0, 0x62]))).toBe(false);
  expect(isText(Buffer.from([0xff, 0xfe, 0x41]))).toBe(false);
});
