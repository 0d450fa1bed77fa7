import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadPipConfig } from "./config";
import { PipSession } from "./session";
import { probeInterpreter } from "./target";
import { writeSdist, writeWheel } from "./test-kit/wheels";
import { unpackSdist } from "./build";
import tar from "tar-stream";
import zlib from "node:zlib";
import { pythonInterpreter } from "@cluster-pack/io/test-kit";

const PY = pythonInterpreter("3.11")?.python ?? "";
const sha256File = (f: string) => crypto.createHash("sha256").update(fs.readFileSync(f)).digest("hex");
const settings = loadPipConfig();
const mirror = [settings.indexUrl, ...settings.extraIndexUrls].filter((u) => u.startsWith("file:"));
const ready = PY !== "" && mirror.length > 0;
if (!ready) console.warn("Skipping sdist build tests: needs Python 3.11 and a file:// index with setuptools in pip's configuration");

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-build-"));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

(ready ? describe : describe.skip)("PEP 517 builds of sdists", () => {
  test("an sdist with dynamic metadata is built in an isolated env whose build deps we resolve; the wheel is cached by sdist hash", async () => {
    const links = path.join(tmp, "links");
    await writeSdist(links, { name: "only-sdist", version: "0.4", requires: ["dep>=1"] }, { staticMetadata: false });
    await writeWheel(links, { name: "dep", version: "1.1" });
    const target = await probeInterpreter(PY);
    const opts = { pipConfig: false as const, indexUrl: mirror[0]!, extraIndexUrls: mirror.slice(1), findLinks: [links], cacheDir: path.join(tmp, "cache"), target, buildPython: PY };
    const s = new PipSession(opts);
    const input = await s.readInput({ requirements: ["only-sdist"] });
    const res = await s.resolve(input);
    expect(res.packages.map((p) => `${p.name}==${p.version}`)).toEqual(["dep==1.1", "only-sdist==0.4"]);
    expect(s.metadata.stats.build).toBe(1);
    const files = await s.download(res, input, path.join(tmp, "out"));
    expect(files.find((f) => f.name === "only-sdist")!.filename).toBe("only_sdist-0.4-py3-none-any.whl");
    const built = fs.readdirSync(path.join(tmp, "cache", "built-v2"));
    expect(built).toHaveLength(1);
    // A second session reuses the built wheel (no second build: the directory is unchanged).
    const mtime = fs.statSync(path.join(tmp, "cache", "built-v2", built[0]!)).mtimeMs;
    const s2 = new PipSession({ ...opts });
    const in2 = await s2.readInput({ requirements: ["only-sdist"] });
    const again = await s2.download(await s2.resolve(in2), in2);
    expect(fs.statSync(path.join(tmp, "cache", "built-v2", built[0]!)).mtimeMs).toBe(mtime);
    // The built wheel is read-only, with its sha256 beside it; a damaged one is never shipped: it is built again.
    const wheel = again.find((f) => f.name === "only-sdist")!;
    expect(fs.statSync(wheel.path).mode & 0o222).toBe(0);
    expect(fs.readFileSync(path.join(tmp, "cache", "built-v2", built[0]!, "SHA256"), "utf8")).toBe(`${wheel.sha256} only_sdist-0.4-py3-none-any.whl\n`);
    fs.chmodSync(wheel.path, 0o644);
    fs.appendFileSync(wheel.path, "damage");
    const damaged = sha256File(wheel.path);
    const s3 = new PipSession({ ...opts });
    const in3 = await s3.readInput({ requirements: ["only-sdist"] });
    const rebuilt = (await s3.download(await s3.resolve(in3), in3)).find((f) => f.name === "only-sdist")!;
    expect(rebuilt.sha256).not.toBe(damaged);
    expect(sha256File(rebuilt.path)).toBe(rebuilt.sha256);
    expect(fs.readFileSync(path.join(tmp, "cache", "built-v2", built[0]!, "SHA256"), "utf8")).toBe(`${rebuilt.sha256} only_sdist-0.4-py3-none-any.whl\n`);
  }, 300_000);

  test("a failing build is a clear error naming the sdist", async () => {
    const links = path.join(tmp, "links");
    const sd = await writeSdist(links, { name: "broken", version: "1.0" }, { staticMetadata: false });
    // Replace the pyproject with one whose backend does not exist.
    const dir = path.join(tmp, "x");
    const top = await unpackSdist(sd, dir);
    fs.writeFileSync(path.join(top, "pyproject.toml"), '[build-system]\nrequires = []\nbuild-backend = "no_such_backend"\n');
    const pack = tar.pack();
    for (const f of fs.readdirSync(top, { recursive: true }) as string[]) {
      const full = path.join(top, f);
      if (fs.statSync(full).isFile()) pack.entry({ name: `broken-1.0/${f}` }, fs.readFileSync(full));
    }
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack.pipe(zlib.createGzip())) chunks.push(c as Buffer);
    fs.writeFileSync(sd, Buffer.concat(chunks));
    const s = new PipSession({ pipConfig: false, noIndex: true, findLinks: [links], cacheDir: path.join(tmp, "cache"), target: await probeInterpreter(PY), buildPython: PY });
    await expect(s.resolve(await s.readInput({ requirements: ["broken"] }))).rejects.toThrow(/get_requires_for_build_wheel for broken-1.0.tar.gz failed.*no_such_backend/s);
  }, 120_000);

  test("unsafe sdist paths are refused", async () => {
    const pack = tar.pack();
    pack.entry({ name: "evil-1.0/../../escape.txt" }, "x");
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack.pipe(zlib.createGzip())) chunks.push(c as Buffer);
    const f = path.join(tmp, "evil-1.0.tar.gz");
    fs.writeFileSync(f, Buffer.concat(chunks));
    await expect(unpackSdist(f, path.join(tmp, "u"))).rejects.toThrow(/escapes the archive/);
    expect(fs.existsSync(path.join(tmp, "escape.txt"))).toBe(false);
  });
});
