import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ZipReader, ZipWriter } from "@cluster-pack/zip";
import { addWheelToZip, installWheel, WheelVerifier, type InstallScheme } from "./index";
import { craftWheel } from "./test-kit/craft";

// Wheels that lie, as a malicious or broken index serves them: each is refused by both
// installers (installWheel, and addWheelToZip + WheelVerifier as the PEX builder uses
// them), with an error naming the wheel and the entry. (The `pex build` CLI runs of the
// same wheels are in apps/cli.)

jest.setTimeout(60_000);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-wheel-crafted-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function scheme(): InstallScheme {
  const root = path.join(tmp, `env-${++n}`);
  return { purelib: path.join(root, "lib"), platlib: path.join(root, "lib"), scripts: path.join(root, "bin"), headers: path.join(root, "include"), data: root };
}

/** installWheel's outcome, and that it left no file behind on failure. */
async function install(wheel: string): Promise<unknown> {
  const s = scheme();
  try {
    await installWheel(wheel, { scheme: s });
    return "installed";
  } catch (err) {
    expect(fs.existsSync(s.purelib) ? fs.readdirSync(s.purelib, { recursive: true }).filter((f) => fs.statSync(path.join(s.purelib, String(f))).isFile()) : []).toEqual([]);
    return err;
  }
}

/** The PEX builder's path: planned into a writer (deferred verification), then verified on worker threads. */
async function planAndVerify(wheel: string): Promise<unknown> {
  const reader = await ZipReader.open(wheel);
  const verifier = new WheelVerifier({ cacheDir: false });
  try {
    const added = await addWheelToZip(new ZipWriter(), reader, path.basename(wheel), { prefix: ".deps/x/", deferVerification: true });
    await verifier.verify(wheel, path.basename(wheel), added.checks);
    return "verified";
  } catch (err) {
    return err;
  } finally {
    await verifier.close();
    await reader.close();
  }
}

const big = { "memo/__init__.py": "from .big import *\n", "memo/big.py": "# padding\n".repeat(2000) + "VALUE = 1\n" };

describe("crafted wheels", () => {
  it("refuses entries whose CRC-32 fields are wrong while RECORD's hashes are right (stored and deflated)", async () => {
    for (const entry of ["memo/__init__.py", "memo/big.py"]) {
      const wheel = await craftWheel(path.join(tmp, `crc-${entry.length}`), "memo-1.0-py3-none-any.whl", { files: big, wrongCrc: [entry] });
      const message = new RegExp(`memo-1\\.0-py3-none-any\\.whl: entry ${entry.replace(/[./]/g, "\\$&")} has CRC 0x[0-9a-f]{8}, its header declares 0x0badc0de`);
      expect(await install(wheel)).toMatchObject({ code: "ERR_CRC_MISMATCH", message: expect.stringMatching(message) });
      expect(await planAndVerify(wheel)).toMatchObject({ code: "ERR_CRC_MISMATCH", message: expect.stringMatching(message) });
    }
  });

  it("checks the CRC-32 and RECORD hash of every byte of entries too big to check in one piece (stored, deflated, many pieces)", async () => {
    // The verifier checks entries over 4 MiB in 1 MiB pieces: a wrong CRC or a hash that
    // differs only in the last byte must be found in each shape of large entry.
    const files = {
      "memo/__init__.py": "VALUE = 1\n",
      "memo/random.bin": crypto.randomBytes(6 << 20), // deflated, > 4 MiB stored: many input pieces
      "memo/stored.bin": crypto.randomBytes(5 << 20), // stored: read in pieces, never inflated
      "memo/zeros.bin": Buffer.alloc(9 << 20), // deflated to a few KiB: one input piece, many output pieces
    };
    const stored = ["memo/stored.bin"];
    expect(await planAndVerify(await craftWheel(path.join(tmp, "big-ok"), "memo-1.0-py3-none-any.whl", { files, stored }))).toBe("verified");
    for (const entry of ["memo/random.bin", "memo/stored.bin", "memo/zeros.bin"]) {
      const name = entry.replace(/[./]/g, "\\$&");
      const crc = await craftWheel(path.join(tmp, `big-crc-${entry.length}`), "memo-1.0-py3-none-any.whl", { files, stored, wrongCrc: [entry] });
      expect(await planAndVerify(crc)).toMatchObject({ code: "ERR_CRC_MISMATCH", message: expect.stringMatching(new RegExp(`entry ${name} has CRC`)) });
      const hash = await craftWheel(path.join(tmp, `big-hash-${entry.length}`), "memo-1.0-py3-none-any.whl", { files, stored, wrongHash: [entry] });
      expect(await planAndVerify(hash)).toMatchObject({ message: expect.stringMatching(new RegExp(`${name} does not match its RECORD hash`)) });
    }
  });

  it("refuses a wheel with two .dist-info directories (a foreign distribution's metadata), as pip does", async () => {
    const wheel = await craftWheel(path.join(tmp, "two"), "memo-1.0-py3-none-any.whl", { extraDistInfo: ["requests-99.0.dist-info"] });
    const expected = { code: "ERR_WHEEL_MISLABELLED", message: expect.stringContaining("memo-1.0-py3-none-any.whl: the wheel has 2 .dist-info directories (memo-1.0.dist-info, requests-99.0.dist-info)") };
    expect(await install(wheel)).toMatchObject(expected);
    expect(await planAndVerify(wheel)).toMatchObject(expected);
    // The one .dist-info directory must be the file name's.
    const other = await craftWheel(path.join(tmp, "other"), "memo-1.0-py3-none-any.whl", { files: {} });
    fs.renameSync(other, path.join(tmp, "other", "memo-2.0-py3-none-any.whl"));
    expect(await install(path.join(tmp, "other", "memo-2.0-py3-none-any.whl"))).toMatchObject({ code: "ERR_WHEEL_MISLABELLED", message: expect.stringContaining("its metadata directory is memo-1.0.dist-info, not memo-2.0.dist-info") });
  });

  it("refuses METADATA whose Name or Version disagree with the file name, compared normalised", async () => {
    const version = await craftWheel(path.join(tmp, "version"), "memo-1.0-py3-none-any.whl", { metadataVersion: "2.0" });
    const expected = { code: "ERR_WHEEL_MISLABELLED", message: expect.stringContaining("memo-1.0-py3-none-any.whl: memo-1.0.dist-info/METADATA says version 2.0 but the file name says 1.0") };
    expect(await install(version)).toMatchObject(expected);
    expect(await planAndVerify(version)).toMatchObject(expected);
    const name = await craftWheel(path.join(tmp, "name"), "memo-1.0-py3-none-any.whl", { metadataName: "evil" });
    expect(await install(name)).toMatchObject({ code: "ERR_WHEEL_MISLABELLED", message: expect.stringContaining('METADATA names "evil"') });
    // The same version and name written differently are the same.
    expect(await install(await craftWheel(path.join(tmp, "same"), "memo-1.0-py3-none-any.whl", { metadataVersion: "1.0.0", metadataName: "Memo" }))).toBe("installed");
  });

  it("refuses a file name that claims tags its WHEEL does not (a binary renamed as pure)", async () => {
    const wheel = await craftWheel(path.join(tmp, "tags"), "memo-1.0-py3-none-any.whl", { wheelTags: ["cp311-cp311-linux_x86_64"] });
    const expected = { code: "ERR_WHEEL_MISLABELLED", message: expect.stringContaining("memo-1.0-py3-none-any.whl: the file name claims the tag py3-none-any, which memo-1.0.dist-info/WHEEL does not (it lists cp311-cp311-linux_x86_64)") };
    expect(await install(wheel)).toMatchObject(expected);
    expect(await planAndVerify(wheel)).toMatchObject(expected);
    // What real wheels on PyPI do and pip accepts: narrower or repaired platforms, compressed
    // Tag lines, Python 2 tags the build no longer lists.
    for (const [file, tags] of [
      ["memo-1.0-cp311-cp311-manylinux_2_28_x86_64.whl", ["cp311-cp311-linux_x86_64"]], // ray, mysql-connector
      ["memo-1.0-py3-none-manylinux1_x86_64.whl", ["py3-none-any"]], // playwright
      ["memo-1.0-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", ["cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64"]], // clarabel
      ["memo-1.0-py2.py3-none-any.whl", ["py3-none-any"]], // py-spy
      ["memo-1.0-py3-none-any.whl", []],
    ] as const) {
      expect(await install(await craftWheel(path.join(tmp, `ok-${++n}`), file, { wheelTags: [...tags] }))).toBe("installed");
    }
    expect(await install(await craftWheel(path.join(tmp, "aarch"), "memo-1.0-cp311-cp311-manylinux_2_28_aarch64.whl", { wheelTags: ["cp311-cp311-linux_x86_64"] }))).toMatchObject({ code: "ERR_WHEEL_MISLABELLED" });
  });
});

