"""Every PEX_* environment variable the runtime reads, parsed once (pex's variables.py).

`Variables()` reads os.environ when the PEX starts; every other module gets its values
from that object, never from os.environ. A value that cannot be parsed raises ValueError
with a message naming the variable and what it accepts (boot prints it and exits 2). An
empty value means unset. Imports nothing from the runtime (a leaf), and nothing slow: it
is on the warm path.
"""
import os

# Private markers set for processes the runtime re-executes. They do not start with PEX_,
# so strip_pex_env keeps them for the child that needs them.
SELECTED = "_CP_PEX_PYTHON_SELECTED"  # PEX_PYTHON / the interpreter search chose this python
VENV_MARKER = "_CP_PEX_VENV"  # re-executed under this venv's python
EXTRA_SYS_PATH = "_CP_PEX_EXTRA_SYS_PATH"  # PEX_EXTRA_SYS_PATH, kept for venv subprocesses

INHERIT_PATH_VALUES = ("false", "prefer", "fallback")


class Variables(object):
    def __init__(self, environ=None):
        get = (os.environ if environ is None else environ).get
        self.verbose = _int(get, "PEX_VERBOSE")
        self.python = get("PEX_PYTHON") or None
        self.python_path_raw = get("PEX_PYTHON_PATH") or None
        self.python_path = _paths(self.python_path_raw)
        self.tools = _bool(get, "PEX_TOOLS")
        self.root = get("PEX_ROOT") or None
        # A node-level root shared by one user's containers (dirs.node_root); PEX_ROOT wins.
        self.node_root = _absolute(get, "PEX_NODE_ROOT")
        # Where a layered PEX's layers are looked for first (layers.py).
        self.layers_path = _paths(get("PEX_LAYERS_PATH"))
        self.venv = _bool(get, "PEX_VENV")
        self.inherit_path = inherit_mode(get("PEX_INHERIT_PATH"), "PEX_INHERIT_PATH")
        self.pex_path = [p for p in (get("PEX_PATH") or "").split(os.pathsep) if p]
        self.interpreter = _bool(get, "PEX_INTERPRETER")
        self.script = get("PEX_SCRIPT") or None
        self.module = get("PEX_MODULE") or None
        self.extra_sys_path = _paths(get("PEX_EXTRA_SYS_PATH"))
        # cluster-pack's own: threads of the cold path's extraction (0: one per usable CPU).
        self.extract_threads = _count(get, "PEX_EXTRACT_THREADS")
        # cluster-pack's own: bytecode of the extracted distributions (bytecode.py).
        self.bytecode = _bytecode(get("PEX_BYTECODE"))
        self.selected_by = get(SELECTED) or None
        self.venv_marker = get(VENV_MARKER) or None

    def inherit(self, info_value):
        """The effective inherit-path mode: PEX_INHERIT_PATH, else PEX-INFO's, else false."""
        return self.inherit_path or inherit_mode(info_value, "PEX-INFO inherit_path") or "false"


def inherit_mode(value, source):
    """pex's values (false, prefer, fallback) and its boolean forms: true means prefer, as
    pex reads a boolean inherit_path; None for unset."""
    if value is None or value == "":
        return None
    if value is True:
        return "prefer"
    if value is False:
        return "false"
    text = value.strip().lower() if isinstance(value, str) else None
    if text in ("true", "1"):
        return "prefer"
    if text == "0":
        return "false"
    if text in INHERIT_PATH_VALUES:
        return text
    raise ValueError("%s=%r is not valid: use false, prefer or fallback (true means prefer)." % (source, value))


def _bool(get, name):
    value = get(name)
    if not value:
        return False
    text = value.strip().lower()
    if text in ("1", "true"):
        return True
    if text in ("0", "false"):
        return False
    raise ValueError("%s=%r is not valid: use 1, true, 0 or false." % (name, value))


def _int(get, name):
    value = get(name)
    if not value:
        return 0
    try:
        return int(value)
    except ValueError:
        raise ValueError("%s=%r is not valid: use an integer (0 for quiet)." % (name, value))


def _absolute(get, name):
    value = get(name)
    if not value:
        return None
    if not os.path.isabs(value):
        raise ValueError("%s=%r is not valid: use an absolute directory (e.g. /tmp or a local disk)." % (name, value))
    return os.path.normpath(value)
def _bytecode(value):
    text = (value or "").strip().lower()
    if text in ("", "auto"):
        return "auto"
    if text in ("1", "true", "background"):
        return "background"
    if text in ("0", "false", "off"):
        return "off"
    if text == "wait":
        return "wait"
    raise ValueError(
        "PEX_BYTECODE=%r is not valid: use auto (the default: in the background when the interpreter writes no bytecode itself), background, wait, or 0 (never compile)." % (value,)
    )


def _count(get, name):
    value = get(name)
    if not value:
        return 0
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise ValueError("%s=%r is not valid: use a number of threads (0 or unset: one per usable CPU)." % (name, value))
    return count


def _paths(value):
    """os.pathsep-separated paths, made absolute, duplicates dropped (pex keeps the first)."""
    out = []
    for entry in (value or "").split(os.pathsep):
        if entry:
            entry = os.path.abspath(os.path.expanduser(entry))
            if entry not in out:
                out.append(entry)
    return out
