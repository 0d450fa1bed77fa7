""".pth files run in venv order; the venv's .pth file runs under site without errors."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from _cluster_pack_pex import extract, syspath, venv


class Pth(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cp-runtime-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def entry(self, name, files):
        d = os.path.join(self.tmp, name)
        os.makedirs(d)
        for f in files:
            open(os.path.join(d, f), "w").close()
        return d

    def test_pth_files_are_ordered_by_name_across_entries(self):
        a = self.entry("a", ["zz.pth", "b.pth", ".hidden.pth", "x.py"])
        b = self.entry("b", ["a1.pth", "b.pth"])
        self.assertEqual(extract.pth_files([a, b, os.path.join(self.tmp, "missing")]), [(b, "a1.pth"), (a, "b.pth"), (a, "zz.pth")])
        self.assertEqual(syspath.merge_pth([[(a, "b.pth"), (a, "zz.pth")], [(b, "a1.pth"), (b, "b.pth")]]), [(b, "a1.pth"), (a, "b.pth"), (a, "zz.pth")])

    def test_venv_pth_text_runs_under_site(self):
        # Every generated line, run by a real site in a fresh interpreter: in the order
        # given, including `import` lines that use names they import (NameError before).
        lib = self.entry("lib", [])
        with open(os.path.join(lib, "first.pth"), "w") as fp:
            fp.write("import sys; sys.ran = getattr(sys, 'ran', []) + ['first']\n")
        with open(os.path.join(lib, "second.pth"), "w") as fp:
            fp.write("import sys; sys.ran = getattr(sys, 'ran', []) + ['second']\nadded\n")
        os.mkdir(os.path.join(lib, "added"))
        site_dir = self.entry("site", [])
        with open(os.path.join(site_dir, "_cluster_pack_pex.pth"), "w") as fp:
            fp.write(venv.pth_text([lib], [(lib, "first.pth"), (lib, "second.pth")], "prefer"))
        code = "import site, sys; site.addsitedir(%r); print(sys.ran, sys.path.index(%r) < sys.path.index(%r), %r in sys.path)" % (site_dir, lib, os.path.join(lib, "added"), "/extra/x")
        out = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, PEX_EXTRA_SYS_PATH="/extra/x"), universal_newlines=True)
        self.assertEqual(out.stderr, "")
        self.assertEqual(out.stdout, "['first', 'second'] True True\n")


if __name__ == "__main__":
    unittest.main()
