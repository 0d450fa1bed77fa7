"""Answers batches of questions with Python's `packaging`, for differential tests.

Reads one JSON object {"op": ..., "items": [...]} from stdin, writes {"results": [...]}.
"""
import json
import sys

from packaging import tags
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import Specifier, SpecifierSet
from packaging.utils import parse_sdist_filename, parse_wheel_filename
from packaging.version import Version


def err(e):
    return {"error": type(e).__name__}


def one(op, item):
    try:
        if op == "version":
            return str(Version(item))
        if op == "compare":
            a, b = Version(item[0]), Version(item[1])
            return -1 if a < b else (1 if a > b else 0)
        if op == "spec":
            spec, ver = item
            return Specifier(spec).contains(ver, prereleases=True)
        if op == "spec_valid":
            Specifier(item)
            return True
        if op == "filter":
            spec, vers = item
            return list(SpecifierSet(spec).filter(vers))
        if op == "marker":
            text, env = item
            return Marker(text).evaluate(env)
        if op == "requirement":
            r = Requirement(item)
            return {
                "name": r.name,
                "extras": sorted(r.extras),
                "specifier": str(r.specifier),
                "url": r.url or None,
                "marker": str(r.marker) if r.marker else None,
            }
        if op == "cpython_tags":
            ver, abis, platforms = item
            return [str(t) for t in tags.cpython_tags(tuple(ver), abis, platforms)] + [
                str(t) for t in tags.compatible_tags(tuple(ver), "cp%d%d" % tuple(ver), platforms)
            ]
        if op == "mac_platforms":
            ver, arch = item
            return list(tags.mac_platforms(tuple(ver), arch))
        if op == "wheel_filename":
            name, version, build, tag_set = parse_wheel_filename(item)
            return {"name": name, "version": str(version), "build": list(build), "tags": sorted(str(t) for t in tag_set)}
        if op == "sdist_filename":
            name, version = parse_sdist_filename(item)
            return {"name": name, "version": str(version)}
        raise ValueError("unknown op " + op)
    except Exception as e:  # noqa: BLE001 - the error kind is the answer
        return err(e)


req = json.load(sys.stdin)
json.dump({"results": [one(req["op"], i) for i in req["items"]]}, sys.stdout)
