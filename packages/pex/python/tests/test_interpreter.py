"""interpreter.parse reads python's command line like CPython's getopt."""
import unittest

from _cluster_pack_pex import interpreter


def parsed(argv):
    r = interpreter.parse(argv)
    return [r.options, r.mode, r.target, r.args, r.raw is not None]


class Parse(unittest.TestCase):
    def test_command_lines(self):
        cases = [
            (["-W", "ignore", "-c", "x", "y"], [["-W", "ignore"], "c", "x", ["y"], False]),
            (["-Wignore", "-uBc", "code"], [["-W", "ignore", "-u", "-B"], "c", "code", [], False]),
            (["-m", "mod", "-c"], [[], "m", "mod", ["-c"], False]),
            (["-X"], [[], None, None, [], True]),
            (["script.py", "-u"], [[], "script", "script.py", ["-u"], False]),
            (["--", "-weird.py"], [[], "script", "-weird.py", [], False]),
            (["-", "a"], [[], "stdin", None, ["a"], False]),
            (["--check-hash-based-pycs", "always", "-c", "1"], [["--check-hash-based-pycs", "always"], "c", "1", [], False]),
            (["-OO", "-X", "importtime", "-i"], [["-O", "-O", "-X", "importtime", "-i"], None, None, [], False]),
        ]
        for argv, expected in cases:
            self.assertEqual(parsed(argv), expected, argv)

    def test_x_skips_the_first_line_without_a_reexec_option(self):
        r = interpreter.parse(["-xB", "s.py"])
        self.assertEqual((r.options, r.skip_first_line, r.target), (["-B"], True, "s.py"))


if __name__ == "__main__":
    unittest.main()
