"""PEX_PYTHON / PEX_PYTHON_PATH: run the PEX under another interpreter, as pex does.

PEX_PYTHON is an interpreter path (absolute or relative, when it contains a path
separator) or a name such as `python3.11` looked up on PEX_PYTHON_PATH (directories or
interpreter files, os.pathsep-separated) or else on PATH. The PEX re-executes itself
under it with the same options and arguments; the re-executed process checks the
interpreter constraints itself (an interpreter's version is only known by running it)
and its error names PEX_PYTHON. PEX_PYTHON_PATH alone selects among the interpreters
it lists, as pex does. Only imported when one of them is set.
"""
import os
import sys

# Set for the re-executed process so that it does not select again (PEX_PYTHON may name
# a wrapper such as a pyenv shim whose sys.executable differs from the name) and so that
# a constraint failure can say which variable chose the interpreter.
MARKER = "_CP_PEX_PYTHON_SELECTED"


def reexec(pex_python, argv0):
    target = resolve(pex_python)
    if _same(target, sys.executable):
        os.environ[MARKER] = "PEX_PYTHON=" + pex_python  # for the constraint error's hint only
        return
    _exec(target, argv0, "PEX_PYTHON=" + pex_python)


def reexec_from_path(search, argv0, info_bytes):
    """PEX_PYTHON_PATH without PEX_PYTHON: like pex, keep the current interpreter when it
    is on the path and satisfies the interpreter constraints, else re-execute under the
    oldest compatible one found there."""
    import json
    import subprocess

    from . import tags

    constraints = json.loads(info_bytes.decode("utf-8")).get("interpreter_constraints") or []
    candidates = _path_interpreters(search)
    here = os.path.realpath(sys.executable) if sys.executable else None
    if here in [os.path.realpath(c) for c in candidates] and tags.check_constraints(constraints):
        return
    found = []
    tried = []
    probe = "import sys; print(sys.implementation.name, *sys.version_info[:3])"
    for candidate in candidates:
        try:
            out = subprocess.run([candidate, "-I", "-S", "-c", probe], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=60).stdout.split()
            impl, version = out[0].decode("ascii"), tuple(int(x) for x in out[1:4])
        except (OSError, ValueError, IndexError, subprocess.SubprocessError):
            continue
        tried.append("%s (%s %s)" % (candidate, impl, ".".join(map(str, version))))
        if tags.check_constraints(constraints, impl, version):
            found.append((version, candidate))
    if not found:
        sys.exit(
            "%s: no interpreter on PEX_PYTHON_PATH=%s satisfies the interpreter constraints (%s); tried %s. Add a matching Python to PEX_PYTHON_PATH."
            % (argv0, search, " or ".join(sorted(constraints)) or "none", ", ".join(tried) or "nothing (no python* executables there)")
        )
    target = min(found)[1]
    if _same(target, sys.executable):
        return
    _exec(target, argv0, "PEX_PYTHON_PATH=" + search)


def resolve(pex_python):
    """The executable PEX_PYTHON names, or exit with a one-line error."""
    if os.sep in pex_python or (os.altsep and os.altsep in pex_python):
        path = os.path.abspath(os.path.expanduser(pex_python))
        if not _executable(path):
            sys.exit("%s: PEX_PYTHON=%s does not exist or is not executable; set PEX_PYTHON to a Python interpreter path or a name on PATH." % (sys.argv[0], pex_python))
        return path
    search = os.environ.get("PEX_PYTHON_PATH")
    where = "PEX_PYTHON_PATH=%s" % search if search else "PATH"
    for entry in (search if search else os.environ.get("PATH", os.defpath)).split(os.pathsep):
        if not entry:
            continue
        entry = os.path.abspath(os.path.expanduser(entry))
        # PEX_PYTHON_PATH may list interpreter files as well as directories.
        candidate = entry if os.path.basename(entry) == pex_python and not os.path.isdir(entry) else os.path.join(entry, pex_python)
        if _executable(candidate):
            return candidate
    sys.exit("%s: PEX_PYTHON=%s was not found on %s; install it, or set PEX_PYTHON to an absolute interpreter path." % (sys.argv[0], pex_python, where))


def _exec(target, argv0, label):
    from .interpreter import _original_options

    argv = [target] + _original_options() + [argv0] + sys.argv[1:]
    os.environ[MARKER] = label
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    try:
        os.execv(target, argv)
    except OSError as err:
        sys.exit("%s: cannot run %s (chosen by %s): %s; set PEX_PYTHON / PEX_PYTHON_PATH to a working Python interpreter." % (argv0, target, label, err.strerror or err))


def _path_interpreters(search):
    """Executables on PEX_PYTHON_PATH: listed files, and python, python3, python3.N in
    listed directories."""
    import re

    out = []
    for entry in search.split(os.pathsep):
        if not entry:
            continue
        entry = os.path.abspath(os.path.expanduser(entry))
        if os.path.isdir(entry):
            try:
                names = sorted(os.listdir(entry))
            except OSError:
                continue
            out.extend(os.path.join(entry, n) for n in names if re.match(r"^python(\d+(\.\d+)?)?$", n) and _executable(os.path.join(entry, n)))
        elif _executable(entry):
            out.append(entry)
    return out


def _executable(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _same(a, b):
    try:
        return bool(b) and os.path.realpath(a) == os.path.realpath(b)
    except (OSError, ValueError):
        return False
