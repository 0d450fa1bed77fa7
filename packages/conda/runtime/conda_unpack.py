# conda-unpack: makes an unpacked environment usable at its new location.
#
# cluster-pack embeds this file as <env>/bin/conda-unpack, preceded by a two-line
# sh preamble that re-executes it with the environment's own bin/python, so no other
# Python is needed. RECORDS below is replaced by the records of the packed environment:
# [path, placeholder, mode] with mode "text" (plain replacement) or "binary" (replacement
# inside NUL-terminated strings, padded with NULs to keep every offset).
#
# Each file is rewritten into a temporary file beside it and renamed over the original,
# so a file that is running (bin/python3.X itself) or hardlinked elsewhere (a package
# cache) is never modified in place. Symlinks are never followed.
import json
import os
import re
import sys
import tempfile

RECORDS = json.loads(r'''[]''')

try:
    fsencode, fsdecode = os.fsencode, os.fsdecode
except AttributeError:  # Python 2: file names are byte strings already
    fsencode = lambda s: s.encode("utf-8") if not isinstance(s, bytes) else s  # noqa: E731
    fsdecode = lambda b: b  # noqa: E731


def binary_replace(data, placeholder, new_prefix, path):
    if len(new_prefix) > len(placeholder):
        raise ValueError(
            "%s: the new prefix is %d bytes but only %d are reserved in this binary file; "
            "unpack into a directory whose absolute path is at most %d bytes"
            % (fsdecode(path), len(new_prefix), len(placeholder), len(placeholder))
        )
    pattern = re.compile(re.escape(placeholder) + b"([^\0]*?)\0")

    def replace(match):
        occurrences = match.group().count(placeholder)
        padding = (len(placeholder) - len(new_prefix)) * occurrences
        return match.group().replace(placeholder, new_prefix) + b"\0" * padding

    return pattern.sub(replace, data)


class MissingFile(Exception):
    pass


def rewrite(path, placeholder, new_prefix, mode):
    if os.path.islink(path):
        return False
    if not os.path.lexists(path):
        # Never skipped in silence: the archive listed it, so unpacking lost it.
        raise MissingFile(path)
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        data = f.read()
    if placeholder not in data:
        return False
    if mode == "binary":
        new = binary_replace(data, placeholder, new_prefix, path)
    else:
        new = data.replace(placeholder, new_prefix)
    st = os.stat(path)
    fd, tmp = tempfile.mkstemp(prefix=b".conda-unpack-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(new)
        os.chmod(tmp, st.st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def main(argv):
    here = os.path.dirname(os.path.abspath(argv[0] if argv else __file__))
    new_prefix = os.path.dirname(here)
    for arg in argv[1:]:
        if arg in ("-h", "--help"):
            print("usage: conda-unpack\n\nRewrites the old prefix to %s in every file that records it." % new_prefix)
            return 0
    # Paths and prefixes as bytes: names that are not UTF-8 arrive as surrogate escapes
    # (JSON \udcXX), which fsencode turns back into the bytes on disk.
    new = fsencode(new_prefix)
    errors = []
    count = 0
    for path, placeholder, mode in RECORDS:
        target = os.path.join(fsencode(new_prefix), fsencode(path))
        try:
            if rewrite(target, fsencode(placeholder), new, mode):
                count += 1
        except MissingFile:
            errors.append("%s: listed for relocation but missing; extract the whole archive again" % fsdecode(target))
        except OSError as e:
            errors.append("%s: %s" % (fsdecode(target), e.strerror or e))
        except ValueError as e:
            errors.append(str(e))
    for e in errors:
        sys.stderr.write("conda-unpack: %s\n" % e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
