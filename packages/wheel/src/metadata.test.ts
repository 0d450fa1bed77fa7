import { parseCoreMetadata, parseEntryPoints, parseEntryPointValue, parseWheelInfo, scriptLauncher } from "./index";

describe("metadata", () => {
  it("parses core metadata with repeated and continued headers and a body", () => {
    const m = parseCoreMetadata("Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nRequires-Dist: a>=1\nRequires-Dist: b; extra == 'x'\nLicense: line one\n  line two\nRequires-Python: >=3.8\n\nThe description.\n");
    expect(m).toMatchObject({ name: "foo", version: "1.0", requiresPython: ">=3.8", requiresDist: ["a>=1", "b; extra == 'x'"] });
    expect(m.headers.license).toEqual(["line one\nline two"]);
    expect(m.description).toBe("The description.\n");
    expect(() => parseCoreMetadata("Version: 1\n")).toThrow(/Name or Version/);
  });

  it("parses WHEEL and refuses another major Wheel-Version", () => {
    expect(parseWheelInfo("Wheel-Version: 1.0\nGenerator: bdist_wheel\nRoot-Is-Purelib: false\nTag: cp311-cp311-linux_x86_64\n")).toEqual({
      wheelVersion: [1, 0],
      rootIsPurelib: false,
      tags: ["cp311-cp311-linux_x86_64"],
      generator: "bdist_wheel",
    });
    expect(() => parseWheelInfo("Wheel-Version: 2.0\n", "x.whl")).toThrow(/x.whl: Wheel-Version 2.0 is not supported/);
  });

  it("parses entry points and launchers", () => {
    const ep = parseEntryPoints("[console_scripts]\nfoo = foo.cli:main\nbar=bar:run [extra]\n\n[gui_scripts]\ng = g.app:App.start\n");
    expect(ep).toEqual({ console_scripts: { foo: "foo.cli:main", bar: "bar:run [extra]" }, gui_scripts: { g: "g.app:App.start" } });
    expect(parseEntryPointValue("bar:run [extra]")).toEqual({ module: "bar", attr: "run", extras: ["extra"] });
    const text = scriptLauncher("g.app:App.start", "/usr/bin/python3");
    expect(text.split("\n")[0]).toBe("#!/usr/bin/python3");
    expect(text).toContain("from g.app import App");
    expect(text).toContain("sys.exit(App.start())");
    expect(scriptLauncher("a:b", "/opt/my python/bin/python")).toMatch(/^#!\/bin\/sh\n'''exec' '\/opt\/my python\/bin\/python' "\$0" "\$@"/);
    expect(() => scriptLauncher("a", "python")).toThrow(/module:function/);
  });
});
