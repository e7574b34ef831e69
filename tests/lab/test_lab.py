"""The lab itself: a scenario runs twice in a row, leaves nothing behind
(no process, no listening port, no temporary directory) on a normal exit,
on an exception and on SIGINT / SIGTERM, and its checks do fail when the
answer is wrong."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import labtest
from labtest import lab, labdb

LAB = os.path.join(labtest.HERE, "lab.py")


def listening_ports():
    ports = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A":        # TCP_LISTEN
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except FileNotFoundError:
            pass
    return ports


def processes_mentioning(text):
    """Pids whose command line or environment contains text."""
    found = []
    needle = text.encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        for what in ("cmdline", "environ"):
            try:
                with open("/proc/%s/%s" % (pid, what), "rb") as f:
                    if needle in f.read():
                        found.append(int(pid))
                        break
            except OSError:
                pass
    return found


class Lab(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        labtest.skip_unless_plain()

    def setUp(self):
        # A private TMPDIR: everything a run creates lives under it, and
        # every process it starts carries it in its environment.
        self.tmp = tempfile.mkdtemp(prefix="pinshim-labself-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.tmpdir = os.path.join(self.tmp, "t")
        os.mkdir(self.tmpdir)

    def cli(self, scenario, db, *args):
        env = dict(os.environ, TMPDIR=self.tmpdir)
        return subprocess.Popen([sys.executable, LAB, scenario, "--db", db,
                                 "--json"] + list(args), env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def assertNothingLeft(self, ports=()):
        deadline = time.monotonic() + 10
        while processes_mentioning(self.tmpdir) and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(processes_mentioning(self.tmpdir), [],
                         "processes of the run are left")
        self.assertEqual(os.listdir(self.tmpdir), [],
                         "temporary files of the run are left")
        self.assertEqual(set(ports) & listening_ports(), set(),
                         "ports of the run still listen")

    def test_twice_in_a_row_same_database(self):
        import json
        db = os.path.join(self.tmp, "twice.db")
        for i in range(2):
            p = self.cli("healthy", db, "--scale", "0.2")
            out, err = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0, err)
            s = json.loads(out)
            self.assertGreater(s["handshakes_run"], 0)
            # A fresh database each time: exactly this run's handshakes.
            self.assertEqual(s["counted_handshakes"], s["handshakes_run"], s)
            self.assertEqual(s["event_records"], 0, s)
            self.assertTrue(s["ports"])
            self.assertNothingLeft(s["ports"])
            self.assertTrue(os.path.exists(db))

    def interrupt(self, sig):
        db = os.path.join(self.tmp, "interrupted.db")
        p = self.cli("rollover", db, "--verbose")
        # Wait until clients are running (their spool exists and the
        # collector stored something), then interrupt.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and p.poll() is None:
            if len(processes_mentioning(self.tmpdir)) >= 3:
                break
            time.sleep(0.05)
        self.assertIsNone(p.poll(), "finished before it was interrupted")
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 130, err)
        self.assertIn("interrupted", err)
        self.assertNothingLeft()

    def test_sigint_cleans_up(self):
        self.interrupt(signal.SIGINT)

    def test_sigterm_cleans_up(self):
        self.interrupt(signal.SIGTERM)

    def test_exception_cleans_up(self):
        tempfile.tempdir = self.tmpdir
        self.addCleanup(setattr, tempfile, "tempdir", None)
        db = os.path.join(self.tmp, "exc.db")
        with self.assertRaises(RuntimeError):
            with lab.Lab("exc", db) as L:
                pki = L.pki()
                root = pki.root("root")
                leaf = pki.leaf("leaf", "exc.lab.test", pki.intermediate("ca", root))
                srv = L.server(leaf)
                run = L.client("tlsclient", "exc.lab.test", srv.port, ca=root,
                               count=100000, background=True)
                ports = L.ports()
                raise RuntimeError("a scenario failed")
        self.assertIsNotNone(run.proc.poll())
        self.assertNothingLeft(ports)


class Checks(unittest.TestCase):
    """A check() must fail on a wrong answer: run trust_store small and try
    it, and other scenarios' checks, against its database."""

    @classmethod
    def setUpClass(cls):
        labtest.skip_unless_plain()
        cls.dir = tempfile.mkdtemp(prefix="pinshim-labcheck-")
        cls.db = os.path.join(cls.dir, "trust.db")
        cls.s = lab.run_scenario("trust_store", cls.db, scale=0.3)
        cls.answer = cls.s["answers"][0]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def check(self, scenario, answer):
        with labdb.Stored(self.db) as stored:
            lab.scenario_check(scenario)(self, stored, answer)

    def test_the_right_answer_passes(self):
        self.check("trust_store", self.answer)

    def test_another_version_fails(self):
        with self.assertRaises(AssertionError):
            self.check("trust_store", dict(self.answer, value="app 5.2.0"))

    def test_another_cause_fails(self):
        # client_specific separates by version too, but on pin mismatches.
        with self.assertRaises(AssertionError):
            self.check("client_specific", dict(
                self.answer, failing_expected_pins=[], leaf_pin=""))
        # clock_skew expects the clock to separate.
        with self.assertRaises(AssertionError):
            self.check("clock_skew", dict(self.answer, leaf_not_before=0,
                                          leaf_not_after=0))

    def test_healthy_check_fails_on_a_failing_host(self):
        with self.assertRaises(AssertionError):
            self.check("healthy", dict(self.answer, versions=[]))


if __name__ == "__main__":
    labtest.main()
