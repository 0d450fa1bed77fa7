"""Marker package: only the environment built by the engines test kit has it.

Jobs import it to prove they run inside the shipped environment.
"""
import os
import sys

MARK = "cp-engines-marker"


def report():
    """Where this interpreter runs from, as the end-to-end tests check it."""
    try:
        import cp_engines_code  # shipped beside the environment, on PYTHONPATH

        code = {"version": cp_engines_code.VERSION, "file": cp_engines_code.__file__}
    except ImportError as e:  # reported, so the test says what was missing
        code = {"error": str(e)}
    modules = {}  # CP_REPORT_MODULES=six,attrs: where each of them was imported from
    for name in [m for m in os.environ.get("CP_REPORT_MODULES", "").split(",") if m]:
        try:
            modules[name] = os.path.realpath(__import__(name).__file__)
        except ImportError as e:
            modules[name] = "error: %s" % e
    return {
        "mark": MARK,
        "modules": modules,
        "marker_file": os.path.realpath(__file__),
        "prefix": os.path.realpath(sys.prefix),
        "executable": sys.executable,
        "cwd": os.path.realpath(os.getcwd()),
        "pex_root": os.environ.get("PEX_ROOT"),
        "pex": os.environ.get("PEX"),
        "code": code,
    }
