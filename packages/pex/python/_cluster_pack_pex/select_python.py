"""PEX_PYTHON / PEX_PYTHON_PATH: run the PEX under another interpreter, as pex does.

PEX_PYTHON is an interpreter path (absolute or relative, when it contains a path
separator) or a name such as `python3.11` looked up on PEX_PYTHON_PATH (directories or
interpreter files, os.pathsep-separated) or else on PATH. The PEX re-executes itself
under it with the same options and arguments; the re-executed process checks the
interpreter constraints itself (an interpreter's version is only known by running it)
and its error names PEX_PYTHON. Only imported when PEX_PYTHON is set.
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
        os.environ[MARKER] = pex_python  # for the constraint error's hint only
        return
    from .interpreter import _original_options

    argv = [target] + _original_options() + [argv0] + sys.argv[1:]
    os.environ[MARKER] = pex_python
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    try:
        os.execv(target, argv)
    except OSError as err:
        sys.exit("%s: cannot run PEX_PYTHON=%s (%s): %s; set PEX_PYTHON to a working Python interpreter." % (argv0, pex_python, target, err.strerror or err))


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


def constraint_hint():
    """Appended to the interpreter-constraints error of a re-executed process."""
    chosen = os.environ.get(MARKER)
    return " (selected by PEX_PYTHON=%s)" % chosen if chosen else ""


def _executable(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _same(a, b):
    try:
        return bool(b) and os.path.realpath(a) == os.path.realpath(b)
    except (OSError, ValueError):
        return False
