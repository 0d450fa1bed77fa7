"""bytecode: each directory compiled once, under its lock, marked when done."""
import importlib.util
import os
import shutil
import sys
import tempfile
import unittest

from _cluster_pack_pex import bytecode, dirs


class Compile(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cp-runtime-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.target = os.path.join(self.tmp, "w.whl")
        self.site = os.path.join(self.target, "lib", "python", "site-packages")
        os.makedirs(os.path.join(self.site, "pkg", "sub"))
        for rel, text in (("pkg/__init__.py", "x = 1\n"), ("pkg/sub/m.py", "def f():\n    return 2\n"), ("pkg/py2.py", "print 'old'\n"), ("pkg/data.txt", "not python\n")):
            with open(os.path.join(self.site, rel), "w") as fp:
                fp.write(text)
        self.entry = (dirs.bytecode_marker(self.target), self.site)

    def pyc(self, rel):
        return importlib.util.cache_from_source(os.path.join(self.site, rel))

    def test_compiles_every_valid_source_and_marks_the_directory(self):
        self.assertEqual(bytecode.pending([self.entry]), [self.entry])
        bytecode.compile_all([self.entry], 0)
        self.assertTrue(os.path.isfile(self.pyc("pkg/__init__.py")))
        self.assertTrue(os.path.isfile(self.pyc("pkg/sub/m.py")))
        self.assertFalse(os.path.exists(self.pyc("pkg/py2.py")))  # left to the importer
        self.assertEqual(bytecode.pending([self.entry]), [])
        self.assertTrue(self.entry[0].startswith(self.target + ".pyc-" + sys.implementation.cache_tag))

    def test_a_directory_locked_by_another_compiler_is_skipped(self):
        lock = bytecode._try_lock(self.entry[0])
        self.assertIsNotNone(lock)
        try:
            bytecode.compile_all([self.entry], 0)
            self.assertFalse(os.path.exists(self.pyc("pkg/__init__.py")))
            self.assertEqual(bytecode.pending([self.entry]), [self.entry])
            self.assertIsNone(bytecode.start([self.entry]))  # nothing started while it is busy
        finally:
            lock.close()

    def test_stopped_between_files_it_leaves_no_marker_and_resumes(self):
        bytecode.compile_all([self.entry], 0, stop=[True])
        self.assertEqual(bytecode.pending([self.entry]), [self.entry])
        bytecode.compile_all([self.entry], 0)
        self.assertEqual(bytecode.pending([self.entry]), [])

    def test_a_removed_directory_is_left_unmarked(self):
        shutil.rmtree(self.target)
        bytecode.compile_all([self.entry], 0)
        self.assertEqual(bytecode.pending([self.entry]), [self.entry])


if __name__ == "__main__":
    unittest.main()
