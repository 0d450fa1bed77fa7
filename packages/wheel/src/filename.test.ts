import { escapeName, normalizeName, parseWheelFilename } from "./index";

describe("parseWheelFilename", () => {
  it("parses name, version, build tag and expands compressed tag sets", () => {
    const w = parseWheelFilename("/x/numpy-1.26.4-1abc-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
    expect(w).toMatchObject({ name: "numpy", version: "1.26.4", buildTag: "1abc", pythonTags: ["cp311"], abiTags: ["cp311"] });
    expect(w.tags).toEqual(["cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64"]);
    const s = parseWheelFilename("six-1.16.0-py2.py3-none-any.whl");
    expect(s.buildTag).toBeUndefined();
    expect(s.tags).toEqual(["py2-none-any", "py3-none-any"]);
    expect(parseWheelFilename("typing_extensions-4.9.0-py3-none-any.whl").normalizedName).toBe("typing-extensions");
  });

  it("rejects what is not a wheel name, naming it", () => {
    expect(() => parseWheelFilename("six-1.16.0.tar.gz")).toThrow(/six-1.16.0.tar.gz is not a wheel/);
    expect(() => parseWheelFilename("six-py3-none-any.whl")).toThrow(/PEP 427/);
    expect(() => parseWheelFilename("six-1.0-x1-py3-none-any.whl")).toThrow(/build tag/);
  });

  it("normalises and escapes names", () => {
    expect(normalizeName("Foo.Bar__baz")).toBe("foo-bar-baz");
    expect(escapeName("foo-bar.baz")).toBe("foo_bar_baz");
  });
});
