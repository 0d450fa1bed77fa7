import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Version } from "@cluster-pack/packaging";
import { metadataHeaders, toDistributionMetadata } from "./metadata";
import { PipSession } from "./session";
import { explicitTarget } from "./target";
import { writeWheel } from "./test-kit/wheels";

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-metacache-"));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("metadataHeaders", () => {
  test("drops the body (long description) and keeps every header, continuation lines included", () => {
    const head = "Metadata-Version: 2.1\nName: a\nVersion: 1.0\nDescription: old style\n        continued\nRequires-Dist: b>=2\n";
    expect(metadataHeaders(`${head}\n# A README\n\nRequires-Dist: not-a-header\n`)).toBe(head);
    expect(metadataHeaders(head)).toBe(head);
    const crlf = head.replace(/\n/g, "\r\n");
    expect(metadataHeaders(`${crlf}\r\nbody\r\n`)).toBe(crlf.slice(0, -1));
    const file = { filename: "a-1.0-py3-none-any.whl", name: "a", version: Version.parse("1.0") };
    expect(toDistributionMetadata(metadataHeaders(`${head}\nRequires-Dist: c\n`), file).requiresDist.map((r) => r.key)).toEqual(["b"]);
  });
});

describe("warm runs", () => {
  test("a warm run takes metadata from the pack and leaves an unchanged pack unwritten", async () => {
    const links = path.join(tmp, "links");
    await writeWheel(links, { name: "a", version: "1.0", requires: ["b"] });
    await writeWheel(links, { name: "b", version: "2.0" });
    const options = { pipConfig: false as const, noIndex: true, findLinks: [links], cacheDir: path.join(tmp, "cache"), target: explicitTarget({ python: "3.11" }) };
    const cold = new PipSession(options);
    const first = await cold.resolve(await cold.readInput({ requirements: ["a"] }));
    expect(first.packages.map((p) => `${p.name}==${p.version}`).sort()).toEqual(["a==1.0", "b==2.0"]);
    expect(cold.metadata.stats["local-zip"]).toBe(2);
    const packs = path.join(tmp, "cache", "packs-v2");
    const [pack] = fs.readdirSync(packs);
    const stamp = fs.statSync(path.join(packs, pack!)).mtimeMs;
    const saved = JSON.parse(fs.readFileSync(path.join(packs, pack!), "utf8")) as { metadata: Record<string, { text: string }> };
    expect(Object.values(saved.metadata).every((e) => !/\n\n/.test(e.text))).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    const warm = new PipSession(options);
    const second = await warm.resolve(await warm.readInput({ requirements: ["a"] }));
    expect(second.packages.map((p) => p.name).sort()).toEqual(["a", "b"]);
    expect(warm.metadata.stats.cache).toBe(2);
    expect(warm.metadata.stats["local-zip"]).toBe(0);
    expect(fs.statSync(path.join(packs, pack!)).mtimeMs).toBe(stamp);
    // The session caches in its pack only: one file per cold run, not one per page or METADATA.
    expect(fs.readdirSync(path.join(tmp, "cache")).sort()).toEqual(["packs-v2"]);
    // Another requirement set already covered by the pack: nothing to write.
    const subset = new PipSession(options);
    await subset.resolve(await subset.readInput({ requirements: ["b"] }));
    expect(subset.metadata.stats.cache).toBe(1);
    expect(fs.statSync(path.join(packs, pack!)).mtimeMs).toBe(stamp);
    // A new project is merged in; what earlier runs used stays.
    await writeWheel(links, { name: "c", version: "3.0" });
    const other = new PipSession(options);
    await other.resolve(await other.readInput({ requirements: ["c"] }));
    const merged = JSON.parse(fs.readFileSync(path.join(packs, pack!), "utf8")) as { metadata: Record<string, { text: string }> };
    expect(Object.values(merged.metadata).map((e) => /^Name: (\w+)$/m.exec(e.text)?.[1]).sort()).toEqual(["a", "b", "c"]);
    const again = new PipSession(options);
    await again.resolve(await again.readInput({ requirements: ["a"] }));
    expect(again.metadata.stats.cache).toBe(2);
  });
});
