// A writer for the temporary-file tests, run as a real separate process on the BUILT
// package: `node temp-child.js <mode> <target>` starts publishing <target>, prints
// "READY <temporary path>" once the temporary holds data, then:
//   exit -> calls process.exit(3) mid-write; hang -> waits (for a signal or SIGKILL).
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { publishFile, makeTempDir } = require(path.resolve(__dirname, "../../dist/index.js"));

const [mode, target] = process.argv.slice(2);
(async () => {
  const work = await makeTempDir("temp-child", { parent: path.dirname(target) });
  fs.writeFileSync(path.join(work, "scratch"), "x");
  await publishFile(target, async (temp) => {
    fs.writeFileSync(temp, "partial");
    process.stdout.write(`READY ${temp} ${work}\n`);
    if (mode === "exit") process.exit(3);
    await new Promise(() => setInterval(() => undefined, 1000));
  });
})();
