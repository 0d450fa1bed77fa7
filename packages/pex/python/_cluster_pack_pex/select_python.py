"""Choosing the interpreter that runs the PEX, as pex does: PEX_PYTHON, PEX_PYTHON_PATH,
and the search for a compatible interpreter.

- PEX_PYTHON: an interpreter path (absolute or relative, when it contains a path
  separator) or a name such as `python3.11` looked up on PEX_PYTHON_PATH (directories or
  interpreter files) or else on PATH. The PEX re-executes itself under it; that process
  checks the PEX fits it and its error names PEX_PYTHON.
- PEX_PYTHON_PATH alone: keep the current interpreter when it is listed there and can run
  the PEX, else re-execute under the one listed there that can.
- Search: when the current interpreter cannot run the PEX (interpreter constraints, or no
  compatible wheel of some project), look on PEX_PYTHON_PATH when set, else on PATH.

"Can run" is the cold path's own check (extract.check), run in each candidate by a probe
that imports this runtime from the PEX. Among those that can, pex's rule picks the
oldest Python version, at its newest patch release. The re-executed process gets
variables.SELECTED, so it does not select again (PEX_PYTHON may name a wrapper whose
sys.executable differs) and its errors say what chose it. Only imported when selecting.
"""
import os
import sys

from . import extract, interpreter, pex_info, variables

# What the probe prints: implementation, version, then "ok" or why not.
_PROBE = "import sys; sys.path.insert(0, sys.argv[1]); from _cluster_pack_pex.select_python import probe; probe(sys.argv[2:])"


def reexec(pex_python, env, argv0):
    """PEX_PYTHON: re-executes under it (or stays when it is this interpreter)."""
    target = resolve(pex_python, env)
    label = "PEX_PYTHON=" + pex_python
    if _same(target, sys.executable):
        os.environ[variables.SELECTED] = label  # for the constraint error's hint only
        return
    _exec(target, argv0, label)


def select(pex, info, env, why=None):
    """PEX_PYTHON_PATH or the search: re-executes under a compatible interpreter, stays
    (returns) when the current one is chosen, or exits with one line naming what was
    tried. `why`: how the current interpreter fails the PEX (None: it was not checked)."""
    if env.python_path:
        where, candidates = "PEX_PYTHON_PATH=" + env.python_path_raw, _interpreters(env.python_path, files=True)
    else:
        where, candidates = "PATH", _interpreters(_path_dirs(), files=False)
    here = os.path.realpath(sys.executable) if sys.executable else None
    if why is None and here in [os.path.realpath(c) for c in candidates]:
        try:
            extract.check(info)
            return
        except extract.Incompatible as err:
            why = str(err)
    found, tried, listed = [], [], False
    for candidate in candidates:
        if here and os.path.realpath(candidate) == here and why is not None:
            # Already known not to fit: no need to probe it.
            listed = True
            impl, version, reason = sys.implementation.name, tuple(sys.version_info[:3]), why
        else:
            impl, version, reason = _probe(candidate, info)
        if reason == "ok":
            found.append((version, candidate))
        else:
            tried.append("%s (%s)" % (candidate, "%s %s: %s" % (impl, ".".join(map(str, version)), reason) if impl else reason))
    if found:
        # pex: the oldest compatible version, at its newest patch release.
        oldest = min(v[:2] for v, _ in found)
        target = max((v, c) for v, c in found if v[:2] == oldest)[1]
        if not _same(target, sys.executable):
            _exec(target, pex, where if env.python_path else "the interpreter search on PATH")
        return
    if why and not listed:
        head = "this interpreter (%s) %s, and no interpreter on %s can run it either" % (extract.describe_interpreter(), why, where)
    else:
        head = "no interpreter on %s can run this PEX" % where
    sys.exit("%s: %s; tried %s. Add a matching Python to %s." % (pex, head, ", ".join(tried) or "nothing (no python executables there)", "PEX_PYTHON_PATH" if env.python_path else "PATH (or set PEX_PYTHON_PATH)"))


def probe(args):
    """Runs in a candidate interpreter: prints `impl major.minor.micro ok` or why not."""
    split = args.index("--")
    info = {"interpreter_constraints": args[:split], "wheels": []}
    for name in args[split + 1 :]:
        parsed = pex_info.parse_wheel_name(name)
        if parsed:
            info["wheels"].append((name, parsed[0], parsed[1]))
    try:
        extract.check(info)
        verdict = "ok"
    except (extract.Incompatible, ValueError) as err:
        verdict = str(err)
    sys.stdout.write("%s %d.%d.%d %s\n" % ((sys.implementation.name,) + tuple(sys.version_info[:3]) + (verdict,)))


def resolve(pex_python, env):
    """The executable PEX_PYTHON names, or exit with a one-line error."""
    if os.sep in pex_python or (os.altsep and os.altsep in pex_python):
        path = os.path.abspath(os.path.expanduser(pex_python))
        if not _executable(path):
            sys.exit("%s: PEX_PYTHON=%s does not exist or is not executable; set PEX_PYTHON to a Python interpreter path or a name on PATH." % (sys.argv[0], pex_python))
        return path
    where = "PEX_PYTHON_PATH=%s" % env.python_path_raw if env.python_path else "PATH"
    search = env.python_path or _path_dirs()
    for entry in search:
        # PEX_PYTHON_PATH may list interpreter files as well as directories.
        candidate = entry if os.path.basename(entry) == pex_python and not os.path.isdir(entry) else os.path.join(entry, pex_python)
        if _executable(candidate):
            return candidate
    sys.exit("%s: PEX_PYTHON=%s was not found on %s; install it, or set PEX_PYTHON to an absolute interpreter path." % (sys.argv[0], pex_python, where))


def _probe(candidate, info):
    import subprocess

    boot_dir = os.path.dirname(interpreter.RUNTIME_DIR)
    wheels = [w[0] for w in info["wheels"]]
    argv = [candidate, "-I", "-S", "-c", _PROBE, boot_dir] + list(info["interpreter_constraints"]) + ["--"] + wheels
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=60).stdout.decode("utf-8", "replace")
        impl, version, verdict = out.strip().split(" ", 2)
        return impl, tuple(int(x) for x in version.split(".")), verdict
    except (OSError, ValueError, subprocess.SubprocessError):
        return None, (), "did not run the probe"


def _exec(target, argv0, label):
    os.environ[variables.SELECTED] = label
    try:
        interpreter.execv(target, [target] + interpreter.original_options() + [argv0] + sys.argv[1:])
    except OSError as err:
        sys.exit("%s: cannot run %s (chosen by %s): %s; set PEX_PYTHON / PEX_PYTHON_PATH to a working Python interpreter." % (argv0, target, label, err.strerror or err))


def _interpreters(entries, files):
    """Executables named python, python3 or python3.N in `entries` (directories), and the
    listed files themselves when `files`; one per real path."""
    import re

    out, seen = [], set()
    for entry in entries:
        if os.path.isdir(entry):
            try:
                names = sorted(os.listdir(entry))
            except OSError:
                continue
            paths = [os.path.join(entry, n) for n in names if re.match(r"^python(\d+(\.\d+)?)?$", n)]
        else:
            paths = [entry] if files else []
        for path in paths:
            real = os.path.realpath(path)
            if real not in seen and _executable(path):
                seen.add(real)
                out.append(path)
    return out


def _path_dirs():
    return [os.path.abspath(os.path.expanduser(e)) for e in os.environ.get("PATH", os.defpath).split(os.pathsep) if e]


def _executable(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _same(a, b):
    try:
        return bool(b) and os.path.realpath(a) == os.path.realpath(b)
    except (OSError, ValueError):
        return False
