"""PEX-INFO: the one place its fields are read and checked.

PEX-INFO comes with the PEX, from whoever built it. Its hashes and distribution names
become path components under PEX_ROOT, so every field is checked here, once, before any
path is built from it: hashes are lowercase hex of the right length, a distribution key
is a single path component that is a valid wheel file name, and its fingerprint a hash.
`load` raises ValueError naming the field (boot prints it and exits 2).

The warm path never parses JSON: `pex_hash` finds the hash by a byte search (PEX-INFO is
written with sorted keys, by us and by pex) and applies the same hash rule; a PEX whose
hash is missing or fails the rule takes the cold path, where `load` refuses it by name.
Imports nothing from the runtime (a leaf); json and re only inside the cold functions.
"""
HASH_LENGTH = 40  # sha1 hex: pex_hash, code_hash, bootstrap_hash, distribution fingerprints
_HEX = frozenset("0123456789abcdef")
_PEX_HASH = b'"pex_hash": "'


def read(pex, loader=None):
    """PEX-INFO's bytes: from the directory (packed and loose layouts), or through the zip
    importer that loaded __main__ (already open, so the warm path does not open the zip
    again)."""
    import os

    if os.path.isdir(pex):
        with open(os.path.join(pex, "PEX-INFO"), "rb") as fp:
            return fp.read()
    if loader is None:
        import zipimport

        loader = zipimport.zipimporter(pex)
    return loader.get_data("PEX-INFO")


def is_hash(value):
    return isinstance(value, str) and len(value) == HASH_LENGTH and _HEX.issuperset(value)


def pex_hash(info_bytes):
    """The pex_hash by a byte search, or None when absent or not a valid hash."""
    at = info_bytes.find(_PEX_HASH)
    if at < 0:
        return None
    start = at + len(_PEX_HASH)
    value = info_bytes[start : info_bytes.find(b'"', start)].decode("ascii", "replace")
    return value if is_hash(value) else None


def venv_flag(info_bytes):
    """PEX-INFO `venv: true`, by a byte search (sorted keys, pex's separators)."""
    return b'"venv": true' in info_bytes


def pex_root(info_bytes):
    """PEX-INFO's pex_root, parsing the JSON only when the key is there."""
    if b'"pex_root"' not in info_bytes:
        return None
    value = load(info_bytes).get("pex_root")
    return value or None


def load(info_bytes):
    """PEX-INFO as a dict whose every field the runtime uses has been checked; adds
    `wheels`: [(file name, project, [tag triples])] for the distributions."""
    import json

    try:
        info = json.loads(info_bytes.decode("utf-8"))
    except ValueError as err:
        raise ValueError("PEX-INFO is not valid JSON (%s)" % err)
    if not isinstance(info, dict):
        raise ValueError("PEX-INFO is not a JSON object")
    for field in ("pex_hash", "code_hash", "bootstrap_hash"):
        if info.get(field) is not None and not is_hash(info[field]):
            raise ValueError("PEX-INFO field %s is %r, not %d lowercase hex digits" % (field, info[field], HASH_LENGTH))
    distributions = _typed(info, "distributions", dict, {})
    wheels = []
    for name, fingerprint in sorted(distributions.items()):
        parsed = parse_wheel_name(name)
        if parsed is None:
            raise ValueError("PEX-INFO field distributions has the key %r, which is not a wheel file name" % (name,))
        if not is_hash(fingerprint):
            raise ValueError("PEX-INFO field distributions[%r] is %r, not a fingerprint of %d lowercase hex digits" % (name, fingerprint, HASH_LENGTH))
        wheels.append((name, parsed[0], parsed[1]))
    info["wheels"] = wheels
    for field in ("interpreter_constraints", "inject_args"):
        values = _typed(info, field, list, [])
        if not all(isinstance(v, str) for v in values):
            raise ValueError("PEX-INFO field %s must be a list of strings" % field)
    env = _typed(info, "inject_env", dict, {})
    if not all(isinstance(v, str) and k and "=" not in k and "\0" not in k + v for k, v in env.items()):
        raise ValueError("PEX-INFO field inject_env must map variable names to strings")
    for field in ("entry_point", "script", "pex_path", "pex_root"):
        _typed(info, field, str, None)
    for field in ("strip_pex_env", "venv"):
        _typed(info, field, bool, None)
    if info.get("inherit_path") is not None and not isinstance(info["inherit_path"], (bool, str)):
        raise ValueError("PEX-INFO field inherit_path must be a string or a boolean")
    cluster_pack = _typed(info, "cluster_pack", dict, {})
    deps = cluster_pack.get("deps_archive")
    if deps is not None:
        length = deps.get("length") if isinstance(deps, dict) else None
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise ValueError("PEX-INFO field cluster_pack.deps_archive.length must be a byte count")
    _check_layers(cluster_pack, distributions)
    return info


def _check_layers(cluster_pack, distributions):
    """cluster_pack.layers of a layered PEX: {wheel: {file, sha256, size}}. Each key is a
    listed distribution, each file name one plain path component (it is looked up in
    directories), each sha256 64 lowercase hex digits, each size a byte count; in the
    layered layout every distribution has one (the TypeScript parsePexInfo, same rules)."""
    layers = cluster_pack.get("layers")
    layered = cluster_pack.get("layout") == "layered"
    if layers is None:
        if layered and distributions:
            raise ValueError("PEX-INFO says the layout is layered but lists no cluster_pack.layers")
        return
    if not isinstance(layers, dict):
        raise ValueError("PEX-INFO field cluster_pack.layers must be a JSON object")
    files = set()
    for wheel, layer in sorted(layers.items()):
        if wheel not in distributions:
            raise ValueError("PEX-INFO field cluster_pack.layers names %r, which is not one of its distributions" % (wheel,))
        if not isinstance(layer, dict):
            raise ValueError("PEX-INFO field cluster_pack.layers[%r] must be a JSON object" % (wheel,))
        name, digest, size = layer.get("file"), layer.get("sha256"), layer.get("size")
        if not is_layer_file_name(name):
            raise ValueError("PEX-INFO field cluster_pack.layers[%r].file is %r, not one plain file name" % (wheel, name))
        if not (isinstance(digest, str) and len(digest) == 64 and _HEX.issuperset(digest)):
            raise ValueError("PEX-INFO field cluster_pack.layers[%r].sha256 is %r, not 64 lowercase hex digits" % (wheel, digest))
        if not isinstance(size, int) or isinstance(size, bool) or size < 22:
            raise ValueError("PEX-INFO field cluster_pack.layers[%r].size is %r, not the byte count of a zip" % (wheel, size))
        if name in files:
            raise ValueError("PEX-INFO field cluster_pack.layers lists the file %r twice" % (name,))
        files.add(name)
    if layered:
        missing = sorted(set(distributions) - set(layers))
        if missing:
            raise ValueError("PEX-INFO says the layout is layered but has no layer for %s" % ", ".join(missing))


_LAYER_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-")


def is_layer_file_name(name):
    """One plain path component: letters, digits, . _ + -, not starting with a dot or dash, no '..'."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= 255
        and name[0].isalnum()
        and name.isascii()
        and _LAYER_NAME_CHARS.issuperset(name)
        and ".." not in name
    )


def _typed(info, field, kind, default):
    value = info.get(field)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise ValueError("PEX-INFO field %s must be a %s" % (field, {dict: "JSON object", list: "list", str: "string", bool: "boolean"}[kind]))
    return value


def parse_wheel_name(name):
    """(normalised project, [python-abi-platform tags]) of a wheel file name, or None
    when it is not one (PEP 427; also refuses anything that is not a single plain path
    component: separators, a leading dot, control characters)."""
    import re

    m = re.match(
        r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._]*[A-Za-z0-9])?)-[A-Za-z0-9_.!+]+(?:-\d[A-Za-z0-9_.]*)?"
        r"-(?P<py>[A-Za-z0-9_.]+)-(?P<abi>[A-Za-z0-9_.]+)-(?P<plat>[A-Za-z0-9_.]+)\.whl\Z",
        name if isinstance(name, str) and len(name) <= 255 else "",
    )
    if not m:
        return None
    project = re.sub(r"[-_.]+", "-", m.group("name")).lower()
    tags = ["%s-%s-%s" % (p, a, t) for p in m.group("py").split(".") for a in m.group("abi").split(".") for t in m.group("plat").split(".")]
    return project, tags
