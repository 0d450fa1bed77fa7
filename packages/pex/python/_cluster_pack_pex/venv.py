"""Venv execution mode (PEX-INFO `venv: true` or PEX_VENV=1), as pex's `--venv`.

A zipapp PEX sets sys.path inside the running process only, so a subprocess started
as `sys.executable ...` (Ray's workers and agents, multiprocessing, `subprocess.run`)
gets the bare interpreter, which cannot import the PEX's distributions. In venv mode
the PEX builds, once per (PEX content, interpreter), a virtual environment under
`PEX_ROOT/venvs/<pex_hash>/<interpreter key>/` whose site-packages holds the PEX's
code and distributions, and re-executes that venv's python on the PEX: sys.executable
is then the venv python and every subprocess started with it sees the environment.

The PEX process started under the venv python (`sys.prefix` is the venv) runs the
program exactly as the zipapp mode does (entry point, interpreter emulation, inject_*),
without touching sys.path: the venv's site-packages already has everything.

Only imported when venv mode is on; the warm path costs one extra interpreter start
(the exec), one hashlib sha1 and one marshal load per process.
"""
import marshal
import os
import sys

from . import boot

VENV_PLAN = "pex-plan.marshal"
# Bumped when the venv layout changes, so old venvs are not reused by a new runtime.
LAYOUT_VERSION = "1"
_MARKER = "_CP_PEX_VENV"


def main(pex, info_bytes, pex_hash, root, fallback_root, verbose):
    """Runs the PEX in its venv: creates the venv when missing and re-executes its
    python, or (already running under it) runs the program."""
    # Set by the process that re-executed us under the venv python: if we are not in the
    # venv now, something (PYTHONHOME, a wrapper) defeated pyvenv.cfg; stop, not loop.
    expected = os.environ.pop(_MARKER, None)
    key = venv_key(pex_hash)
    # The venv this process runs in, from the executable's location as python itself
    # finds pyvenv.cfg (sys.prefix is only set to the venv by site, which -S skips).
    here = os.path.realpath(os.path.dirname(os.path.dirname(os.path.abspath(sys.executable or "."))))
    plan = None
    for candidate_root in (root, fallback_root):
        vdir = os.path.join(candidate_root, "venvs", pex_hash, key)
        plan = load_venv_plan(vdir)
        if plan is not None:
            break
    if plan is not None and os.path.realpath(vdir) == here:
        if verbose:
            boot._log("venv mode: running in %s" % vdir)
        boot.run(pex, plan, verbose, in_venv=vdir)
        return
    if expected:
        sys.exit(
            "%s: re-executed under the venv python %s/bin/python but it did not start in that venv (sys.prefix is %s, sys.executable %s); unset PYTHONHOME or run the PEX with a plain python."
            % (sys.argv[0], expected, sys.prefix, sys.executable)
        )
    if plan is None:
        plan = boot.load_plan(root, pex_hash) or (fallback_root and boot.load_plan(fallback_root, pex_hash))
        from . import extract

        if not plan:
            plan = extract.prepare(pex, info_bytes, root, fallback_root, verbose)
        actual_root = extract.writable_root(root, fallback_root)
        vdir = os.path.join(actual_root, "venvs", pex_hash, key)
        others = [p for other in boot._pex_path(plan["info"], os.environ) for p in boot.activate_other(other, verbose)]
        create(vdir, plan, others, _inherit(plan["info"]), verbose)
    elif verbose:
        boot._log("venv mode: warm start, venv %s" % vdir)
    python = os.path.join(vdir, "bin", "python")
    os.environ[_MARKER] = vdir
    boot.run(pex, plan, verbose, venv_python=python)


def venv_key(pex_hash):
    """The interpreter's share of the venv directory name: the real path of the base
    interpreter (a venv python resolves to the same one, so the re-executed process finds
    its own venv), its exact version and build, and the runtime inputs that change the
    venv's content (PEX_INHERIT_PATH, PEX_PATH)."""
    import hashlib

    identity = "\0".join(
        [
            LAYOUT_VERSION,
            pex_hash,
            os.path.realpath(sys.executable or ""),
            "%x" % sys.hexversion,
            sys.implementation.cache_tag or "",
            os.environ.get("PEX_INHERIT_PATH", ""),
            os.environ.get("PEX_PATH", ""),
        ]
    )
    return hashlib.sha1(identity.encode("utf-8", "surrogateescape")).hexdigest()[:20]


def load_venv_plan(vdir):
    """The boot plan stored in a complete venv, or None (absent, other interpreter, or an
    extraction directory it points to was removed)."""
    try:
        with open(os.path.join(vdir, VENV_PLAN), "rb") as fp:
            plan = marshal.load(fp)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not isinstance(plan, dict) or plan.get("version") != boot.PLAN_VERSION or plan.get("hexversion") != sys.hexversion:
        return None
    for entry in plan["paths"]:
        if not os.path.isdir(entry):
            return None
    return plan


def create(vdir, plan, other_paths, inherit, verbose):
    """Makes `vdir` a complete venv, exactly once across processes: built in a temporary
    sibling under a lock and renamed into place (a killed creator leaves only a `*.tmp-*`
    directory, which the next creator removes). A stale venv (its plan no longer loads)
    is replaced the same way."""
    from . import extract

    def fill(tmp):
        _populate(tmp, vdir, plan, other_paths, inherit)

    def valid(target):
        return load_venv_plan(target) is not None

    extract.ensure(vdir, fill, valid=valid)
    if verbose:
        boot._log("venv mode: created %s" % vdir)


def _populate(tmp, final, plan, other_paths, inherit):
    base = os.path.realpath(sys.executable)
    major, minor = sys.version_info[:2]
    bindir = os.path.join(tmp, "bin")
    site_packages = os.path.join(tmp, "lib", "python%d.%d" % (major, minor), "site-packages")
    os.makedirs(bindir)
    os.makedirs(site_packages)
    if sys.maxsize > 2**32 and sys.platform != "darwin":
        os.symlink("lib", os.path.join(tmp, "lib64"))  # as `python -m venv` does
    system_site = inherit in ("prefer", "fallback")
    with open(os.path.join(tmp, "pyvenv.cfg"), "w") as fp:
        fp.write("home = %s\n" % os.path.dirname(base))
        fp.write("include-system-site-packages = %s\n" % ("true" if system_site else "false"))
        fp.write("version = %d.%d.%d\n" % sys.version_info[:3])
        fp.write("executable = %s\n" % base)
        fp.write("cluster-pack-pex = %s\n" % LAYOUT_VERSION)
    for name in ("python", "python3", "python%d.%d" % (major, minor)):
        os.symlink(base, os.path.join(bindir, name))
    # site-packages gets one .pth listing the extracted directories rather than symlinks
    # or copies of their content: no merging of directories two distributions share
    # (namespace packages stay PEP 420 / pkgutil portions on separate path entries, as in
    # the zipapp mode), importlib.metadata finds each .dist-info on its entry, module
    # __file__s stay in the PEX's extraction, and creation costs one small file. A
    # directory that ships its own *.pth files (which site only reads in site dirs) is
    # added with site.addsitedir so those run as they would in an installed venv.
    lines = ["# Written by the cluster-pack PEX runtime: the PEX's code and distributions."]
    if inherit == "prefer":
        # Host site-packages before the PEX's entries (pex's inherit_path=prefer).
        lines.append("import site, sys; [site.addsitedir(d) for d in site.getsitepackages([sys.base_prefix])]")
    for entry in list(plan["paths"]) + list(other_paths):
        if "\n" in entry or "\r" in entry:
            sys.exit("%s: cannot put %r in a venv: the path contains a newline; set PEX_ROOT to a plainer path." % (sys.argv[0], entry))
        if _has_pth(entry):
            lines.append("import site; site.addsitedir(%r)" % entry)
        else:
            lines.append(entry)
    with open(os.path.join(site_packages, "_cluster_pack_pex.pth"), "w") as fp:
        fp.write("\n".join(lines) + "\n")
    # Scripts: console-script launchers and `.data/scripts` of every distribution, with
    # the venv python in the shebang; the first distribution listed wins a name.
    python = os.path.join(final, "bin", "python")
    for entry in list(plan["paths"]) + list(other_paths):
        src_bin = os.path.join(entry, "bin")
        try:
            names = sorted(os.listdir(src_bin))
        except OSError:
            continue
        for name in names:
            src = os.path.join(src_bin, name)
            dest = os.path.join(bindir, name)
            if os.path.lexists(dest) or not os.path.isfile(src):
                continue
            with open(src, "rb") as fp:
                data = fp.read()
            data = _rewrite_shebang(data, python)
            with open(dest, "wb") as fp:
                fp.write(data)
            os.chmod(dest, 0o755)
    stored = dict(plan)
    stored["venv"] = final
    with open(os.path.join(tmp, VENV_PLAN), "wb") as fp:
        marshal.dump(stored, fp)


def _has_pth(entry):
    try:
        return any(n.endswith(".pth") for n in os.listdir(entry))
    except OSError:
        return False


def _rewrite_shebang(data, python):
    """`#!python` / `#!/any/pythonX.Y [args]` (the installer's placeholder or an absolute
    interpreter) becomes the venv python; other scripts (shell, ...) are kept as they are.
    Shebangs longer than Linux's 127 bytes use pip's /bin/sh trampoline."""
    if not data.startswith(b"#!"):
        return data
    end = data.find(b"\n")
    first = data[2 : end if end >= 0 else len(data)].strip()
    rest = data[end + 1 :] if end >= 0 else b""
    words = first.split()
    if not words:
        return data
    program = os.path.basename(words[0])
    if program == b"env" and len(words) > 1:
        program = os.path.basename(words[1])
    if not program.startswith(b"python") and not program.startswith(b"pypy"):
        return data
    target = python.encode("utf-8", "surrogateescape")
    if len(target) + 2 <= 127 and b" " not in target:
        return b"#!" + target + b"\n" + rest
    quoted = b"'" + target.replace(b"'", b"'\\''") + b"'"
    return b"#!/bin/sh\n'''exec' " + quoted + b' "$0" "$@"\n\' \'\'\'\n' + rest


def _inherit(info):
    inherit = os.environ.get("PEX_INHERIT_PATH") or info.get("inherit_path") or "false"
    if inherit in ("0", "False", False):
        return "false"
    if inherit in (True, "1", "True", "true"):
        return "prefer"
    return inherit

