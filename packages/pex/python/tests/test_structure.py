"""The runtime's module graph: leaves import nothing from the runtime, nothing imports boot,
and there are no cycles."""
import ast
import os
import unittest

PKG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_cluster_pack_pex")
LEAVES = {"variables", "pex_info", "layout", "dirs", "plan", "atomic", "syspath", "tags", "interpreter", "tools", "unpack"}


def runtime_imports(name):
    with open(os.path.join(PKG, name + ".py")) as fp:
        tree = ast.parse(fp.read())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module.split(".")[0])
            else:
                out.update(a.name for a in node.names)
    return out


class Structure(unittest.TestCase):
    def setUp(self):
        self.modules = sorted(n[:-3] for n in os.listdir(PKG) if n.endswith(".py") and n != "__init__.py")
        self.graph = {m: runtime_imports(m) for m in self.modules}

    def test_leaves_import_nothing_from_the_runtime(self):
        for leaf in LEAVES:
            self.assertEqual(self.graph[leaf], set(), leaf)

    def test_nothing_imports_boot(self):
        self.assertEqual([m for m, deps in self.graph.items() if "boot" in deps], [])

    def test_no_cycles(self):
        def visit(m, stack):
            self.assertNotIn(m, stack, "import cycle: %s" % " -> ".join(stack + [m]))
            for dep in self.graph[m]:
                visit(dep, stack + [m])

        for m in self.modules:
            visit(m, [])


if __name__ == "__main__":
    unittest.main()
