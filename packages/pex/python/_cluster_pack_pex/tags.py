"""Wheel tags this interpreter accepts (PEP 425, 600, 656) and interpreter constraints.

A stdlib-only rendition of what `packaging.tags.sys_tags()` computes, in the same
priority order, so that a PEX holding several wheels of one project (one per Python or
platform) picks the one pip would pick. Only used on the cold path (and by the
interpreter search's probe, in the candidate interpreter). Imports nothing from the
runtime.
"""
import os
import platform
import re
import struct
import sys
import sysconfig


def sys_tags():
    """Supported `python-abi-platform` tags, most preferred first."""
    impl = _interpreter_name()
    major, minor = sys.version_info[:2]
    platforms = list(platform_tags())
    out = []
    if impl == "cp":
        abis = _cpython_abis()
        for abi in abis:
            for plat in platforms:
                out.append("cp%d%d-%s-%s" % (major, minor, abi, plat))
        if major == 3:
            for plat in platforms:
                out.append("cp%d%d-abi3-%s" % (major, minor, plat))
        for plat in platforms:
            out.append("cp%d%d-none-%s" % (major, minor, plat))
        for m in range(minor - 1, 1, -1):
            for plat in platforms:
                out.append("cp%d%d-abi3-%s" % (major, m, plat))
    else:
        interp = "%s%d%d" % (impl, major, minor)
        abi = _generic_abi()
        for plat in platforms:
            if abi:
                out.append("%s-%s-%s" % (interp, abi, plat))
            out.append("%s-none-%s" % (interp, plat))
    # compatible_tags: pyXY-none-plat, then interp-none-any, then pyXY-none-any.
    py_versions = ["py%d%d" % (major, m) for m in range(minor, -1, -1)]
    py_versions.insert(1, "py%d" % major)
    for version in py_versions:
        for plat in platforms:
            out.append("%s-none-%s" % (version, plat))
    out.append("%s%d%d-none-any" % (impl, major, minor))
    for version in py_versions:
        out.append("%s-none-any" % version)
    return out


def platform_tags():
    if sys.platform.startswith("linux"):
        arch = _linux_arch()
        libc = _glibc_version()
        if libc:
            glibc_major, glibc_minor = libc
            for m in range(glibc_minor, -1, -1) if glibc_major == 2 else ():
                tag = "manylinux_2_%d_%s" % (m, arch)
                yield tag
                legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}.get(m)
                if legacy and (m > 5 or arch in ("x86_64", "i686")) and (m != 12 or arch in ("x86_64", "i686")):
                    yield "%s_%s" % (legacy, arch)
        musl = _musl_version()
        if musl:
            for m in range(musl[1], -1, -1):
                yield "musllinux_%d_%d_%s" % (musl[0], m, arch)
        yield "linux_%s" % arch
    elif sys.platform == "darwin":
        for tag in _mac_platforms():
            yield tag
    else:
        yield sysconfig.get_platform().replace("-", "_").replace(".", "_")


def best_wheels(wheels):
    """Picks, per project, the best-ranked compatible wheel of `wheels`, the
    [(file name, project, [tag triples])] that pex_info.load parsed. Returns (chosen file
    names, {project: [file names]} of projects with no compatible wheel)."""
    rank = {}
    for i, tag in enumerate(sys_tags()):
        rank.setdefault(tag, i)
    projects = {}
    for name, project, wheel_tags in wheels:
        projects.setdefault(project, []).append((name, wheel_tags))
    chosen, missing = [], {}
    for project, candidates in sorted(projects.items()):
        best = None
        for name, wheel_tags in candidates:
            ranks = [rank[t] for t in wheel_tags if t in rank]
            if ranks and (best is None or min(ranks) < best[0]):
                best = (min(ranks), name)
        if best is None:
            missing[project] = [c[0] for c in candidates]
        else:
            chosen.append(best[1])
    return chosen, missing


def check_constraints(constraints, impl=None, version=None):
    """True when this interpreter (or the given implementation name and version triple)
    satisfies one of the constraints (pex's format: `CPython>=3.8,<3.13`, `>=3.9`,
    `PyPy`, `CPython==3.11.*`)."""
    if not constraints:
        return True
    if impl is None:
        impl = sys.implementation.name
    if version is None:
        version = sys.version_info[:3]
    version = tuple(version)
    for constraint in constraints:
        m = re.match(r"^\s*([A-Za-z][A-Za-z0-9_]*)?\s*(.*)$", constraint)
        name, spec = m.group(1), m.group(2).strip()
        if name and name.lower() != impl:
            continue
        if all(_spec_ok(s.strip(), version) for s in spec.split(",") if s.strip()):
            return True
    return False


def _spec_ok(spec, version):
    m = re.match(r"^(===|==|!=|~=|<=|>=|<|>)\s*([0-9][0-9.]*)(\.\*)?$", spec)
    if not m:
        raise ValueError("unsupported interpreter constraint %r" % spec)
    op, text, wildcard = m.groups()
    want = tuple(int(x) for x in text.strip(".").split("."))
    have = tuple(version)
    if wildcard:
        prefix_ok = have[: len(want)] == want
        return prefix_ok if op == "==" else (not prefix_ok if op == "!=" else False)
    padded = want + (0,) * (3 - len(want))
    if op in ("==", "==="):
        return have == padded[:3]
    if op == "!=":
        return have != padded[:3]
    if op == "~=":
        if len(want) < 2:
            raise ValueError("~= needs at least two version components: %r" % spec)
        return have >= padded[:3] and have[: len(want) - 1] == want[:-1]
    return {"<": have < padded, "<=": have <= padded, ">": have > padded, ">=": have >= padded}[op]


def _interpreter_name():
    name = sys.implementation.name
    return {"cpython": "cp", "pypy": "pp", "ironpython": "ip", "jython": "jy"}.get(name, name)


def _cpython_abis():
    major, minor = sys.version_info[:2]
    debug = "d" if hasattr(sys, "gettotalrefcount") else ""
    threading = "t" if sysconfig.get_config_var("Py_GIL_DISABLED") else ""
    abis = ["cp%d%d%s%s" % (major, minor, threading, debug)]
    if minor < 8:
        abis.append("cp%d%dm" % (major, minor))
    return abis


def _generic_abi():
    soabi = sysconfig.get_config_var("SOABI")
    if not soabi:
        return None
    parts = soabi.split("-")
    if sys.implementation.name == "pypy" and len(parts) > 1:
        return "_".join(parts[:2]).replace(".", "_")
    return re.sub(r"[-.]", "_", parts[0])


def _linux_arch():
    machine = platform.machine()
    if struct.calcsize("P") == 4:
        machine = {"x86_64": "i686", "aarch64": "armv7l"}.get(machine, machine)
    return machine


def _glibc_version():
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, OSError, ValueError):
        return None
    if not value:
        return None
    m = re.match(r"glibc (\d+)\.(\d+)", value)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _musl_version():
    if _glibc_version():
        return None
    for candidate in ("/lib/ld-musl-%s.so.1" % _linux_arch(),):
        if os.path.exists(candidate):
            import subprocess

            try:
                out = subprocess.run([candidate], stderr=subprocess.PIPE, stdout=subprocess.PIPE).stderr.decode()
            except OSError:
                return None
            m = re.search(r"Version (\d+)\.(\d+)", out)
            if m:
                return int(m.group(1)), int(m.group(2))
    return None


def _mac_platforms():
    version = tuple(int(x) for x in platform.mac_ver()[0].split(".")[:2] if x) or (10, 16)
    arch = platform.machine()
    arches = [arch, "universal2"] if arch == "arm64" else [arch, "intel", "fat64", "fat32", "universal2", "universal"]
    majors = []
    if version[0] >= 11:
        majors += [(m, 0) for m in range(version[0], 10, -1)]
        majors += [(10, m) for m in range(16, 3, -1)] if arch == "x86_64" else []
    else:
        majors += [(10, m) for m in range(version[1], 3, -1)]
    for major, minor in majors:
        for a in arches:
            yield "macosx_%d_%d_%s" % (major, minor, a)
