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
(the exec), one hashlib sha1 and one marshal load per process. boot.py orchestrates;
this module only knows venvs.
"""
import os
import sys

from . import dirs, plan, variables

VENV_PLAN = "pex-plan.marshal"
# The venv format: part of every venv's key, so a new format gets new directories.
LAYOUT = "2"


def key(pex_hash, env):
    """The interpreter's share of the venv directory name: the real path of the base
    interpreter (a venv python resolves to the same one, so the re-executed process finds
    its own venv), its exact version and build, and the runtime inputs that change the
    venv's content (PEX_INHERIT_PATH, PEX_PATH)."""
    import hashlib

    identity = "\0".join(
        [
            LAYOUT,
            pex_hash,
            os.path.realpath(sys.executable or ""),
            "%x" % sys.hexversion,
            sys.implementation.cache_tag or "",
            env.inherit_path or "",
            os.pathsep.join(env.pex_path),
        ]
    )
    return hashlib.sha1(identity.encode("utf-8", "surrogateescape")).hexdigest()[:20]


def find(roots, pex_hash, venv_key):
    """(venv directory, its plan) of the first complete venv under `roots`, else (None, None)."""
    for root in roots:
        vdir = dirs.venv(root, pex_hash, venv_key)
        found = load_plan(vdir)
        if found is not None:
            return vdir, found
    return None, None


def running_in(vdir):
    """Whether this process runs the venv's python: found from the executable's location,
    as python itself finds pyvenv.cfg (sys.prefix is only set to the venv by site, which
    -S skips)."""
    here = os.path.realpath(os.path.dirname(os.path.dirname(os.path.abspath(sys.executable or "."))))
    return os.path.realpath(vdir) == here


def python(vdir):
    return os.path.join(vdir, "bin", "python")


def plan_file(vdir):
    return os.path.join(vdir, VENV_PLAN)


def load_plan(vdir):
    """The boot plan stored in a complete venv, or None (absent, other interpreter, or an
    extraction directory it points to was removed)."""
    return plan.load(plan_file(vdir), executable=False)


def create(vdir, boot_plan, others, inherit, verbose):
    """Makes `vdir` a complete venv for `boot_plan` and the plans of the PEX_PATH PEXes
    (`others`), exactly once across processes (atomic.directory). A stale venv (its plan
    no longer loads) is replaced the same way."""
    from . import atomic

    atomic.directory(vdir, lambda tmp: _populate(tmp, vdir, boot_plan, others, inherit), valid=lambda target: load_plan(target) is not None)
    if verbose:
        sys.stderr.write("pex: venv mode: created %s\n" % vdir)


def _populate(tmp, final, boot_plan, others, inherit):
    base = os.path.realpath(sys.executable)
    major, minor = sys.version_info[:2]
    bindir = os.path.join(tmp, "bin")
    site_packages = os.path.join(tmp, "lib", "python%d.%d" % (major, minor), "site-packages")
    os.makedirs(bindir)
    os.makedirs(site_packages)
    if sys.maxsize > 2**32 and sys.platform != "darwin":
        os.symlink("lib", os.path.join(tmp, "lib64"))  # as `python -m venv` does
    with open(os.path.join(tmp, "pyvenv.cfg"), "w") as fp:
        fp.write("home = %s\n" % os.path.dirname(base))
        fp.write("include-system-site-packages = %s\n" % ("true" if inherit in ("prefer", "fallback") else "false"))
        fp.write("version = %d.%d.%d\n" % sys.version_info[:3])
        fp.write("executable = %s\n" % base)
        fp.write("cluster-pack-pex = %s\n" % LAYOUT)
    for name in ("python", "python3", "python%d.%d" % (major, minor)):
        os.symlink(base, os.path.join(bindir, name))
    entries = list(boot_plan["paths"])
    prefixes = list(boot_plan["prefixes"])
    pth_lists = [boot_plan["pth"]]
    for other in others:
        entries += [e for e in other["paths"] if e not in entries]
        prefixes += other["prefixes"]
        pth_lists.append(other["pth"])
    from .syspath import merge_pth

    pth = merge_pth(pth_lists)
    with open(os.path.join(site_packages, "_cluster_pack_pex.pth"), "w") as fp:
        fp.write(pth_text(entries, pth, inherit))
    # Scripts: console-script launchers and `.data/scripts` of every distribution, with
    # the venv python in the shebang; the first distribution listed wins a name.
    venv_python = python(final)
    for prefix in prefixes:
        src_bin = os.path.join(prefix, "bin")
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
            with open(dest, "wb") as fp:
                fp.write(_rewrite_shebang(data, venv_python))
            os.chmod(dest, 0o755)
    stored = dict(boot_plan, paths=entries, prefixes=prefixes, pth=pth, venv=final)
    with open(plan_file(tmp), "wb") as fp:
        fp.write(plan.encode(stored))


def for_children(boot_plan, plan_path, others, inherit, where, env):
    """The python child processes of a zipapp PEX get as sys.executable: the python of the
    PEX's venv (this mode's venv, made once per PEX, interpreter, PEX_INHERIT_PATH and
    PEX_PATH, whose .pth lays out sys.path as syspath.activate does in the zipapp), so that
    `subprocess.run([sys.executable, ...])`, torchrun's and Ray's workers and
    multiprocessing see the PEX's distributions, at the cost of one plain interpreter start
    each, while the PEX process itself pays no second start (venv mode's re-exec). Stored
    in the plan (`child`) for the environment it was made in. None when no venv can be
    made (children then get the bare interpreter, as before)."""
    pex_hash, root, fallback = where
    venv_key = key(pex_hash, env)
    vdir, venv_plan = find((root, fallback), pex_hash, venv_key)
    if venv_plan is None:
        vdir = dirs.venv(dirs.writable_root(root, fallback, sys.argv[0]), pex_hash, venv_key)
        try:
            create(vdir, boot_plan, others, inherit, env.verbose)
        except (ValueError, OSError) as err:
            if env.verbose:
                sys.stderr.write("pex: no venv python for child processes (%s): they get %s\n" % (err, sys.executable))
            return None
    child = python(vdir)
    wanted = [env.inherit_path or "", os.pathsep.join(env.pex_path)]
    if plan_path and (not boot_plan.get("child") or wanted == ["", ""]):
        from . import atomic

        boot_plan["child"] = wanted + [child]
        atomic.write_file(plan_path, plan.encode(boot_plan))
    return child


def pth_text(entries, pth, inherit):
    """The venv's one .pth file: what the zipapp mode does to sys.path (syspath.activate),
    done by site when the venv python starts, so subprocesses get it too. It lists the
    PEX's entries (rather than links or copies of their content: namespace packages stay
    portions on separate entries, each .dist-info is found on its entry, module __file__s
    stay in the extraction), runs their .pth files in venv order with site's own reader,
    and appends PEX_EXTRA_SYS_PATH (kept for subprocesses under a private name, as pex
    does). `import` lines run in site.addpackage's frame: no comprehension or lambda may
    refer to names they import (those resolve in site's globals: NameError)."""
    lines = ["# Written by the cluster-pack PEX runtime: the PEX's code and distributions."]
    if inherit == "prefer":
        # The host's site-packages before the PEX's entries.
        lines.append("import site, sys; list(map(site.addsitedir, site.getsitepackages([sys.base_prefix])))")
    for entry in entries:
        if "\n" in entry or "\r" in entry:
            raise ValueError("cannot put %r in a venv: the path contains a newline; set PEX_ROOT to a plainer path" % entry)
        lines.append(entry)
    if pth:
        dirs_, names = [e for e, _ in pth], [n for _, n in pth]
        lines.append("import site; list(map(site.addpackage, %r, %r, [None] * %d))" % (dirs_, names, len(pth)))
    lines.append(
        "import os, sys; sys.path.extend(filter(None, (os.environ.get(%r, '') + os.pathsep + os.environ.get(%r, '')).split(os.pathsep)))"
        % ("PEX_EXTRA_SYS_PATH", variables.EXTRA_SYS_PATH)
    )
    return "\n".join(lines) + "\n"


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
