import { checkDistributionFilename, DistributionFilenameError, parseSdistFilename, parseWheelFilename, unsafeComponentReason } from "./filename";
import { escapeName } from "./names";
import { tagToString } from "./tags";
import { askPackaging, findPackagingPython } from "./test-kit/oracle";

const python = findPackagingPython();
const diff = python ? describe : describe.skip;
if (!python) console.warn("Skipping file-name differential tests: no python3 with packaging>=26 (set CP_TEST_PYTHON)");

/** The error checkDistributionFilename throws for `name`, or a failure when it accepts it. */
function refusal(name: string, expected?: Parameters<typeof checkDistributionFilename>[1]): DistributionFilenameError {
  try {
    checkDistributionFilename(name, expected);
  } catch (err) {
    if (err instanceof DistributionFilenameError) return err;
    throw err;
  }
  throw new Error(`${JSON.stringify(name)} was accepted`);
}

describe("wheel file names", () => {
  test("name, version, build tag and the expanded compressed tag set", () => {
    const w = parseWheelFilename("numpy-1.26.4-1abc-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
    expect(w).toMatchObject({ kind: "wheel", name: "numpy", build: [1, "abc"] });
    expect(w.version.toString()).toBe("1.26.4");
    expect(w.tags.map(tagToString)).toEqual(["cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64"]);
    const s = parseWheelFilename("six-1.16.0-py2.py3-none-any.whl");
    expect(s.build).toBeNull();
    expect(s.tags.map(tagToString)).toEqual(["py2-none-any", "py3-none-any"]);
    expect(parseWheelFilename("typing_extensions-4.9.0-py3-none-any.whl").name).toBe("typing-extensions");
    expect(parseWheelFilename("Zope.Interface-6.0-cp311-cp311-Linux_X86_64.whl")).toMatchObject({ name: "zope-interface", tags: [{ interpreter: "cp311", abi: "cp311", platform: "linux_x86_64" }] });
    expect(parseWheelFilename("torch-2.1.0+cpu-cp311-cp311-linux_x86_64.whl").version.toString()).toBe("2.1.0+cpu");
  });

  // pip and wheel disagreed on these two; the spec's rule is that the name part is a valid
  // project name (escaped). packaging 26 accepts `_private` (as "-private", not a valid
  // name) and refuses `foo__bar`; uv does the opposite, which is the spec's rule.
  test("the project-name rule of the spec: `foo__bar` is a valid (unnormalised) name, `_private` is not", () => {
    expect(parseWheelFilename("foo__bar-1.0-py3-none-any.whl").name).toBe("foo-bar");
    expect(() => parseWheelFilename("_private-1.0-py3-none-any.whl")).toThrow(/Invalid wheel file name "_private-1.0-py3-none-any.whl": invalid project name "_private"/);
    expect(() => parseWheelFilename("private_-1.0-py3-none-any.whl")).toThrow(/invalid project name/);
    expect(() => parseWheelFilename("f!oo-1.0-py3-none-any.whl")).toThrow(/invalid project name/);
  });

  test("every other part obeys its grammar, and the error names the file", () => {
    expect(() => parseWheelFilename("six-1.16.0.tar.gz")).toThrow(/"six-1.16.0.tar.gz": it does not end in .whl/);
    expect(() => parseWheelFilename("six-py3-none-any.whl")).toThrow(/expected 5 or 6 '-'-separated parts, found 4.*PEP 427/);
    expect(() => parseWheelFilename("foo-1.0-1-2-py3-none-any.whl")).toThrow(/found 7/);
    expect(() => parseWheelFilename("foo-notaversion-py3-none-any.whl")).toThrow(/invalid version "notaversion"/);
    expect(() => parseWheelFilename("foo- 1.0-py3-none-any.whl")).toThrow(/invalid version " 1.0"/);
    expect(() => parseWheelFilename("six-1.0-x1-py3-none-any.whl")).toThrow(/invalid build tag "x1": it must start with a digit/);
    expect(() => parseWheelFilename("six-1.0-1!x-py3-none-any.whl")).toThrow(/invalid build tag/);
    expect(() => parseWheelFilename("six-1.0-py3-none-an!y.whl")).toThrow(/invalid compatibility tags "py3-none-an!y"/);
    expect(() => parseWheelFilename("six-1.0-py3--any.whl")).toThrow(/invalid compatibility tags/);
    expect(() => parseWheelFilename("six-1.0-py3-none-any..x.whl")).toThrow(/invalid compatibility tags/);
    expect(() => parseWheelFilename("six-1.0-py3-none-any.x/../../evil.whl")).toThrow(/invalid compatibility tags/);
  });

  test("escapeName is the file-name form of a project name", () => {
    expect(escapeName("foo-bar.baz")).toBe("foo_bar_baz");
    expect(parseWheelFilename(`${escapeName("Foo.Bar--baz")}-1.0-py3-none-any.whl`).name).toBe("foo-bar-baz");
  });
});

describe("sdist file names", () => {
  test("PEP 625 names and legacy ones", () => {
    expect(parseSdistFilename("foo-1.0.tar.gz")).toMatchObject({ kind: "sdist", name: "foo", format: "tar.gz" });
    expect(parseSdistFilename("Foo_Bar-2.0rc1.zip")).toMatchObject({ name: "foo-bar", format: "zip" });
    const legacy = parseSdistFilename("python-dateutil-2.8.2.tar.gz");
    expect([legacy.name, legacy.version.toString()]).toEqual(["python-dateutil", "2.8.2"]);
  });

  test("the project the caller asked for settles an ambiguous split; without it, the last '-' (as packaging)", () => {
    const known = parseSdistFilename("foo-1.0-1.tar.gz", "foo");
    expect([known.name, known.version.toString()]).toEqual(["foo", "1.0.post1"]);
    const guessed = parseSdistFilename("foo-1.0-1.tar.gz");
    expect([guessed.name, guessed.version.toString()]).toEqual(["foo-1-0", "1"]);
    expect(parseSdistFilename("python-dateutil-2.8.2.tar.gz", "Python_Dateutil").name).toBe("python-dateutil");
  });

  test("refused: other extensions, no version, invalid names and versions", () => {
    expect(() => parseSdistFilename("foo-1.0.tar.bz2")).toThrow(/Invalid sdist file name "foo-1.0.tar.bz2": it does not end in .tar.gz or .zip/);
    expect(() => parseSdistFilename("foo-1.0.TAR.GZ")).toThrow(/does not end in .tar.gz/);
    expect(() => parseSdistFilename("foo.tar.gz")).toThrow(/expected name-version/);
    expect(() => parseSdistFilename("-1.0.tar.gz")).toThrow(/expected name-version/);
    expect(() => parseSdistFilename("_x-1.0.tar.gz")).toThrow(/invalid project name "_x"/);
    expect(() => parseSdistFilename("a/b-1.0.tar.gz")).toThrow(/invalid project name "a\/b"/);
    expect(() => parseSdistFilename("foo-1.0 .tar.gz")).toThrow(/invalid version "1.0 "/);
    expect(() => parseSdistFilename("foo-latest.zip")).toThrow(/invalid version "latest"/);
  });
});

describe("checkDistributionFilename: the choke point for names from indexes, locks and PEX-INFO", () => {
  test("the traversal names of issue 11 are refused as unsafe before anything else", () => {
    const e = refusal("adv-1.0-py3-none-any.x/../../../some/dir/evil.whl", { name: "adv" });
    expect(e.problem).toBe("unsafe");
    expect(e.code).toBe("ERR_UNSAFE_FILENAME");
    expect(e.message).toBe('Unsafe distribution file name "adv-1.0-py3-none-any.x/../../../some/dir/evil.whl": it contains \'/\'; a wheel or sdist file name is a single path component.');
    // An HTML anchor's last segment after percent-decoding: %2F is a '/'.
    expect(refusal(decodeURIComponent("adv-1.0-py3-none-any.x%2F..%2F..%2Fevil.whl")).problem).toBe("unsafe");
    expect(refusal("../../evil-1.0.tar.gz").message).toMatch(/contains '\/'/);
    expect(refusal("..\\..\\evil-1.0-py3-none-any.whl").message).toMatch(/contains '\\'/);
    expect(refusal("adv-1.0-py3-none-any.whl\u0000.txt").message).toMatch(/contains a control character/);
    expect(refusal("adv-1.0-py3-none-any\n.whl").message).toMatch(/"adv-1.0-py3-none-any\\n.whl": it contains a control character/);
    expect(refusal("..").message).toMatch(/is a dot segment/);
    expect(refusal(".").message).toMatch(/is a dot segment/);
    expect(refusal(".adv-1.0-py3-none-any.whl").message).toMatch(/starts with '.'/);
    expect(refusal("").message).toMatch(/is empty/);
    const long = `adv-1.0-py3-none-${"x".repeat(300)}.whl`;
    const tooLong = refusal(long);
    expect(tooLong.message).toMatch(/is longer than 255 bytes/);
    expect(tooLong.message.length).toBeLessThan(400);
  });

  test("tags, sdist names and extensions must obey their grammar", () => {
    expect(refusal("adv-1.0-py3-none-any..whl").problem).toBe("invalid");
    expect(checkDistributionFilename("adv-1.0-py3-none-any.x.whl").kind).toBe("wheel");
    expect(refusal("adv-1.0-py3-none-a:y.whl").code).toBe("ERR_INVALID_WHEEL_NAME");
    expect(refusal("adv-1.0.tar.gz.exe").code).toBe("ERR_INVALID_DISTRIBUTION_NAME");
    expect(refusal("adv-1.0.tar.gz.exe").message).toMatch(/it must end in .whl \(wheel\), .tar.gz or .zip \(sdist\)/);
    expect(refusal("adv~1.0.tar.gz").code).toBe("ERR_INVALID_SDIST_NAME");
    expect(refusal("adv-1.0-py3-none-any.x-.whl").problem).toBe("invalid");
  });

  test("a file of another project, version or kind is a mismatch", () => {
    expect(refusal("evilpkg-1.0-py3-none-any.whl", { name: "adv" })).toMatchObject({
      problem: "mismatch",
      code: "ERR_FILENAME_MISMATCH",
      message: '"evilpkg-1.0-py3-none-any.whl" is a file of project evilpkg, not of adv.',
    });
    expect(refusal("evilpkg-1.0.tar.gz", { name: "adv" }).problem).toBe("mismatch");
    expect(refusal("adv-1.1-py3-none-any.whl", { name: "adv", version: "1.0" }).message).toBe('"adv-1.1-py3-none-any.whl" is version 1.1, not 1.0.');
    expect(refusal("adv-1.0.tar.gz", { name: "adv", kind: "wheel" }).message).toMatch(/is an sdist, not a wheel as expected/);
  });

  test("accepted names come back parsed; names and versions compare normalised", () => {
    const w = checkDistributionFilename("Adv_Pkg-1.0.0-py3-none-any.whl", { name: "adv.pkg", version: "1.0", kind: "wheel" });
    expect(w.kind).toBe("wheel");
    expect(w.name).toBe("adv-pkg");
    const s = checkDistributionFilename("adv-pkg-1.0-1.tar.gz", { name: "Adv-Pkg", version: "1.0.post1" });
    expect([s.kind, s.name, s.version.toString()]).toEqual(["sdist", "adv-pkg", "1.0.post1"]);
  });

  test("unsafeComponentReason alone", () => {
    expect(unsafeComponentReason("six-1.16.0-py2.py3-none-any.whl")).toBeNull();
    expect(unsafeComponentReason("a/b")).toBe("contains '/'");
    expect(unsafeComponentReason("a\u007fb")).toBe("contains a control character");
    expect(unsafeComponentReason("\u00e9".repeat(128))).toBe("is longer than 255 bytes");
    expect(unsafeComponentReason("\u00e9".repeat(127))).toBeNull();
  });
});

diff("file names differential against packaging", () => {
  // Where both accept, both must read the same parts; the only disagreements allowed are the
  // documented ones (packaging is laxer on names, tags and versions, stricter on `__`).
  const wheels = [
    "six-1.16.0-py2.py3-none-any.whl",
    "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "Foo_Bar-1.0-2extra-py3-none-any.whl",
    "torch-2.1.0+cpu-cp311-cp311-linux_x86_64.whl",
    "pkg-1!2.0rc1.post3.dev4-py3-none-any.whl",
    "Zope.Interface-6.0-CP311-cp311-Linux_X86_64.whl",
    "foo__bar-1.0-py3-none-any.whl",
    "_private-1.0-py3-none-any.whl",
    "foo-1.0-py3-none-any.x/../../evil.whl",
    "foo- 1.0-py3-none-any.whl",
    "foo-1.0-1/x-py3-none-any.whl",
  ];
  const sdists = ["foo-1.0.tar.gz", "python-dateutil-2.8.2.tar.gz", "foo-1.0-1.tar.gz", "Foo_Bar-2.0rc1.zip", "_x-1.0.tar.gz", "a/b-1.0.tar.gz", "foo-1.0.tar.bz2"];
  const ours = (f: () => { name: string; version: { toString(): string }; build?: readonly [number, string] | null; tags?: readonly { interpreter: string; abi: string; platform: string }[] }) => {
    try {
      const r = f();
      return { name: r.name, version: r.version.toString(), ...(r.tags ? { build: r.build ?? [], tags: r.tags.map(tagToString).sort() } : {}) };
    } catch {
      return null;
    }
  };

  /** Compares our parse with packaging's on each name; returns where only one side accepts. */
  const disagreements = (op: string, names: string[], parse: (name: string) => ReturnType<typeof ours>): string[] => {
    const theirs = askPackaging<Record<string, unknown>>(python!, op, names);
    const out: string[] = [];
    names.forEach((n, i) => {
      const mine = parse(n);
      const t = theirs[i]!;
      if (mine && "error" in t) out.push(`${n}: only we accept`);
      else if (!mine && !("error" in t)) out.push(`${n}: only packaging accepts`);
      else if (mine) expect(mine).toEqual(t);
    });
    return out;
  };

  test("wheel names", () => {
    expect(disagreements("wheel_filename", wheels, (w) => ours(() => parseWheelFilename(w)))).toEqual([
      "foo__bar-1.0-py3-none-any.whl: only we accept",
      "_private-1.0-py3-none-any.whl: only packaging accepts",
      "foo-1.0-py3-none-any.x/../../evil.whl: only packaging accepts",
      "foo- 1.0-py3-none-any.whl: only packaging accepts",
      "foo-1.0-1/x-py3-none-any.whl: only packaging accepts",
    ]);
  });

  test("sdist names", () => {
    expect(disagreements("sdist_filename", sdists, (n) => ours(() => parseSdistFilename(n)))).toEqual(["_x-1.0.tar.gz: only packaging accepts", "a/b-1.0.tar.gz: only packaging accepts"]);
  });
});
