"""Runs pytest and writes every test's outcome as JSON: `python pytest_outcomes.py OUT.json
PYTEST-ARGS...`. Run by bench/suites.mjs under a venv's python and under a PEX, so both
report through the same code. One outcome per test id: "passed", "failed", "skipped",
"xfailed", "xpassed" or "error" (an error in setup, teardown or collection outranks the
call's outcome, as pytest's own summary counts it). Exits with pytest's exit code.
"""
import json
import sys

import pytest

_RANK = {"passed": 0, "skipped": 1, "xfailed": 1, "xpassed": 2, "failed": 3, "error": 4}


class Outcomes:
    def __init__(self):
        self.by_id = {}

    def _set(self, nodeid, outcome):
        old = self.by_id.get(nodeid)
        if old is None or _RANK[outcome] > _RANK[old]:
            self.by_id[nodeid] = outcome

    def pytest_runtest_logreport(self, report):
        if report.when == "call":
            if hasattr(report, "wasxfail"):
                self._set(report.nodeid, "xfailed" if report.skipped else "xpassed")
            else:
                self._set(report.nodeid, report.outcome)
        elif report.failed:
            self._set(report.nodeid, "error")
        elif report.skipped:  # skipped in setup (a skip mark, a missing optional module)
            self._set(report.nodeid, "xfailed" if hasattr(report, "wasxfail") else "skipped")

    def pytest_collectreport(self, report):
        if report.failed:
            self._set(report.nodeid or "<collection>", "error")


def main(argv):
    out, args = argv[0], argv[1:]
    outcomes = Outcomes()
    code = pytest.main(args, plugins=[outcomes])
    with open(out, "w") as f:
        json.dump({"exitCode": int(code), "outcomes": outcomes.by_id}, f, sort_keys=True)
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
