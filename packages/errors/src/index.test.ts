import { AbortError, ClusterPackError, errorFromData, errorToData, IntegrityError, InvalidInputError, hasErrorCode, phraseOptions, redactUrl, throwIfAborted } from "./index";

describe("ClusterPackError", () => {
  it("keeps code, name and cause", () => {
    const cause = new Error("boom");
    const err = new InvalidInputError("bad", { cause });
    expect(err).toBeInstanceOf(ClusterPackError);
    expect(err.code).toBe("ERR_INVALID_INPUT");
    expect(err.name).toBe("InvalidInputError");
    expect(err.cause).toBe(cause);
    expect(hasErrorCode(err, "ERR_INVALID_INPUT")).toBe(true);
    expect(hasErrorCode(new Error("x"), "ERR_INVALID_INPUT")).toBe(false);
  });

  it("phraseOptions spells the options a message names the front end's way, and only those", () => {
    const err = new InvalidInputError("out.pex already exists: pass `overwrite` to replace it, or set `kind` (`x` stays)", { optionNames: ["overwrite", "kind", "x"] });
    expect(err.optionNames).toEqual(["overwrite", "kind", "x"]);
    const flags: Record<string, string> = { overwrite: "--force", kind: "--kind" };
    expect(phraseOptions(err, (n) => flags[n])).toBe("out.pex already exists: pass --force to replace it, or set --kind (`x` stays)");
    // Backticks the error does not list as options are left alone.
    expect(phraseOptions(new ClusterPackError("ERR_X", "the `overwrite` word"), () => "--force")).toBe("the `overwrite` word");
    expect(phraseOptions(new Error("plain"), () => "--x")).toBe("plain");
  });

  it("throwIfAborted throws only once aborted", () => {
    const ac = new AbortController();
    expect(() => throwIfAborted(ac.signal)).not.toThrow();
    ac.abort(new Error("stop"));
    expect(() => throwIfAborted(ac.signal)).toThrow(AbortError);
  });
});

describe("redactUrl", () => {
  it("removes user info and signed query parameters", () => {
    expect(redactUrl("https://alice:s3cret@idx.example/simple/")).toBe("https://***@idx.example/simple/");
    const out = redactUrl("https://b.s3.amazonaws.com/k?X-Amz-Signature=abc&X-Amz-Date=1");
    expect(out).not.toContain("abc");
    expect(out).toContain("X-Amz-Date=1");
  });
  it("leaves non-URLs alone", () => {
    expect(redactUrl("/local/path")).toBe("/local/path");
  });
  it("cannot fail open on a URL that does not parse", () => {
    expect(() => new URL("http://user:pw@[bad/simple")).toThrow();
    expect(redactUrl("http://user:pw@[bad/simple")).toBe("http://***@[bad/simple");
    // A password with a "/" makes the parser read "user" as the host and fail on the port.
    const slashed = redactUrl("https://user:p/ss@idx.example:bad/simple");
    expect(slashed).not.toContain("p/ss");
    expect(slashed).not.toContain("user");
    expect(redactUrl("https://idx example/simple?token=abc&page=2")).toBe("https://idx example/simple?token=***&page=2");
    expect(redactUrl("not a url at all")).toBe("not a url at all");
  });
});

describe("error data", () => {
  it("keeps class, code and hint across errorToData/errorFromData (worker threads, JSON)", () => {
    const original = new InvalidInputError("bad --level 12", { code: "ERR_BAD_LEVEL", hint: "pass --level 0-9" });
    const back = errorFromData(JSON.parse(JSON.stringify(errorToData(original))));
    expect(back).toBeInstanceOf(InvalidInputError);
    expect(back).toMatchObject({ code: "ERR_BAD_LEVEL", hint: "pass --level 0-9", message: "bad --level 12", name: "InvalidInputError" });
    expect(errorFromData(errorToData(new IntegrityError("x", { code: "ERR_CRC_MISMATCH" })))).toBeInstanceOf(IntegrityError);
    expect(errorFromData(errorToData(new AbortError()))).toBeInstanceOf(AbortError);
    const plain = errorFromData(errorToData(Object.assign(new Error("gone"), { code: "ENOENT", path: "/x" })));
    expect(plain).toBeInstanceOf(ClusterPackError);
    expect(plain.code).toBe("ENOENT");
    expect(errorFromData(errorToData("a string")).code).toBe("ERR_WORKER");
  });

  it("a hint is its own field", () => {
    expect(new ClusterPackError("ERR_X", "m", { hint: "h" }).hint).toBe("h");
    expect(new ClusterPackError("ERR_X", "m").hint).toBeUndefined();
  });
});
