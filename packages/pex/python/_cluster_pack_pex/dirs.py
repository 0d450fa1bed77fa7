"""The PEX_ROOT directory table: every path the runtime makes under PEX_ROOT is built here
(pex's cache/dirs.py).

An entry's name carries its format version: change what an entry holds and bump the
version in its name, so that runtimes of different versions never read each other's
entries (they share PEX_ROOT). Components passed in (hashes, wheel names) must have been
checked by pex_info first. Imports nothing from the runtime (a leaf).
"""
import os
import sys

# Boot plans: <pex_hash>.<cache tag>.marshal (the format is plan.VERSION, checked on load).
PLANS = os.path.join("cp", "plans")
# Installed wheels: <fingerprint>/<wheel file name>/ is a prefix like a venv's: scripts in
# bin/, headers in include/, data files where the wheel puts them, and the importable root
# at SITE_PACKAGES, three levels down, so that RECORD's ../../../bin/... paths resolve as
# in a venv. Version 2: version 1 had the importable root at the top.
INSTALLED_WHEELS = os.path.join("cp", "installed_wheels.2")
SITE_PACKAGES = ("lib", "python", "site-packages")
# User code: <code_hash>/, the PEX's own top-level files.
USER_CODE = os.path.join("cp", "code")
# Beside an installed wheel or a user code directory: `<dir>.pyc-<cache tag>[.opt-N]`, made
# once its bytecode for that interpreter and level is compiled (bytecode.py).
BYTECODE_MARKER = "%s.pyc-%s%s"
# Venvs: <pex_hash>/<key>/; the key hashes venv.LAYOUT (its format version) with the
# interpreter, so a new layout gets new directories under the same name.
VENVS = "venvs"
# Used when PEX_ROOT is not writable: a per-user directory under the temp dir.
FALLBACK = "cluster-pack-pex-root-%d"
# PEX_NODE_ROOT=<dir>: the user's private root <dir>/cp-pex-<uid>, shared by the user's
# containers on a node.
NODE_ROOT = "cp-pex-%d"


def roots(env_root, info_root, node_root=None):
    """(PEX_ROOT, fallback): PEX_ROOT from the environment, else the user's directory under
    PEX_NODE_ROOT, else PEX-INFO's pex_root, else the user cache dir; the fallback is used
    when that is not writable."""
    root = env_root or (private_node_root(node_root) if node_root else None) or info_root
    if not root:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(cache, "pex")
    root = os.path.abspath(os.path.expanduser(root))
    tmp = os.environ.get("TMPDIR") or "/tmp"
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return root, os.path.join(tmp, FALLBACK % uid)


def private_node_root(parent):
    """`<parent>/cp-pex-<uid>`, made 0700 when absent, and used only when it is a real
    directory of this user that nobody else can write, in a parent where nobody else can
    replace it (not writable by others, or sticky like /tmp). Otherwise one line, exit 2:
    another user could have planted code there for our interpreter to import."""
    import stat

    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = os.path.join(parent, NODE_ROOT % uid)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as err:
        sys.exit("PEX_NODE_ROOT %s: cannot create %s (%s); use a directory every user may create entries in (e.g. /tmp), or unset PEX_NODE_ROOT." % (parent, path, err.strerror))
    try:
        st, up = os.lstat(path), os.stat(parent)
    except OSError as err:
        sys.exit("PEX_NODE_ROOT %s: cannot read %s (%s); unset PEX_NODE_ROOT." % (parent, path, err.strerror))
    why = None
    if not stat.S_ISDIR(st.st_mode):
        why = "is not a directory (a symbolic link or a file)"
    elif st.st_uid != uid:
        why = "belongs to uid %d, not to this user (uid %d)" % (st.st_uid, uid)
    elif st.st_mode & 0o077:
        why = "has mode %o: others may read or write it (it must be 700)" % (st.st_mode & 0o777)
    elif up.st_mode & 0o022 and not up.st_mode & stat.S_ISVTX and up.st_uid != uid:
        why = "is in %s, which others may write without the sticky bit, so they could replace it" % parent
    if why:
        sys.exit("PEX_NODE_ROOT %s: %s %s; remove it, or unset PEX_NODE_ROOT to extract into the container." % (parent, path, why))
    return path


def plan_file(root, pex_hash):
    return os.path.join(root, PLANS, "%s.%s.marshal" % (pex_hash, sys.implementation.cache_tag or "py"))


def installed_wheel(root, fingerprint, wheel):
    return os.path.join(root, INSTALLED_WHEELS, fingerprint, wheel)


def site_packages(prefix):
    return os.path.join(prefix, *SITE_PACKAGES)


def bytecode_marker(target):
    level = sys.flags.optimize
    return BYTECODE_MARKER % (target, sys.implementation.cache_tag or "py", ".opt-%d" % level if level else "")


def user_code(root, code_hash):
    return os.path.join(root, USER_CODE, code_hash)


def venv(root, pex_hash, key):
    return os.path.join(root, VENVS, pex_hash, key)


def root_of_venv(python, pex_hash):
    """The PEX_ROOT holding the venv of this PEX that `python` belongs to (by its location
    <root>/venvs/<pex_hash>/<key>/bin/python), or None."""
    parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(python or "."))))
    if os.path.basename(parent) == pex_hash and os.path.basename(os.path.dirname(parent)) == VENVS:
        return os.path.dirname(os.path.dirname(parent))
    return None


def writable_root(root, fallback, argv0):
    """The first of PEX_ROOT and its fallback that can be written, or exit with one line."""
    for candidate in (root, fallback):
        probe = os.path.join(candidate, "cp")
        try:
            os.makedirs(probe, exist_ok=True)
        except OSError:
            continue
        if os.access(probe, os.W_OK | os.X_OK):
            if candidate != root:
                sys.stderr.write("pex: PEX_ROOT %s is not writable; using %s instead (slower first starts).\n" % (root, candidate))
            return candidate
    sys.exit("%s: neither PEX_ROOT %s nor %s is writable; set PEX_ROOT to a writable directory." % (argv0, root, fallback))
