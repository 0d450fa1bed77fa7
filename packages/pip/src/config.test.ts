import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { loadPipConfig, parseIni } from "./config";

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "cp-pipconf-"));
}

describe("pip configuration", () => {
  test("files in pip's order, [global] then [install], env, overrides", () => {
    const d = tmp();
    const home = path.join(d, "home");
    const xdg = path.join(d, "xdg");
    fs.mkdirSync(path.join(xdg, "pip"), { recursive: true });
    fs.mkdirSync(path.join(home, ".config", "pip"), { recursive: true });
    fs.mkdirSync(path.join(home, ".pip"), { recursive: true });
    fs.writeFileSync(path.join(xdg, "pip", "pip.conf"), "[global]\nindex-url = http://global/simple\nfind-links = /g\ntimeout = 7\n");
    fs.writeFileSync(path.join(home, ".pip", "pip.conf"), "[global]\nextra-index-url = http://legacy/simple\n");
    fs.writeFileSync(path.join(home, ".config", "pip", "pip.conf"), "[global]\nextra-index-url =\n    http://a/simple\n    http://b/simple\n[install]\npre = yes\n");
    const s = loadPipConfig({ env: { XDG_CONFIG_DIRS: xdg }, home });
    expect(s.indexUrl).toBe("http://global/simple");
    expect(s.extraIndexUrls).toEqual(["http://a/simple", "http://b/simple"]);
    expect(s.findLinks).toEqual(["/g"]);
    expect(s.pre).toBe(true);
    expect(s.timeout).toBe(7);
    expect(loadPipConfig({ env: { XDG_CONFIG_DIRS: xdg }, home, command: "download" }).pre).toBe(false);
    const e = loadPipConfig({ env: { XDG_CONFIG_DIRS: xdg, PIP_INDEX_URL: "http://env/simple", PIP_NO_INDEX: "1", PIP_FIND_LINKS: "/x /y" }, home });
    expect(e.indexUrl).toBe("http://env/simple");
    expect(e.noIndex).toBe(true);
    expect(e.findLinks).toEqual(["/x", "/y"]);
    expect(loadPipConfig({ env: { XDG_CONFIG_DIRS: xdg }, home, overrides: { indexUrl: "http://cli/simple" } }).indexUrl).toBe("http://cli/simple");
    // PIP_CONFIG_FILE that exists: user files skipped, the file read last.
    const own = path.join(d, "own.conf");
    fs.writeFileSync(own, "[global]\nconstraint = /c.txt\n");
    const o = loadPipConfig({ env: { XDG_CONFIG_DIRS: xdg, PIP_CONFIG_FILE: own }, home });
    expect(o.extraIndexUrls).toEqual([]);
    expect(o.constraints).toEqual(["/c.txt"]);
    // /dev/null: no files at all.
    expect(loadPipConfig({ env: { XDG_CONFIG_DIRS: xdg, PIP_CONFIG_FILE: os.devNull }, home }).files).toEqual([]);
    fs.rmSync(d, { recursive: true, force: true });
  });

  test("bad values and bad lines name the file and the fix", () => {
    expect(() => parseIni("[global]\nthis is not a setting\n", "/etc/pip.conf")).toThrow(/\/etc\/pip.conf:2: cannot parse/);
    expect(() => loadPipConfig({ env: { PIP_CONFIG_FILE: os.devNull, PIP_NO_INDEX: "maybe" } })).toThrow(/no-index="maybe" is not a boolean/);
  });

  test("agrees with `pip config list` on this machine", () => {
    const r = spawnSync("python3", ["-m", "pip", "config", "list"], { encoding: "utf8" });
    if (r.status !== 0) {
      console.warn("Skipping: `python3 -m pip config list` is not available");
      return;
    }
    const s = loadPipConfig();
    const lines = r.stdout.split("\n");
    const get = (key: string) => {
      const envLine = lines.find((l) => l.startsWith(`:env:.${key}=`));
      const line = envLine ?? lines.find((l) => l.startsWith(`global.${key}=`) || l.startsWith(`install.${key}=`));
      return line ? line.slice(line.indexOf("=") + 1).replace(/^'|'$/g, "") : undefined;
    };
    const extra = get("extra-index-url");
    if (extra !== undefined) expect(s.extraIndexUrls).toEqual(extra.split(/\s+/).filter(Boolean));
    const fl = get("find-links");
    if (fl !== undefined) expect(s.findLinks).toEqual(fl.split(/\s+/).filter(Boolean));
    const c = get("constraint");
    if (c !== undefined) expect(s.constraints).toEqual([c]);
  });
});
