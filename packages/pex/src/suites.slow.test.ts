import { spawnSync } from "node:child_process";
import path from "node:path";
import { downloadWheels, pipIndexUnavailable, pythonInterpreter } from "@cluster-pack/io/test-kit";

// Slow tier, off by default (CP_SLOW_SUITES=1; 2-3 min here): numpy's, pandas' and
// pyarrow's own installed test suites (a fixed subset, see bench/suites.mjs) give every test
// the same outcome in a zipapp PEX as in a venv holding the same wheels. The bench does the
// work and reports counts side by side; this asserts that no test id differs. Only
// outcomes are compared, never timings.

jest.setTimeout(30 * 60_000);

const ROOT = path.resolve(__dirname, "..", "..", "..");
const python = pythonInterpreter("3.11")?.python;
const why = (() => {
  if (process.env.CP_SLOW_SUITES !== "1") return "set CP_SLOW_SUITES=1 to run the package test-suite comparison (2-3 min here)";
  if (!python) return "no pyenv Python 3.11 under ~/.pyenv/versions (the mirror's numpy, pandas and pyarrow are cp311)";
  const noIndex = pipIndexUnavailable(python);
  if (noIndex) return noIndex;
  try {
    downloadWheels(["numpy", "pandas", "pyarrow", "pytest", "hypothesis"], { deps: true, python });
  } catch (err) {
    return `the configured index cannot provide numpy, pandas, pyarrow, pytest and hypothesis: ${(err as Error).message}`;
  }
  return undefined;
})();
if (why) console.warn(`skipping the package test-suite comparison: ${why}`);

const OUTCOMES = ["passed", "failed", "skipped", "xfailed", "xpassed", "error"];

interface SuiteReport {
  suite: string;
  venv: Record<string, number>;
  pex: Record<string, number>;
  differences: { id: string; venv: string; pex: string }[];
}

(why ? describe.skip : describe)("package test suites: a zipapp PEX against a venv with the same wheels", () => {
  it("gives every numpy, pandas and pyarrow test in the subset the same outcome", () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, "bench", "suites.mjs")], { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20 });
    const line = r.stdout.split("\n").find((l) => l.startsWith('{"bench":"suites"'));
    if (!line) throw new Error(`bench/suites.mjs printed no JSON (exit ${r.status}): ${r.stderr.slice(-3000)}`);
    const report = JSON.parse(line) as { skipped?: string; suites: SuiteReport[] };
    expect(report.skipped).toBeUndefined();
    expect(report.suites.length).toBe(6);
    const counts = (c: Record<string, number>) => Object.fromEntries(["exitCode", ...OUTCOMES].map((o) => [o, c[o]]));
    for (const s of report.suites) {
      // A suite that collected nothing in both (a renamed module) would compare equal.
      expect([s.suite, (s.venv.passed ?? 0) > 0]).toEqual([s.suite, true]);
      expect([s.suite, s.differences]).toEqual([s.suite, []]);
      expect([s.suite, counts(s.pex)]).toEqual([s.suite, counts(s.venv)]);
    }
  });
});
