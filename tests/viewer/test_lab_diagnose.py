"""The viewer against the failure lab (tests/lab): every scenario runs for
real (servers, clients under the shim, proxies, namespaces, a collector)
into its own database; then, for each of the scenario's known answers,
pinshim-view diagnose's top diagnosis for that host must name the cause
with the right separating dimension and value.  On `mixed` every affected
host is right and no healthy host is diagnosed at all."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
LAB = os.path.join(SRCDIR, "tests", "lab", "lab.py")
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))
from collector import VIEW_BIN  # noqa: E402

SCENARIOS = ("rollover", "intermediate_change", "interception",
             "backend_inconsistency", "client_specific", "clock_skew",
             "expired", "trust_store", "healthy", "mixed")

# the lab's names of the separating dimension -> the viewer's
DIMENSIONS = {"leaf_pin": "leaf_key", "intermediate_pin": "issuer",
              "network": "network", "peer": "peer",
              "app_version": "app_version", "clock": "clock", "time": "time"}


class LabDiagnose(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pinshim-viewer-lab-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, True)

    def run_lab(self, scenario):
        db = os.path.join(self.tmp, scenario + ".db")
        r = subprocess.run([sys.executable, LAB, scenario, "--db", db,
                            "--json"], capture_output=True, text=True,
                           timeout=600)
        if r.returncode != 0:
            self.fail("lab %s: exit %d\n%s" % (scenario, r.returncode,
                                               r.stderr[-3000:]))
        return db, json.loads(r.stdout)

    def diagnose(self, db):
        r = subprocess.run([VIEW_BIN, "--db", db, "diagnose", "--json"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)["diagnoses"]

    def assertAnswered(self, answer, diagnoses):
        host = answer["host"]
        mine = [d for d in diagnoses if d["host"] == host]
        ctx = json.dumps([{k: d[k] for k in ("cause", "confidence",
                                              "dimension", "value",
                                              "evidence")} for d in mine],
                         indent=1)
        if answer["cause"] == "none":
            self.assertEqual(mine, [], "healthy host %s diagnosed:\n%s"
                             % (host, ctx))
            return
        self.assertTrue(mine, "%s: no diagnosis" % host)
        top = mine[0]           # the viewer's own order
        self.assertEqual(top["cause"], answer["cause"], ctx)
        self.assertEqual(top["dimension"], DIMENSIONS[answer["dimension"]],
                         ctx)
        self.assertGreaterEqual(top["confidence"], 0.5, ctx)
        self.assertEqual(top["rest_failed"], 0, ctx)
        self.assertEqual(top["failed"], top["total"], ctx)
        value = answer["value"]
        if answer["dimension"] in ("network", "peer", "app_version",
                                   "leaf_pin"):
            self.assertEqual(top["value"], value, ctx)
        elif answer["dimension"] == "clock":
            self.assertEqual(set(top["value"].split(",")),
                             set(value.split("/")), ctx)
        elif answer["dimension"] == "intermediate_pin":
            # the new intermediate: the failing chain's changed position
            failing = top["chains"][0]
            pos = failing["changed_position"]
            self.assertEqual(pos, 1, ctx)
            self.assertEqual(failing["certs"][pos]["pin"], value, ctx)
            self.assertEqual(top["value"], failing["certs"][0]["issuer"])
        elif answer["dimension"] == "time":
            # expired: from the leaf's notAfter on
            self.assertTrue(top["value"].startswith("from "), ctx)
        self.assertTrue(top["fix"], ctx)
        self.assertTrue(top["evidence"], ctx)

    def check(self, scenario):
        db, summary = self.run_lab(scenario)
        answers = summary["answers"]
        self.assertTrue(answers, summary)
        diagnoses = self.diagnose(db)
        for a in answers:
            with self.subTest(scenario=scenario, host=a["host"]):
                self.assertAnswered(a, diagnoses)
        # nothing diagnosed beyond the answers' hosts
        hosts = {a["host"] for a in answers if a["cause"] != "none"}
        self.assertEqual({d["host"] for d in diagnoses}, hosts)
        return answers


def _make(scenario):
    def test(self):
        answers = self.check(scenario)
        if scenario == "mixed":
            causes = {a["cause"] for a in answers}
            self.assertLessEqual({"rollover", "intermediate_change",
                                  "client_specific", "clock_skew", "expired",
                                  "trust_store", "none"}, causes)
    test.__name__ = "test_" + scenario
    return test


for _s in SCENARIOS:
    setattr(LabDiagnose, "test_" + _s, _make(_s))


if __name__ == "__main__":
    unittest.main()
