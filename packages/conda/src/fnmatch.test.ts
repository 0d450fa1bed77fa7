import { spawnSync } from "node:child_process";
import { applyPathFilters, fnmatchToRegExp } from "./fnmatch";

describe("fnmatchToRegExp", () => {
  test("Python fnmatch semantics: * crosses /, classes, negation, literal brackets", () => {
    const m = (p: string, s: string) => fnmatchToRegExp(p).test(s);
    expect(m("*.pyc", "lib/python3.11/x/__pycache__/a.pyc")).toBe(true);
    expect(m("lib/*", "lib/a/b/c")).toBe(true);
    expect(m("bin/?", "bin/ab")).toBe(false);
    expect(m("bin/[ab]*", "bin/bx")).toBe(true);
    expect(m("bin/[!ab]*", "bin/bx")).toBe(false);
    expect(m("a[", "a[")).toBe(true);
    expect(m("a.b", "axb")).toBe(false);
    expect(m("(x)+", "(x)+")).toBe(true);
  });

  test("agrees with Python's fnmatch.fnmatchcase", () => {
    const patterns = ["*.py", "lib/*/site-packages/*", "bin/python?.*", "[a-c]*", "[!x]?z", "*[]]*", "share/*/[0-9]*", "a*b*c", "**/x", "[*]", "[]", "[!]]x"];
    const names = ["a.py", "lib/python3.11/site-packages/six.py", "bin/python3.11", "bz", "yyz", "x]y", "share/doc/1.txt", "aXbYc", "q/x", "*", "]x", "[]", "!x"];
    const py = spawnSync(
      "python3",
      ["-c", "import fnmatch, json, sys; p, n = json.load(sys.stdin); print(json.dumps([[fnmatch.fnmatchcase(x, q) for x in n] for q in p]))"],
      { input: JSON.stringify([patterns, names]), encoding: "utf8" },
    );
    const expected = JSON.parse(py.stdout) as boolean[][];
    patterns.forEach((p, i) => names.forEach((n, j) => expect([p, n, fnmatchToRegExp(p).test(n)]).toEqual([p, n, expected[i]![j]])));
  });
});

test("applyPathFilters: in order, include brings back from the whole set, order kept", () => {
  const paths = ["a.py", "a.pyc", "doc/x.txt", "doc/y.md", "bin/tool"];
  expect(applyPathFilters(paths, [{ exclude: "*.pyc" }])).toEqual(["a.py", "doc/x.txt", "doc/y.md", "bin/tool"]);
  expect(applyPathFilters(paths, [{ exclude: "doc/*" }, { include: "*.md" }])).toEqual(["a.py", "a.pyc", "doc/y.md", "bin/tool"]);
  expect(applyPathFilters(paths, [{ include: "*.md" }, { exclude: "doc/*" }])).toEqual(["a.py", "a.pyc", "bin/tool"]);
  expect(applyPathFilters(paths, [])).toEqual(paths);
});
