#!/usr/bin/env python3
"""Tests of compat/runner.py's parsing, baseline and gate logic on made-up harness output.

Run: python3 compat/test_runner.py  (standard library only; no server, no suite needed)
"""

import collections
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runner  # noqa: E402

SAMPLE = """\
Cleanup: may take some time... OK
Starting test server at port 21018
[ready]: 100
Testing unit/type/incr
[ok]: INCR against non existing key (0 ms)
[ok]: INCR against non existing key (2 ms)
[err]: INCR fails against key with spaces (left) in tests/unit/type/incr.tcl
Expected 'ERR*' to equal or match 'OK'
[err]: INCRBY over 32bit value in tests/unit/type/incr.tcl
n command 'incrby', with args beginning with: 'novar'
ERR unknown command 'incrby', with args beginning with: 'novar'
    while executing
[err]: Can't start the Redis server
CONFIGURATION:always-show-logo yes
[skip]: DECRBY negation overflow
[ignore]: SETBIT huge: large memory flag not provided
[ignore]: Tag: needs:repl denied
[1/1 done]: unit/type/incr (1 seconds)

                   The End

Execution time of different units:
  1 seconds - unit/type/incr

!!! WARNING The following tests failed:

*** [err]: INCR fails against key with spaces (left) in tests/unit/type/incr.tcl
[ok]: not a test: after The End (0 ms)
"""


class ParseTest(unittest.TestCase):
    def test_counts_and_names(self):
        r = runner.parse_output("unit/type/incr", SAMPLE)
        self.assertTrue(r.reached_end)
        self.assertEqual(r.passed, ["INCR against non existing key"] * 2)
        self.assertEqual(r.failed, [
            ("INCR fails against key with spaces (left)", "Expected 'ERR*' to equal or match 'OK'"),
            ("INCRBY over 32bit value",
             "ERR unknown command 'incrby', with args beginning with: 'novar'")])
        self.assertEqual(r.errors, ["Can't start the Redis server"])
        self.assertEqual(r.skipped, ["DECRBY negation overflow"])
        self.assertEqual(r.ignored, ["SETBIT huge", ""])

    def test_exception_without_end(self):
        r = runner.parse_output("unit/x", "[ok]: a (1 ms)\n[exception]: Executing test client: boom\n")
        self.assertFalse(r.reached_end)
        self.assertEqual(r.passed, ["a"])
        self.assertEqual(r.errors, ["exception: Executing test client: boom"])

    def test_colours_are_ignored(self):
        r = runner.parse_output("unit/x", "[\x1b[0;32mok\x1b[0m]: colourful (3 ms)\n")
        self.assertEqual(r.passed, ["colourful"])

    def test_missing_counts_unreached_baseline_passes(self):
        r = runner.parse_output("unit/type/incr", SAMPLE)
        baseline = {"unit/type/incr": collections.Counter(
            {"INCR against non existing key": 3, "DECRBY negation overflow": 1, "never": 2})}
        runner.compare_to_baseline(r, baseline)
        self.assertEqual(r.baseline_passed, 6)
        self.assertEqual(r.missing, 3)  # one more INCR... instance, and "never" twice


class FilesTest(unittest.TestCase):
    def test_baseline_round_trip_keeps_other_units(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "b.tsv")
            a = runner.parse_output("unit/a", "[ok]: tab\there (1 ms)\n[ok]: x (1 ms)\n")
            b = runner.parse_output("unit/b", "[ok]: y (1 ms)\n[err]: z in tests/unit/b.tcl\n")
            runner.write_baseline(path, [a, b], "# header\n")
            a2 = runner.parse_output("unit/a", "[ok]: x (1 ms)\n")
            runner.write_baseline(path, [a2], "# header\n")
            passed = runner.read_baseline(path)
            self.assertEqual(passed["unit/a"], collections.Counter({"x": 1}))
            self.assertEqual(passed["unit/b"], collections.Counter({"y": 1}))

    def test_gate_names_lost_tests(self):
        with tempfile.TemporaryDirectory() as tmp:
            before = runner.parse_output("unit/a", "[ok]: p (1 ms)\n[ok]: q (1 ms)\n[ok]: q (1 ms)\n")
            runner.write_expected(tmp, before, "# listed\n")
            now = runner.parse_output("unit/a", "[ok]: p (1 ms)\n[ok]: q (1 ms)\n[ok]: new (1 ms)\n")
            regressions, new = runner.check_expected([now], tmp)
            self.assertEqual(regressions, {"unit/a": ["q"]})
            self.assertEqual(new, 1)
            same = runner.parse_output("unit/a", "[ok]: q (1 ms)\n[ok]: p (1 ms)\n[ok]: q (1 ms)\n")
            self.assertEqual(runner.check_expected([same], tmp), ({}, 0))


if __name__ == "__main__":
    unittest.main()
