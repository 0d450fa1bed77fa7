import { spawnSync } from "node:child_process";
import { pyenvPythons } from "@cluster-pack/wheel/test-kit/wheels";
import { RUNTIME_DIR } from "./index";

// Pure logic of the Python runtime (option parsing, wheel tags, interpreter constraints),
// run by each real interpreter.
jest.setTimeout(300_000);

const SCRIPT = `
import json, sys
sys.path.insert(0, sys.argv[1])
from _cluster_pack_pex import interpreter, tags
def p(argv):
    r = interpreter.parse(argv)
    return [r.options, r.mode, r.target, r.args, r.raw is not None]
major, minor = sys.version_info[:2]
out = {
  "parse": [p(a) for a in json.loads(sys.argv[2])],
  "first_tag": tags.sys_tags()[0],
  "has_abi3": "cp%d%d-abi3-linux_x86_64" % (major, minor) in tags.sys_tags(),
  "has_any": "py3-none-any" in tags.sys_tags(),
  "best": tags.best_wheels(["six-1.16.0-py2.py3-none-any.whl", "np-1-cp%d%d-cp%d%d-manylinux_2_17_x86_64.manylinux2014_x86_64.whl" % (major, minor, major, minor), "np-1-cp38-cp38-manylinux_2_17_x86_64.whl", "win-1-cp311-cp311-win_amd64.whl"]),
  "constraints": [tags.check_constraints(c) for c in (["CPython>=3.8"], [">=3.99"], ["PyPy"], ["CPython==%d.%d.*" % (major, minor)], ["CPython~=%d.%d" % (major, minor)], ["CPython!=%d.%d.*" % (major, minor), "CPython>=3"], [])],
}
print(json.dumps(out))
`;

const ARGS = [
  ["-W", "ignore", "-c", "x", "y"],
  ["-Wignore", "-uBc", "code"],
  ["-m", "mod", "-c"],
  ["-X"],
  ["script.py", "-u"],
  ["--", "-weird.py"],
  ["-", "a"],
  ["--check-hash-based-pycs", "always", "-c", "1"],
  ["-OO", "-X", "importtime", "-i"],
];

const pythons = pyenvPythons();
describe.each(pythons.length ? pythons : [{ version: "python3", python: "python3" }])("runtime logic on Python $version", ({ version, python }) => {
  it("parses command lines like CPython and computes tags and constraints", () => {
    const r = spawnSync(python, ["-c", SCRIPT, RUNTIME_DIR, JSON.stringify(ARGS)], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    const out = JSON.parse(r.stdout);
    expect(out.parse).toEqual([
      [["-W", "ignore"], "c", "x", ["y"], false],
      [["-W", "ignore", "-u", "-B"], "c", "code", [], false],
      [[], "m", "mod", ["-c"], false],
      [[], null, null, [], true],
      [[], "script", "script.py", ["-u"], false],
      [[], "script", "-weird.py", [], false],
      [[], "stdin", null, ["a"], false],
      [["--check-hash-based-pycs", "always"], "c", "1", [], false],
      [["-O", "-O", "-X", "importtime", "-i"], null, null, [], false],
    ]);
    const [, minor] = version === "python3" ? ["3", "11"] : version.split(".");
    expect(out.first_tag).toMatch(new RegExp(`^cp3${minor}-cp3${minor}-manylinux_2_\\d+_x86_64$`));
    expect(out.has_abi3).toBe(true);
    expect(out.has_any).toBe(true);
    expect(out.best[0]).toEqual([`np-1-cp3${minor}-cp3${minor}-manylinux_2_17_x86_64.manylinux2014_x86_64.whl`, "six-1.16.0-py2.py3-none-any.whl"]);
    expect(Object.keys(out.best[1])).toEqual(["win"]);
    expect(out.constraints).toEqual([true, false, false, true, true, true, true]);
  });
});
