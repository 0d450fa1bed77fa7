"""Finding and checking the layers of a layered PEX (cold path only).

A layered PEX lists, in PEX-INFO `cluster_pack.layers` (checked by pex_info), one layer
per distribution: a zip file (the packed layout's `.deps/<wheel>`) with its name, sha256
and size. The engines ship the layers beside the PEX; `Finder.path` looks for a layer in
PEX_LAYERS_PATH, then beside the PEX, then in the working directory, and checks it once:
its size by stat, its sha256 by reading it, after which the fact is recorded by the file's
identity (real path, device, inode, size, mtime and ctime in ns; as the TypeScript
io's DigestMemo and fileIdentity) under PEX_ROOT, so that the next cold start that uses the
same file (another PEX sharing it, another interpreter) trusts it without reading it again.
Timestamps under 2 s old are not recorded (a write within the same kernel tick would not
change them). A missing layer or one whose bytes are not the ones PEX-INFO names stops the
start with one line naming it (exit 2).

Imports only the leaf atomic (for the records); used by extract on the cold path.
"""
import hashlib
import os
import sys

from . import atomic

RECORDS = os.path.join("cp", "layers.1")  # under PEX_ROOT: <key[:2]>/<key> holds "sha256\n"
_RACY_NS = 2 * 10**9


def listed(info):
    """The checked `cluster_pack.layers` of PEX-INFO ({} for every other layout)."""
    return (info.get("cluster_pack") or {}).get("layers") or {}


def search_dirs(pex, configured):
    """Where layers are looked for: PEX_LAYERS_PATH, then beside the PEX, then the working directory."""
    out = []
    for d in list(configured) + [os.path.dirname(os.path.abspath(pex)), os.getcwd()]:
        if d not in out:
            out.append(d)
    return out


class Finder(object):
    def __init__(self, pex, info, dirs, root, verbose=0):
        self.pex = os.path.abspath(pex)
        self.layers = listed(info)
        self.dirs = dirs
        self.records = os.path.join(root, RECORDS)
        self.verbose = verbose

    def path(self, wheel):
        """The checked layer file of `wheel`, or exits with one line (exit 2)."""
        layer = self.layers.get(wheel)
        if layer is None:
            self._fail("PEX-INFO lists no layer for %s" % wheel)
        name = layer["file"]
        for d in self.dirs:
            candidate = os.path.join(d, name)
            try:
                st = os.stat(candidate)
            except OSError:
                continue
            real = os.path.realpath(candidate)
            if st.st_size != layer["size"]:
                self._fail("layer %s (%s) at %s is %d bytes, PEX-INFO says %d: it is damaged or another file; ship the layer again" % (name, wheel, real, st.st_size, layer["size"]))
            self._check(real, st, layer, wheel)
            return real
        self._fail("layer %s (%s) is missing: looked in %s; ship it beside the PEX or set PEX_LAYERS_PATH" % (name, wheel, ", ".join(self.dirs)))

    def extracted(self, wheel):
        if self.verbose:
            sys.stderr.write("pex: extracted layer %s (%s)\n" % (self.layers[wheel]["file"], wheel))

    def _check(self, real, st, layer, wheel):
        key = _identity(real, st)
        record = os.path.join(self.records, key[:2], key)
        try:
            with open(record, "rb") as fp:
                if fp.read().decode("ascii", "replace").strip() == layer["sha256"]:
                    return
        except OSError:
            pass
        digest = hashlib.sha256()
        with open(real, "rb") as fp:
            for chunk in iter(lambda: fp.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != layer["sha256"]:
            self._fail("layer %s (%s) at %s has sha256 %s, PEX-INFO says %s: it is damaged or another file; ship the layer again" % (layer["file"], wheel, real, digest.hexdigest(), layer["sha256"]))
        if self.verbose:
            sys.stderr.write("pex: layer %s (%s) checked: %d bytes, sha256 %s\n" % (layer["file"], wheel, st.st_size, layer["sha256"]))
        if not racy(st, _now_ns()) and _identity(real, os.stat(real)) == key:
            atomic.write_file(record, (layer["sha256"] + "\n").encode("ascii"))

    def _fail(self, message):
        sys.stderr.write("%s: %s.\n" % (self.pex, message))
        sys.exit(2)


def racy(st, now):
    """io's identityOf rule: a write sets mtime and ctime to its tick, so an identity proves
    the bytes unless its timestamps are under 2 s old and under 2 s apart."""
    m, c = st.st_mtime_ns, st.st_ctime_ns
    return now - max(m, c) < _RACY_NS and abs(c - m) < _RACY_NS


def _identity(real, st):
    return hashlib.sha1(("%s\0%d\0%d\0%d\0%d\0%d" % (real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)).encode("utf-8", "surrogateescape")).hexdigest()


def _now_ns():
    import time

    return time.time_ns()
