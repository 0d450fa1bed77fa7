"""layout._Slice: the deps archive at the start of a split PEX, as zipfile reads it."""
import io
import os
import shutil
import tempfile
import unittest
import zipfile

from _cluster_pack_pex import layout


class Slice(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)

    def _split(self, deps_bytes):
        path = os.path.join(self.dir, "x.pex")
        top = io.BytesIO()
        with zipfile.ZipFile(top, "w") as zf:
            zf.writestr("__main__.py", "pass\n")
        with open(path, "wb") as fp:
            fp.write(deps_bytes + top.getvalue())
        return path

    def test_a_deps_archive_shorter_than_a_zip64_locator_opens(self):
        # An empty zip is 22 bytes: zipfile probes 42 bytes before its end for a ZIP64
        # locator and must get OSError (as from a real file), not ValueError.
        empty = io.BytesIO()
        zipfile.ZipFile(empty, "w").close()
        deps = empty.getvalue()
        self.assertLess(len(deps), 42)
        s = layout._Slice(self._split(deps), len(deps))
        self.addCleanup(s.close)
        self.assertEqual(zipfile.ZipFile(s).infolist(), [])

    def test_negative_seek_is_an_oserror(self):
        s = layout._Slice(self._split(b"x" * 10), 10)
        self.addCleanup(s.close)
        with self.assertRaises(OSError):
            s.seek(-11, 2)
        self.assertEqual(s.seek(-10, 2), 0)

    def test_reads_stop_at_the_slice(self):
        deps = io.BytesIO()
        with zipfile.ZipFile(deps, "w") as zf:
            zf.writestr(".deps/a-1.0-py3-none-any.whl/a.py", "A = 1\n")
        data = deps.getvalue()
        s = layout._Slice(self._split(data), len(data))
        self.addCleanup(s.close)
        zf = zipfile.ZipFile(s)
        self.assertEqual(zf.namelist(), [".deps/a-1.0-py3-none-any.whl/a.py"])
        self.assertEqual(zf.read(".deps/a-1.0-py3-none-any.whl/a.py"), b"A = 1\n")


if __name__ == "__main__":
    unittest.main()
