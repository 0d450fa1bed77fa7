"""A PEX start, orchestrated: nothing imports this module (__main__.py calls `main`).

Warm path: read PEX-INFO (already in memory via the zip importer), find its pex_hash by
a byte search, load the boot plan cached for (pex_hash, this interpreter), set sys.path,
run. json and re are not imported. Cold path, only when there is no plan: check and
load PEX-INFO (pex_info), extract (extract), and cache the plan. Venv mode: find or make
the PEX's venv (venv) and re-execute its python. Errors in the input (an invalid PEX_*
variable, a damaged or crafted PEX-INFO) print one line and exit 2.
"""
import os
import sys

from . import dirs, pex_info, plan, variables

_MAIN_FILE = []  # the PEX's __main__.py, whose frames tracebacks leave out


def main(pex, main_loader, main_file):
    _MAIN_FILE.append(main_file)
    try:
        env = variables.Variables()
    except ValueError as err:
        _bad_input(err)
    if env.python and not env.selected_by:
        from . import select_python

        select_python.reexec(env.python, env, sys.argv[0])
    info_bytes = pex_info.read(pex, main_loader)
    info = None
    if env.python_path and not env.python and not env.selected_by:
        from . import select_python

        info = _load(info_bytes)
        select_python.select(sys.argv[0], info, env)
    pex_hash = pex_info.pex_hash(info_bytes)
    if pex_hash is None:
        info = info or _load(info_bytes)
        pex_hash = info.get("pex_hash") or _sha1(info_bytes)
    root, fallback = dirs.roots(env.root, _guard(pex_info.pex_root, info_bytes), env.node_root)
    if env.tools:
        from . import tools

        info = info or _load(info_bytes)  # checked before it is shown or used
        sys.exit(tools.main(pex, info_bytes, sys.argv[1:], lambda: _tool_plan(pex, info, pex_hash, root, fallback, env)))
    # Run by a python of one of this PEX's venvs (its child processes' sys.executable, or
    # venv mode's): the PEX_ROOT of that venv, unless PEX_ROOT says otherwise (the PEX's
    # environment strips PEX_ROOT: its children would extract everything again elsewhere).
    own = dirs.root_of_venv(sys.executable, pex_hash)
    if own and not env.root:
        root = own
    if pex_info.venv_flag(info_bytes) or env.venv:
        return _venv_main(pex, info_bytes, info, pex_hash, root, fallback, env)
    plan_path, boot_plan = _find_plan(root, fallback, pex_hash)
    if boot_plan is None and own:
        # Run by the python this PEX gives its child processes (its sys.executable): run as
        # venv mode does under that python, whose site already put the entries on sys.path.
        from . import venv

        vdir, venv_plan = venv.find((root, fallback), pex_hash, venv.key(pex_hash, env))
        if venv_plan is not None and venv.running_in(vdir):
            return _run(pex, venv_plan, env, in_venv=True, plan_path=venv.plan_file(vdir))
    if boot_plan is None:
        plan_path, boot_plan = _prepare(pex, info or _load(info_bytes), pex_hash, root, fallback, env)
    elif env.verbose:
        _log("warm start: boot plan for %s loaded" % pex_hash)
    _run(pex, boot_plan, env, plan_path=plan_path, where=(pex_hash, root, fallback))


def _venv_main(pex, info_bytes, info, pex_hash, root, fallback, env):
    """Runs the PEX in its venv: creates the venv when missing and re-executes its
    python, or (already running under it) runs the program."""
    from . import venv

    # Set by the process that re-executed us under the venv python: if we are not in the
    # venv now, something (PYTHONHOME, a wrapper) defeated pyvenv.cfg; stop, not loop.
    expected = os.environ.pop(variables.VENV_MARKER, None)
    key = venv.key(pex_hash, env)
    vdir, venv_plan = venv.find((root, fallback), pex_hash, key)
    if venv_plan is not None and venv.running_in(vdir):
        if env.verbose:
            _log("venv mode: running in %s" % vdir)
        return _run(pex, venv_plan, env, in_venv=True, plan_path=venv.plan_file(vdir))
    if expected:
        sys.exit(
            "%s: re-executed under the venv python %s/bin/python but it did not start in that venv (sys.prefix is %s, sys.executable %s); unset PYTHONHOME or run the PEX with a plain python."
            % (sys.argv[0], expected, sys.prefix, sys.executable)
        )
    if venv_plan is None:
        boot_plan = _find_plan(root, fallback, pex_hash)[1]
        if boot_plan is None:
            boot_plan = _prepare(pex, info or _load(info_bytes), pex_hash, root, fallback, env)[1]
        vdir = dirs.venv(dirs.writable_root(root, fallback, sys.argv[0]), pex_hash, key)
        others = [_other_plan(other, env)[1] for other in _pex_path(boot_plan["info"], env)]
        try:
            venv.create(vdir, boot_plan, others, _guard(env.inherit, boot_plan["info"].get("inherit_path")), env.verbose)
        except ValueError as err:
            sys.exit("%s: %s." % (sys.argv[0], err))
        venv_plan = venv.load_plan(vdir)
    elif env.verbose:
        _log("venv mode: warm start, venv %s" % vdir)
    os.environ[variables.VENV_MARKER] = vdir
    _run(pex, venv_plan, env, venv_python=venv.python(vdir))


def _tool_plan(pex, info, pex_hash, root, fallback, env):
    """For a tool (PEX_TOOLS=1 venv): extracts the PEX as a cold start would and returns
    `make(final)`, which publishes its venv (venv mode's, with the PEX_PATH PEXes) at `final`."""
    from . import venv

    boot_plan = _find_plan(root, fallback, pex_hash)[1]
    if boot_plan is None:
        boot_plan = _prepare(pex, info, pex_hash, root, fallback, env)[1]
    others = [_other_plan(other, env)[1] for other in _pex_path(boot_plan["info"], env)]
    inherit = _guard(env.inherit, boot_plan["info"].get("inherit_path"))
    def make(final):
        from . import atomic

        atomic.directory(final, lambda tmp: venv._populate(tmp, final, boot_plan, others, inherit), valid=lambda target: False)
        try:
            os.unlink(final + ".lck")  # atomic's lock file: DIR is the user's, not a cache
        except OSError:
            pass

    return make


def _run(pex, boot_plan, env, venv_python=None, in_venv=False, plan_path=None, where=None):
    """Runs the program. `venv_python`: re-execute the PEX under this venv python
    instead (venv mode, first process); `in_venv`: running under the PEX's venv, whose
    site-packages already holds the PEX's entries. `plan_path`: where `boot_plan` is
    stored (its bytecode work is started from here). `where`: (pex_hash, PEX_ROOT,
    fallback) in zipapp mode, for the venv whose python child processes get."""
    package = sys.modules[__package__]
    interpreter = plan.module(package, "interpreter", boot_plan)
    syspath = plan.module(package, "syspath", boot_plan)
    interpreter.RUNTIME_FILES.update(_MAIN_FILE)
    info = boot_plan["info"]
    environ = os.environ
    mode = _select_mode(info, env)
    inherit = _guard(env.inherit, info.get("inherit_path"))
    if mode[0] == "interpreter":
        # Decides whether the options need a re-exec of python before any work is done.
        request = interpreter.parse(sys.argv[1:])
        interpreter.reexec_if_needed(request, pex, venv_python)
    if venv_python:
        interpreter.reexec_program(venv_python)
    if in_venv:
        syspath.in_venv(pex, boot_plan["paths"], env.extra_sys_path)
    else:
        entries, pth, others = list(boot_plan["paths"]), [boot_plan["pth"]], []
        for other in _pex_path(info, env):
            other_path, other_plan = _other_plan(other, env)
            entries.extend(e for e in other_plan["paths"] if e not in entries)
            pth.append(other_plan["pth"])
            others.append(other_plan)
            _bytecode(other_path, other_plan, env)
        syspath.activate(pex, entries, syspath.merge_pth(pth) if len(pth) > 1 else pth[0], inherit, env.extra_sys_path)
    if env.verbose:
        _log("sys.path: %r" % (sys.path,))
    child = None if in_venv or where is None else _child_python(boot_plan, plan_path, others, inherit, where, env)
    _bytecode(plan_path, boot_plan, env)  # before sys.executable changes: compiled by this python
    if child:
        _use_child_python(child)
    environ.pop(variables.SELECTED, None)
    for key, value in sorted((info.get("inject_env") or {}).items()):
        environ.setdefault(key, value)
    environ["PEX"] = os.path.abspath(pex)
    if info.get("strip_pex_env", True):
        for key in [k for k in environ if k.startswith("PEX_")]:
            del environ[key]
    if (in_venv or child) and env.extra_sys_path:
        # Subprocesses of the venv python add it too (its .pth reads this), as in pex.
        environ[variables.EXTRA_SYS_PATH] = os.pathsep.join(env.extra_sys_path)
    if mode[0] == "interpreter":
        interpreter.run(request)
    # As in pex, inject_args belong to the PEX's own entry point or script: they are not
    # added in interpreter mode nor when PEX_SCRIPT / PEX_MODULE override the entry.
    if mode[2]:
        sys.argv[1:1] = list(info.get("inject_args") or [])
    if mode[0] == "script":
        interpreter.run_script_entry(mode[1], boot_plan)
    elif mode[0] == "entry":
        interpreter.run_entry_point(mode[1])


def _child_python(boot_plan, plan_path, others, inherit, where, env):
    """The python child processes get as sys.executable (venv.for_children); the plan
    remembers it, so a warm start only checks that it exists."""
    stored = boot_plan.get("child")
    if stored and stored[0] == (env.inherit_path or "") and stored[1] == os.pathsep.join(env.pex_path) and os.path.exists(stored[2]):
        return stored[2]
    from . import venv

    return venv.for_children(boot_plan, plan_path, others, inherit, where, env)


def _use_child_python(python):
    sys.executable = python
    spawn = sys.modules.get("multiprocessing.spawn")  # imported already (by a .pth file)
    if spawn is not None:
        spawn.set_executable(python)


def _bytecode(plan_path, boot_plan, env):
    """The bytecode of the plan's directories: started beside the program (bytecode.py).
    By default (auto) only where the interpreter writes none itself (PYTHONDONTWRITEBYTECODE,
    -B): elsewhere the importer caches each module it compiles, and compiling every module
    beside the program cost each first start (every container with PEX_ROOT=./.pex) 6.4 s
    (numpy, pandas, pyarrow) to 11.2 s (torch) of CPU for modules nothing imported."""
    mode = env.bytecode
    if mode == "auto":
        mode = "background" if sys.dont_write_bytecode else "off"
    if boot_plan.get("bytecode") and mode != "off" and plan_path is not None:
        from . import bytecode

        pid, left = bytecode.resume(plan_path, boot_plan, mode == "wait")
        if env.verbose and pid:
            _log("compiling the bytecode of %d directories in the background (pid %d)" % (left, pid))


def _select_mode(info, env):
    """(mode, target, from PEX-INFO)."""
    if env.interpreter:
        return ("interpreter", None, False)
    if env.script:
        return ("script", env.script, False)
    if env.module:
        return ("entry", env.module, False)
    if info.get("script"):
        return ("script", info["script"], True)
    if info.get("entry_point"):
        return ("entry", info["entry_point"], True)
    return ("interpreter", None, False)


def _prepare(pex, info, pex_hash, root, fallback, env, search=True):
    """The cold path; an interpreter that cannot run the PEX leads to the interpreter
    search (once: a re-executed process reports its own failure)."""
    from . import extract

    try:
        return extract.prepare(pex, info, pex_hash, root, fallback, env.verbose, env.extract_threads)
    except extract.Incompatible as why:
        if search and not env.selected_by:
            from . import select_python

            select_python.select(sys.argv[0], info, env, why=str(why))
        sys.exit("%s: this interpreter (%s) %s; run it with a matching Python." % (os.path.abspath(pex), extract.describe_interpreter(env.selected_by), why))
    except ValueError as err:
        sys.exit("%s: %s; the PEX is damaged, rebuild it." % (os.path.abspath(pex), err))


def _find_plan(root, fallback, pex_hash):
    """(path, plan) of the boot plan stored under PEX_ROOT or its fallback, or (None, None)."""
    for where in (root, fallback):
        path = dirs.plan_file(where, pex_hash)
        found = plan.load(path)
        if found is not None:
            return path, found
    return None, None


def _other_plan(other, env):
    """(path, plan) of the boot plan of a PEX named by PEX_PATH / pex_path (extracted when
    needed)."""
    other = os.path.abspath(other)
    info_bytes = pex_info.read(other)
    pex_hash = pex_info.pex_hash(info_bytes)
    info = None
    if pex_hash is None:
        info = _load(info_bytes, other)
        pex_hash = info.get("pex_hash") or _sha1(info_bytes)
    root, fallback = dirs.roots(env.root, _guard(pex_info.pex_root, info_bytes, other), env.node_root)
    found = _find_plan(root, fallback, pex_hash)
    return found if found[1] is not None else _prepare(other, info or _load(info_bytes, other), pex_hash, root, fallback, env, search=False)


def _pex_path(info, env):
    out = [p for p in (info.get("pex_path") or "").split(os.pathsep) if p]
    return out + env.pex_path


def _load(info_bytes, pex=None):
    return _guard(pex_info.load, info_bytes, pex)


def _guard(fn, value, pex=None):
    """fn(value); a ValueError (bad input) becomes a one-line error and exit 2."""
    try:
        return fn(value)
    except ValueError as err:
        _bad_input(err, pex)


def _bad_input(err, pex=None):
    sys.stderr.write("%s: %s; the PEX cannot run (fix the value, or rebuild the PEX).\n" % (pex or sys.argv[0], err))
    sys.exit(2)


def _sha1(data):
    import hashlib

    return hashlib.sha1(data).hexdigest()


def _log(message):
    sys.stderr.write("pex: %s\n" % message)
