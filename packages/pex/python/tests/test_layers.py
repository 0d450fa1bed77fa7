"""layers.racy: the runtime's copy of io's identity rule (identityOf), for its layer records."""
import unittest

from _cluster_pack_pex import layers

S = 10**9


class _St(object):
    def __init__(self, m, c):
        self.st_mtime_ns = m
        self.st_ctime_ns = c


class Racy(unittest.TestCase):
    now = 10**6 * S

    def test_fresh_with_mtime_and_ctime_together_is_racy(self):
        self.assertTrue(layers.racy(_St(self.now - S, self.now - S), self.now))
        self.assertTrue(layers.racy(_St(self.now - S, self.now - S // 2), self.now))

    def test_old_or_apart_is_not(self):
        self.assertFalse(layers.racy(_St(self.now - 2 * S, self.now - 2 * S), self.now))
        # A file published with a fixed past mtime (DigestMemo.publishVerified): recorded at once.
        self.assertFalse(layers.racy(_St(315532800 * S, self.now - S // 10), self.now))
        self.assertFalse(layers.racy(_St(self.now + 5 * S, self.now - S // 10), self.now))


if __name__ == "__main__":
    unittest.main()
