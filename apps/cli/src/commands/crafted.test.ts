import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { craftWheel } from "@cluster-pack/wheel/test-kit";
import { addHiddenEntry, replaceBytes } from "@cluster-pack/zip/test-kit";
import { runCli } from "../test-kit";

// Crafted inputs through the real commands: wheels that lie are refused by `pex build`
// (exit 1, the wheel and the entry named, no PEX written), and a tampered PEX by
// `pex verify`, `pex inspect` and `zip verify` (exit 1).

jest.setTimeout(120_000);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-cli-crafted-"));
const previousCache = process.env.CLUSTER_PACK_CACHE;
beforeAll(() => (process.env.CLUSTER_PACK_CACHE = path.join(tmp, "cache"))); // a verification memo of our own
afterAll(() => {
  if (previousCache === undefined) delete process.env.CLUSTER_PACK_CACHE;
  else process.env.CLUSTER_PACK_CACHE = previousCache;
  fs.rmSync(tmp, { recursive: true, force: true });
});

const WHEEL = "memo-1.0-py3-none-any.whl";
const files = { "memo/__init__.py": "from .big import VALUE\n", "memo/big.py": "# padding\n".repeat(2000) + "VALUE = 1\n" };

describe("pex build refuses wheels that lie", () => {
  it.each([
    ["CRC-32 fields wrong, RECORD right", { files, wrongCrc: ["memo/big.py"] }, /memo-1\.0-py3-none-any\.whl: entry memo\/big\.py has CRC 0x[0-9a-f]{8}, its header declares 0x0badc0de/],
    ["two .dist-info directories", { files, extraDistInfo: ["requests-99.0.dist-info"] }, /memo-1\.0-py3-none-any\.whl: the wheel has 2 \.dist-info directories \(memo-1\.0\.dist-info, requests-99\.0\.dist-info\)/],
    ["METADATA's version not the file name's", { files, metadataVersion: "6.6.6" }, /memo-1\.0-py3-none-any\.whl: memo-1\.0\.dist-info\/METADATA says version 6\.6\.6 but the file name says 1\.0/],
    ["WHEEL's tags not the file name's", { files, wheelTags: ["cp311-cp311-linux_x86_64"] }, /memo-1\.0-py3-none-any\.whl: the file name claims the tag py3-none-any, which memo-1\.0\.dist-info\/WHEEL does not/],
  ])("%s", async (what, options, message) => {
    const dir = path.join(tmp, what.replace(/\W+/g, "-"));
    const wheel = await craftWheel(dir, WHEEL, options);
    const out = path.join(dir, "out", "env.pex");
    const r = await runCli("pex", "build", wheel, "-o", out);
    expect(r.err).toMatch(message);
    expect(r.code).toBe(1);
    expect(fs.existsSync(path.dirname(out)) ? fs.readdirSync(path.dirname(out)) : []).toEqual([]);
  });

  it("builds the same wheel when it does not lie (the control)", async () => {
    const wheel = await craftWheel(path.join(tmp, "good"), WHEEL, { files });
    const r = await runCli("pex", "build", wheel, "-o", path.join(tmp, "good", "env.pex"));
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: "" });
  });
});

describe("pex verify, pex inspect and zip verify refuse a tampered PEX", () => {
  let good: Buffer;
  beforeAll(async () => {
    const wheel = await craftWheel(path.join(tmp, "pex"), WHEEL, { files });
    const out = path.join(tmp, "pex", "good.pex");
    expect((await runCli("pex", "build", wheel, "-o", out)).code).toBe(0);
    good = fs.readFileSync(out);
  });

  it.each([
    ["a hidden __main__.py (the end record's count unchanged)", () => addHiddenEntry(good, "__main__.py", Buffer.from("print('hidden')\n")), /hidden entries/],
    ["a '../' name in the body of the split PEX", () => replaceBytes(good, `.deps/${WHEEL}/memo/big.py`, `../../${WHEEL}/memo/big.py`), /is unsafe: it has a '\.\.' segment/],
  ])("%s", async (_, craft, message) => {
    const file = path.join(tmp, "pex", `crafted-${Math.random().toString(36).slice(2)}.pex`);
    fs.writeFileSync(file, craft());
    for (const args of [["pex", "verify", file], ["pex", "inspect", file], ["zip", "verify", file]]) {
      const r = await runCli(...args);
      expect({ args, code: r.code, matches: message.test(r.err) }).toEqual({ args, code: 2, matches: true }); // a corrupt input is bad input: exit 2 (issue 11.8)
    }
    expect((await runCli("zip", "verify", path.join(tmp, "pex", "good.pex"))).out).toMatch(/OK \(\d+ entries, \d+ bytes checked in 2 zips\)/);
  });
});
