"""unpack: members extracted on a pool of threads, exactly as zipfile extracts them, and
every claim of the archive checked."""
import os
import shutil
import stat
import tempfile
import threading
import unittest
import warnings
import zipfile

from _cluster_pack_pex import layout, unpack


class Temp(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cp-runtime-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)


def _member(name, data, method=zipfile.ZIP_DEFLATED, executable=False):
    info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
    info.compress_type = method
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    return info, data


def _tree(root):
    out = {}
    for base, dirs, files in os.walk(root):
        for d in dirs:
            out[os.path.relpath(os.path.join(base, d), root) + "/"] = None
        for f in files:
            path = os.path.join(base, f)
            with open(path, "rb") as fp:
                out[os.path.relpath(path, root)] = (fp.read(), stat.S_IMODE(os.stat(path).st_mode) & 0o111 != 0)
    return out


class Extract(Temp):
    def make_zip(self, members, prefix=b""):
        path = os.path.join(self.tmp, "a.zip")
        with open(path, "wb") as fp:
            fp.write(prefix)  # data before the zip, as a PEX's shebang
            with zipfile.ZipFile(fp, "w") as zf, warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a duplicate name, on purpose
                for info, data in members:
                    if data is None:
                        zf.writestr(info, b"")
                    else:
                        zf.writestr(info, data)
        return path

    def extract(self, path, threads, dest):
        with open(path, "rb") as fp, zipfile.ZipFile(fp) as zf:
            members = layout.Members(zf, zf.infolist(), "", fp.fileno(), os.fstat(fp.fileno()).st_size)
            files, dirs = members.files(dest)
            unpack.extract(files, dirs, threads)

    def test_same_tree_as_zipfile_at_any_thread_count(self):
        big = os.urandom(3 * unpack.CHUNK + 17)  # incompressible, streamed in chunks
        zeros = b"\0" * (5 * unpack.CHUNK)  # a high ratio: output bounded by chunks
        members = [
            _member("pkg/__init__.py", b"x = 1\n"),
            _member("pkg/empty.txt", b""),
            _member("pkg/stored.bin", big, zipfile.ZIP_STORED),
            _member("pkg/deflated.bin", big),
            _member("pkg/zeros.bin", zeros),
            _member("pkg/deep/a/b/c.py", b"c" * 70000),
            _member("bin/tool", b"#!python\n", executable=True),
            (zipfile.ZipInfo("emptydir/"), None),
        ]
        members += [_member("many/m%03d.py" % i, (b"print(%d)\n" % i) * (i + 1)) for i in range(300)]
        path = self.make_zip(members, prefix=b"#!/usr/bin/env python3\n")
        expected_dir = os.path.join(self.tmp, "expected")
        with zipfile.ZipFile(path) as zf:
            zf.extractall(expected_dir)
        os.chmod(os.path.join(expected_dir, "bin", "tool"), 0o755)
        expected = _tree(expected_dir)
        for threads in (1, 2, 8):
            dest = os.path.join(self.tmp, "t%d" % threads)
            self.extract(path, threads, dest)
            self.assertEqual(_tree(dest), expected, threads)

    def test_the_last_of_a_name_given_twice_wins(self):
        path = self.make_zip([_member("a.txt", b"first"), _member("a.txt", b"second")])
        dest = os.path.join(self.tmp, "d")
        self.extract(path, 4, dest)
        self.assertEqual(_tree(dest), {"a.txt": (b"second", False)})

    def corrupt(self, path, old, new):
        with open(path, "rb") as fp:
            data = fp.read()
        self.assertEqual(data.count(old), 1)
        with open(path, "wb") as fp:
            fp.write(data.replace(old, new))

    def test_damaged_data_is_refused_by_name(self):
        payload = b"unique start " + b"hello world, " * 1000
        path = self.make_zip([_member("ok.txt", b"fine"), _member("data.txt", payload, zipfile.ZIP_STORED)])
        self.corrupt(path, b"unique start", b"UNIQUE start")
        with self.assertRaisesRegex(ValueError, r"'data.txt' is damaged"):
            self.extract(path, 2, os.path.join(self.tmp, "d"))

    def test_a_local_header_that_does_not_match_is_refused(self):
        path = self.make_zip([_member("abc.txt", b"x" * 100)])
        with open(path, "rb") as fp:
            data = fp.read()
        # Rename in the local header only (the first occurrence), not in the central directory.
        with open(path, "wb") as fp:
            fp.write(data.replace(b"abc.txt", b"abd.txt", 1))
        with self.assertRaisesRegex(ValueError, r"'abc.txt' has no matching local header"):
            self.extract(path, 1, os.path.join(self.tmp, "d"))

    def test_a_member_past_the_end_of_the_archive_is_refused(self):
        path = self.make_zip([_member("a.bin", os.urandom(5000), zipfile.ZIP_STORED)])
        with open(path, "rb") as fp, zipfile.ZipFile(fp) as zf:
            members = layout.Members(zf, zf.infolist(), "", fp.fileno(), 3000)  # a slice that ends inside the data
            files, dirs = members.files(os.path.join(self.tmp, "d"))
            with self.assertRaisesRegex(ValueError, r"'a.bin' extends past the end of the archive"):
                unpack.extract(files, dirs, 1)

    def test_more_output_than_claimed_is_refused(self):
        path = self.make_zip([_member("bomb.bin", b"\0" * 100000)])
        with open(path, "rb") as fp, zipfile.ZipFile(fp) as zf:
            info = zf.infolist()[0]
            info.file_size = 1000  # the central directory lies about the size
            files = [(fp.fileno(), os.fstat(fp.fileno()).st_size, info, os.path.join(self.tmp, "bomb.bin"), False)]
            with self.assertRaisesRegex(ValueError, r"'bomb.bin' is damaged"):
                unpack.extract(files, [], 1)
        self.assertLessEqual(os.path.getsize(os.path.join(self.tmp, "bomb.bin")), 1001)

    def test_an_error_stops_every_thread_before_it_returns(self):
        members = [_member("f%03d.bin" % i, os.urandom(200000)) for i in range(40)]
        path = self.make_zip(members)
        with open(path, "rb") as fp, zipfile.ZipFile(fp) as zf:
            infos = zf.infolist()
            infos[5].CRC ^= 1
            members = layout.Members(zf, infos, "", fp.fileno(), os.fstat(fp.fileno()).st_size)
            files, dirs = members.files(os.path.join(self.tmp, "d"))
            before = threading.active_count()
            with self.assertRaisesRegex(ValueError, r"'f005.bin' is damaged"):
                unpack.extract(files, dirs, 4)
            self.assertEqual(threading.active_count(), before)


class PoolSize(unittest.TestCase):
    def test_requested_or_usable_cpus_capped(self):
        self.assertEqual(unpack.pool_size(3), 3)
        self.assertEqual(unpack.pool_size(32), 32)
        auto = unpack.pool_size(0)
        self.assertGreaterEqual(auto, 1)
        self.assertLessEqual(auto, unpack.MAX_THREADS)
        self.assertLessEqual(auto, unpack.usable_cpus())
        if hasattr(os, "sched_getaffinity"):
            self.assertLessEqual(unpack.usable_cpus(), len(os.sched_getaffinity(0)))

    def test_cgroup_quota_readers(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, True)
        with open(os.path.join(tmp, "cpu.max"), "w") as fp:
            fp.write("150000 100000\n")
        self.assertEqual(unpack._v2_quota(tmp), (150000, 100000))
        with open(os.path.join(tmp, "cpu.max"), "w") as fp:
            fp.write("max 100000\n")
        self.assertIsNone(unpack._v2_quota(tmp))
        with open(os.path.join(tmp, "cpu.cfs_quota_us"), "w") as fp:
            fp.write("-1\n")
        with open(os.path.join(tmp, "cpu.cfs_period_us"), "w") as fp:
            fp.write("100000\n")
        self.assertIsNone(unpack._v1_quota(tmp))
        with open(os.path.join(tmp, "cpu.cfs_quota_us"), "w") as fp:
            fp.write("200000\n")
        self.assertEqual(unpack._v1_quota(tmp), (200000, 100000))


if __name__ == "__main__":
    unittest.main()
