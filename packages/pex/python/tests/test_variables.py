"""PEX_* variables: parsed once, pex's values, clear errors."""
import os
import unittest

from _cluster_pack_pex import variables


class Variables(unittest.TestCase):
    def test_defaults(self):
        v = variables.Variables({})
        self.assertEqual((v.verbose, v.python, v.python_path, v.tools, v.venv, v.inherit_path, v.pex_path, v.extra_sys_path), (0, None, [], False, False, None, [], []))
        self.assertEqual(v.inherit(None), "false")

    def test_inherit_path_means_the_same_everywhere(self):
        # pex: a boolean true inherit_path is prefer.
        for value, mode in (("true", "prefer"), ("True", "prefer"), ("1", "prefer"), ("prefer", "prefer"), ("fallback", "fallback"), ("false", "false"), ("0", "false"), ("False", "false")):
            self.assertEqual(variables.Variables({"PEX_INHERIT_PATH": value}).inherit(None), mode, value)
        for value, mode in ((True, "prefer"), (False, "false"), ("prefer", "prefer"), ("fallback", "fallback"), (None, "false")):
            self.assertEqual(variables.Variables({}).inherit(value), mode, value)
        # The environment wins over PEX-INFO.
        self.assertEqual(variables.Variables({"PEX_INHERIT_PATH": "false"}).inherit("prefer"), "false")

    def test_invalid_values_name_the_variable(self):
        for name, value in (("PEX_INHERIT_PATH", "sometimes"), ("PEX_VENV", "yes"), ("PEX_VERBOSE", "loud"), ("PEX_INTERPRETER", "2"), ("PEX_EXTRACT_THREADS", "-1"), ("PEX_EXTRACT_THREADS", "many"), ("PEX_BYTECODE", "sometimes")):
            with self.assertRaises(ValueError) as caught:
                variables.Variables({name: value})
            self.assertIn("%s=%r" % (name, value), str(caught.exception))
        with self.assertRaises(ValueError) as caught:
            variables.Variables({}).inherit("never")
        self.assertIn("PEX-INFO inherit_path='never'", str(caught.exception))

    def test_paths(self):
        v = variables.Variables({"PEX_EXTRA_SYS_PATH": os.pathsep.join(["/a", "", "rel", "/a", "~/x"]), "PEX_PATH": "p1" + os.pathsep + "p2"})
        self.assertEqual(v.extra_sys_path, ["/a", os.path.abspath("rel"), os.path.expanduser("~/x")])
        self.assertEqual(v.pex_path, ["p1", "p2"])

    def test_extract_threads(self):
        self.assertEqual(variables.Variables({}).extract_threads, 0)
        self.assertEqual(variables.Variables({"PEX_EXTRACT_THREADS": "0"}).extract_threads, 0)
        self.assertEqual(variables.Variables({"PEX_EXTRACT_THREADS": "12"}).extract_threads, 12)

    def test_bytecode(self):
        # auto (the default): a compiler only where the interpreter writes no bytecode itself (boot decides).
        self.assertEqual(variables.Variables({}).bytecode, "auto")
        for value, mode in (("", "auto"), ("auto", "auto"), ("1", "background"), ("Background", "background"), ("0", "off"), ("false", "off"), ("wait", "wait")):
            self.assertEqual(variables.Variables({"PEX_BYTECODE": value}).bytecode, mode)

    def test_empty_means_unset(self):
        v = variables.Variables({"PEX_VENV": "", "PEX_PYTHON": "", "PEX_INHERIT_PATH": ""})
        self.assertEqual((v.venv, v.python, v.inherit_path), (False, None, None))


if __name__ == "__main__":
    unittest.main()


class LayerAndNodeVariables(unittest.TestCase):
    def test_parsed(self):
        from _cluster_pack_pex import variables

        env = variables.Variables({"PEX_NODE_ROOT": "/tmp//x/", "PEX_LAYERS_PATH": "/a:/b:/a"})
        self.assertEqual((env.node_root, env.layers_path), ("/tmp/x", ["/a", "/b"]))
        with self.assertRaises(ValueError) as caught:
            variables.Variables({"PEX_NODE_ROOT": "relative"})
        self.assertIn("PEX_NODE_ROOT", str(caught.exception))
