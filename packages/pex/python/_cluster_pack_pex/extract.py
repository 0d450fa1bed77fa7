"""The cold path of a PEX start: runs once per (PEX, interpreter).

Checks that this interpreter can run the PEX (interpreter constraints, a compatible
wheel of each project), extracts each chosen distribution once per fingerprint and the
user code once per code hash into PEX_ROOT (atomically, see atomic.py), and returns the
boot plan that later starts load. An installed wheel becomes a prefix like a venv's
(dirs.INSTALLED_WHEELS): the chroot's STASH (scripts, headers, data) at its top, the
importable root at dirs.SITE_PACKAGES, and RECORD's STASH paths rewritten to the
`../../../bin/...` form pip writes in a venv, so importlib.metadata reports and locates
the same files.
"""
import os
import sys

from . import atomic, dirs, layers, layout, plan, tags, unpack, variables


class Incompatible(Exception):
    """This interpreter cannot run the PEX; the message says why, without the PEX path."""


def check(info):
    """The wheels this interpreter would use, or raises Incompatible."""
    constraints = info["interpreter_constraints"] if "interpreter_constraints" in info else []
    try:
        ok = tags.check_constraints(constraints)
    except ValueError as err:
        raise ValueError("cannot read the interpreter constraints %s of this PEX: %s" % (", ".join(constraints), err))
    if not ok:
        raise Incompatible("does not satisfy the PEX's interpreter constraints (%s)" % " or ".join(sorted(constraints)))
    chosen, missing = tags.best_wheels(info["wheels"])
    if missing:
        project, wheels = sorted(missing.items())[0]
        raise Incompatible("has no compatible wheel of %s in this PEX (best tag %s; the PEX holds %s)" % (project, tags.sys_tags()[0], ", ".join(sorted(wheels))))
    return chosen


def describe_interpreter(selected_by=None):
    name = {"cpython": "CPython", "pypy": "PyPy"}.get(sys.implementation.name, sys.implementation.name)
    return "%s %d.%d.%d at %s%s" % ((name,) + tuple(sys.version_info[:3]) + (sys.executable, ", selected by %s" % selected_by if selected_by else ""))


def prepare(pex, info, pex_hash, root, fallback, verbose, threads=0):
    """Extracts what this interpreter needs and caches the boot plan; returns (its path,
    the plan). `threads`: PEX_EXTRACT_THREADS (0: as many as the CPUs this process may use).
    The plan lists the extracted directories for bytecode.py, whose work is started by
    the caller beside the program (never here, on the cold path)."""
    chosen = check(info)
    pex = os.path.abspath(pex)
    root = dirs.writable_root(root, fallback, pex)
    source = layout.open_source(pex, info)
    if layers.listed(info):  # a layered PEX: distributions from its checked layer files
        finder = layers.Finder(pex, info, layers.search_dirs(pex, variables.Variables().layers_path), root, verbose)
        source = layout.LayeredSource(source, finder.path, finder.extracted)
    try:
        paths, prefixes, jobs, compiled = [], [], {}, []
        code = source.code()
        if isinstance(code, layout.Members):
            target = dirs.user_code(root, info.get("code_hash") or pex_hash)
            jobs[target] = (code, None)
            compiled.append((dirs.bytecode_marker(target), target))
            code = target
        if code:
            paths.append(code)
        shipped = _bytecode_shipped(info)
        for wheel in chosen:
            got = source.wheel(wheel)
            if isinstance(got, layout.Members):
                prefix = dirs.installed_wheel(root, info["distributions"][wheel], wheel)
                jobs[prefix] = (got, _wheel_place)
                entry = dirs.site_packages(prefix)
                if not shipped:
                    compiled.append((dirs.bytecode_marker(prefix), entry))
            else:  # a loose PEX's chroot, used in place
                entry, prefix = got, os.path.join(got, layout.STASH)
            paths.append(entry)
            prefixes.append(prefix)
        count = unpack.pool_size(threads)
        atomic.directories(list(jobs), lambda pairs: _fill(pairs, jobs, count))
    finally:
        source.close()
    made = plan.new(paths, prefixes, pth_files(paths), info, _console_scripts(paths[len(paths) - len(prefixes) :]), sys.modules[__package__], compiled)
    path = dirs.plan_file(root, pex_hash)
    atomic.write_file(path, plan.encode(made))
    if verbose:
        sys.stderr.write("pex: cold start: extracted %d distributions under %s (%d extracted here, %d threads)\n" % (len(chosen), root, len(jobs), count))
    return path, made


def _bytecode_shipped(info):
    """True when the PEX holds its distributions' bytecode for this interpreter (built with
    --compile for the same cache tag and magic number, at optimisation level 0): the
    bytecode compiler then leaves them alone (it would replace checked-hash .pyc files
    with timestamp ones)."""
    shipped = (info.get("cluster_pack") or {}).get("bytecode")
    if not isinstance(shipped, dict) or sys.flags.optimize or shipped.get("cache_tag") != sys.implementation.cache_tag:
        return False
    from importlib.util import MAGIC_NUMBER

    return shipped.get("magic") == MAGIC_NUMBER.hex()


def _wheel_place(rel):
    """A wheel member's place in its installed prefix: the chroot's STASH (scripts,
    headers, data) at the top, everything else in the importable root."""
    parts = rel.split("/")
    return parts[1:] if parts[0] == layout.STASH else list(dirs.SITE_PACKAGES) + parts


def _fill(pairs, jobs, threads):
    """Extracts every (target, temporary directory) pair at once, on `threads` threads."""
    files, directories, records = [], [], []
    for target, tmp in pairs:
        members, place = jobs[target]
        got_files, got_dirs = members.files(tmp, place)
        files.extend(got_files)
        directories.extend(got_dirs)
        if place is _wheel_place:
            root = os.path.join(tmp, *dirs.SITE_PACKAGES)
            directories.append(root)
            records.extend(os.path.join(root, *rel.split("/")) for rel in members.names() if rel.endswith(".dist-info/RECORD") and rel.count("/") == 1)
    unpack.extract(files, directories, threads)
    for record in records:
        _rewrite_record(record)
    for target, _ in pairs:
        if jobs[target][0].on_extracted:
            jobs[target][0].on_extracted()


def _rewrite_record(path):
    # RECORD rows are relative to the importable root; the stash now sits three levels up
    # (dirs.SITE_PACKAGES). A row is `path,hash,size`, the path quoted when it has a comma.
    stash = layout.STASH + "/"
    up = "../" * len(dirs.SITE_PACKAGES)
    with open(path, "rb") as fp:
        lines = fp.read().decode("utf-8").splitlines(True)
    out = []
    for line in lines:
        if line.startswith(stash):
            line = up + line[len(stash) :]
        elif line.startswith('"' + stash):
            line = '"' + up + line[len(stash) + 1 :]
        out.append(line)
    with open(path, "wb") as fp:
        fp.write("".join(out).encode("utf-8"))


def pth_files(entries):
    """[(entry, name)] of the .pth files in `entries`, in the order site would run them were
    they all in one site-packages (by file name; a name seen twice runs once, the first)."""
    found = {}
    for entry in entries:
        try:
            names = os.listdir(entry)
        except OSError:
            continue
        for name in names:
            if name.endswith(".pth") and not name.startswith(".") and name not in found:
                found[name] = entry
    return [(found[name], name) for name in sorted(found)]


def _console_scripts(dist_dirs):
    out = []
    for d in dist_dirs:
        scripts = {}
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                scripts.update(_read_entry_points(os.path.join(d, name, "entry_points.txt")).get("console_scripts", {}))
        if scripts:
            out.append((d, scripts))
    return out


def _read_entry_points(path):
    groups = {}
    current = None
    try:
        with open(path, "r") as fp:
            lines = fp.read().splitlines()
    except OSError:
        return groups
    for line in lines:
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = groups.setdefault(line[1:-1].strip(), {})
        elif "=" in line and current is not None:
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    return groups
