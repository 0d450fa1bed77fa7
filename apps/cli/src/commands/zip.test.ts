import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { runCli } from "../test-kit";

jest.setTimeout(60_000);

const run = runCli;

describe("cluster-pack zip", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cp-cli-zip-"));
    const app = path.join(dir, "app");
    fs.mkdirSync(path.join(app, "pkg/empty"), { recursive: true });
    fs.writeFileSync(path.join(app, "__main__.py"), "import pkg.mod\nprint(pkg.mod.VALUE)\n");
    fs.writeFileSync(path.join(app, "pkg/__init__.py"), "");
    fs.writeFileSync(path.join(app, "pkg/mod.py"), "VALUE = 'from the zipapp'\n");
    fs.writeFileSync(path.join(app, "pkg/tool.sh"), "#!/bin/sh\n", { mode: 0o755 });
    fs.symlinkSync("mod.py", path.join(app, "pkg/alias.py"));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("creates a deterministic executable zipapp, lists, verifies and extracts it", async () => {
    const out = path.join(dir, "app.pyz");
    const created = await run("zip", "create", out, path.join(dir, "app"), "--shebang", "/usr/bin/env python3", "--executable", "--json");
    expect(created.code).toBe(0);
    const result = JSON.parse(created.out);
    expect(result).toMatchObject({ path: out, entries: 7 });
    expect(fs.statSync(out).mode & 0o777).toBe(0o755);
    expect(spawnSync(out, [], { encoding: "utf8" }).stdout).toBe("from the zipapp\n");
    const again = await run("zip", "create", path.join(dir, "again.pyz"), path.join(dir, "app"), "--shebang", "/usr/bin/env python3", "--json");
    expect(JSON.parse(again.out).sha256).toBe(result.sha256);

    const list = await run("zip", "list", out);
    expect(list.code).toBe(0);
    expect(list.out).toContain("(23 bytes before the zip)");
    expect(list.out).toMatch(/-rwxr-xr-x +10 +10 stored +pkg\/tool.sh/);
    expect(list.out).toMatch(/^l.* pkg\/alias.py$/m);
    const json = JSON.parse((await run("zip", "list", out, "--json")).out);
    expect(json.entries.map((e: { name: string }) => e.name)).toEqual(["__main__.py", "pkg/", "pkg/__init__.py", "pkg/alias.py", "pkg/empty/", "pkg/mod.py", "pkg/tool.sh"].sort());

    const verify = await run("zip", "verify", out);
    expect(verify).toMatchObject({ code: 0, out: expect.stringContaining("OK (7 entries") });

    const target = path.join(dir, "extracted");
    expect((await run("zip", "extract", out, target)).code).toBe(0);
    expect(fs.readFileSync(path.join(target, "pkg/mod.py"), "utf8")).toBe("VALUE = 'from the zipapp'\n");
    expect(fs.readlinkSync(path.join(target, "pkg/alias.py"))).toBe("mod.py");
    const again2 = await run("zip", "extract", out, target);
    expect(again2.code).toBe(2);
    expect(again2.err).toContain("not empty");
  });

  it("lists a remote archive through HTTP range requests", async () => {
    const file = path.join(dir, "remote.zip");
    expect((await run("zip", "create", file, path.join(dir, "app"))).code).toBe(0);
    const data = fs.readFileSync(file);
    const ranges: string[] = [];
    const server = http.createServer((req, res) => {
      ranges.push(req.headers.range ?? "none");
      const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
      if (!m) return void res.writeHead(200).end(data);
      const start = m[1] === "" ? Math.max(0, data.length - Number(m[2])) : Number(m[1]);
      const end = m[1] === "" || m[2] === "" ? data.length - 1 : Number(m[2]);
      res.writeHead(206, { "content-range": `bytes ${start}-${end}/${data.length}` }).end(data.subarray(start, end + 1));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/remote.zip`;
      const list = await run("zip", "list", url, "--json");
      expect(list.code).toBe(0);
      expect(JSON.parse(list.out).entries).toHaveLength(7);
      expect(ranges.every((r) => r !== "none")).toBe(true);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("exits 2 with a clear message for bad input, a corrupt archive included", async () => {
    const missing = await run("zip", "create", path.join(dir, "x.zip"), path.join(dir, "nope"));
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("does not exist");
    expect((await run("zip", "create", path.join(dir, "x.zip"), path.join(dir, "app"), "--level", "12")).code).toBe(2);
    const bad = path.join(dir, "bad.zip");
    fs.writeFileSync(bad, "not a zip at all");
    const notZip = await run("zip", "verify", bad, "--json");
    expect(notZip.code).toBe(2);
    expect(JSON.parse(notZip.out).error.code).toBe("ERR_NOT_A_ZIP");
  });
});
