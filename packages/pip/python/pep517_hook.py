"""Runs one PEP 517 hook in the current (isolated) environment, for cluster-pack.

Usage: python pep517_hook.py <hook> <source dir> <output dir> <backend> [backend-path JSON]
Hooks: get_requires_for_build_wheel (prints a JSON list), build_wheel (prints the file name).
"""
import importlib
import json
import os
import sys


def load_backend(spec, backend_path):
    for p in reversed(backend_path):
        sys.path.insert(0, os.path.abspath(p))
    module, _, obj = spec.partition(":")
    backend = importlib.import_module(module)
    for part in obj.split(".") if obj else []:
        backend = getattr(backend, part)
    return backend


def main():
    hook, source, outdir, spec = sys.argv[1:5]
    backend_path = json.loads(sys.argv[5]) if len(sys.argv) > 5 else []
    os.chdir(source)
    backend = load_backend(spec, backend_path)
    if hook == "get_requires_for_build_wheel":
        fn = getattr(backend, "get_requires_for_build_wheel", None)
        result = fn(None) if fn else []
    elif hook == "build_wheel":
        result = backend.build_wheel(os.path.abspath(outdir), None)
    else:
        raise SystemExit("unknown hook " + hook)
    sys.stdout.write("\n@@CLUSTER-PACK-RESULT@@" + json.dumps(result))


main()
