"""Atomic directories and files under PEX_ROOT (pex's atomic_directory.py).

A directory is made exactly once across processes: a per-target lock file serialises
the makers (flock is released by the kernel when a process dies), the content is written
into a temporary sibling and renamed into place only when complete, so a killed process
leaves at most a `<target>.tmp-*` directory, which the next maker removes while holding
the lock. Readers never lock: they see the complete directory or nothing. Many targets
can be made at once (`directories`: the cold path fills its distributions in parallel). Imports
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
    directories([target], lambda pairs: fill(pairs[0][1]), valid)


def directories(targets, fill, valid=os.path.isdir):
    """Makes every target exist, each exactly once across processes, filling many at once:
    `fill([(target, tmp_dir)])` writes the content of each target this process holds the
    lock of (it may fill them in parallel). A process takes the locks it can get without
    waiting, fills those, publishes them, and only then, holding no lock, waits for a
    target another process is making: no process waits while holding a lock, so
    concurrent makers never deadlock, and makers that start together share the work."""
    pending = [t for t in targets if not valid(t)]
    while pending:
        held, busy = [], []
        try:
            for target in pending:
                got = _lock(target, wait=False)
                if got is None:
                    busy.append(target)
                elif valid(target):
                    got.close()
                else:
                    held.append((target, got))
            if held:
                _make(held, fill, valid)
        finally:
            for _, lock in held:
                lock.close()
        pending = [t for t in busy if not valid(t)]
        if pending and not held:
            # Every remaining target is being made elsewhere: wait for one (holding
            # nothing), then look again.
            _lock(pending[0], wait=True).close()


def _make(held, fill, valid):
    pairs = []
    try:
        for target, _ in held:
            _remove_stale(target)
            tmp = _temporary(target)
            os.mkdir(tmp)
            pairs.append((target, tmp))
        fill(pairs)
        for target, tmp in pairs:
            if os.path.lexists(target):
                # Invalid leftover: moved aside first (a rename over a non-empty
                # directory fails), then removed.
                old = tmp + ".old"
                os.rename(target, old)
                shutil.rmtree(old, ignore_errors=True)
            os.rename(tmp, target)
    except BaseException as err:
        for target, tmp in pairs:
            shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, Exception) and all(valid(target) for target, _ in held):
            return  # others won the race without the lock (no flock on this platform)
        raise


def _lock(target, wait):
    """The lock file of `target`, locked (None when `wait` is false and another holds it).
    flock is released by the kernel when the holder dies."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    lock = open(target + ".lck", "a+b")
    if fcntl is not None:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            return None
        except BaseException:
            lock.close()
            raise
    return lock


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
