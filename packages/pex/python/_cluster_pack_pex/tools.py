"""PEX_TOOLS=1: the PEX runs a tool instead of its entry point, as pex's --include-tools.

`info` (PEX-INFO as JSON, like `pex-tools info`) works on any PEX. `venv DIR [--force]`
(like `pex-tools venv`) makes DIR a virtual environment of the PEX, and only for a PEX
built with --include-tools (PEX-INFO `include_tools`), as pex requires. As pex's default
(symlinked site-packages), the venv's site-packages points at the distributions extracted
under PEX_ROOT: it stays valid as long as that PEX_ROOT is kept. Other pex tools (graph,
interpreter, repository) exit 2 with one line. Only imported when PEX_TOOLS is set.
"""
import json
import os
import sys

USAGE = "usage: PEX_TOOLS=1 %s info [-i INDENT | --indent INDENT] | venv [--force] DIR"


def main(pex, info_bytes, args, prepare=None):
    """Runs the tool `args` names; returns the exit status or a one-line message (exit 1).
    `prepare()` extracts the PEX if needed and gives `make(final)`, which publishes its venv
    at `final` through a temporary sibling (atomic.directory: an old `final` is replaced
    only once the new one is complete, a failure or signal leaves no temporary). boot
    passes it, so this module stays a leaf."""
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write((USAGE % sys.argv[0]) + "\n")
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "venv":
        return _venv(info_bytes, rest, prepare)
    if command != "info":
        return _usage_error("PEX_TOOLS command %r is not available in a cluster-pack PEX (only `info` and `venv` are); unset PEX_TOOLS to run the PEX" % command)
    indent = None
    i = 0
    while i < len(rest):
        arg = rest[i]
        value = None
        if arg in ("-i", "--indent") and i + 1 < len(rest):
            value = rest[i + 1]
            i += 2
        elif arg.startswith("--indent="):
            value = arg.split("=", 1)[1]
            i += 1
        else:
            return _usage_error("unknown argument %r for `info`" % arg)
        try:
            indent = int(value)
        except ValueError:
            return _usage_error("--indent needs an integer, got %r" % value)
    info = json.loads(info_bytes.decode("utf-8"))
    sys.stdout.write(json.dumps(info, indent=indent, sort_keys=True) + "\n")
    return 0


def _usage_error(message):
    sys.stderr.write("%s: %s; %s\n" % (sys.argv[0], message, USAGE % sys.argv[0]))
    return 2


def _venv(info_bytes, args, prepare):
    force, dest = False, None
    for arg in args:
        if arg == "--force":
            force = True
        elif arg.startswith("-"):
            return _usage_error("unknown argument %r for `venv`" % arg)
        elif dest is None:
            dest = arg
        else:
            return _usage_error("`venv` takes one DIR, got %r and %r" % (dest, arg))
    if dest is None:
        return _usage_error("`venv` needs the DIR to create")
    info = json.loads(info_bytes.decode("utf-8"))
    if info.get("include_tools") is not True:
        sys.stderr.write("%s: this PEX was built without tools, so PEX_TOOLS=1 venv is not available; rebuild it with `cluster-pack pex build --include-tools` (pex: --include-tools)\n" % sys.argv[0])
        return 2
    final = os.path.abspath(dest)
    if os.path.lexists(final) and not (os.path.isdir(final) and not os.path.islink(final) and not os.listdir(final)):
        if not force:
            sys.stderr.write("%s: %s already exists; pass --force to replace it\n" % (sys.argv[0], dest))
            return 2
        if not os.path.isdir(final) or os.path.islink(final):
            sys.stderr.write("%s: %s exists and is not a directory; remove it first\n" % (sys.argv[0], dest))
            return 2
    parent = os.path.dirname(final)
    if not os.path.isdir(parent):
        sys.stderr.write("%s: the parent directory of %s does not exist\n" % (sys.argv[0], dest))
        return 2
    make = prepare()
    import signal

    def _terminated(signum, frame):
        raise SystemExit(128 + signum)  # so that the temporary is removed on the way out

    signal.signal(signal.SIGTERM, _terminated)
    make(final)
    sys.stdout.write("%s\n" % os.path.join(final, "bin", "python"))
    return 0
