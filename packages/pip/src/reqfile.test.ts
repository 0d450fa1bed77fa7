import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { readRequirementsFile, parseRequirementArgs } from "./reqfile";
import { writeWheel } from "./test-kit/wheels";

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-req-"));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

const write = (name: string, text: string) => {
  const p = path.join(tmp, name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text);
  return p;
};

describe("requirements files", () => {
  test("options, includes, constraints, continuations, comments, markers, hashes, env vars", async () => {
    const wheel = await writeWheel(path.join(tmp, "dist"), { name: "local_pkg", version: "0.3" });
    write("sub/more.txt", "# included\nsix==1.16.0 \\\n  --hash=sha256:1E61C37477A1626458E36F7B1D82AA5C9B094FA4802892072E49DE9C60C4C926\n");
    write("constraints.txt", "urllib3<3\n");
    const main = write(
      "requirements.txt",
      [
        "--index-url https://idx.example/simple",
        "--extra-index-url=https://extra.example/simple",
        "-f ./wheels",
        "--pre",
        "--only-binary :all:",
        "-r sub/more.txt",
        "-c constraints.txt",
        "requests[socks] >= 2.0 ; python_version >= '3.8'  # trailing comment",
        "numpy==${NUMPY_VERSION}",
        "./dist/local_pkg-0.3-py3-none-any.whl",
        "pkg @ https://files.example/pkg-1.0-py3-none-any.whl",
        "",
      ].join("\n"),
    );
    const r = await readRequirementsFile(main, { env: { NUMPY_VERSION: "1.26.4" } });
    expect(r.indexUrl).toBe("https://idx.example/simple");
    expect(r.extraIndexUrls).toEqual(["https://extra.example/simple"]);
    expect(r.findLinks).toEqual([path.join(tmp, "wheels")]);
    expect(r.pre).toBe(true);
    expect(r.onlyBinary).toEqual([":all:"]);
    expect(r.requireHashes).toBe(true);
    expect(r.requirements.map((x) => x.requirement.key)).toEqual(["six", "requests", "numpy", "local-pkg", "pkg"]);
    expect(r.requirements[0]!.hashes).toEqual(["sha256:1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926"]);
    expect(r.requirements[0]!.origin).toBe(`${path.join(tmp, "sub/more.txt")}:2`);
    expect(r.requirements[1]!.requirement.extras).toEqual(["socks"]);
    expect(r.requirements[2]!.requirement.specifier).toBe("==1.26.4");
    expect(r.requirements[3]!.requirement.url).toBe(`file://${wheel}`);
    expect(r.constraints.map((x) => x.requirement.key)).toEqual(["urllib3"]);
  });

  test("errors name the file and line, and the fix", async () => {
    const bad = write("bad.txt", "six\n\nfoo >= 1.0 bar\n");
    await expect(readRequirementsFile(bad)).rejects.toThrow(new RegExp(`bad.txt:3: Expected comma`));
    await expect(readRequirementsFile(write("opt.txt", "--frobnicate\n"))).rejects.toThrow(/opt.txt:1: unknown option --frobnicate/);
    await expect(readRequirementsFile(write("e.txt", "-e .\n"))).rejects.toThrow(/e.txt:1: editable requirements/);
    await expect(readRequirementsFile(write("h.txt", "six==1 --hash=md5:abc\n"))).rejects.toThrow(/h.txt:1: invalid --hash/);
    await expect(readRequirementsFile(write("p.txt", "./nope-1.0-py3-none-any.whl\n"))).rejects.toThrow(/p.txt:1: .*does not exist/);
    await expect(readRequirementsFile(write("cyc.txt", "-r cyc.txt\n"))).rejects.toThrow(/includes itself/);
    await expect(readRequirementsFile(path.join(tmp, "missing.txt"))).rejects.toThrow(expect.objectContaining({ message: `requirements file ${path.join(tmp, "missing.txt")} does not exist.`, hint: "check the path." }));
  });

  test("command-line requirements", () => {
    const [a] = parseRequirementArgs(["Django[bcrypt]>=4"]);
    expect(a!.requirement.key).toBe("django");
    expect(() => parseRequirementArgs(["django>>4"])).toThrow(/Expected/);
  });
});
