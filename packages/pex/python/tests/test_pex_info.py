"""PEX-INFO's choke point: every field used in a path is checked before any path is built."""
import json
import unittest

from _cluster_pack_pex import pex_info

H = "0123456789abcdef0123456789abcdef01234567"


def dumps(**fields):
    base = {"pex_hash": H, "code_hash": H, "distributions": {"six-1.16.0-py2.py3-none-any.whl": H}}
    base.update(fields)
    return json.dumps(base, sort_keys=True).encode("utf-8")


class PexHash(unittest.TestCase):
    def test_warm_byte_search_applies_the_hash_rule(self):
        self.assertEqual(pex_info.pex_hash(dumps()), H)
        self.assertIsNone(pex_info.pex_hash(dumps(pex_hash="../../../../tmp/x")))
        self.assertIsNone(pex_info.pex_hash(dumps(pex_hash=H[:-1])))
        self.assertIsNone(pex_info.pex_hash(dumps(pex_hash=H.upper())))
        self.assertIsNone(pex_info.pex_hash(b"{}"))


class Load(unittest.TestCase):
    def assertRefused(self, data, *words):
        with self.assertRaises(ValueError) as caught:
            pex_info.load(data)
        for w in words:
            self.assertIn(w, str(caught.exception))

    def test_valid(self):
        info = pex_info.load(dumps(inherit_path=True, cluster_pack={"deps_archive": {"length": 10}}))
        self.assertEqual(info["wheels"], [("six-1.16.0-py2.py3-none-any.whl", "six", ["py2-none-any", "py3-none-any"])])

    def test_traversal_in_every_path_field_is_refused_by_name(self):
        self.assertRefused(dumps(pex_hash="../.."), "pex_hash")
        self.assertRefused(dumps(code_hash="../../x"), "code_hash")
        self.assertRefused(dumps(bootstrap_hash="/etc"), "bootstrap_hash")
        self.assertRefused(dumps(distributions={"../../evil-1.0-py3-none-any.whl": H}), "distributions", "../../evil")
        self.assertRefused(dumps(distributions={"evil-1.0-py3-none-any.whl/../../x": H}), "distributions")
        self.assertRefused(dumps(distributions={"six-1.16.0-py2.py3-none-any.whl": "../../.."}), "distributions['six-1.16.0-py2.py3-none-any.whl']", "fingerprint")
        self.assertRefused(dumps(distributions={"six-1.16.0-py2.py3-none-any.whl": None}), "fingerprint")

    def test_types(self):
        self.assertRefused(b"[]", "not a JSON object")
        self.assertRefused(b"{", "not valid JSON")
        self.assertRefused(dumps(distributions=[]), "distributions must be a JSON object")
        self.assertRefused(dumps(interpreter_constraints="CPython"), "interpreter_constraints must be a list")
        self.assertRefused(dumps(inject_env={"A=B": "c"}), "inject_env")
        self.assertRefused(dumps(inherit_path=3), "inherit_path")
        self.assertRefused(dumps(cluster_pack={"deps_archive": {"length": -1}}), "deps_archive.length")
        self.assertRefused(dumps(cluster_pack={"deps_archive": {"length": True}}), "deps_archive.length")


class WheelNames(unittest.TestCase):
    def test_accepts_real_names(self):
        for name, project in (
            ("six-1.16.0-py2.py3-none-any.whl", "six"),
            ("zope.interface-8.6-cp311-cp311-manylinux_2_17_x86_64.whl", "zope-interface"),
            ("cmeel_octomap-1.10.0-4-py3-none-manylinux_2_28_x86_64.whl", "cmeel-octomap"),
            ("Django-4.2+local.1-py3-none-any.whl", "django"),
        ):
            self.assertEqual(pex_info.parse_wheel_name(name)[0], project, name)

    def test_refuses_what_is_not_one_plain_component(self):
        for name in ("../six-1.0-py3-none-any.whl", "a/b-1.0-py3-none-any.whl", ".six-1.0-py3-none-any.whl", "six-1.0-py3-none-any.whl\n", "six-1.0-py3-none-any.zip", "six-1.0.whl", "six-1.0-x-py3-none-any.whl", "six-1.0-py3-none-any.whl\x00", "x" * 300 + "-1-py3-none-any.whl", None):
            self.assertIsNone(pex_info.parse_wheel_name(name), name)


if __name__ == "__main__":
    unittest.main()
