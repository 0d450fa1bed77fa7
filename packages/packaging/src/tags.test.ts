import { parseWheelFilename } from "./filename";
import { macPlatforms, parseTagSet, platformTags, targetTags, tagToString, TagRanking } from "./tags";
import { askPackaging, findPackagingPython } from "./test-kit/oracle";

const python = findPackagingPython();
const diff = python ? describe : describe.skip;
if (!python) console.warn("Skipping tag differential tests: no python3 with packaging>=26 (set CP_TEST_PYTHON)");

describe("PEP 425 tags", () => {
  test("compressed tag sets expand", () => {
    expect(parseTagSet("py2.py3-none-any").map(tagToString)).toEqual(["py2-none-any", "py3-none-any"]);
    expect(parseTagSet("CP311-CP311-Manylinux_2_17_X86_64").map(tagToString)).toEqual(["cp311-cp311-manylinux_2_17_x86_64"]);
    const w = parseWheelFilename("numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
    expect(w.tags.map((t) => t.platform)).toEqual(["manylinux_2_17_x86_64", "manylinux2014_x86_64"]);
  });

  test("a tag is letters, digits and '_': separators, dots and empty tags are refused", () => {
    for (const bad of ["py3-none-any/x", "py3-none-x/../y", "py3-none-..", "py3..py2-none-any", "py3-none-", "py3-none-any-extra", "py3-none-a\\b", "py3-none-an y", "py3-none-any\u0000"]) {
      expect(() => parseTagSet(bad)).toThrow(/Invalid compatibility tag/);
    }
  });

  test("manylinux expands with PEP 600 legacy aliases, then linux", () => {
    const p = platformTags("manylinux_2_28_x86_64");
    expect(p[0]).toBe("manylinux_2_28_x86_64");
    expect(p.indexOf("manylinux2014_x86_64")).toBe(p.indexOf("manylinux_2_17_x86_64") + 1);
    expect(p.indexOf("manylinux2010_x86_64")).toBe(p.indexOf("manylinux_2_12_x86_64") + 1);
    expect(p.slice(-3)).toEqual(["manylinux_2_5_x86_64", "manylinux1_x86_64", "linux_x86_64"]);
    expect(platformTags("manylinux2014_aarch64")).toEqual(["manylinux_2_17_aarch64", "manylinux2014_aarch64", "linux_aarch64"]);
    expect(platformTags("musllinux_1_2_x86_64")).toEqual(["musllinux_1_2_x86_64", "musllinux_1_1_x86_64", "musllinux_1_0_x86_64", "linux_x86_64"]);
    expect(platformTags("win_amd64")).toEqual(["win_amd64"]);
  });

  test("ranking prefers the target's earlier tags and rejects others", () => {
    const r = new TagRanking(targetTags({ implementation: "cp", pythonVersion: [3, 11], platforms: platformTags("manylinux_2_28_x86_64") }));
    const native = r.bestRank(parseTagSet("cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"));
    const abi3 = r.bestRank(parseTagSet("cp38-abi3-manylinux_2_17_x86_64"));
    const pure = r.bestRank(parseTagSet("py3-none-any"));
    expect(native).toBeGreaterThanOrEqual(0);
    expect(native).toBeLessThan(abi3);
    expect(abi3).toBeLessThan(pure);
    expect(r.bestRank(parseTagSet("cp312-cp312-manylinux_2_17_x86_64"))).toBe(-1);
    expect(r.bestRank(parseTagSet("cp311-cp311-manylinux_2_34_x86_64"))).toBe(-1);
    expect(r.bestRank(parseTagSet("cp311-cp311-win_amd64"))).toBe(-1);
  });

  test("free-threaded CPython gets abi3t, not abi3", () => {
    const tags = targetTags({ implementation: "cp", pythonVersion: [3, 13], abis: ["cp313t"], platforms: ["linux_x86_64"] }).map(tagToString);
    expect(tags[0]).toBe("cp313-cp313t-linux_x86_64");
    expect(tags.some((t) => t.includes("-abi3-"))).toBe(false);
    expect(tags).toContain("cp313-abi3t-linux_x86_64");
  });
});

diff("tags differential against packaging", () => {
  test("cpython_tags + compatible_tags for explicit platforms", () => {
    const cases: [number[], string[], string[]][] = [
      [[3, 11], ["cp311"], platformTags("manylinux_2_28_x86_64")],
      [[3, 8], ["cp38"], platformTags("musllinux_1_2_aarch64")],
      [[3, 12], ["cp312"], ["win_amd64"]],
      [[3, 13], ["cp313"], platformTags("macosx_14_0_arm64")],
      [[3, 13], ["cp313t"], ["linux_x86_64"]],
    ];
    const expected = askPackaging<string[]>(python!, "cpython_tags", cases);
    cases.forEach(([ver, abis, platforms], i) => {
      expect(targetTags({ implementation: "cp", pythonVersion: [ver[0]!, ver[1]!], abis, platforms }).map(tagToString)).toEqual(expected[i]);
    });
  });
  test("mac_platforms", () => {
    const cases: [number[], string][] = [
      [[10, 15], "x86_64"],
      [[11, 0], "arm64"],
      [[14, 2], "x86_64"],
      [[10, 9], "i386"],
    ];
    const expected = askPackaging<string[]>(python!, "mac_platforms", cases);
    cases.forEach(([v, arch], i) => expect(macPlatforms([v[0]!, v[1]!], arch)).toEqual(expected[i]));
  });
});
