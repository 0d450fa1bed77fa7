#!/usr/bin/env node
// The project's test command (`npm test`): builds every package (the CLI and PEX tests run
// built code), then runs every workspace's jest suite in one run, and ends with the plain
// summary line "tests: N passed, N failed, N skipped" that CI reads.
// Two workers: most suites wait on Python subprocesses and servers, so two overlap well
// on the 2-core machines; more make the timing-sensitive race tests noisier.
// Extra arguments go to jest, e.g. `npm test -- packages/zip`.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const args = process.argv.slice(2);

const build = spawnSync("npx", ["turbo", "run", "build", "--output-logs=errors-only"], { cwd: root, stdio: "inherit" });
if (build.status !== 0) {
  console.error("tests: build failed, no test ran");
  console.log("0 passed, 1 failed");
  process.exit(1);
}

const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cp-jest-")), "report.json");
const jest = spawnSync("npx", ["jest", "--json", `--outputFile=${report}`, "--maxWorkers=2", ...args], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, FORCE_COLOR: process.env.FORCE_COLOR ?? "0" },
});

let summary;
try {
  summary = JSON.parse(fs.readFileSync(report, "utf8"));
} catch {
  console.error("tests: jest wrote no report");
  console.log("0 passed, 1 failed");
  process.exit(jest.status || 1);
}
const passed = summary.numPassedTests;
const failed = summary.numFailedTests + summary.numRuntimeErrorTestSuites;
const skipped = summary.numPendingTests + summary.numTodoTests;
console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(jest.status === 0 && failed === 0 && passed > 0 ? 0 : 1);
