"""Describes the running interpreter for cluster-pack's resolver (like pex's complete platforms).

Prints JSON: the PEP 508 marker environment, facts for computing PEP 425 tags, and the
ordered supported tags when a `packaging` (standalone or pip's vendored copy) is importable.
Runs on Python 2.7 and 3.x with the standard library only.
"""
import json
import os
import platform
import sys
import sysconfig


def full_version(info):
    version = "%d.%d.%d" % (info.major, info.minor, info.micro)
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    return version


def glibc_version():
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION")
        name, version = value.split()
        return version if name == "glibc" else None
    except (AttributeError, OSError, ValueError):
        return None


def supported_tags():
    for module in ("packaging.tags", "pip._vendor.packaging.tags"):
        try:
            tags = __import__(module, fromlist=["sys_tags"])
            return {"source": module, "tags": [str(t) for t in tags.sys_tags()]}
        except Exception:  # noqa: BLE001 - any failure means: compute the tags elsewhere
            continue
    return None


impl = sys.implementation if hasattr(sys, "implementation") else None
markers = {
    "implementation_name": impl.name if impl else "cpython",
    "implementation_version": full_version(impl.version) if impl else "0",
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}
result = {
    "markers": markers,
    "executable": sys.executable,
    "prefix": sys.prefix,
    "implementation": impl.name if impl else "cpython",
    "version": [sys.version_info[0], sys.version_info[1], sys.version_info[2]],
    "soabi": sysconfig.get_config_var("SOABI"),
    "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
    "gil_disabled": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "platform": sysconfig.get_platform(),
    "glibc": glibc_version(),
    "mac_version": platform.mac_ver()[0] or None,
    "supported": supported_tags(),
}
sys.stdout.write(json.dumps(result))
