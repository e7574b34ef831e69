"""The lab's tests: run a scenario into a fresh database, then prove its
known answer from the stored rows with the scenario's own check().

    class Rollover(labtest.ScenarioTest):
        SCENARIO = "rollover"

Skipped in a sanitizer build (tests/meson.build: PINSHIM_ASAN): the lab
measures the product, not the shim's memory safety, and an ASan runtime
in every client would blow its time budget."""

import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lab  # noqa: E402
import labdb  # noqa: E402

WALL_BUDGET = 60        # seconds, per scenario
MIN_HANDSHAKES = 200


def skip_unless_plain():
    if os.environ.get("PINSHIM_ASAN") == "1":
        raise unittest.SkipTest("the lab runs in the plain build only")
    lab.configure(os.environ.get("PINSHIM_LAB_BUILD"))
    if not os.path.exists(lab.H.LIB):
        raise unittest.SkipTest("libpinshim.so not built (%s)" % lab.H.LIB)


class ScenarioTest(unittest.TestCase):
    SCENARIO = None
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        skip_unless_plain()
        cls.dir = tempfile.mkdtemp(prefix="pinshim-labtest-")
        cls.db = os.path.join(cls.dir, cls.SCENARIO + ".db")
        cls.summary = lab.run_scenario(cls.SCENARIO, cls.db)
        lab.print_summary(cls.summary, sys.stderr)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_known_answer_is_what_the_database_holds(self):
        answers = self.summary["answers"]
        self.assertTrue(answers, "the scenario recorded no known answer")
        with labdb.Stored(self.db) as stored:
            for a in answers:
                with self.subTest(host=a["host"], cause=a["cause"]):
                    lab.scenario_check(a["scenario"])(self, stored, a)

    def test_every_handshake_run_is_counted(self):
        s = self.summary
        self.assertGreaterEqual(s["handshakes_run"], MIN_HANDSHAKES, s)
        # Counters are flushed at every client's exit: nothing is lost.
        self.assertEqual(s["counted_handshakes"], s["handshakes_run"], s)

    def test_runs_within_its_budget(self):
        self.assertLess(self.summary["wall_seconds"], WALL_BUDGET)


def main():
    unittest.main(verbosity=2)
