"""sys.path for a zipapp PEX start, laid out as the equivalent venv would have it.

A venv's sys.path is [PYTHONPATH..., stdlib..., site-packages, what its .pth files add];
here the PEX's code and distributions stand in for site-packages: their .pth files run
(in the venv's order, with site's own code, so `import` lines and path lines behave the
same), then PEX_EXTRA_SYS_PATH is appended, as pex's venv mode does. inherit_path places
the host's site-packages: dropped (false), before the PEX's entries (prefer) or after
them (fallback). Imports nothing from the runtime; on the warm path.
"""
import os
import sys


def activate(pex, entries, pth, inherit, extra):
    """Sets sys.path (and runs `pth`, [(entry, .pth name)]) for the PEX's `entries`."""
    path = list(sys.path)
    if path and _same_file(path[0], pex):
        # The entry python added for the PEX itself; interpreter emulation adds the
        # sys.path[0] plain python would have.
        del path[0]
    site_dirs = _site_dirs()
    split = len(path)
    for i, entry in enumerate(path):
        if _under_any(entry, site_dirs):
            split = i
            break
    base, host = path[:split], path[split:]
    if inherit == "prefer":
        sys.path[:] = base + host + list(entries)
    else:
        sys.path[:] = base + list(entries)
        if inherit != "fallback" and site_dirs:
            _scrub_site_modules(site_dirs)
    run_pth(pth)
    add_extra(extra)
    if inherit == "fallback":
        sys.path.extend(e for e in host if e not in sys.path)


def in_venv(pex, entries, extra):
    """Running under the PEX's venv python: site already put the entries on sys.path (and
    ran their .pth files and added PEX_EXTRA_SYS_PATH); only the PEX file python added as
    sys.path[0] goes. Under -S site did not run: the entries are added here, as a zipapp
    PEX imports its distributions under -S too."""
    if sys.path and _same_file(sys.path[0], pex):
        del sys.path[0]
    if sys.flags.no_site:
        sys.path.extend(e for e in entries if e not in sys.path)
        add_extra(extra)


def run_pth(pth):
    """Runs .pth files with site's own reader, as site does at start-up for a
    site-packages directory (nothing under -S, as in a venv)."""
    site = sys.modules.get("site")
    if site is None or sys.flags.no_site or not pth:
        return
    known = set(os.path.normcase(os.path.abspath(p)) for p in sys.path if p)
    for entry, name in pth:
        site.addpackage(entry, name, known)


def merge_pth(lists):
    """One venv-ordered list from the .pth lists of several plans (PEX_PATH)."""
    found = {}
    for pth in lists:
        for entry, name in pth:
            found.setdefault(name, entry)
    return [(found[name], name) for name in sorted(found)]


def add_extra(extra):
    sys.path.extend(e for e in extra if e not in sys.path)


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
