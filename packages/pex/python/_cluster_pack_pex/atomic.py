"""Atomic directories and files under PEX_ROOT (pex's atomic_directory.py).

A directory is made exactly once across processes: a per-target lock file serialises
the makers (flock is released by the kernel when a process dies), the content is written
into a temporary sibling and renamed into place only when complete, so a killed process
leaves at most a `<target>.tmp-*` directory, which the next maker removes while holding
the lock. Readers never lock: they see the complete directory or nothing. Imports
nothing from the runtime (a leaf).
"""
import binascii
import os
import shutil

try:
    import fcntl
except ImportError:  # not on Windows: the rename alone keeps it atomic there
    fcntl = None


def directory(target, fill, valid=os.path.isdir):
    """Makes `target` exist with the content `fill(tmp_dir)` writes, exactly once.
    `valid(target)` says whether an existing target can be used; one that cannot (a
    venv whose extraction directories were removed) is replaced under the lock."""
    if valid(target):
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    lock = open(target + ".lck", "a+b")
    try:
        if fcntl is not None:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if valid(target):
            return
        _remove_stale(target)
        tmp = _temporary(target)
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


def write_file(path, data):
    """Writes `data` to `path` through a temporary sibling and a rename; best effort (a
    cache file that cannot be written only means doing the work again next time)."""
    tmp = _temporary(path)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as fp:
            fp.write(data)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _temporary(target):
    return "%s.tmp-%d-%s" % (target, os.getpid(), binascii.hexlify(os.urandom(4)).decode("ascii"))


def _remove_stale(target):
    # Holding the target's lock means nobody is filling a temporary directory for it:
    # any left is from a killed process. Remove them so kills do not leak disk.
    if fcntl is None:
        return
    parent, base = os.path.split(target)
    for name in os.listdir(parent):
        if name.startswith(base + ".tmp-"):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
