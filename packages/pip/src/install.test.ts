import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pythonInterpreter } from "@cluster-pack/io/test-kit";
import { PipSession } from "./session";
import { explicitTarget } from "./target";
import { writeWheel } from "./test-kit/wheels";
import { installDistributions, prefixScheme } from "./install";

const PY = pythonInterpreter("3.11")?.python ?? "";
const hasPy = PY !== "";
if (!hasPy) console.warn("skipping installation tests: no pyenv CPython 3.11 to import the installed wheels");

(hasPy ? describe : describe.skip)("installation into a directory tree", () => {
  test("resolved wheels import with a real interpreter; scripts use the chosen interpreter", async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-install-"));
    try {
      const links = path.join(tmp, "links");
      await writeWheel(links, { name: "hello_app", version: "1.2", requires: ["hello-lib"], scripts: { "hello-app": "hello_app:main" } });
      await writeWheel(links, { name: "hello-lib", version: "0.1" });
      const s = new PipSession({ pipConfig: false, noIndex: true, findLinks: [links], cacheDir: path.join(tmp, "cache"), target: explicitTarget({ python: "3.11" }) });
      const input = await s.readInput({ requirements: ["hello-app"] });
      const files = await s.download(await s.resolve(input), input);
      const prefix = path.join(tmp, "env");
      const installed = await installDistributions(files, { prefix, pythonVersion: "3.11", interpreter: PY, requested: new Set(["hello-app"]) });
      expect(installed).toHaveLength(2);
      const site = prefixScheme(prefix, "3.11").purelib;
      const r = spawnSync(PY, ["-c", "import hello_app, hello_lib; print(hello_app.__version__, hello_lib.__version__)"], { env: { PYTHONPATH: site }, encoding: "utf8" });
      expect(r.stdout.trim()).toBe("1.2 0.1");
      const script = path.join(prefix, "bin", "hello-app");
      expect(fs.readFileSync(script, "utf8").split("\n")[0]).toBe(`#!${PY}`);
      const run = spawnSync(script, [], { env: { PYTHONPATH: site }, encoding: "utf8" });
      expect(run.stdout.trim()).toBe("hello from hello_app 1.2");
      const distInfo = path.join(site, "hello_app-1.2.dist-info");
      expect(fs.readFileSync(path.join(distInfo, "INSTALLER"), "utf8").trim()).toBe("cluster-pack");
      expect(fs.existsSync(path.join(distInfo, "REQUESTED"))).toBe(true);
      expect(fs.readFileSync(path.join(distInfo, "RECORD"), "utf8")).toMatch(/hello_app\/__init__\.py,sha256=/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
