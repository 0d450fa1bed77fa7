"""Wheel tags and interpreter constraints, computed by the interpreter running the tests."""
import platform
import sys
import unittest

from _cluster_pack_pex import pex_info, tags

MAJOR, MINOR = sys.version_info[:2]
ARCH = platform.machine()


def parsed(*names):
    return [(n,) + pex_info.parse_wheel_name(n) for n in names]


class Tags(unittest.TestCase):
    def test_sys_tags_order(self):
        all_tags = tags.sys_tags()
        self.assertRegex(all_tags[0], r"^cp%d%d-cp%d%d-manylinux_2_\d+_%s$" % (MAJOR, MINOR, MAJOR, MINOR, ARCH))
        self.assertIn("cp%d%d-abi3-linux_%s" % (MAJOR, MINOR, ARCH), all_tags)
        self.assertIn("py3-none-any", all_tags)
        self.assertLess(all_tags.index("cp%d%d-abi3-linux_%s" % (MAJOR, MINOR, ARCH)), all_tags.index("py3-none-any"))

    def test_best_wheels(self):
        own = "np-1-cp%d%d-cp%d%d-manylinux_2_17_%s.manylinux2014_%s.whl" % (MAJOR, MINOR, MAJOR, MINOR, ARCH, ARCH)
        other = "np-1-cp38-cp38-manylinux_2_17_%s.whl" % ARCH
        chosen, missing = tags.best_wheels(parsed("six-1.16.0-py2.py3-none-any.whl", own, other, "win-1-cp311-cp311-win_amd64.whl"))
        self.assertEqual(chosen, [own, "six-1.16.0-py2.py3-none-any.whl"])
        self.assertEqual(missing, {"win": ["win-1-cp311-cp311-win_amd64.whl"]})

    def test_constraints(self):
        results = [
            tags.check_constraints(c)
            for c in (
                ["CPython>=3.8"],
                [">=3.99"],
                ["PyPy"],
                ["CPython==%d.%d.*" % (MAJOR, MINOR)],
                ["CPython~=%d.%d" % (MAJOR, MINOR)],
                ["CPython!=%d.%d.*" % (MAJOR, MINOR), "CPython>=3"],
                [],
            )
        ]
        self.assertEqual(results, [True, False, False, True, True, True, True])
        self.assertFalse(tags.check_constraints(["CPython==3.11.*"], "cpython", (3, 8, 18)))
        with self.assertRaises(ValueError):
            tags.check_constraints(["CPython>=three"])


if __name__ == "__main__":
    unittest.main()
