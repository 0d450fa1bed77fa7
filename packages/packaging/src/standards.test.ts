import { canonicalizeName, isValidName } from "./names";
import { Version, compareVersions, sameVersion } from "./version";
import { Specifier, SpecifierSet } from "./specifiers";
import { Marker, type MarkerValues } from "./markers";
import { parseRequirement } from "./requirement";
import { ensureAscii } from "./python-json";
import { askPackaging, findPackagingPython, rng } from "./test-kit/oracle";

const python = findPackagingPython();
const diff = python ? describe : describe.skip;
if (!python) console.warn("Skipping differential tests: no python3 with packaging>=26 (set CP_TEST_PYTHON)");

// --- generators -----------------------------------------------------------------------
function genVersion(r: ReturnType<typeof rng>): string {
  const sep = () => r.pick(["", ".", "-", "_"]);
  const n = () => String(r.pick([0, 0, 1, 1, 2, 3, 10, 11, 99, 2024]));
  let s = r.next() < 0.1 ? "v" : "";
  if (r.next() < 0.1) s += `${r.int(3)}!`;
  const len = 1 + r.int(4);
  s += Array.from({ length: len }, n).join(".");
  if (r.next() < 0.3) s += sep() + r.pick(["a", "b", "rc", "c", "alpha", "beta", "pre", "preview", "RC", "A"]) + sep() + (r.next() < 0.8 ? n() : "");
  if (r.next() < 0.25) s += r.next() < 0.3 ? `-${n()}` : sep() + r.pick(["post", "rev", "r", "POST"]) + sep() + (r.next() < 0.8 ? n() : "");
  if (r.next() < 0.25) s += sep() + r.pick(["dev", "DEV"]) + sep() + (r.next() < 0.8 ? n() : "");
  if (r.next() < 0.2) s += `+${Array.from({ length: 1 + r.int(3), }, () => r.pick(["cpu", "cu118", "1", "0", "abc", "07", "x9"])).join(r.pick([".", "-", "_"]))}`;
  if (r.next() < 0.03) s = r.pick(["1.0+", "1..0", "1.0a1a1", "foo", "", " 1.0 ", "1.0.*", "1.0-", "01.02.03", "1.0.post", "1!2!3"]);
  return s;
}

function genSpec(r: ReturnType<typeof rng>): string {
  const op = r.pick(["==", "!=", "<=", ">=", "<", ">", "~=", "===", "=="]);
  let v = genVersion(r);
  if ((op === "==" || op === "!=") && r.next() < 0.3) v = v.replace(/[+].*$/, "").replace(/[^0-9.!]+.*$/, "").replace(/\.$/, "") + ".*";
  return `${op}${r.next() < 0.2 ? " " : ""}${v}`;
}

// --- names ---------------------------------------------------------------------------------
describe("PEP 503 names", () => {
  test("normalisation", () => {
    expect(canonicalizeName("Zope.Interface")).toBe("zope-interface");
    expect(canonicalizeName("a__b--c..d")).toBe("a-b-c-d");
    expect(canonicalizeName("scikit_learn")).toBe("scikit-learn");
  });
  test("validity", () => {
    expect(isValidName("numpy")).toBe(true);
    expect(isValidName("a")).toBe(true);
    expect(isValidName("-a")).toBe(false);
    expect(isValidName("a b")).toBe(false);
    expect(isValidName("a.")).toBe(false);
  });
});

// --- versions --------------------------------------------------------------------------
describe("PEP 440 versions", () => {
  test("normalisation", () => {
    expect(Version.parse("1.0.0-ALPHA.1").toString()).toBe("1.0.0a1");
    expect(Version.parse("v1.0-r4_dev").toString()).toBe("1.0.post4.dev0");
    expect(Version.parse("1!2.0+Local_Thing-1").toString()).toBe("1!2.0+local.thing.1");
    expect(Version.tryParse("1.0+")).toBeNull();
    expect(() => Version.parse("nope")).toThrow(/Invalid version "nope"/);
  });
  test("ordering", () => {
    const ordered = ["1.0.dev456", "1.0a1", "1.0a2.dev456", "1.0a12.dev456", "1.0a12", "1.0b1.dev456", "1.0b2", "1.0b2.post345.dev456", "1.0b2.post345", "1.0rc1.dev456", "1.0rc1", "1.0", "1.0+abc.5", "1.0+abc.7", "1.0+5", "1.0.post456.dev34", "1.0.post456", "1.1.dev1", "1!0.1"];
    const parsed = ordered.map((v) => Version.parse(v));
    for (let i = 0; i + 1 < parsed.length; i++) expect(compareVersions(parsed[i]!, parsed[i + 1]!)).toBe(-1);
    expect(Version.parse("1.0.0").equals(Version.parse("1"))).toBe(true);
  });
});

diff("PEP 440 differential fuzz against packaging", () => {
  const r = rng(440);
  const versions = Array.from({ length: 3000 }, () => genVersion(r));
  test("parse + normalise", () => {
    const expected = askPackaging<string | { error: string }>(python!, "version", versions);
    const mismatches = versions.filter((v, i) => {
      const e = expected[i]!;
      const ours = Version.tryParse(v)?.toString() ?? null;
      return typeof e === "string" ? ours !== e : ours !== null;
    });
    expect(mismatches).toEqual([]);
  });
  test("comparison", () => {
    const valid = versions.filter((v) => Version.tryParse(v));
    const pairs = Array.from({ length: 4000 }, () => [r.pick(valid), r.pick(valid)] as [string, string]);
    const expected = askPackaging<number>(python!, "compare", pairs);
    const mismatches = pairs.filter(([a, b], i) => compareVersions(Version.parse(a), Version.parse(b)) !== expected[i]);
    expect(mismatches).toEqual([]);
  });
  test("specifier validity and matching", () => {
    const specs = Array.from({ length: 3000 }, () => genSpec(r));
    const validity = askPackaging<boolean | { error: string }>(python!, "spec_valid", specs);
    const badValidity = specs.filter((s, i) => {
      let ours = true;
      try {
        new Specifier(s);
      } catch {
        ours = false;
      }
      return ours !== (validity[i] === true);
    });
    expect(badValidity).toEqual([]);
    const validSpecs = specs.filter((_, i) => validity[i] === true);
    const valid = versions.filter((v) => Version.tryParse(v));
    // Pairs biased towards related versions, where the edge cases live.
    const pairs: [string, string][] = [];
    for (let i = 0; i < 8000; i++) {
      const s = r.pick(validSpecs);
      const base = s.replace(/^[=!<>~]+\s*/, "").replace(/\.\*$/, "");
      const v = r.next() < 0.5 ? r.pick(valid) : r.pick([base, `${base}.post1`, `${base}+local`, `${base}a1`, `${base}.dev0`, `${base}.0`, `${base}.1`, `${base}.post1.dev1`].filter((x) => Version.tryParse(x)).concat(r.pick(valid)));
      pairs.push([s, v]);
    }
    const expected = askPackaging<boolean>(python!, "spec", pairs);
    const mismatches = pairs.filter(([s, v], i) => new Specifier(s).matches(v) !== expected[i]).map(([s, v], i) => `${s} ${v} expected ${expected[i]}`);
    expect(mismatches).toEqual([]);
  });
  test("SpecifierSet.filter pre-release policy", () => {
    const valid = versions.filter((v) => Version.tryParse(v));
    const items: [string, string[]][] = [];
    for (let i = 0; i < 1500; i++) {
      const n = r.int(3);
      const specs: string[] = [];
      while (specs.length < n) {
        const s = genSpec(r);
        try {
          new Specifier(s);
          if (!s.startsWith("===")) specs.push(s);
        } catch {
          /* skip invalid */
        }
      }
      items.push([specs.join(","), Array.from({ length: 1 + r.int(6) }, () => Version.parse(r.pick(valid)).toString())]);
    }
    const expected = askPackaging<string[]>(python!, "filter", items);
    const mismatches = items
      .map(([s, vs], i) => ({ s, vs, ours: new SpecifierSet(s).filter(vs.map((v) => Version.parse(v))).map(String), theirs: expected[i] }))
      .filter((m) => JSON.stringify(m.ours) !== JSON.stringify(m.theirs));
    expect(mismatches).toEqual([]);
  });
});

// --- markers & requirements ----------------------------------------------------------------
const LINUX_311: MarkerValues = {
  implementation_name: "cpython",
  implementation_version: "3.11.7",
  os_name: "posix",
  platform_machine: "x86_64",
  platform_release: "6.1.0-18-amd64",
  platform_system: "Linux",
  platform_version: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)",
  python_full_version: "3.11.7",
  platform_python_implementation: "CPython",
  python_version: "3.11",
  sys_platform: "linux",
};

describe("PEP 508 markers and requirements", () => {
  test("evaluation", () => {
    expect(new Marker('python_version < "3.12" and sys_platform == "linux"').evaluate(LINUX_311)).toBe(true);
    expect(new Marker('python_version >= "3.12" or os_name == "nt"').evaluate(LINUX_311)).toBe(false);
    expect(new Marker('extra == "Socks_Proxy"').evaluate({ ...LINUX_311, extra: "socks-proxy" })).toBe(true);
    expect(new Marker('"linux" in sys_platform').evaluate(LINUX_311)).toBe(true);
    expect(() => new Marker('python_version <').evaluate(LINUX_311)).toThrow(/Expected a marker variable or quoted string/);
  });
  test("requirements", () => {
    const r = parseRequirement("Foo_Bar[Security, socks] (>=1.0,<2) ; python_version < '3.12'");
    expect(r.key).toBe("foo-bar");
    expect(r.extras).toEqual(["security", "socks"]);
    expect(r.specifier).toBe(">=1.0,<2");
    expect(r.marker?.toString()).toBe('python_version < "3.12"');
    const u = parseRequirement("pkg @ https://example.com/pkg-1.0-py3-none-any.whl ; os_name == 'posix'");
    expect(u.url).toBe("https://example.com/pkg-1.0-py3-none-any.whl");
    expect(() => parseRequirement("foo >= 1.0 bar")).toThrow(/Expected comma \(within version specifier\), semicolon/);
    expect(() => parseRequirement("foo>=1.0.*")).toThrow(/.\* suffix can only be used/);
  });
});

diff("PEP 508 differential fuzz against packaging", () => {
  const r = rng(508);
  const vars = ["python_version", "python_full_version", "os_name", "sys_platform", "platform_release", "platform_system", "platform_machine", "implementation_name", "implementation_version", "platform_python_implementation", "extra", "os.name", "python_implementation"];
  const values: Record<string, string[]> = {
    python_version: ["3.11", "3.8", "3.12", "3", "3.11.*", "2.7", "foo"],
    python_full_version: ["3.11.7", "3.11.0", "3.12.0rc1", "3.11", "3.11.7+"],
    os_name: ["posix", "nt", "pos"],
    sys_platform: ["linux", "win32", "darwin", "lin"],
    platform_release: ["6.1.0-18-amd64", "6.1", "5.4.0"],
    platform_system: ["Linux", "Windows", "Darwin"],
    platform_machine: ["x86_64", "aarch64", "AMD64"],
    implementation_name: ["cpython", "pypy"],
    implementation_version: ["3.11.7", "3.11", "7.3.1"],
    platform_python_implementation: ["CPython", "PyPy"],
    extra: ["test", "Socks_Proxy", "socks-proxy", ""],
  };
  const ops = ["==", "!=", "<", "<=", ">", ">=", "~=", "===", "in", "not in"];
  function atom(): string {
    const v = r.pick(vars);
    const key = v.replace(".", "_").replace(/^python_implementation$/, "platform_python_implementation");
    const val = r.pick(values[key] ?? ["x"]);
    const q = r.next() < 0.5 ? `"${val}"` : `'${val}'`;
    return r.next() < 0.8 ? `${v} ${r.pick(ops)} ${q}` : `${q} ${r.pick(ops)} ${v}`;
  }
  function expr(depth: number): string {
    const n = 1 + r.int(3);
    const parts = Array.from({ length: n }, () => (depth > 0 && r.next() < 0.3 ? `(${expr(depth - 1)})` : atom()));
    return parts.reduce((a, b) => `${a} ${r.pick(["and", "or"])} ${b}`);
  }
  // Deliberate difference: packaging normalises extra names (PEP 685) only in top-level
  // comparisons, not inside parentheses; we normalise everywhere as PEP 685 requires.
  const nestedUnnormalisedExtra = (m: string) => /\(.*Socks_Proxy/.test(m);
  test("marker evaluation", () => {
    const envs: MarkerValues[] = [LINUX_311, { ...LINUX_311, python_version: "3.8", python_full_version: "3.8.18", extra: "test" }, { ...LINUX_311, sys_platform: "win32", os_name: "nt", platform_system: "Windows", extra: "socks_proxy" }];
    const items: [string, MarkerValues][] = Array.from({ length: 3000 }, () => [expr(2), r.pick(envs)]);
    const expected = askPackaging<boolean | { error: string }>(python!, "marker", items);
    const mismatches = items
      .map(([m, env], i) => {
        let ours: boolean | string;
        try {
          ours = new Marker(m).evaluate(env);
        } catch (e) {
          ours = "error";
        }
        const e = expected[i]!;
        return { m, env: env.extra, ours, theirs: typeof e === "boolean" ? e : "error" };
      })
      .filter((x) => x.ours !== x.theirs && !nestedUnnormalisedExtra(x.m));
    expect(mismatches).toEqual([]);
  });
  test("requirement parsing", () => {
    const names = ["foo", "Foo_Bar", "a.b-c", "x1", "-bad", "a b"];
    const items: string[] = [];
    for (let i = 0; i < 1500; i++) {
      let s = r.pick(names);
      if (r.next() < 0.3) s += r.pick(["[a]", "[ A_b , c ]", "[]", "[a b]", "[a,]"]);
      if (r.next() < 0.15) s += ` @ ${r.pick(["https://x.org/p-1.0.tar.gz", "file:///tmp/a.whl"])}${r.next() < 0.5 ? " " : ""}`;
      else if (r.next() < 0.7) {
        const specs = Array.from({ length: 1 + r.int(2) }, () => genSpec(r));
        s += r.next() < 0.2 ? ` (${specs.join(", ")})` : r.pick(["", " "]) + specs.join(",");
      }
      if (r.next() < 0.4) s += `${r.pick([";", " ;", "; "])}${expr(1)}`;
      items.push(s);
    }
    const expected = askPackaging<{ name: string; extras: string[]; specifier: string; url: string | null; marker: string | null } | { error: string }>(python!, "requirement", items);
    const mismatches = items
      .map((s, i) => {
        let ours: unknown;
        try {
          const q = parseRequirement(s);
          ours = { name: q.name, specifier: new SpecifierSet(q.specifier).toString(), url: q.url, marker: q.marker?.toString() ?? null, extras: q.extras };
        } catch {
          ours = "error";
        }
        const e = expected[i]!;
        const theirs = "error" in e ? "error" : { name: e.name, specifier: e.specifier, url: e.url, marker: e.marker, extras: e.extras.map(canonicalizeName).sort() };
        return { s, ours, theirs };
      })
      .filter((x) => JSON.stringify(x.ours) !== JSON.stringify(x.theirs) && !nestedUnnormalisedExtra(x.s));
    expect(mismatches).toEqual([]);
  });
});

describe("sameVersion (a wheel METADATA version against its file name)", () => {
  it.each([
    ["1.0", "1.0.0", true],
    ["1.0-dev", "1.0.dev0", true],
    ["v1.0rc1", "1.0c1", true],
    ["2.9.0.post0", "2.9.0-0", true],
    ["1!2.0", "2.0", false],
    ["1.0+CPU", "1.0+cpu", true],
    ["1.0a1", "1.0b1", false],
    ["1.0", "1.0.post0", false],
    ["not a version", "not a version", true],
    ["not a version", "1.0", false],
  ])("%s == %s: %s", (a, b, same) => {
    expect(sameVersion(a, b)).toBe(same);
  });
});

describe("ensureAscii", () => {
  it("escapes as Python's json.dumps(ensure_ascii=True): DEL and every non-ASCII unit (surrogate pairs too)", () => {
    // python3 -c 'import json; print(json.dumps("é\x7f😀\u2028\x01"))'
    expect(ensureAscii(JSON.stringify("é\x7f😀\u2028\x01"))).toBe('"\\u00e9\\u007f\\ud83d\\ude00\\u2028\\u0001"');
  });
});
