import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { bufferSource, verifyZip, ZipReader, ZipWriter } from "@cluster-pack/zip";
import { addHiddenEntry, insertUnlistedBytes, lastZip, python, replaceBytes, replaceStoredEntry, runPython } from "@cluster-pack/zip/test-kit";
import { craftWheel } from "@cluster-pack/wheel/test-kit";
import { buildPex, computePexHash, contentHash, depsArchive, formatPexInfo, inspectPex, mainStub, parsePexInfo, verifyPex } from "./index";
import { cleanEnv, run } from "./test-kit/run";

// PEX files tampered with as an attacker would: each is refused by `verifyPex` (pex verify),
// `inspectPex` (pex inspect) where its layout is concerned, and `verifyZip` (zip verify),
// while Python would run or read what was slipped in.

jest.setTimeout(120_000);

const PY = python();
const itPython = PY ? it : it.skip;
if (!PY) console.warn("the parts that run crafted PEX files with Python are skipped: no python3 interpreter found");

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-pex-crafted-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const WHEEL = "memo-1.0-py3-none-any.whl";
const MODULE = `.deps/${WHEEL}/memo/__init__.py`;
let wheel: string;
const pexes: Record<"split" | "flat", Buffer> = { split: Buffer.alloc(0), flat: Buffer.alloc(0) };

beforeAll(async () => {
  wheel = await craftWheel(path.join(tmp, "wheels"), WHEEL, { files: { "memo/__init__.py": "VALUE = 'memo'\n" + "# padding\n".repeat(200) } });
  for (const structure of ["split", "flat"] as const) {
    const out = path.join(tmp, `good-${structure}.pex`);
    await buildPex(out, { wheels: [wheel], structure, verifiedWheelsCache: false });
    pexes[structure] = fs.readFileSync(out);
  }
});

let n = 0;
function write(bytes: Buffer): string {
  const file = path.join(tmp, `crafted-${++n}.pex`);
  fs.writeFileSync(file, bytes, { mode: 0o755 });
  return file;
}

/** PEX-INFO of a PEX file's bytes, and the length of its bulk zip (split layout). */
async function infoOf(bytes: Buffer): Promise<{ info: ReturnType<typeof parsePexInfo>; bulkLength: number }> {
  const r = await ZipReader.open(bufferSource(bytes));
  const info = parsePexInfo((await r.readEntry("PEX-INFO")).toString("utf8"));
  await r.close();
  return { info, bulkLength: depsArchive(info)?.length ?? 0 };
}

const problems = async (file: string) => (await verifyPex(file)).checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
const zipVerify = (file: string) => verifyZip(bufferSource(fs.readFileSync(file), file));
const runPex = (file: string, args: string[]) => run(PY!, [file, ...args], { env: cleanEnv({ PEX_ROOT: path.join(tmp, "pex-root") }) });

it("the PEX files as built verify, inspect and zip-verify (both zips of the split one)", async () => {
  for (const structure of ["split", "flat"] as const) {
    const file = write(pexes[structure]);
    const v = await verifyPex(file);
    expect(v).toMatchObject({ ok: true, problems: [] });
    expect(v.checks.filter((c) => ["layout", "runtime"].includes(c.name))).toEqual([
      { name: "layout", ok: true },
      { name: "runtime", ok: true },
    ]);
    expect((await inspectPex(file)).distributions.map((d) => d.wheel)).toEqual([WHEEL]);
    expect((await zipVerify(file)).zips).toHaveLength(structure === "split" ? 2 : 1);
  }
});

describe.each(["split", "flat"] as const)("a %s PEX", (structure) => {
  itPython("with a hidden __main__.py, the end record's count unchanged: Python runs it, every check refuses it", async () => {
    const file = write(addHiddenEntry(pexes[structure], "__main__.py", Buffer.from("print('HIDDEN MAIN RAN')\n")));
    // zipfile reads the directory by its size and zipimport until the records stop: both see it.
    expect(runPython("import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read('__main__.py').decode())", [file]).trim()).toBe("print('HIDDEN MAIN RAN')");
    const ran = await runPex(file, ["-c", "print('the real PEX')"]);
    expect(ran.stdout.trim()).toBe("HIDDEN MAIN RAN");
    expect(await problems(file)).toEqual([expect.stringMatching(/^open: .*corrupt central directory: the central directory holds more records than the \d+ its end record declares \(hidden entries\)/)]);
    await expect(inspectPex(file)).rejects.toMatchObject({ code: "ERR_CORRUPT_ZIP" });
    await expect(zipVerify(file)).rejects.toMatchObject({ code: "ERR_CORRUPT_ZIP" });
  });

  itPython("with a modified __main__.py in a consistent zip: Python runs it, verify refuses it", async () => {
    const stub = mainStub();
    const evil = Buffer.from("import sys\nprint('MODIFIED MAIN RAN')\n".padEnd(stub.length - 1, "#") + "\n");
    let file: string;
    if (structure === "split") {
      file = write(replaceStoredEntry(pexes.split, "__main__.py", evil)); // the boot zip is stored: same length, CRC patched
    } else {
      // The flat zip deflates: rewrite it, every other entry copied as it was.
      const src = write(pexes.flat);
      const reader = await ZipReader.open(src);
      const w = new ZipWriter({ prefix: "#!/usr/bin/env python3\n" });
      for (const e of reader.entries) if (e.name === "__main__.py") w.addBuffer(e.name, evil, { mode: 0o755 });
      else if (!e.isDirectory) w.addRawEntry(e.name, reader, e);
      file = (await w.writeTo(path.join(tmp, "modified-flat.pex"), { mode: 0o755 })).path;
      await reader.close();
    }
    expect((await runPex(file, ["-c", "pass"])).stdout.trim()).toBe("MODIFIED MAIN RAN");
    expect(await problems(file)).toEqual([expect.stringMatching(/^runtime: __main__\.py differs from the runtime's boot stub \(runtime of cluster-pack .*\); the PEX was modified$/)]);
    expect((await zipVerify(file)).entries).toBeGreaterThan(0); // a well-formed zip: only the runtime check can tell
  });

  it("with bytes no entry lists between two entries of the zip Python runs from, or a prefix that is not a #! line", async () => {
    const boot = lastZip(pexes[structure]);
    expect(boot.count).toBeGreaterThan(2);
    const gap = write(insertUnlistedBytes(pexes[structure], "PEX-INFO", Buffer.from("# unlisted\n")));
    await expect(inspectPex(gap)).rejects.toMatchObject({ code: "ERR_UNLISTED_DATA", message: expect.stringContaining("11 bytes") });
    expect(await problems(gap)).toEqual([expect.stringMatching(/^layout: .*11 bytes at offset \d+ \(after entry .*, before PEX-INFO\) belong to no entry/)]);
    await expect(zipVerify(gap)).rejects.toMatchObject({ code: "ERR_UNLISTED_DATA" });
    const junk = write(replaceBytes(pexes[structure], "#!/usr/bin/env python3\n", "MZ/usr/bin/env python3\n"));
    await expect(inspectPex(junk)).rejects.toMatchObject({ code: "ERR_UNLISTED_DATA", message: expect.stringContaining('not one "#!" line') });
    await expect(zipVerify(junk)).rejects.toMatchObject({ code: "ERR_UNLISTED_DATA" });
  });
});

describe("the body of a split PEX (the bulk zip before the boot zip)", () => {
  it("with a byte flipped: zip verify and pex verify refuse it (a check of the boot zip alone passed it)", async () => {
    const { bulkLength } = await infoOf(pexes.split);
    const reader = await ZipReader.open(bufferSource(pexes.split.subarray(0, bulkLength)));
    const span = await reader.rawSpan(MODULE);
    await reader.close();
    const flipped = Buffer.from(pexes.split);
    flipped[span.dataOffset + 3]! ^= 0x20;
    const file = write(flipped);
    await expect(zipVerify(file)).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_(CRC_MISMATCH|CORRUPT_ENTRY|SIZE_MISMATCH)$/) });
    expect(await problems(file)).toEqual([expect.stringMatching(/^files memo-1\.0-py3-none-any\.whl: /)]);
    // The boot zip alone (what zip verify checked before) is intact.
    expect((await verifyZip(bufferSource(pexes.split.subarray(bulkLength)))).entries).toBeGreaterThan(0);
  });

  it("with a '../' entry name: zip verify, pex verify and pex inspect refuse it", async () => {
    const file = write(replaceBytes(pexes.split, MODULE, `../../${MODULE.slice(6)}`));
    await expect(zipVerify(file)).rejects.toMatchObject({ code: "ERR_UNSAFE_ENTRY_NAME", message: expect.stringContaining("'..'") });
    await expect(inspectPex(file)).rejects.toMatchObject({ code: "ERR_UNSAFE_ENTRY_NAME" });
    expect(await problems(file)).toEqual([expect.stringMatching(/^open: .*is unsafe/)]);
  });
});

it("a runtime rewritten together with the hashes PEX-INFO keeps of it is not the runtime PEX-INFO names", async () => {
  // The attacker's full rewrite: a changed boot.py, bootstrap_hash and pex_hash recomputed.
  const { info, bulkLength } = await infoOf(pexes.split);
  const boot = await ZipReader.open(bufferSource(pexes.split.subarray(bulkLength)));
  const w = new ZipWriter({ compress: false });
  const bootFiles: [string, string][] = [];
  for (const e of boot.entries) {
    if (e.isDirectory || e.name === "PEX-INFO") continue;
    let data = await boot.readEntry(e);
    if (e.name.endsWith("/boot.py")) data = Buffer.concat([data, Buffer.from("\nprint('TAMPERED RUNTIME')\n")]);
    if (e.name.startsWith(".bootstrap/")) bootFiles.push([e.name.slice(".bootstrap/".length), createHash("sha256").update(data).digest("hex")]);
    w.addBuffer(e.name, data, { mode: e.mode });
  }
  await boot.close();
  info.bootstrapHash = contentHash(bootFiles);
  info.pexHash = computePexHash(info);
  w.addBuffer("PEX-INFO", formatPexInfo(info));
  const newBoot = fs.readFileSync((await w.writeTo(path.join(tmp, "tampered-boot.zip"))).path);
  const tampered = write(Buffer.concat([pexes.split.subarray(0, bulkLength), newBoot]));
  expect(await problems(tampered)).toEqual([expect.stringMatching(/^runtime: PEX-INFO names a runtime \(bootstrap_hash [0-9a-f]{40}, cluster-pack .*\) that this cluster-pack .* does not ship/)]);
  expect((await zipVerify(tampered)).zips).toHaveLength(2);
});
