"""Bytecode compiled once per extracted directory and interpreter, as pip compiles at install.

Without it, a PEX under PYTHONDONTWRITEBYTECODE=1 (many container images) recompiles every
module at every start (`import numpy, pandas`: 1.4 s against 0.4 s in a venv). The cold
path must not pay for it, so a compiler process runs beside the program: started when a
boot plan lists directories without their marker (the first start, and any later start
until every directory is done) and the interpreter writes no bytecode itself (PEX_BYTECODE
unset or auto; elsewhere the importer caches what it imports, and PEX_BYTECODE=background
starts it anyway), at the lowest CPU priority, and stopped when the PEX
process exits (SIGTERM: it stops after the file it writes; SIGKILL after 0.1 s). It never
outlives its PEX, so no orphan is left on a cluster node or writing into a directory
being removed, and the next start resumes where it stopped (compiled files are skipped).
PEX_BYTECODE=wait compiles in the foreground instead (to build an image), 0 never.

Each directory is compiled under its own lock by one process at a time; its marker
(dirs.bytecode_marker, made once every file was tried: a file that does not compile is
left to the importer, as pip does) says it is done. .pyc files are written by py_compile
(a temporary file, then a rename; one killed mid-write leaves that temporary, never a
partial .pyc), timestamp-checked, at the optimisation level of the interpreter that made
the plan. Only imported while a plan has work left.
"""
import os
import sys

try:
    import fcntl
except ImportError:
    fcntl = None

# The compiler process: a fresh interpreter (-I -S: nothing from the environment or site)
# importing this module from the runtime it belongs to.
_CHILD = "import sys; sys.path.insert(0, sys.argv[1]); from _cluster_pack_pex import bytecode; bytecode.main(sys.argv[2:])"


def resume(plan_path, boot_plan, wait=False):
    """Starts the compiler for the plan's directories not compiled yet (or, `wait`,
    compiles them here); once none is left, stores the plan without them, so later
    starts check nothing. Returns (the compiler's pid or None, directories left)."""
    todo = pending(boot_plan["bytecode"])
    if todo and wait:
        compile_all(todo, sys.flags.optimize)
        todo = pending(todo)
    if todo:
        return start(todo), len(todo)
    from . import atomic, plan

    boot_plan["bytecode"] = []
    atomic.write_file(plan_path, plan.encode(boot_plan))
    return None, 0


def pending(entries):
    """The (marker, directory) entries not compiled yet."""
    return [entry for entry in entries if not os.path.exists(entry[0])]


def start(entries):
    """Starts the compiler process for `entries` unless one is already compiling the first
    of them; it is stopped when this process exits. Returns its pid, or None."""
    if not hasattr(os, "posix_spawn"):
        return None
    lock = _try_lock(entries[0][0])
    if lock is None:
        return None  # being compiled
    lock.close()
    import atexit
    import signal

    runtime = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    argv = [sys.executable, "-I", "-S"]
    if getattr(sys, "pycache_prefix", None):
        argv += ["-X", "pycache_prefix=" + sys.pycache_prefix]
    argv += ["-c", _CHILD, runtime, str(sys.flags.optimize), str(os.getpid())]
    for marker, directory in entries:
        argv += [marker, directory]
    null = os.devnull
    try:
        pid = os.posix_spawn(
            sys.executable,
            argv,
            dict(os.environ),
            file_actions=[(os.POSIX_SPAWN_OPEN, 0, null, os.O_RDONLY, 0), (os.POSIX_SPAWN_OPEN, 1, null, os.O_WRONLY, 0), (os.POSIX_SPAWN_OPEN, 2, null, os.O_WRONLY, 0)],
        )
    except OSError:
        return None
    atexit.register(_stop, pid, os.getpid(), signal.SIGTERM)
    return pid


def compile_all(entries, level, stop=(), parent=None):
    """Compiles each (marker, directory) not compiled yet and not being compiled by another
    process. `stop` becomes true to stop between two files; `parent`: stop as well when
    this process is no longer that pid's child (the PEX that started it died)."""
    import importlib.util
    import py_compile

    mode = py_compile.PycInvalidationMode.TIMESTAMP
    for marker, directory in entries:
        lock = _try_lock(marker)
        if lock is None:
            continue
        try:
            if os.path.exists(marker) or not os.path.isdir(directory):
                continue
            for path in _sources(directory):
                if stop or (parent is not None and os.getppid() != parent):
                    return
                cfile = importlib.util.cache_from_source(path, optimization=level or "")
                if os.path.exists(cfile):
                    continue  # written by an importer or an earlier, stopped compiler
                try:
                    py_compile.compile(path, cfile=cfile, doraise=True, optimize=level, invalidation_mode=mode)
                except py_compile.PyCompileError:
                    pass  # not valid for this interpreter: left to the importer, as pip does
            open(marker, "w").close()
        except OSError:
            pass  # unwritable or removed meanwhile: another start tries again
        finally:
            lock.close()


def main(argv):
    """The compiler process: `level parent (marker directory)...`."""
    os.closerange(3, 1024)  # nothing inherited from whoever started the PEX stays open
    import signal

    stop = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.append(signum))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is for the program
    try:
        os.nice(19)
    except (AttributeError, OSError):
        pass
    level, parent, rest = int(argv[0]), int(argv[1]), argv[2:]
    compile_all(list(zip(rest[::2], rest[1::2])), level, stop, parent)


def _sources(directory):
    for base, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(base, name)


def _try_lock(marker):
    try:
        lock = open(marker + ".lck", "a+b")
    except OSError:
        return None
    if fcntl is not None:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            return None
    return lock


def _stop(pid, owner, signum):
    """At exit: asks the compiler to stop after the file it writes, and kills it if it has
    not within 0.1 s (it runs at the lowest priority on a busy machine): the PEX's exit
    is not held up."""
    if os.getpid() != owner:  # a forked child of the program exiting: not its compiler
        return
    import time

    try:
        os.kill(pid, signum)
        for _ in range(20):
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
            time.sleep(0.005)
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except OSError:  # already gone, or reaped by the program
        pass
