"""PEX_TOOLS=1: the PEX runs a tool instead of its entry point, as pex's --include-tools.

Only `info` (PEX-INFO as JSON, like `pex-tools info`) is implemented; other pex tools
(venv, graph, interpreter, repository) exit with a one-line error. Only imported when
PEX_TOOLS is set.
"""
import json
import sys

USAGE = "usage: PEX_TOOLS=1 %s info [-i INDENT | --indent INDENT]"


def main(pex, info_bytes, args):
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write((USAGE % sys.argv[0]) + "\n")
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command != "info":
        return "%s: PEX_TOOLS command %r is not available in a cluster-pack PEX (only `info` is); unset PEX_TOOLS to run the PEX." % (sys.argv[0], command)
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
            return "%s: unknown argument %r for `info`; %s" % (sys.argv[0], arg, USAGE % sys.argv[0])
        try:
            indent = int(value)
        except ValueError:
            return "%s: --indent needs an integer, got %r" % (sys.argv[0], value)
    info = json.loads(info_bytes.decode("utf-8"))
    sys.stdout.write(json.dumps(info, indent=indent, sort_keys=True) + "\n")
    return 0
