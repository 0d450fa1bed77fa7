import { spawnSync } from "node:child_process";
import { computePexHash, formatPexInfo, parsePexInfo, pythonJsonDumps } from "./index";

// A PEX-INFO as pex 2.x writes it (field set of pex/pex_info.py as_json_dict + dump()).
const PEX_WRITTEN = {
  bootstrap_hash: "3c5ba5c1bd2c5c5ee2f4b5d4bbd0e1c0e0c1a5f9",
  build_properties: { class: "CPython", pex_version: "2.1.163", platform: "linux_x86_64", version: [3, 11, 7] },
  code_hash: "da39a3ee5e6b4b0d3255bfef95601890afd80709",
  deps_are_wheel_files: false,
  distributions: { "six-1.16.0-py2.py3-none-any.whl": "0f5d4f5a9c3e7b2c1d9e8f7a6b5c4d3e2f1a0b9c", "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl": "1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5" },
  emit_warnings: true,
  entry_point: null,
  excluded: [],
  ignore_errors: false,
  includes_tools: false,
  inherit_path: "false",
  inject_args: [],
  inject_env: {},
  inject_python_args: [],
  interpreter_constraints: ["CPython<3.13,>=3.8"],
  overridden: [],
  pex_path: null,
  requirements: ["numpy", "six"],
  script: null,
  strip_pex_env: true,
  venv: false,
  venv_bin_path: "false",
  venv_hermetic_scripts: true,
  venv_system_site_packages: false,
};

describe("PEX-INFO", () => {
  it("formats exactly like Python's json.dumps(sort_keys=True), non-ASCII included", () => {
    const value = { b: [1, 2, { z: null, a: true }], a: "é\u2028\"\\\n\t\u0001", ü: "𝄞", n: -3 };
    const py = spawnSync("python3", ["-c", "import json,sys; sys.stdout.write(json.dumps(json.loads(sys.stdin.read()), sort_keys=True))"], { input: JSON.stringify(value), encoding: "utf8" });
    expect(pythonJsonDumps(value)).toBe(py.stdout);
  });

  it("reads a PEX-INFO written by pex and recomputes pex_hash as pex does", () => {
    const py = spawnSync("python3", ["-c", "import json,hashlib,sys; d=json.loads(sys.stdin.read()); h=hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest(); d['pex_hash']=h; sys.stdout.write(json.dumps(d, sort_keys=True))"], {
      input: JSON.stringify(PEX_WRITTEN),
      encoding: "utf8",
    });
    const info = parsePexInfo(py.stdout);
    expect(info.distributions["six-1.16.0-py2.py3-none-any.whl"]).toBe("0f5d4f5a9c3e7b2c1d9e8f7a6b5c4d3e2f1a0b9c");
    expect(info.requirements).toEqual(["numpy", "six"]);
    expect(info.interpreterConstraints).toEqual(["CPython<3.13,>=3.8"]);
    expect(info.entryPoint).toBeUndefined();
    expect(info.inheritPath).toBe("false");
    expect(computePexHash(info)).toBe(info.pexHash);
    // Unknown fields survive a round trip byte for byte.
    expect(formatPexInfo(info)).toBe(py.stdout);
  });

  it("accepts old and odd forms and rejects garbage with the file name", () => {
    expect(parsePexInfo('{"requirements": [["six", null, false]], "inherit_path": true}').requirements).toEqual(["six"]);
    expect(parsePexInfo('{"inherit_path": true}').inheritPath).toBe("prefer");
    expect(() => parsePexInfo("nope", "x.pex: PEX-INFO")).toThrow(/x.pex: PEX-INFO: PEX-INFO is not valid JSON/);
    expect(() => parsePexInfo('{"requirements": "six"}')).toThrow(/must be a list/);
  });

  it("refuses distributions keys and hashes the runtime would turn into paths outside PEX_ROOT", () => {
    const sha1 = "ab".repeat(20);
    const parse = (fields: Record<string, unknown>) => () => parsePexInfo(JSON.stringify(fields), "x.pex: PEX-INFO");
    expect(parse({ distributions: { "../../../evil-1.0-py3-none-any.whl": sha1 } })).toThrow(
      `x.pex: PEX-INFO: PEX-INFO distributions key refused: Unsafe distribution file name "../../../evil-1.0-py3-none-any.whl": it contains '/'; a wheel or sdist file name is a single path component. The PEX is damaged or malicious.`,
    );
    expect(parse({ distributions: { "six-1.0.tar.gz": sha1 } })).toThrow(/distributions key refused: "six-1.0.tar.gz" is an sdist, not a wheel/);
    expect(parse({ distributions: { "six-1.16.0-py2.py3-none-any.whl": "../.." } })).toThrow(`x.pex: PEX-INFO: PEX-INFO fingerprint of six-1.16.0-py2.py3-none-any.whl is "../..", not 40 hex digits (sha1). The PEX is damaged or malicious.`);
    expect(parse({ pex_hash: "../../tmp" })).toThrow(/PEX-INFO field pex_hash is "..\/..\/tmp", not 40 hex digits/);
    expect(parse({ code_hash: "x" })).toThrow(/field code_hash/);
    expect(parsePexInfo(JSON.stringify({ distributions: { "six-1.16.0-py2.py3-none-any.whl": sha1 }, pex_hash: sha1 })).pexHash).toBe(sha1);
  });
});
