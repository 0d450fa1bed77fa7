import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pythonInterpreter, pythonInterpreters } from "@cluster-pack/io/test-kit";
import { Marker, parseTagSet, platformTags, tagToString, targetTags } from "@cluster-pack/packaging";
import { explicitTarget, probeInterpreter, rankingFor } from "./target";

const interpreters = pythonInterpreters({ minimum: "3.0" }).map((p) => p.python);

describe("explicit targets", () => {
  test("linux cp311 from any OS", () => {
    const t = explicitTarget({ python: "3.11", platform: "manylinux_2_28_x86_64" });
    expect(t.markers.sys_platform).toBe("linux");
    expect(t.markers.python_full_version).toBe("3.11.0");
    expect(new Marker('python_version >= "3.11" and platform_machine == "x86_64"').evaluate(t.markers)).toBe(true);
    const r = rankingFor(t);
    expect(r.bestRank(parseTagSet("cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"))).toBeGreaterThanOrEqual(0);
    expect(r.bestRank(parseTagSet("cp311-cp311-macosx_11_0_arm64"))).toBe(-1);
  });
  test("windows and mac markers", () => {
    expect(explicitTarget({ python: "3.12", platform: "win_amd64" }).markers).toMatchObject({ os_name: "nt", sys_platform: "win32", platform_machine: "AMD64" });
    expect(explicitTarget({ python: "3.12.1", platform: "macosx_11_0_arm64" }).markers).toMatchObject({ sys_platform: "darwin", python_full_version: "3.12.1" });
  });
  test("bad input names the fix", () => {
    expect(() => explicitTarget({ python: "three" })).toThrow(/Invalid target Python version "three"/);
    expect(() => explicitTarget({ python: "3.11", platform: "solaris_sparc" })).toThrow(/Unsupported target platform "solaris_sparc"/);
  });
});

(interpreters.length ? describe : describe.skip)("probing real interpreters", () => {
  test.each(interpreters)("%s: probe agrees with its own packaging and with computed tags", async (py) => {
    const t = await probeInterpreter(py);
    expect(t.markers.python_version).toMatch(/^3\.\d+$/);
    expect(t.tags.length).toBeGreaterThan(10);
    // The tags we compute from the same facts agree with the interpreter's own sys_tags,
    // for the platforms it reports (glibc from confstr).
    const [maj, min] = t.markers.python_version.split(".").map(Number) as [number, number];
    const first = t.tags[0]!;
    const computed = targetTags({ implementation: "cp", pythonVersion: [maj, min], abis: [first.abi], platforms: platformTags(first.platform) }).map(tagToString);
    expect(computed).toEqual(t.tags.map(tagToString));
  });
  test("probe cache is used on the second call", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cp-probe-"));
    try {
      const py = interpreters[0]!;
      const a = await probeInterpreter(py, { cacheDir: dir });
      expect(fs.readdirSync(path.join(dir, "probes-v2"))).toHaveLength(1);
      const b = await probeInterpreter(py, { cacheDir: dir });
      expect(b.tags.map(tagToString)).toEqual(a.tags.map(tagToString));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  test("the probe cache is keyed by the interpreter's identity: a same-size rewrite with its mtime restored is probed again", async () => {
    // Two interpreters whose paths have the same length (a same-size rewrite of the wrapper).
    const [a, b] = [pythonInterpreter("3.11")?.python, pythonInterpreter("3.12")?.python];
    if (!a || !b || a.length !== b.length) return console.warn("skipping: needs pyenv 3.11 and 3.12 at paths of the same length");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cp-probe-"));
    try {
      const py = path.join(dir, "python3");
      fs.writeFileSync(py, `#!/bin/sh\nexec ${a} "$@"\n`, { mode: 0o755 });
      // A file changed in the last 2 s is not recorded (racy rule): wait it out once.
      await new Promise((r) => setTimeout(r, 2100));
      expect((await probeInterpreter(py, { cacheDir: dir })).markers.python_version).toBe("3.11");
      expect(fs.readdirSync(path.join(dir, "probes-v2"))).toHaveLength(1);
      execFileSync("touch", ["-r", py, `${py}.stamp`]);
      fs.writeFileSync(py, `#!/bin/sh\nexec ${b} "$@"\n`);
      execFileSync("touch", ["-r", `${py}.stamp`, py]);
      expect((await probeInterpreter(py, { cacheDir: dir })).markers.python_version).toBe("3.12");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  test("missing interpreter is a clear error", async () => {
    await expect(probeInterpreter("/nonexistent/python3")).rejects.toThrow(/was not found/);
  });
});
