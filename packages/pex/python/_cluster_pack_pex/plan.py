"""The boot plan: what a warm start needs, cached per (PEX, interpreter) under PEX_ROOT.

Written by the cold path (extract) and by venv creation, read by every start; its
format and its checks live here only. A plan is a marshal'ed dict (marshal is the
fastest stdlib loader and imports nothing):

- `version`, `executable`, `hexversion`: the plan is used only by the interpreter it was
  made for (a venv's own python is checked by the venv key instead, see `load`);
- `paths`: sys.path entries, the user code first, then the distributions;
- `prefixes`: for each distribution entry, its installed prefix (scripts in `bin/`);
- `pth`: [(entry, file name)] of the .pth files in those entries, in the order a venv
  runs them (by file name, as site does within one site-packages);
- `info`: the checked PEX-INFO; `console_scripts`: [(entry, {name: value})].

Imports nothing from the runtime (a leaf).
"""
import marshal
import os
import sys

VERSION = 2


def new(paths, prefixes, pth, info, console_scripts):
    return {
        "version": VERSION,
        "executable": sys.executable,
        "hexversion": sys.hexversion,
        "paths": list(paths),
        "prefixes": list(prefixes),
        "pth": list(pth),
        "info": info,
        "console_scripts": list(console_scripts),
    }


def encode(plan):
    return marshal.dumps(plan)


def load(path, executable=True):
    """The plan stored at `path`, or None when absent, of another format or interpreter,
    or pointing to a directory that was removed. `executable=False` skips the
    sys.executable check (a venv's python runs the plan its base interpreter wrote)."""
    try:
        with open(path, "rb") as fp:
            plan = marshal.load(fp)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if (
        not isinstance(plan, dict)
        or plan.get("version") != VERSION
        or plan.get("hexversion") != sys.hexversion
        or (executable and plan.get("executable") != sys.executable)
    ):
        return None
    for entry in plan["paths"]:
        if not os.path.isdir(entry):
            return None
    return plan
