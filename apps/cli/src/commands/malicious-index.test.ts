// Issue 11, item 1 through the real commands: a package index on 127.0.0.1 and lock files
// that list traversal names, files of other projects and malformed hashes. Every case
// asserts the exact message, the exit code and a listing of the sandbox (cache, --dest and
// everything around them) before and after: nothing is written outside, nothing deleted.
// Exit codes (item 8): a lying index is an operation failure (1: the command and its input
// were fine, the fix is another index); a lying lock is bad input the user gave (2).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startIndexServer, writeWheel, type IndexServer, type ServedFile } from "@cluster-pack/pip/test-kit";
import { runCli } from "../test-kit";

const TRAVERSAL = "adv-1.0-py3-none-any.x/../../../some/dir/evil.whl";

let tmp: string;
let sandbox: string;
let cache: string;
let dest: string;
let good: string;
let evil: string;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cli-malicious-"));
  good = await writeWheel(path.join(tmp, "wheels"), { name: "adv", version: "1.0" });
  evil = await writeWheel(path.join(tmp, "wheels"), { name: "evilpkg", version: "1.0" });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

beforeEach(() => {
  // dest is two levels down, so the traversal name above would land in the sandbox (sandbox/some/dir/evil.whl).
  sandbox = fs.mkdtempSync(path.join(tmp, "sandbox-"));
  cache = path.join(sandbox, "cache");
  dest = path.join(sandbox, "out", "dest");
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.writeFileSync(path.join(sandbox, "keep.txt"), "the user's file");
});

/** Every path under the sandbox, sorted (directories end in "/"). */
function listing(): string[] {
  return (fs.readdirSync(sandbox, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .map((e) => path.relative(sandbox, path.join(e.parentPath, e.name)) + (e.isDirectory() ? "/" : ""))
    .sort();
}

async function withIndex(files: ServedFile[], json: boolean, body: (server: IndexServer) => Promise<void>): Promise<void> {
  const server = await startIndexServer(new Map([["adv", files]]), { json });
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

const target = ["--isolated", "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64"];

describe.each([
  ["JSON (PEP 691 filename)", true],
  ["HTML (anchor with %2F)", false],
])("a malicious index, %s", (_label, json) => {
  test("resolve and download -d refuse a traversal name, exit 1, write nothing", async () => {
    await withIndex([{ path: good }, { path: good, filename: TRAVERSAL }], json, async (server) => {
      const before = listing();
      const expected = `cluster-pack: Refusing the index page ${server.url}/adv/: Unsafe distribution file name "${TRAVERSAL}": it contains '/'; a wheel or sdist file name is a single path component. The index is broken or malicious; nothing was downloaded from this page.\n`;
      const resolved = await runCli("resolve", "adv", "-i", server.url, ...target, "--cache-dir", cache);
      expect([resolved.code, resolved.err, resolved.out]).toEqual([1, expected, ""]);
      const downloaded = await runCli("download", "adv", "-d", dest, "-i", server.url, ...target, "--cache-dir", cache);
      expect([downloaded.code, downloaded.err, downloaded.out]).toEqual([1, expected, ""]);
      expect(listing()).toEqual(before);
      // No file was even requested: the page was refused as a whole.
      expect(server.requests.filter((r) => r.path.startsWith("/files/"))).toEqual([]);
    });
  });

  test("a page for adv listing evilpkg-1.0 does not resolve as adv 1.0: the file is dropped", async () => {
    await withIndex([{ path: evil }], json, async (server) => {
      const before = listing();
      const r = await runCli("download", "adv", "-d", dest, "-i", server.url, ...target, "--cache-dir", cache);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/^cluster-pack: No solution satisfies the requirements:\n {2}1\. Because you require adv, but adv has no usable version/);
      expect(r.err).not.toMatch(/evilpkg/);
      expect(listing()).toEqual(before);
    });
    await withIndex([{ path: good }, { path: evil }], json, async (server) => {
      const r = await runCli("download", "adv", "-d", dest, "-i", server.url, ...target, "--cache-dir", cache);
      expect([r.code, r.err]).toEqual([0, ""]);
      expect(fs.readdirSync(dest)).toEqual(["adv-1.0-py3-none-any.whl"]);
      expect(server.requests.filter((q) => q.path.startsWith("/files/")).map((q) => q.path)).not.toContain("/files/evilpkg-1.0-py3-none-any.whl");
    });
  });

  test("a malformed sha256 (a cache path component) refuses the page", async () => {
    await withIndex([{ path: good, listedSha256: "../../../../escaped" }], json, async (server) => {
      const before = listing();
      const r = await runCli("download", "adv", "-d", dest, "-i", server.url, ...target, "--cache-dir", cache);
      expect([r.code, r.err]).toEqual([
        1,
        `cluster-pack: Refusing the index page ${server.url}/adv/: the file "adv-1.0-py3-none-any.whl": the sha256 hash "../../../../escaped" is not 64 hex digits. The index is broken or malicious; nothing was downloaded from this page.\n`,
      ]);
      expect(listing()).toEqual(before);
    });
  });
});

describe("download --from-lock with a malicious lock", () => {
  const lockFile = () => path.join(sandbox, "pylock.toml");
  function writeLock(server: IndexServer, wheel: string, hash = "ab".repeat(32)): void {
    fs.writeFileSync(lockFile(), `lock-version = "1.0"\n[[packages]]\nname = "adv"\nversion = "1.0"\n[[packages.wheels]]\n${wheel}\nurl = "${server.url.replace("/simple", "/files")}/adv-1.0-py3-none-any.whl"\nhashes = { sha256 = "${hash}" }\n`);
  }

  test.each([
    ["a traversal name", `name = "${TRAVERSAL}"`, `Unsafe distribution file name "${TRAVERSAL}": it contains '/'; a wheel or sdist file name is a single path component.`],
    ["a file of another project", `name = "evilpkg-1.0-py3-none-any.whl"`, `"evilpkg-1.0-py3-none-any.whl" is a file of project evilpkg, not of adv.`],
  ])("%s is refused before anything is fetched, exit 2", async (_label, nameLine, why) => {
    await withIndex([{ path: good }], true, async (server) => {
      writeLock(server, nameLine);
      const before = listing();
      const r = await runCli("download", "--from-lock", lockFile(), "-d", dest, ...target, "--cache-dir", cache);
      expect([r.code, r.err, r.out]).toEqual([2, `cluster-pack: ${lockFile()}: packages[0] (adv) wheels[0]: ${why}\ncluster-pack: hint: lock again, or fix the entry.\n`, ""]);
      expect(listing()).toEqual(before);
      expect(server.requests).toEqual([]);
    });
  });

  test("a traversal name in the URL (no name field, %2F) is refused the same way", async () => {
    await withIndex([{ path: good }], true, async (server) => {
      fs.writeFileSync(lockFile(), `lock-version = "1.0"\n[[packages]]\nname = "adv"\nversion = "1.0"\n[[packages.wheels]]\nurl = "${server.origin}/files/adv-1.0-py3-none-any.x%2F..%2F..%2F..%2Fsome%2Fdir%2Fevil.whl"\nhashes = { sha256 = "${"ab".repeat(32)}" }\n`);
      const before = listing();
      const r = await runCli("download", "--from-lock", lockFile(), "-d", dest, ...target, "--cache-dir", cache);
      expect([r.code, r.err]).toEqual([2, `cluster-pack: ${lockFile()}: packages[0] (adv) wheels[0]: Unsafe distribution file name "${TRAVERSAL}": it contains '/'; a wheel or sdist file name is a single path component.\ncluster-pack: hint: lock again, or fix the entry.\n`]);
      expect(listing()).toEqual(before);
      expect(server.requests).toEqual([]);
    });
  });

  test("a malformed hash is refused, exit 2; a well-formed wrong one fails the download (exit 1) and leaves nothing", async () => {
    await withIndex([{ path: good }], true, async (server) => {
      writeLock(server, `name = "adv-1.0-py3-none-any.whl"`, "../../x");
      const before = listing();
      const bad = await runCli("download", "--from-lock", lockFile(), "-d", dest, ...target, "--cache-dir", cache);
      expect([bad.code, bad.err]).toEqual([2, `cluster-pack: ${lockFile()}: packages[0] (adv) wheels[0] hashes: the sha256 hash "../../x" is not 64 hex digits.\n`]);
      expect(listing()).toEqual(before);
      writeLock(server, `name = "adv-1.0-py3-none-any.whl"`);
      const wrong = await runCli("download", "--from-lock", lockFile(), "-d", dest, ...target, "--cache-dir", cache);
      expect(wrong.code).toBe(1);
      expect(wrong.err).toMatch(/^cluster-pack: adv-1.0-py3-none-any.whl from .*: sha256 is [0-9a-f]{64} but the index \(or lock\) lists (ab){32}/);
      // The cache made its directories, but holds no file; nothing else changed.
      expect(listing().filter((p) => !p.startsWith("cache/"))).toEqual(before);
      expect(listing().filter((p) => p.startsWith("cache/") && !p.endsWith("/"))).toEqual([]);
    });
  });
});
