"""The cold path of a PEX start: runs once per (PEX, interpreter).

Checks the interpreter constraints, picks the best compatible wheel of each project for
this interpreter, extracts each installed wheel (`.deps/<wheel>/`) and the user code
once per content hash into PEX_ROOT, and writes the boot plan that later starts load.

Extraction is atomic and safe under concurrency: a per-target lock file serialises
processes (flock is released by the kernel when a process dies), the content is written
into a temporary sibling directory and renamed into place only when complete, so a
killed process leaves at most a `*.tmp-*` directory that nobody reads.
"""
import binascii
import json
import marshal
import os
import shutil
import stat
import sys

from . import tags
from .boot import PLAN_VERSION, plan_file

try:
    import fcntl
except ImportError:  # not on Windows: the rename alone keeps extraction atomic there
    fcntl = None

_SKIP_TOP = ("PEX-INFO", "__main__.py", "__main__.pyc", "__pex__")


def prepare(pex, info_bytes, root, fallback_root, verbose):
    info = json.loads(info_bytes.decode("utf-8"))
    pex = os.path.abspath(pex)
    constraints = info.get("interpreter_constraints") or []
    try:
        ok = tags.check_constraints(constraints)
    except ValueError as err:
        sys.exit("%s: cannot read the interpreter constraints %s of this PEX: %s" % (pex, ", ".join(constraints), err))
    if not ok:
        sys.exit(
            "%s: this interpreter (%s %s at %s%s) does not satisfy the PEX's interpreter constraints (%s); run it with a matching Python."
            % (pex, _impl(), _version(), sys.executable, _selected_by(), " or ".join(sorted(constraints)))
        )
    distributions = info.get("distributions") or {}
    chosen, missing = tags.best_wheels(distributions)
    if missing:
        project, wheels = sorted(missing.items())[0]
        sys.exit(
            "%s: no wheel of %s in this PEX is compatible with this interpreter (%s %s at %s, best tag %s); the PEX holds %s. Rebuild the PEX with a wheel for this interpreter or run it with a matching Python."
            % (pex, project, _impl(), _version(), sys.executable, tags.sys_tags()[0], ", ".join(sorted(wheels)))
        )
    root = writable_root(root, fallback_root)
    base = os.path.join(root, "cp")
    source = _open_source(pex, info)
    try:
        paths = []
        code_hash = info.get("code_hash") or info.get("pex_hash")
        code_dir = source.code_dir(os.path.join(base, "code", code_hash or "unhashed"))
        if code_dir:
            paths.append(code_dir)
        for wheel in chosen:
            fingerprint = distributions[wheel] or "unhashed"
            paths.append(source.dist_dir(wheel, os.path.join(base, "installed_wheels", fingerprint, wheel)))
    finally:
        source.close()
    plan = {
        "version": PLAN_VERSION,
        "executable": sys.executable,
        "hexversion": sys.hexversion,
        "paths": paths,
        "info": info,
        "console_scripts": _console_scripts(paths[1:] if code_dir else paths),
    }
    if info.get("pex_hash"):
        _write_plan(plan_file(root, info["pex_hash"]), plan)
    if verbose:
        sys.stderr.write("pex: cold start: extracted %d distributions under %s\n" % (len(chosen), base))
    return plan


class _DirSource(object):
    """A packed (or loose) PEX directory: `.deps/<wheel>` is a zip file or a directory."""

    def __init__(self, pex):
        self.pex = pex

    def code_dir(self, target):
        names = [n for n in os.listdir(self.pex) if not n.startswith(".") and n not in _SKIP_TOP]
        return self.pex if names else None

    def dist_dir(self, wheel, target):
        src = os.path.join(self.pex, ".deps", wheel)
        if os.path.isdir(src):
            return src
        import zipfile

        def fill(tmp):
            with zipfile.ZipFile(src) as zf:
                _extract_members(zf, zf.infolist(), "", tmp)

        ensure(target, fill)
        return target

    def close(self):
        pass


class _ZipSource(object):
    """A single-file PEX. With cluster-pack's split layout the bulk (`.deps/`, user code)
    is a ZIP64 archive occupying the first `deps_archive.length` bytes of the file and
    the zip that python imports from is a small classic one after it."""

    def __init__(self, pex, info):
        import zipfile

        layout = (info.get("cluster_pack") or {}).get("deps_archive")
        if layout:
            self._file = _Slice(pex, int(layout["length"]))
        else:
            self._file = open(pex, "rb")
        self.zf = zipfile.ZipFile(self._file)
        self.groups = {}
        for member in self.zf.infolist():
            name = member.filename
            if name.startswith(".deps/"):
                end = name.find("/", 6)
                key = name[: end + 1] if end > 0 else name
            elif name.startswith(".bootstrap/") or name.split("/", 1)[0] in _SKIP_TOP:
                continue
            else:
                key = ""
            self.groups.setdefault(key, []).append(member)

    def code_dir(self, target):
        members = self.groups.get("")
        if not members or all(m.filename.endswith("/") for m in members):
            return None
        ensure(target, lambda tmp: _extract_members(self.zf, members, "", tmp))
        return target

    def dist_dir(self, wheel, target):
        prefix = ".deps/%s/" % wheel
        members = self.groups.get(prefix)
        if not members:
            sys.exit("%s: PEX-INFO lists %s but the archive has no %s; the PEX is damaged, rebuild it." % (sys.argv[0], wheel, prefix))
        ensure(target, lambda tmp: _extract_members(self.zf, members, prefix, tmp))
        return target

    def close(self):
        self.zf.close()
        self._file.close()


class _Slice(object):
    """The first `length` bytes of a file, as a seekable file object for zipfile."""

    def __init__(self, path, length):
        self._f = open(path, "rb")
        self._length = length
        self._pos = 0

    def seek(self, offset, whence=0):
        if whence == 0:
            pos = offset
        elif whence == 1:
            pos = self._pos + offset
        else:
            pos = self._length + offset
        if pos < 0:
            raise ValueError("negative seek position %d" % pos)
        self._pos = pos
        return pos

    def tell(self):
        return self._pos

    def read(self, n=-1):
        remaining = self._length - self._pos
        if n is None or n < 0 or n > remaining:
            n = remaining
        if n <= 0:
            return b""
        self._f.seek(self._pos)
        data = self._f.read(n)
        self._pos += len(data)
        return data

    def seekable(self):
        return True

    def readable(self):
        return True

    def close(self):
        self._f.close()


def _open_source(pex, info):
    return _DirSource(pex) if os.path.isdir(pex) else _ZipSource(pex, info)


def ensure(target, fill, valid=os.path.isdir):
    """Makes `target` exist with the content `fill(tmp_dir)` writes, exactly once.
    `valid(target)` says whether an existing target can be used; one that cannot (a
    venv whose extraction directories were removed) is replaced under the lock."""
    if valid(target):
        return
    parent = os.path.dirname(target)
    _makedirs(parent)
    lock = open(target + ".lck", "a+b")
    try:
        if fcntl is not None:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if valid(target):
            return
        _remove_stale(target)
        tmp = "%s.tmp-%d-%s" % (target, os.getpid(), binascii.hexlify(os.urandom(4)).decode("ascii"))
        os.mkdir(tmp)
        try:
            fill(tmp)
            if os.path.lexists(target):
                # Invalid leftover: moved aside first (a rename over a non-empty
                # directory fails), then removed.
                old = tmp + ".old"
                os.rename(target, old)
                shutil.rmtree(old, ignore_errors=True)
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if valid(target):  # another process won the race without the lock
                return
            raise
    finally:
        lock.close()


def _remove_stale(target):
    # Holding the target's lock means nobody is filling a temporary directory for it:
    # any left is from a killed process. Remove them so kills do not leak disk.
    if fcntl is None:
        return
    parent, base = os.path.split(target)
    for name in os.listdir(parent):
        if name.startswith(base + ".tmp-"):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def _extract_members(zf, members, prefix, dest):
    made = set([dest])
    for member in members:
        rel = member.filename[len(prefix) :]
        if not rel:
            continue
        if not _safe(rel):
            raise SystemExit("%s: refusing to extract %r: it escapes the extraction directory" % (sys.argv[0], member.filename))
        mode = member.external_attr >> 16
        path = os.path.join(dest, *rel.rstrip("/").split("/"))
        if member.filename.endswith("/"):
            if path not in made:
                _makedirs(path)
                made.add(path)
            continue
        if stat.S_ISLNK(mode):
            raise SystemExit("%s: refusing to extract the symbolic link %r" % (sys.argv[0], member.filename))
        parent = os.path.dirname(path)
        if parent not in made:
            _makedirs(parent)
            made.add(parent)
        with zf.open(member) as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        if mode & 0o111:
            os.chmod(path, 0o755)


def _safe(rel):
    if rel.startswith("/") or "\\" in rel or "\x00" in rel or (len(rel) > 1 and rel[1] == ":"):
        return False
    return all(part not in ("..", ".") for part in rel.rstrip("/").split("/"))


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


def _write_plan(path, plan):
    _makedirs(os.path.dirname(path))
    tmp = "%s.tmp-%d-%s" % (path, os.getpid(), binascii.hexlify(os.urandom(4)).decode("ascii"))
    try:
        with open(tmp, "wb") as fp:
            marshal.dump(plan, fp)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def writable_root(root, fallback):
    for candidate in (root, fallback):
        try:
            _makedirs(os.path.join(candidate, "cp"))
            if os.access(os.path.join(candidate, "cp"), os.W_OK | os.X_OK):
                if candidate != root:
                    sys.stderr.write("pex: PEX_ROOT %s is not writable; using %s instead (slower first starts).\n" % (root, candidate))
                return candidate
        except OSError:
            continue
    sys.exit("%s: neither PEX_ROOT %s nor %s is writable; set PEX_ROOT to a writable directory." % (sys.argv[0], root, fallback))


def _makedirs(path):
    try:
        os.makedirs(path)
    except OSError:
        if not os.path.isdir(path):
            raise


def _selected_by():
    chosen = os.environ.get("_CP_PEX_PYTHON_SELECTED")
    return ", selected by %s" % chosen if chosen else ""


def _impl():
    return {"cpython": "CPython", "pypy": "PyPy"}.get(sys.implementation.name, sys.implementation.name)


def _version():
    return "%d.%d.%d" % sys.version_info[:3]
