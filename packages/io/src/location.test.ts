import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { locationScheme } from "./location";
import { fileSource, unreadableFile } from "./source";

describe("locationScheme", () => {
  it("tells URLs from local paths", () => {
    expect(locationScheme("s3://bucket/env.pex")).toBe("s3");
    expect(locationScheme("S3A://bucket/env.pex")).toBe("s3a");
    expect(locationScheme("hdfs:///user/me/env.pex")).toBe("hdfs");
    expect(locationScheme("https://host/x.pex")).toBe("https");
    expect(locationScheme("file:///tmp/x.pex")).toBe("file");
    expect(locationScheme("file:/tmp/x.pex")).toBe("file");
    expect(locationScheme("local:/opt/env.tar.gz")).toBe("local");
    for (const p of ["env.pex", "./s3:/x/env.pex", "/abs/s3:/x", "C:\\envs\\x.pex", "c:/envs/x.pex", "dir/with:colon"]) expect(locationScheme(p)).toBeUndefined();
  });

  it("refuses a scheme without its two slashes, naming the fix", () => {
    for (const bad of ["s3:/x/env.pex", "s3:bucket/env.pex", "hdfs:/user/me", "viewfs:/c/x", "https:/host/x"]) {
      expect(() => locationScheme(bad)).toThrow(expect.objectContaining({ code: "ERR_INVALID_URL" }));
    }
    expect(() => locationScheme("s3:/x/env.pex")).toThrow(
      expect.objectContaining({ message: "s3:/x/env.pex is not a valid URL: s3 URLs start with s3:// (two slashes).", hint: "for a local path with a colon in it, write ./s3:/x/env.pex." }),
    );
  });

  it("never prints credentials of a malformed URL", () => {
    expect(() => locationScheme("https:user:s3cret@host/x")).toThrow(expect.not.objectContaining({ message: expect.stringContaining("s3cret") }));
  });
});

describe("unreadableFile", () => {
  it("names the file once, with the reason in words", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "io-unreadable-"));
    try {
      const missing = path.join(dir, "nope.zip");
      await expect(fileSource(missing)).rejects.toMatchObject({ code: "ERR_FILE_NOT_READABLE", message: `${missing} does not exist.`, hint: "check the path." });
      const err = await fs.promises.readFile(dir).catch((e: unknown) => e);
      expect(unreadableFile(dir, err, { what: "lock file", code: "ERR_LOCK_INVALID" })).toMatchObject({ code: "ERR_LOCK_INVALID", message: `lock file ${dir} is a directory, not a file.` });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
