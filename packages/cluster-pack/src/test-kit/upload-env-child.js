// One racing caller for the concurrency test: reads uploadEnv options as JSON on stdin,
// runs the BUILT package (a real separate process, as 20 Spark drivers would be), prints
// { uploaded, packagePath, lockHash } as JSON.
"use strict";
const path = require("node:path");
const { uploadEnv } = require(path.resolve(__dirname, "../../dist/index.js"));

let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", async () => {
  try {
    const r = await uploadEnv(JSON.parse(input));
    process.stdout.write(JSON.stringify({ uploaded: r.uploaded, packagePath: r.packagePath, lockHash: r.lockHash }));
  } catch (err) {
    process.stderr.write(String(err && err.stack ? err.stack : err));
    process.exitCode = 1;
  }
});
