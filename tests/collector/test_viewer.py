"""pinshim-view failures: one line per stored failure, --json, the --host
and --since filters, and clear errors for bad arguments and databases."""

import datetime
import os
import re
import sqlite3
import subprocess
import time
import unittest

from clib import CollectorCase, wire
from collector import SCHEMA_VERSION  # noqa: E402
from collector import VIEW_BIN

HOUR_US = 3600 * 1000000


def view(*args):
    return subprocess.run([VIEW_BIN] + list(args), capture_output=True,
                          text=True, timeout=60)


class Viewer(CollectorCase):

    def setUp(self):
        super().setUp()
        now = int(time.time() * 1e6)
        self.old = wire.make_event(host="a.test", time_us=now - 3 * HOUR_US)
        self.mid = wire.make_event(host="b.test", time_us=now - HOUR_US,
                                   count=4)
        self.new = wire.make_event(host="a.test", time_us=now - 60 * 1000000)
        self.send([self.new, self.old, self.mid])

    def ids(self, **filters):
        return [f["id"] for f in self.c.failures(**filters)]

    def test_failures_are_listed_oldest_first(self):
        self.assertEqual(self.ids(), [e["id"].hex() for e in
                                      (self.old, self.mid, self.new)])

    def test_one_line_per_failure(self):
        out = self.c.view("failures").stdout.splitlines()
        self.assertEqual(len(out), 3)
        self.assertRegex(out[1], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                         r"pin_mismatch would_block b\.test:443 "
                         r"peer=192\.0\.2\.10 count=4 network=office "
                         r"app=8\.1\.2$")

    def test_host_filter(self):
        self.assertEqual(self.ids(host="a.test"),
                         [self.old["id"].hex(), self.new["id"].hex()])
        r = self.c.view("failures", "--host", "nowhere.test", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no host 'nowhere.test'", r.stderr)

    def test_since_relative(self):
        self.assertEqual(self.ids(since="2h"),
                         [self.mid["id"].hex(), self.new["id"].hex()])
        self.assertEqual(self.ids(since="10m"), [self.new["id"].hex()])
        self.assertEqual(len(self.ids(since="1d")), 3)
        self.assertEqual(len(self.ids(since="30s")), 0)

    def test_since_rfc3339(self):
        t = datetime.datetime.fromtimestamp(
            (self.mid["time_us"] - 1000000) / 1e6, datetime.timezone.utc)
        z = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        self.assertEqual(self.ids(since=z),
                         [self.mid["id"].hex(), self.new["id"].hex()])
        plus2 = (t + datetime.timedelta(hours=2)).strftime(
            "%Y-%m-%dT%H:%M:%S.250+02:00")
        self.assertEqual(self.ids(since=plus2),
                         [self.mid["id"].hex(), self.new["id"].hex()])

    def test_host_and_since_together(self):
        self.assertEqual(self.ids(host="a.test", since="2h"),
                         [self.new["id"].hex()])

    def test_malformed_since_exits_2(self):
        for bad in ("yesterday", "15", "15x", "2026-13-01T00:00:00Z",
                    "2026-11-23", "2026-11-23T10:00:00", "-5m", ""):
            r = view("--db", self.c.db, "failures", "--since", bad)
            self.assertEqual(r.returncode, 2, bad)
            self.assertIn("--since", r.stderr)
            self.assertEqual(r.stdout, "")

    def test_json_is_one_object_per_stored_event(self):
        r = self.c.view("failures", "--json")
        self.assertTrue(r.stdout.startswith('{"failures": ['))
        self.assertEqual(len(self.c.failures()), 3)
        keys = set(self.c.failures()[0])
        self.assertTrue({"id", "time", "received", "host", "port", "peer",
                         "kind", "decision", "count", "network", "app_version",
                         "policy_version", "mode", "expected_pins",
                         "verify_error", "verify_error_text", "served_chain",
                         "built_chain", "stack", "platform", "process",
                         "network_fingerprint", "sender"} <= keys, keys)
        for f in self.c.failures():
            for k in ("time", "received"):
                self.assertRegex(f[k], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertRegex(f["id"], "^[0-9a-f]{32}$")

    def test_empty_database_is_refused(self):
        other = os.path.join(self.tmp, "empty.db")
        c2 = type(self.c)(self.tmp, db=other)
        c2.start()
        c2.stop()
        for args in (["failures", "--json"], ["failures"]):
            r = view("--db", other, *args)
            self.assertEqual((r.returncode, r.stdout), (1, ""), args)
            self.assertIn("db %s is empty" % other, r.stderr)

    def test_db_option_after_the_command(self):
        r = view("failures", "--db", self.c.db, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)


class BadUse(CollectorCase):

    start = False

    def test_missing_database(self):
        r = view("--db", os.path.join(self.tmp, "none.db"), "failures")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"^pinshim-view: db .*none\.db: cannot open")

    def test_garbage_file(self):
        path = os.path.join(self.tmp, "junk.db")
        with open(path, "wb") as f:
            f.write(os.urandom(8192))
        r = view("--db", path, "failures")
        self.assertEqual(r.returncode, 1)
        self.assertIn("junk.db", r.stderr)

    def test_database_of_another_schema_version(self):
        self.c.start()
        self.c.stop()
        db = sqlite3.connect(self.c.db)
        other = SCHEMA_VERSION + 1
        db.execute("PRAGMA user_version = %d" % other)
        db.commit()
        db.close()
        r = view("--db", self.c.db, "failures")
        self.assertEqual(r.returncode, 1)
        self.assertIn("db %s has schema version %d, this build reads %d"
                      % (self.c.db, other, SCHEMA_VERSION), r.stderr)

    def test_foreign_sqlite_database(self):
        path = os.path.join(self.tmp, "foreign.db")
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE t (x)")
        db.commit()
        db.close()
        r = view("--db", path, "failures")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a pinshim database", r.stderr)

    def test_unknown_command_and_options(self):
        for args in (["bogus"], ["--bogus", "failures"], [],
                     ["failures", "--nope"], ["failures", "extra"]):
            r = view("--db", "x.db", *args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("usage", r.stderr.lower(), args)
        r = view("--help")
        self.assertEqual(r.returncode, 0)
        self.assertTrue(re.search(r"failures", r.stdout))


if __name__ == "__main__":
    unittest.main()
