"""Build-time bytecode for `PexBuilder({ compile })` (cluster-pack pex build --compile).

Run by the builder as `python -s -S compile_wheels.py` with PYTHONHASHSEED=0 (set
constants are marshalled in hash order) and nothing else of the environment's PYTHON*.
With `--describe` it prints what the bytecode depends on (one JSON line); otherwise it
serves one job, a JSON document on stdin:

    {"wheel": path, "out": path, "maxBytes": n, "members": [[member, pyc_name, dfile], ...]}

compiles every member (a .py file of the wheel, read with zipfile, which checks its CRC)
to a checked-hash .pyc (PEP 552: Python checks the source's hash before using it, so a
.pyc never stands for other source), and writes them, in the order given, deflated, with
fixed timestamps and modes, to the zip `out` (the builder renames it into place). A member
that does not compile (Python 2 code in a wheel, say), or is larger than maxBytes (its
zip header's claim, checked before it is read: a stranger's wheel), is left out and named
in the reply, as pip and compileall leave such a file to the importer:

    {"compiled": [[pyc_name, record_hash, size], ...], "skipped": [[member, reason], ...]}
    or {"error": text}

A fresh process per job (the builder cuts a wheel's sorted modules into runs of a fixed
size, never one that depends on the cores): before Python 3.12 a marshalled string's
reference flag depends on the references other live objects hold to it, so the same file
compiled after other files gave other bytes (3.8, 3.11; 3.13 not); a fresh process given
the same members in the same order always gives the same bytes, so they depend only on
the wheel and on this interpreter (its version, marshal and zlib). Reads only the members the
builder names; never imports or runs the code it compiles.
"""
import base64
import hashlib
import importlib.util
import json
import sys
import warnings
import zipfile
import zlib

from importlib import _bootstrap_external

FORMAT = 2


def describe():
    return {
        "format": FORMAT,
        "cacheTag": sys.implementation.cache_tag,
        "magic": importlib.util.MAGIC_NUMBER.hex(),
        "version": "%s %s" % (sys.implementation.name, ".".join(map(str, sys.version_info[:3]))),
        "hexversion": sys.hexversion,
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
        "optimize": sys.flags.optimize,
        "hashSeed": sys.flags.hash_randomization,
    }


def pyc(source, dfile):
    code = compile(source, dfile, "exec", dont_inherit=True, optimize=0)
    return _bootstrap_external._code_to_hash_pyc(code, importlib.util.source_hash(source), True)


def job(request):
    compiled, skipped = [], []
    with zipfile.ZipFile(request["wheel"]) as wheel, zipfile.ZipFile(request["out"], "w") as out:
        for member, name, dfile in request["members"]:
            if wheel.getinfo(member).file_size > request["maxBytes"]:
                skipped.append([member, "larger than %d bytes" % request["maxBytes"]])
                continue
            source = wheel.read(member)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # SyntaxWarning and the like: the importer's to report
                    data = pyc(source, dfile)
            except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError) as err:
                skipped.append([member, "%s: %s" % (type(err).__name__, err)])
                continue
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            out.writestr(info, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            compiled.append([name, "sha256=" + digest, len(data)])
    return {"compiled": compiled, "skipped": skipped}


def main(argv):
    if argv == ["--describe"]:
        reply = describe()
    else:
        try:
            reply = job(json.loads(sys.stdin.read()))
        except Exception as err:  # reported by the builder, naming the wheel
            reply = {"error": "%s: %s" % (type(err).__name__, err)}
    sys.stdout.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
