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
- `info`: the checked PEX-INFO; `console_scripts`: [(entry, {name: value})];
- `bytecode`: [(marker, directory)] of the extracted directories whose bytecode is not
  known to be compiled yet (bytecode.py); emptied once they all are;
- `code`: the compiled code of the runtime modules the warm path needs after the plan
  (WARM_MODULES): zipimport compiles a module's source at every start (a zip has no
  __pycache__), so the plan, already made for this PEX's runtime (pex_hash covers its
  files) and this interpreter, carries them; `module` imports from it.

Imports nothing from the runtime (a leaf).
"""
import marshal
import os
import sys

VERSION = 2
WARM_MODULES = ("interpreter", "syspath")


def new(paths, prefixes, pth, info, console_scripts, package, compiled=()):
    """A plan; `package` is the runtime package (its loaders compile WARM_MODULES)."""
    finder = sys.modules["_frozen_importlib_external"].PathFinder
    code = {}
    for name in WARM_MODULES:
        full = "%s.%s" % (package.__name__, name)
        try:
            code[name] = finder.find_spec(full, package.__path__).loader.get_code(full)
        except Exception:  # no loader with get_code: those modules are imported as usual
            pass
    return {
        "version": VERSION,
        "executable": sys.executable,
        "hexversion": sys.hexversion,
        "paths": list(paths),
        "prefixes": list(prefixes),
        "pth": list(pth),
        "info": info,
        "console_scripts": list(console_scripts),
        "code": code,
        "bytecode": [list(entry) for entry in compiled],
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


def module(package, name, boot_plan=None):
    """The runtime module `name` (one of WARM_MODULES), from the plan's compiled code when
    it has it, else imported as usual."""
    full = "%s.%s" % (package.__name__, name)
    found = sys.modules.get(full)
    if found is not None:
        return found
    code = boot_plan.get("code", {}).get(name) if boot_plan else None
    if code is None:
        __import__(full)
        return sys.modules[full]
    mod = type(sys)(full)
    mod.__file__ = code.co_filename
    mod.__package__ = package.__name__
    mod.__spec__ = sys.modules["_frozen_importlib"].ModuleSpec(full, None, origin=code.co_filename)
    sys.modules[full] = mod
    try:
        exec(code, mod.__dict__)
    except BaseException:
        del sys.modules[full]
        raise
    setattr(package, name, mod)
    return mod
