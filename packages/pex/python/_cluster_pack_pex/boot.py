"""The warm path of a PEX start.

Every start reads PEX-INFO (already in memory via the zip importer), finds its
`pex_hash` by a plain byte search (json and re are not imported on the warm path), and
loads the boot plan cached for (pex_hash, this interpreter) from PEX_ROOT with marshal.
Only when there is no plan does it import `extract` (the cold path) to check the
interpreter, pick wheels, extract them once per content hash and write the plan.
"""
import marshal
import os
import sys

# Frames of these files are removed from tracebacks shown to the user, so that errors
# look exactly as they do under plain python.
RUNTIME_FILES = set()
RUNTIME_FILES.add(__file__)

PLAN_VERSION = 1


def main(pex, main_loader, main_file):
    RUNTIME_FILES.add(main_file)
    verbose = _int_env("PEX_VERBOSE")
    env = os.environ
    if "PEX_PYTHON" in env and "_CP_PEX_PYTHON_SELECTED" not in env and env["PEX_PYTHON"]:
        from . import select_python

        select_python.reexec(env["PEX_PYTHON"], sys.argv[0])
    info_bytes = _read_pex_info(pex, main_loader)
    if "PEX_PYTHON_PATH" in env and "_CP_PEX_PYTHON_SELECTED" not in env and env["PEX_PYTHON_PATH"] and not env.get("PEX_PYTHON"):
        from . import select_python

        select_python.reexec_from_path(env["PEX_PYTHON_PATH"], sys.argv[0], info_bytes)
    if "PEX_TOOLS" in env and _truthy(env["PEX_TOOLS"]):
        from . import tools

        sys.exit(tools.main(pex, info_bytes, sys.argv[1:]))
    pex_hash = _pex_hash(info_bytes)
    root, fallback_root = pex_roots(info_bytes)
    if b'"venv": true' in info_bytes or ("PEX_VENV" in env and _truthy(env["PEX_VENV"])):
        from . import venv

        venv.main(pex, info_bytes, pex_hash or _sha1(info_bytes), root, fallback_root, verbose)
        return
    plan = None
    if pex_hash:
        plan = load_plan(root, pex_hash) or (fallback_root and load_plan(fallback_root, pex_hash))
    if plan is None:
        from . import extract

        plan = extract.prepare(pex, info_bytes, root, fallback_root, verbose)
    elif verbose:
        _log("warm start: boot plan for %s loaded" % pex_hash)
    run(pex, plan, verbose)


def run(pex, plan, verbose, venv_python=None, in_venv=None):
    """Runs the program. `venv_python`: re-execute the PEX under this venv python
    instead (venv mode, first process); `in_venv`: running under the PEX's venv, whose
    site-packages already holds the PEX's entries."""
    info = plan["info"]
    env = os.environ
    from . import interpreter

    mode = _select_mode(info, env)
    if mode[0] == "interpreter":
        # Decides whether the options need a re-exec of python before any work is done.
        request = interpreter.parse(sys.argv[1:])
        interpreter.reexec_if_needed(request, pex, venv_python)
    if venv_python:
        interpreter.reexec_program(venv_python)
    if in_venv:
        _venv_sys_path(pex, plan)
    else:
        pex_path_entries = []
        for other in _pex_path(info, env):
            pex_path_entries.extend(activate_other(other, verbose))
        inherit = env.get("PEX_INHERIT_PATH") or info.get("inherit_path") or "false"
        if inherit in ("0", "False"):
            inherit = "false"
        setup_sys_path(pex, plan["paths"] + pex_path_entries, inherit)
    if verbose:
        _log("sys.path: %r" % (sys.path,))
    env.pop("_CP_PEX_PYTHON_SELECTED", None)
    for key, value in sorted((info.get("inject_env") or {}).items()):
        env.setdefault(key, value)
    env["PEX"] = os.path.abspath(pex)
    if info.get("strip_pex_env", True):
        for key in [k for k in env if k.startswith("PEX_")]:
            del env[key]
    if mode[0] == "interpreter":
        interpreter.run(request)
    # As in pex, inject_args belong to the PEX's own entry point or script: they are not
    # added in interpreter mode nor when PEX_SCRIPT / PEX_MODULE override the entry.
    if mode[2]:
        sys.argv[1:1] = list(info.get("inject_args") or [])
    if mode[0] == "script":
        interpreter.run_script_entry(mode[1], plan)
    elif mode[0] == "entry":
        interpreter.run_entry_point(mode[1])


def _select_mode(info, env):
    """(mode, target, from PEX-INFO)."""
    if _truthy(env.get("PEX_INTERPRETER")):
        return ("interpreter", None, False)
    if env.get("PEX_SCRIPT"):
        return ("script", env["PEX_SCRIPT"], False)
    if env.get("PEX_MODULE"):
        return ("entry", env["PEX_MODULE"], False)
    if info.get("script"):
        return ("script", info["script"], True)
    if info.get("entry_point"):
        return ("entry", info["entry_point"], True)
    return ("interpreter", None, False)


def setup_sys_path(pex, entries, inherit):
    """sys.path = [PYTHONPATH and stdlib ..., the PEX's entries ...], with the host's
    site-packages dropped (inherit_path false), before ours (prefer) or after (fallback).
    The entry python added for the PEX itself is removed; interpreter emulation adds the
    sys.path[0] plain python would have."""
    path = list(sys.path)
    if path and _same_file(path[0], pex):
        del path[0]
    site_dirs = _site_dirs()
    split = len(path)
    for i, entry in enumerate(path):
        if _under_any(entry, site_dirs):
            split = i
            break
    base, site = path[:split], path[split:]
    if inherit == "prefer":
        new = base + site + entries
    elif inherit == "fallback":
        new = base + entries + site
    else:
        new = base + entries
        if site_dirs:
            _scrub_site_modules(site_dirs)
    sys.path[:] = new


def _venv_sys_path(pex, plan):
    # The venv's site-packages (.pth) put the PEX's entries on sys.path; only the PEX
    # file python added as sys.path[0] goes, as in the zipapp mode. When site did not
    # run (-S) the entries are added here (a zipapp PEX imports its deps under -S too).
    if sys.path and _same_file(sys.path[0], pex):
        del sys.path[0]
    if sys.flags.no_site:
        sys.path.extend(e for e in plan["paths"] if e not in sys.path)


def activate_other(other, verbose):
    """Extracts another PEX named by PEX_PATH / pex_path and returns its sys.path entries."""
    other = os.path.abspath(other)
    if os.path.isdir(other):
        with open(os.path.join(other, "PEX-INFO"), "rb") as fp:
            info_bytes = fp.read()
    else:
        import zipimport

        info_bytes = zipimport.zipimporter(other).get_data("PEX-INFO")
    pex_hash = _pex_hash(info_bytes)
    root, fallback_root = pex_roots(info_bytes)
    plan = pex_hash and (load_plan(root, pex_hash) or (fallback_root and load_plan(fallback_root, pex_hash)))
    if not plan:
        from . import extract

        plan = extract.prepare(other, info_bytes, root, fallback_root, verbose)
    return plan["paths"]


def pex_roots(info_bytes):
    """(PEX_ROOT, fallback). PEX_ROOT from the environment, else PEX-INFO's pex_root,
    else the user cache dir; the fallback is a per-user temp dir used when that is not
    writable (extract decides, and the warm path then finds the plan there)."""
    root = os.environ.get("PEX_ROOT")
    if not root and b'"pex_root"' in info_bytes:
        import json

        root = json.loads(info_bytes.decode("utf-8")).get("pex_root")
    if not root:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(cache, "pex")
    root = os.path.abspath(os.path.expanduser(root))
    tmp = os.environ.get("TMPDIR") or "/tmp"
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return root, os.path.join(tmp, "cluster-pack-pex-root-%d" % uid)


def plan_file(root, pex_hash):
    return os.path.join(root, "cp", "plans", "%s.%s.marshal" % (pex_hash, sys.implementation.cache_tag or "py"))


def load_plan(root, pex_hash):
    try:
        with open(plan_file(root, pex_hash), "rb") as fp:
            plan = marshal.load(fp)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if (
        not isinstance(plan, dict)
        or plan.get("version") != PLAN_VERSION
        or plan.get("executable") != sys.executable
        or plan.get("hexversion") != sys.hexversion
    ):
        return None
    for entry in plan["paths"]:
        if not os.path.isdir(entry):
            return None
    return plan


def _read_pex_info(pex, loader):
    if os.path.isdir(pex):
        with open(os.path.join(pex, "PEX-INFO"), "rb") as fp:
            return fp.read()
    # zipimporter.get_data takes a name relative to the archive.
    return loader.get_data("PEX-INFO")


def _pex_hash(info_bytes):
    # PEX-INFO is JSON with sorted keys (ours and pex's); a byte search avoids importing
    # json on the warm path. A hash is 40 hex digits.
    marker = b'"pex_hash": "'
    at = info_bytes.find(marker)
    if at < 0:
        return None
    start = at + len(marker)
    end = info_bytes.find(b'"', start)
    value = info_bytes[start:end].decode("ascii", "replace")
    return value if value and all(c in "0123456789abcdef" for c in value) else None


def _sha1(data):
    import hashlib

    return hashlib.sha1(data).hexdigest()


def _pex_path(info, env):
    out = []
    for value in (info.get("pex_path"), env.get("PEX_PATH")):
        if value:
            out.extend(p for p in value.split(os.pathsep) if p)
    return out


def _site_dirs():
    site = sys.modules.get("site")
    if site is None:
        return []
    dirs = []
    try:
        dirs.extend(site.getsitepackages())
    except AttributeError:  # old virtualenv's site.py
        pass
    user = getattr(site, "USER_SITE", None)
    if user:
        dirs.append(user)
    return [os.path.normcase(os.path.abspath(d)) for d in dirs]


def _under_any(entry, dirs):
    if not entry:
        return False
    entry = os.path.normcase(os.path.abspath(entry))
    for d in dirs:
        if entry == d or entry.startswith(d + os.sep):
            return True
    return False


def _scrub_site_modules(site_dirs):
    # Modules that .pth files imported from the host's site-packages at startup (e.g.
    # setuptools' _distutils_hack) must not leak into an isolated PEX.
    scrubbed = set()
    for name, module in list(sys.modules.items()):
        filename = getattr(module, "__file__", None)
        if filename and _under_any(filename, site_dirs):
            del sys.modules[name]
            scrubbed.add(name)
    if scrubbed:
        sys.meta_path[:] = [f for f in sys.meta_path if getattr(f, "__module__", None) not in scrubbed and type(f).__module__ not in scrubbed]


def _same_file(entry, pex):
    try:
        return os.path.abspath(entry) == os.path.abspath(pex)
    except (TypeError, ValueError):
        return False


def _truthy(value):
    return bool(value) and value.strip().lower() not in ("0", "false", "no", "")


def _int_env(name):
    value = os.environ.get(name, "")
    try:
        return int(value) if value else 0
    except ValueError:
        return 1


def _log(message):
    sys.stderr.write("pex: %s\n" % message)
