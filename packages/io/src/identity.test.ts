import path from "node:path";
import { shardedPath } from "./identity";

describe("shardedPath", () => {
  const sha = "ab".padEnd(64, "0");

  it("puts an entry under the first two hex digits of its key", () => {
    expect(shardedPath("/c", sha)).toBe(path.join("/c", "ab", sha));
    expect(shardedPath("/c", sha, `${sha}.json`)).toBe(path.join("/c", "ab", `${sha}.json`));
  });

  it("refuses a key that is not a lowercase hex digest (a claimed hash cannot name a path)", () => {
    for (const key of ["", "a", "../../etc", "AB".padEnd(64, "0"), `${sha}/x`, "zz"]) {
      expect(() => shardedPath("/c", key)).toThrow(TypeError);
    }
  });

  it("refuses a name that is not one path component", () => {
    for (const name of ["../x", "a/b", "a\\b", ".", "..", "a\0b"]) {
      expect(() => shardedPath("/c", sha, name)).toThrow(TypeError);
    }
  });
});
