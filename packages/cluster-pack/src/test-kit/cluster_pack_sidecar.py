"""The sidecar rule of criteo/cluster-pack, to test interop with the Python tool.

Written from cluster-pack's behaviour (uploader.py `_is_archive_up_to_date`,
`_dump_archive_metadata`, `get_platform_and_python_version`; packaging.py
`get_non_editable_requirements`, `format_requirements`), not copied from it: the sidecar
is `<archive stem>.json` holding `json.dumps({"package_installed": [...], "platform":
"<uname system>-<uname release>", "python_version": "X.Y.Z"}, indent=4)`; an archive is up
to date when it exists, its sidecar is a dict, the sorted package lists are equal and the
platform and Python version are this interpreter's. The package list is `pip list -l
--exclude-editable` as `name==version`. Local paths only (cluster-pack goes through fsspec).

Run it with the environment's own interpreter, as cluster-pack runs inside it:
  python cluster_pack_sidecar.py check PACKAGE_PATH   -> prints True or False
  python cluster_pack_sidecar.py dump PACKAGE_PATH    -> writes the sidecar
"""
import json
import os
import platform
import subprocess
import sys


def sidecar_of(package_path):
    root, _ = os.path.splitext(package_path)
    return root + ".json"


def this_machine():
    uname = platform.uname()
    v = sys.version_info
    return "%s-%s" % (uname.system, uname.release), "%d.%d.%d" % (v.major, v.minor, v.micro)


def installed_requirements():
    out = subprocess.check_output([sys.executable, "-m", "pip", "list", "-l", "--exclude-editable", "--format", "json"])
    listed = json.loads(out.decode().split("\n")[0])
    return ["%s==%s" % (p["name"], p["version"]) if p["version"] else p["name"] for p in listed]


def is_up_to_date(package_path, requirements):
    meta = sidecar_of(package_path)
    if not (os.path.exists(package_path) and os.path.exists(meta)):
        return False
    with open(meta, "rb") as f:
        data = json.loads(f.read())
    if not isinstance(data, dict):
        return False
    plat, version = this_machine()
    return (
        sorted(data.get("package_installed", [])) == sorted(requirements)
        and data.get("platform", "") == plat
        and data.get("python_version", "") == version
    )


def dump(package_path, requirements):
    plat, version = this_machine()
    text = json.dumps({"package_installed": requirements, "platform": plat, "python_version": version}, indent=4)
    with open(sidecar_of(package_path), "w") as f:
        f.write(text)


if __name__ == "__main__":
    command, path = sys.argv[1], sys.argv[2]
    reqs = installed_requirements()
    if command == "check":
        print(is_up_to_date(path, reqs))
    elif command == "dump":
        dump(path, reqs)
    else:
        sys.exit("unknown command %r" % command)
