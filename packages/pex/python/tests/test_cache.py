"""The PEX_ROOT table, the boot-plan format and atomic directories."""
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest

import _cluster_pack_pex
from _cluster_pack_pex import atomic, dirs, plan


class Temp(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cp-runtime-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)


class Dirs(Temp):
    def test_table(self):
        root = self.tmp
        self.assertEqual(dirs.plan_file(root, "h"), os.path.join(root, "cp", "plans", "h.%s.marshal" % sys.implementation.cache_tag))
        self.assertEqual(dirs.installed_wheel(root, "f", "w.whl"), os.path.join(root, "cp", "installed_wheels.2", "f", "w.whl"))
        self.assertEqual(dirs.site_packages("/p"), "/p/lib/python/site-packages")
        self.assertEqual(dirs.venv(root, "h", "k"), os.path.join(root, "venvs", "h", "k"))

    def test_roots(self):
        root, fallback = dirs.roots("~/x", None)
        self.assertEqual(root, os.path.expanduser("~/x"))
        self.assertTrue(os.path.basename(fallback).startswith("cluster-pack-pex-root-"))
        self.assertEqual(dirs.roots(None, "rel")[0], os.path.abspath("rel"))


class Plans(Temp):
    def test_round_trip_and_checks(self):
        entry = os.path.join(self.tmp, "entry")
        os.mkdir(entry)
        made = plan.new([entry], [self.tmp], [(entry, "a.pth")], {"x": 1}, [], _cluster_pack_pex)
        path = os.path.join(self.tmp, "p.marshal")
        atomic.write_file(path, plan.encode(made))
        self.assertEqual(plan.load(path), made)
        # Another interpreter's, another format's, or one whose directory went: not used.
        for change in ({"executable": "/other/python"}, {"version": plan.VERSION - 1}, {"hexversion": 1}):
            atomic.write_file(path, plan.encode(dict(made, **change)))
            self.assertIsNone(plan.load(path), change)
        atomic.write_file(path, plan.encode(dict(made, executable="/other/python")))
        self.assertIsNotNone(plan.load(path, executable=False))
        atomic.write_file(path, plan.encode(made))
        os.rmdir(entry)
        self.assertIsNone(plan.load(path))
        with open(path, "wb") as fp:
            fp.write(b"\x00garbage")
        self.assertIsNone(plan.load(path))
        self.assertEqual([n for n in os.listdir(self.tmp) if ".tmp-" in n], [])


class WarmModules(unittest.TestCase):
    def test_the_plan_carries_the_compiled_warm_modules(self):
        made = plan.new([], [], [], {}, [], _cluster_pack_pex)
        self.assertEqual(sorted(made["code"]), sorted(plan.WARM_MODULES))
        # Imported from the plan's code when not imported yet; the same module otherwise.
        name = "_cluster_pack_pex.syspath"
        saved = sys.modules.pop(name, None)
        try:
            mod = plan.module(_cluster_pack_pex, "syspath", made)
            self.assertIs(sys.modules[name], mod)
            self.assertEqual(mod.__file__, made["code"]["syspath"].co_filename)
            self.assertTrue(callable(mod.activate))
            self.assertIs(plan.module(_cluster_pack_pex, "syspath", made), mod)
        finally:
            if saved is not None:
                sys.modules[name] = saved
                _cluster_pack_pex.syspath = saved


class AtomicDirectory(Temp):
    def test_made_once_under_concurrency(self):
        target = os.path.join(self.tmp, "sub", "t")
        calls = []

        def fill(tmp):
            calls.append(tmp)
            with open(os.path.join(tmp, "f"), "w") as fp:
                fp.write("x")

        threads = [threading.Thread(target=atomic.directory, args=(target, fill)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(calls), 1)
        self.assertEqual(os.listdir(target), ["f"])

    def test_failure_and_stale_leftovers_leave_nothing(self):
        target = os.path.join(self.tmp, "t")
        os.makedirs(target + ".tmp-1-dead/x")

        def boom(tmp):
            raise RuntimeError("fill failed")

        with self.assertRaises(RuntimeError):
            atomic.directory(target, boom)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["t.lck"])

    def test_invalid_target_is_replaced(self):
        target = os.path.join(self.tmp, "t")
        os.makedirs(os.path.join(target, "old"))
        atomic.directory(target, lambda tmp: open(os.path.join(tmp, "new"), "w").close(), valid=lambda t: os.path.exists(os.path.join(t, "new")))
        self.assertEqual(os.listdir(target), ["new"])


class AtomicDirectories(Temp):
    def test_each_made_once_by_makers_that_share_the_work(self):
        targets = [os.path.join(self.tmp, "t%d" % i) for i in range(6)]
        filled = []
        lock = threading.Lock()

        def fill(pairs):
            for target, tmp in pairs:
                with lock:
                    filled.append(target)
                time.sleep(0.05)
                with open(os.path.join(tmp, "f"), "w") as fp:
                    fp.write(os.path.basename(target))

        # Makers asking in opposite orders never deadlock (none waits holding a lock).
        orders = [targets, targets[::-1]] * 4
        threads = [threading.Thread(target=atomic.directories, args=(order, fill)) for order in orders]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
            self.assertFalse(t.is_alive(), "deadlock")
        self.assertEqual(sorted(filled), sorted(targets))
        for target in targets:
            with open(os.path.join(target, "f")) as fp:
                self.assertEqual(fp.read(), os.path.basename(target))
        self.assertEqual([n for n in os.listdir(self.tmp) if ".tmp-" in n], [])

    def test_a_failed_fill_publishes_none_of_its_targets(self):
        targets = [os.path.join(self.tmp, "a"), os.path.join(self.tmp, "b")]
        os.mkdir(targets[0])  # already there: not filled again
        seen = []

        def boom(pairs):
            seen.extend(t for t, _ in pairs)
            for _, tmp in pairs:
                open(os.path.join(tmp, "partial"), "w").close()
            raise OSError("disk full")

        with self.assertRaises(OSError):
            atomic.directories(targets + [os.path.join(self.tmp, "c")], boom)
        self.assertEqual(seen, [targets[1], os.path.join(self.tmp, "c")])
        self.assertEqual(sorted(n for n in os.listdir(self.tmp) if not n.endswith(".lck")), ["a"])


if __name__ == "__main__":
    unittest.main()


class NodeRoot(Temp):
    """PEX_NODE_ROOT: the user's private root under a shared directory."""

    def exit_message(self, parent):
        with self.assertRaises(SystemExit) as caught:
            dirs.private_node_root(parent)
        return str(caught.exception.code)

    def test_made_private_and_reused(self):
        path = dirs.private_node_root(self.tmp)
        self.assertEqual(path, os.path.join(self.tmp, dirs.NODE_ROOT % os.getuid()))
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o700)
        self.assertEqual(dirs.private_node_root(self.tmp), path)
        # PEX_ROOT wins over it; it wins over PEX-INFO's pex_root.
        self.assertEqual(dirs.roots("/explicit", "/info", self.tmp)[0], "/explicit")
        self.assertEqual(dirs.roots(None, "/info", self.tmp)[0], path)

    def test_refused_when_others_could_write_or_replace_it(self):
        path = os.path.join(self.tmp, dirs.NODE_ROOT % os.getuid())
        os.mkdir(path, 0o700)
        os.chmod(path, 0o777)
        self.assertIn("has mode 777", self.exit_message(self.tmp))
        os.rmdir(path)
        os.symlink(self.tmp, path)
        self.assertIn("is not a directory", self.exit_message(self.tmp))
        os.unlink(path)
        shared = os.path.join(self.tmp, "shared")
        os.mkdir(shared)
        os.chmod(shared, 0o777)  # world-writable, no sticky bit
        if os.getuid() != os.stat(shared).st_uid:
            self.assertIn("without the sticky bit", self.exit_message(shared))
        os.chmod(shared, 0o1777)
        self.assertTrue(dirs.private_node_root(shared).startswith(shared))
