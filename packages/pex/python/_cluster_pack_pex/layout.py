"""Where things are inside a PEX, for each of its layouts (pex's layout.py).

- zipapp: one file. With cluster-pack's split structure the bulk (`.deps/`, user code)
  is a ZIP64 archive occupying the first `cluster_pack.deps_archive.length` bytes and the
  zip python imports from is a small classic one after it; flat: one zip.
- packed: a directory; `.bootstrap` and each `.deps/<wheel>` are zip files.
- loose: a directory; `.deps/<wheel>` are directories.
- layered: a split zipapp without `.deps/`; each distribution is a layer file (the zip the
  packed layout has as `.deps/<wheel>`) shipped beside it, found and checked by layers.py.

A distribution is `.deps/<wheel file name>/`, an installed-wheel chroot: its importable
root at the top, and its scripts, headers and data under STASH, outside the importable
root (PEX_CHROOT_SCHEME in packages/wheel/src/install.ts writes it). Imports nothing from
the runtime (a leaf); only imported on the cold path (PEX-INFO itself is read by
pex_info.read, on the warm path).
"""
import errno
import os
import stat

PEX_INFO = "PEX-INFO"  # read on the warm path by pex_info.read
MAIN = "__main__.py"
BOOTSTRAP = ".bootstrap"
DEPS = ".deps"
STASH = ".prefix"
# Top-level names that are the PEX's own, not user code.
_NOT_CODE = (PEX_INFO, MAIN, "__main__.pyc", "__pex__")


def open_source(pex, info):
    """The PEX's user code and distributions, to extract: DirSource or ZipSource."""
    return DirSource(pex) if os.path.isdir(pex) else ZipSource(pex, info)


class Members(object):
    """Entries of a zip under `prefix`, extracted together; the zip's file descriptor and
    length, for unpack's positional reads."""

    def __init__(self, zf, members, prefix, fd, limit, on_extracted=None):
        self.zf = zf
        self.members = members
        self.prefix = prefix
        self.fd = fd
        self.limit = limit
        # Called by extract once these members are written (layers.py's verbose line).
        self.on_extracted = on_extracted

    def names(self):
        return [m.filename[len(self.prefix) :] for m in self.members]

    def files(self, dest, place=None):
        """What extracting below `dest` writes: ([(fd, limit, ZipInfo, path, executable)],
        [directory]), for unpack.extract. `place(rel)` gives a member's path below `dest`
        as a list of components (default: where it is). Refuses members that escape `dest`
        and symbolic links, naming them; a name given twice is written once, the last
        (as zipfile's extractall leaves it)."""
        files, dirs = {}, []
        for member in self.members:
            rel = member.filename[len(self.prefix) :]
            if not rel:
                continue
            if not safe_name(rel):
                raise ValueError("refusing to extract %r: it escapes the extraction directory" % member.filename)
            mode = member.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ValueError("refusing to extract the symbolic link %r" % member.filename)
            parts = place(rel.rstrip("/")) if place else rel.rstrip("/").split("/")
            path = os.path.join(dest, *parts)
            if member.filename.endswith("/"):
                dirs.append(path)
            else:
                files.pop(path, None)
                files[path] = (self.fd, self.limit, member, path, bool(mode & 0o111))
        return list(files.values()), dirs


def safe_name(rel):
    """A relative `/`-separated name that stays below the directory it is extracted to."""
    if not rel or rel.startswith("/") or "\\" in rel or "\x00" in rel or (len(rel) > 1 and rel[1] == ":"):
        return False
    return all(part not in ("..", ".", "") for part in rel.rstrip("/").split("/"))


class DirSource(object):
    """A packed or loose PEX directory."""

    def __init__(self, pex):
        self.pex = pex
        self._open = []

    def code(self):
        """The user code: a directory usable in place (the PEX itself), or None."""
        names = [n for n in os.listdir(self.pex) if not n.startswith(".") and n not in _NOT_CODE]
        return self.pex if names else None

    def wheel(self, wheel):
        """A directory usable in place (loose), or Members to extract (packed)."""
        src = os.path.join(self.pex, DEPS, wheel)
        if os.path.isdir(src):
            return src
        import zipfile

        zf = zipfile.ZipFile(src)
        self._open.append(zf)
        return Members(zf, zf.infolist(), "", zf.fp.fileno(), os.fstat(zf.fp.fileno()).st_size)

    def close(self):
        for zf in self._open:
            zf.close()


class LayeredSource(object):
    """A layered PEX: user code from the PEX itself, each distribution from its layer file
    (`path_of(wheel)` finds and checks it; `extracted(wheel)` is told once it was extracted)."""

    def __init__(self, inner, path_of, extracted=None):
        self.inner = inner
        self.path_of = path_of
        self.extracted = extracted
        self._open = []

    def code(self):
        return self.inner.code()

    def wheel(self, wheel):
        import zipfile

        zf = zipfile.ZipFile(self.path_of(wheel))
        self._open.append(zf)
        fd = zf.fp.fileno()
        told = (lambda: self.extracted(wheel)) if self.extracted else None
        return Members(zf, zf.infolist(), "", fd, os.fstat(fd).st_size, told)

    def close(self):
        for zf in self._open:
            zf.close()
        self.inner.close()


class ZipSource(object):
    """A single-file PEX (split or flat structure)."""

    def __init__(self, pex, info):
        import zipfile

        deps = (info.get("cluster_pack") or {}).get("deps_archive")
        self._file = _Slice(pex, deps["length"]) if deps else open(pex, "rb")
        self.fd = self._file.fileno()
        self.limit = deps["length"] if deps else os.fstat(self.fd).st_size
        self.zf = zipfile.ZipFile(self._file)
        self.groups = {}
        for member in self.zf.infolist():
            name = member.filename
            if name.startswith(DEPS + "/"):
                end = name.find("/", len(DEPS) + 1)
                key = name[: end + 1] if end > 0 else name
            elif name.startswith(BOOTSTRAP + "/") or name.split("/", 1)[0] in _NOT_CODE:
                continue
            else:
                key = ""
            self.groups.setdefault(key, []).append(member)

    def code(self):
        """Members of the user code, or None when there is none."""
        members = self.groups.get("")
        if not members or all(m.filename.endswith("/") for m in members):
            return None
        return Members(self.zf, members, "", self.fd, self.limit)

    def wheel(self, wheel):
        prefix = "%s/%s/" % (DEPS, wheel)
        members = self.groups.get(prefix)
        if not members:
            raise ValueError("PEX-INFO lists %s but the archive has no %s" % (wheel, prefix))
        return Members(self.zf, members, prefix, self.fd, self.limit)

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
            # OSError, as a real file raises: zipfile probes for a ZIP64 locator 42 bytes
            # before the end and takes OSError as "none" (a ValueError escaped it, so a
            # deps archive under 42 bytes, e.g. a layered PEX's, failed to open).
            raise OSError(errno.EINVAL, "negative seek position %d" % pos)
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

    def fileno(self):
        return self._f.fileno()

    def readable(self):
        return True

    def close(self):
        self._f.close()
