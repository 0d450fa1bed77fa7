"""Zip members written to disk on a bounded pool of threads (the cold path's extraction).

Inflating (zlib), CRC checks and file writes release the GIL, so threads extract in
parallel: every member of every distribution being extracted is one task (small members
in batches), the largest first, so the biggest files (torch's and CUDA's shared
libraries) start at once and the small ones fill in. Large members are streamed in
CHUNK-sized pieces (memory is bounded by threads x 2 chunks, whatever the sizes), and
each directory is created once, by the first task that needs it.

Members are read with positional reads on the archive's file descriptor: zipfile
serialises every member read through one lock and a seek of the shared file object and
re-reads the local header through several Python layers per member; os.pread needs
neither. Only the central directory (zipfile's ZipInfo) is taken from zipfile. Every
claim of the archive is checked: the local header's signature and name, the data within
the archive, the method, the exact size and the CRC-32.

The pool size: the CPUs this process may use (its affinity mask and its cgroup CPU
quota), at most MAX_THREADS; PEX_EXTRACT_THREADS overrides it (1: one thread, members one
after another). Imports nothing from the runtime (a leaf); only on the cold path.
"""
import os
import zlib

MAX_THREADS = 8
CHUNK = 1 << 20
_BATCH_BYTES = 1 << 20  # small members are grouped into tasks of about this much work
_BATCH_COUNT = 64
_SMALL = 64 << 10  # read header and data in one pread up to this size
_STORED, _DEFLATED = 0, 8


def pool_size(requested=0):
    """Threads to extract with: `requested` when given (PEX_EXTRACT_THREADS), else the
    CPUs this process may use, at most MAX_THREADS."""
    return requested if requested > 0 else max(1, min(MAX_THREADS, usable_cpus()))


def usable_cpus():
    """CPUs this process may run on: its affinity mask, bounded by its cgroup's CPU quota
    (a container limited to 2 CPUs on a 64-core host may use 2)."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        count = min(count, max(1, -(-quota[0] // quota[1])))
    return count


def extract(files, dirs, threads):
    """Writes `files`, [(fd, limit, ZipInfo, path, executable)] (the member read from file
    descriptor `fd` whose archive ends at byte `limit`), creating their parent directories
    and `dirs`, on `threads` threads. Raises ValueError naming the member when the archive
    lies, OSError when writing fails; nothing is left running either way."""
    made = set()
    for path in sorted(dirs):
        _makedirs(path, made)
    tasks = _tasks(files)
    stop = []  # set on the first error: the other threads stop too
    if threads <= 1 or len(tasks) <= 1:
        for task in tasks:
            _run(task, made, stop)
        return
    import threading

    tasks.sort(key=_work)  # pop() takes the largest remaining (list.pop is atomic under the GIL)
    errors = []

    def worker():
        while not stop:
            try:
                task = tasks.pop()
            except IndexError:
                return
            try:
                _run(task, made, stop)
            except BaseException as err:
                errors.append(err)
                stop.append(True)

    pool = []
    for i in range(threads - 1):
        t = threading.Thread(target=worker, name="pex-extract-%d" % i, daemon=True)
        try:
            t.start()
        except RuntimeError:  # cannot start more threads here: extract with those we have
            break
        pool.append(t)
    try:
        worker()
    except BaseException as err:  # an interrupt between two tasks
        errors.append(err)
        stop.append(True)
    for t in pool:
        # The caller removes the directory being filled: no thread may still write into
        # it (an interrupt while waiting stops them all, and each stops within a chunk).
        while t.is_alive():
            try:
                t.join()
            except KeyboardInterrupt as err:
                errors.append(err)
                stop.append(True)
    if errors:
        raise errors[0]


def _tasks(files):
    tasks, batch, work = [], [], 0
    for item in files:
        info = item[2]
        size = info.file_size + info.compress_size
        if size >= _BATCH_BYTES:
            tasks.append([item])
            continue
        batch.append(item)
        work += size
        if work >= _BATCH_BYTES or len(batch) >= _BATCH_COUNT:
            tasks.append(batch)
            batch, work = [], 0
    if batch:
        tasks.append(batch)
    return tasks


def _work(task):
    return sum(item[2].file_size + item[2].compress_size for item in task)


def _run(task, made, stop):
    for fd, limit, info, path, executable in task:
        if stop:
            return
        parent = os.path.dirname(path)
        if parent not in made:
            _makedirs(parent, made)
        _write(fd, limit, info, path, executable, stop)


def _makedirs(path, made):
    os.makedirs(path, exist_ok=True)  # exist_ok: another thread may have made it meanwhile
    while path not in made:
        made.add(path)
        path = os.path.dirname(path)


def _write(fd, limit, info, path, executable, stop):
    name = info.orig_filename
    if info.flag_bits & 0x1:
        raise ValueError("the archive member %r is encrypted" % name)
    if info.compress_type not in (_STORED, _DEFLATED):
        raise ValueError("the archive member %r uses compression method %d (only stored and deflated are read)" % (name, info.compress_type))
    expected_name = name.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
    offset, csize = info.header_offset, info.compress_size
    head = 30 + len(expected_name)
    small = csize <= _SMALL
    buf = os.pread(fd, head + len(info.extra) + csize + 64 if small else head, offset) if 0 <= offset <= limit - 30 else b""
    if len(buf) < head or buf[:4] != b"PK\x03\x04" or buf[30:head] != expected_name:
        raise ValueError("the archive member %r has no matching local header at offset %d" % (name, offset))
    start = offset + head + int.from_bytes(buf[28:30], "little")
    if start + csize > limit:
        raise ValueError("the archive member %r extends past the end of the archive" % name)
    out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        if executable:
            os.fchmod(out, 0o755)
        inflate = zlib.decompressobj(-15) if info.compress_type == _DEFLATED else None
        crc, size = 0, 0
        data = buf[start - offset : start - offset + csize] if small and len(buf) >= start - offset + csize else b""
        pos, left = start + len(data), csize - len(data)
        while True:
            if not data and left:
                data = os.pread(fd, min(left, CHUNK), pos)
                if not data:
                    break
                pos += len(data)
                left -= len(data)
            if inflate is None:
                piece, data = data, b""
            else:
                piece = inflate.decompress(data, min(CHUNK, info.file_size - size + 1))
                data = inflate.unconsumed_tail
            if piece:
                size += len(piece)
                if size > info.file_size:
                    break
                crc = zlib.crc32(piece, crc)
                _write_all(out, piece)
            if stop:
                return
            if (inflate.eof if inflate is not None else not left) or (not data and not left and not piece):
                break
    finally:
        os.close(out)
    if size != info.file_size or crc != info.CRC or (inflate is not None and not inflate.eof):
        raise ValueError("the archive member %r is damaged (its data does not match its size or CRC-32)" % name)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _cgroup_cpu_quota():
    """(quota, period) of the cgroup CPU bandwidth limit of this process (v2 cpu.max or v1
    cfs_quota_us), the tightest along its cgroup path; None when unlimited or unknown."""
    try:
        with open("/proc/self/cgroup") as fp:
            lines = fp.read().splitlines()
    except OSError:
        return None
    best = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            base, reader = "/sys/fs/cgroup", _v2_quota
        elif "cpu" in parts[1].split(","):
            base, reader = "/sys/fs/cgroup/" + parts[1], _v1_quota
            if not os.path.isdir(base):
                base = "/sys/fs/cgroup/cpu"
        else:
            continue
        rel = parts[2].strip("/")
        while True:
            got = reader(os.path.join(base, rel) if rel else base)
            if got is not None and (best is None or got[0] * best[1] < best[0] * got[1]):
                best = got
            if not rel:
                break
            rel = os.path.dirname(rel)
    return best


def _v2_quota(directory):
    try:
        with open(os.path.join(directory, "cpu.max")) as fp:
            quota, period = fp.read().split()[:2]
        return None if quota == "max" else (int(quota), int(period))
    except (OSError, ValueError):
        return None


def _v1_quota(directory):
    try:
        with open(os.path.join(directory, "cpu.cfs_quota_us")) as fp:
            quota = int(fp.read())
        with open(os.path.join(directory, "cpu.cfs_period_us")) as fp:
            period = int(fp.read())
        return None if quota <= 0 or period <= 0 else (quota, period)
    except (OSError, ValueError):
        return None
