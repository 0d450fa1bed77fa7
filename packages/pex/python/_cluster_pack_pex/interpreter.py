"""Behave exactly like the `python` running the PEX.

`./env.pex [options] (-c code | -m module | script | - | nothing) args...` gets the same
sys.argv, sys.path[0], __main__ module, exit code, traceback and stdin handling as
`python [options] ...`. Options that change the interpreter itself (-u, -O, -B, -E, -I,
-s, -S, -W, -X, -b, -d, -v, -q, -R, -P, -i, -V, -h, --check-hash-based-pycs, ...)
cannot be applied after startup, so when any is given the PEX re-executes the same
python with those options placed before the PEX path: `python -W ignore env.pex -c ...`.
The re-executed process sees no options any more, so this happens at most once, and
only when options were given (Spark's `-m pyspark.daemon` never pays for it).
"""
import os
import sys

# Frames of these files are removed from tracebacks shown to the user, so that errors
# look exactly as they do under plain python: the runtime's package and the PEX's
# __main__.py (boot adds it).
RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))
RUNTIME_FILES = set()
# The interpreter running the PEX, as python names itself in its messages: boot gives the
# program another sys.executable (the python of child processes).
PYTHON = sys.executable

# Short options of CPython 3.8-3.13 that take an argument (attached or separated).
_WITH_ARG = "WX"
_LONG_WITH_ARG = ("--check-hash-based-pycs",)


class Request(object):
    """What the command line asks for: re-exec options, the mode and its target."""

    def __init__(self):
        self.options = []  # interpreter options to apply by re-exec, in order
        self.mode = None  # "c", "m", "script", "stdin" or None (REPL or piped stdin)
        self.target = None
        self.args = []  # sys.argv[1:] for the user program
        self.raw = None  # set when python itself must report a usage error
        # -x: python skips the script's first line itself; a re-exec would apply it to
        # the PEX (where python ignores it), so the runtime does it.
        self.skip_first_line = False

    def __repr__(self):
        return "Request(options=%r, mode=%r, target=%r, args=%r)" % (self.options, self.mode, self.target, self.args)


def parse(argv):
    """Parses python's command line (everything after the PEX path) like CPython's getopt."""
    req = Request()
    i = 0
    n = len(argv)
    while i < n:
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if arg == "-":
            req.mode = "stdin"
            req.args = argv[i + 1 :]
            return req
        if not arg.startswith("-"):
            break
        if arg.startswith("--"):
            if arg in _LONG_WITH_ARG:
                if i + 1 >= n:
                    req.raw = argv
                    return req
                req.options += [arg, argv[i + 1]]
                i += 2
            else:
                req.options.append(arg)  # --help, --version, --check-hash-based-pycs=MODE, ...
                i += 1
            continue
        j = 1
        while j < len(arg):
            ch = arg[j]
            if ch in "cm" or ch in _WITH_ARG:
                # The value is attached (-cCODE, -Wignore) or the next argument (-W ignore).
                value = arg[j + 1 :]
                if not value:
                    if i + 1 >= n:
                        req.raw = argv  # python itself reports "Argument expected"
                        return req
                    i += 1
                    value = argv[i]
                if ch in _WITH_ARG:
                    req.options += ["-" + ch, value]
                    break
                req.mode = ch
                req.target = value
                req.args = argv[i + 1 :]
                return req
            if ch == "x":
                req.skip_first_line = True
            else:
                req.options.append("-" + ch)
            j += 1
        i += 1
    if i < n:
        if argv[i] == "-":
            req.mode = "stdin"
        else:
            req.mode = "script"
            req.target = argv[i]
        req.args = argv[i + 1 :]
    return req


def reexec_if_needed(req, pex, executable=None):
    """Re-executes python with the options before the PEX path when there are options,
    or with -i for a REPL (so that python itself runs its interactive loop). With
    `executable` (venv mode: the venv python) it always re-executes, under that python."""
    extra = list(req.options)
    if req.raw is None and req.mode is None and _stdin_isatty() and not sys.flags.inspect and "-i" not in extra:
        extra.append("-i")
    if req.raw is None and not extra and executable is None:
        return
    executable = executable or sys.executable
    if not executable:
        sys.exit("%s: cannot apply the interpreter options %s: sys.executable is unknown" % (pex, " ".join(extra)))
    tail = _canonical(req)
    argv = [executable] + original_options() + extra + [sys.argv[0]] + tail
    if req.raw is not None:
        # Let python report the usage error exactly as it would.
        argv = [executable] + original_options() + list(req.raw)
    execv(executable, argv)


def reexec_program(executable):
    """Venv mode, entry point or script: the same command line under the venv python."""
    execv(executable, [executable] + original_options() + sys.argv)


def execv(executable, argv):
    """os.execv, with what was printed so far flushed first (it would be lost)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os.execv(executable, argv)


def run(req):
    """Runs the request in a fresh __main__ module, as python's main would."""
    safe_path = getattr(sys.flags, "safe_path", sys.flags.isolated)
    main = _fresh_main()
    if req.mode == "c":
        sys.argv[:] = ["-c"] + req.args
        if not safe_path:
            sys.path.insert(0, "")
        main.__loader__ = _builtin_importer()
        if sys.version_info >= (3, 13):
            # 3.13 shows -c source lines in tracebacks and warnings: it registers them.
            import linecache

            linecache.cache["<string>"] = (len(req.target), None, req.target.splitlines(True), "<string>")
        _guard(lambda: exec(compile(req.target, "<string>", "exec"), main.__dict__))
    elif req.mode == "m":
        sys.argv[:] = ["-m"] + req.args
        if not safe_path:
            sys.path.insert(0, os.getcwd())
        _guard(lambda: _run_module(req.target))
    elif req.mode == "script":
        _run_script(req.target, req.args, safe_path, main, req.skip_first_line)
    else:
        sys.argv[:] = (["-"] if req.mode == "stdin" else [""]) + req.args
        if not safe_path:
            sys.path.insert(0, "")
        main.__loader__ = _builtin_importer()
        if req.mode is None and _stdin_isatty():
            _prepare_repl(main)
            return
        main.__file__ = "<stdin>"
        main.__cached__ = None
        source = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
        _guard(lambda: exec(compile(source, "<stdin>", "exec"), main.__dict__))


def _run_module(name, alter_argv=True):
    """runpy._run_module_as_main, as python runs `-m name` (or a directory's __main__),
    except that runpy's "No module named" names sys.executable: while it looks the module
    up, that is the interpreter running us, and the program's once it starts (this
    wrapper's frame is left out of tracebacks like every runtime frame)."""
    import runpy

    program = sys.executable
    if program == PYTHON:
        return runpy._run_module_as_main(name, alter_argv)
    run_code = runpy._run_code

    def run_as_program(*args, **kwargs):
        runpy._run_code = run_code
        sys.executable = program
        return run_code(*args, **kwargs)

    runpy._run_code = run_as_program
    sys.executable = PYTHON
    try:
        return runpy._run_module_as_main(name, alter_argv)
    finally:
        runpy._run_code = run_code
        sys.executable = program


def run_entry_point(entry_point):
    """`module:function` calls it and exits with its result; `module` runs it as __main__."""
    module, _, attr = entry_point.partition(":")
    if attr:

        def call():
            obj = __import__(module, fromlist=["__name__"])
            for part in attr.split("."):
                obj = getattr(obj, part)
            sys.exit(obj())

        _guard(call)
    else:
        import runpy

        _guard(lambda: runpy.run_module(module, run_name="__main__", alter_sys=True))


def run_script_entry(name, plan):
    """PEX_SCRIPT / script: a console script of one of the distributions, else a file
    in a distribution's scripts directory (its prefix's bin/), run as a script."""
    for dist_dir, scripts in plan.get("console_scripts", []):
        if name in scripts:
            value = scripts[name].split("[", 1)[0].strip().replace(" ", "")
            return run_entry_point(value)
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        sys.exit("%s: %r is not a script name; name a console script or a file in a distribution's scripts" % (sys.argv[0], name))
    for prefix in plan["prefixes"]:
        candidate = os.path.join(prefix, "bin", name)
        if os.path.isfile(candidate):
            main = _fresh_main()
            return _exec_file(candidate, main, sys.argv[1:], set_argv0=sys.argv[0])
    sys.exit("%s: no console script or script named %r in this PEX" % (sys.argv[0], name))


def _run_script(script, args, safe_path, main, skip_first_line=False):
    sys.argv[:] = [script] + args
    if os.path.isdir(script) or _is_zip(script):
        # A directory or zip with __main__.py: python puts it on sys.path and runs
        # __main__ from there.
        sys.path.insert(0, os.path.abspath(script) if sys.version_info >= (3, 9) else script)
        _guard(lambda: _run_module("__main__", False))
        return
    if not safe_path:
        sys.path.insert(0, os.path.dirname(os.path.realpath(script)))
    _exec_file(script, main, args, skip_first_line=skip_first_line)


def _exec_file(script, main, args, set_argv0=None, skip_first_line=False):
    try:
        with open(script, "rb") as fp:
            source = fp.read()
    except OSError as err:
        shown = os.path.abspath(script) if sys.version_info >= (3, 9) else script
        sys.stderr.write("%s: can't open file %r: [Errno %d] %s\n" % (_program_name(), shown, err.errno, err.strerror))
        sys.stderr.flush()
        sys.exit(2)
    if skip_first_line:
        # Like CPython: drop up to the first newline and keep it, so line numbers hold.
        newline = source.find(b"\n")
        source = source[newline:] if newline >= 0 else b""
    if set_argv0 is not None:
        sys.argv[:] = [script] + list(args)
    # Python 3.9+ makes the main script's __file__ absolute.
    main.__file__ = os.path.abspath(script) if sys.version_info >= (3, 9) else script
    main.__cached__ = None
    loader_type = sys.modules["_frozen_importlib_external"].SourceFileLoader
    main.__loader__ = loader_type("__main__", script)
    filename = main.__file__
    _guard(lambda: exec(compile(source, filename, "exec"), main.__dict__))


def _prepare_repl(main):
    # Runs inside `python -i env.pex`: python enters its interactive loop with
    # sys.modules["__main__"] (our fresh module) once we return, and runs
    # sys.__interactivehook__ itself first (readline, history), so it must not run here
    # too: on 3.13 a second call loads ~/.python_history into the new REPL twice, and the
    # file doubles at every session. Plain `python` prints the banner and runs
    # PYTHONSTARTUP; `python -i script` does neither, so do both here.
    if not sys.flags.quiet:
        sys.stderr.write(
            'Python %s on %s\nType "help", "copyright", "credits" or "license" for more information.\n' % (sys.version, sys.platform)
        )
    startup = None if sys.flags.ignore_environment else os.environ.get("PYTHONSTARTUP")
    if startup and os.path.isfile(startup):
        with open(startup, "rb") as fp:
            _guard(lambda: exec(compile(fp.read(), startup, "exec"), main.__dict__))


def _guard(fn):
    """Runs user code; on an uncaught exception prints the traceback without the PEX
    runtime's frames (so it matches plain python) and exits as python would."""
    try:
        fn()
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: B902 - we mirror the interpreter's top level
        tb = exc.__traceback__
        while tb is not None and _is_runtime(tb.tb_frame.f_code.co_filename):
            tb = tb.tb_next
        link = tb
        while link is not None:  # a runtime frame within the chain (_run_module's wrapper)
            while link.tb_next is not None and _is_runtime(link.tb_next.tb_frame.f_code.co_filename):
                link.tb_next = link.tb_next.tb_next
            link = link.tb_next
        exc.__traceback__ = tb
        sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, tb
        if sys.version_info >= (3, 12):
            sys.last_exc = exc
        sys.excepthook(type(exc), exc, tb)
        if sys.flags.inspect:
            return  # python -i: the REPL follows, as after any uncaught exception
        if isinstance(exc, KeyboardInterrupt):
            # CPython 3.8+ exits "killed by SIGINT" on an uncaught KeyboardInterrupt.
            import signal

            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except Exception:
                pass
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        sys.exit(1)


def _is_runtime(filename):
    return filename in RUNTIME_FILES or os.path.dirname(filename) == RUNTIME_DIR


def _fresh_main():
    # Like the interpreter's own __main__: nothing but the standard module attributes.
    main = type(sys)("__main__")
    main.__builtins__ = __builtins__
    main.__spec__ = None
    main.__package__ = None
    main.__annotations__ = {}
    sys.modules["__main__"] = main
    return main


def _builtin_importer():
    return sys.modules["_frozen_importlib"].BuiltinImporter


def _canonical(req):
    if req.mode == "c":
        return ["-c", req.target] + req.args
    if req.mode == "m":
        return ["-m", req.target] + req.args
    if req.mode == "stdin":
        return ["-"] + req.args
    if req.mode == "script":
        tail = [req.target] + req.args
        tail = ["--"] + tail if req.target.startswith("-") else tail
        return ["-x"] + tail if req.skip_first_line else tail
    return list(req.args)


def original_options():
    """Options given to python before the PEX path (`python3 -u env.pex ...`)."""
    orig = getattr(sys, "orig_argv", None)
    if orig:
        before = parse(orig[1:])
        if before.mode == "script" and before.raw is None:
            return before.options
    # Python 3.8/3.9: rebuild from the flags (as multiprocessing does).
    import subprocess

    options = subprocess._args_from_interpreter_flags()
    # The flags do not record -u; its effect on stdout does (or PYTHONUNBUFFERED, which
    # the re-executed process inherits anyway).
    if getattr(sys.stdout, "write_through", False) and "-u" not in options:
        options.append("-u")
    return options


def _program_name():
    orig = getattr(sys, "orig_argv", None)
    return orig[0] if orig else PYTHON or "python"


def _is_zip(path):
    try:
        with open(path, "rb") as fp:
            fp.seek(0, 2)
            size = fp.tell()
            fp.seek(max(0, size - 65557))
            return b"PK\x05\x06" in fp.read()
    except OSError:
        return False


def _stdin_isatty():
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, AttributeError):
        return False
