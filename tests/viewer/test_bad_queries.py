"""Bad queries get one clear line and a non-zero exit, never a crash:
unknown host, empty database, malformed --since / --until, a database of
another schema version or no pinshim database at all, usage errors.  And
hostile stored strings reach neither the terminal nor the JSON raw."""

import json
import os
import sqlite3
import subprocess
import unittest

from vlib import VIEW_BIN, Collector, Fleet, FleetCase
from collector import SCHEMA_VERSION  # noqa: E402

REPORTS = (["summary"], ["diagnose"], ["rollout"], ["chain", "api.test"])


def view(*args):
    return subprocess.run([VIEW_BIN] + list(args), capture_output=True,
                          timeout=60)


class BadQueries(FleetCase):

    def assertRefused(self, r, status, message, args):
        err = r.stderr.decode()
        self.assertEqual(r.returncode, status, (args, err))
        self.assertEqual(r.stdout, b"", args)
        self.assertIn(message, err, args)
        self.assertTrue(err.startswith("pinshim-view: "), err)
        self.assertNotIn("Sanitizer", err)

    def loaded(self):
        f = self.fleet()
        c = f.chain("api.test", "Int A", "Root")
        f.handshakes("api.test", c, ok=5, failed=1)
        f.flush()
        return f

    def test_unknown_host(self):
        f = self.loaded()
        for args in (["summary", "--host", "nope.test"],
                     ["diagnose", "--host", "nope.test"],
                     ["rollout", "--host", "nope.test"],
                     ["failures", "--host", "nope.test"],
                     ["chain", "nope.test"]):
            for json_ in ([], ["--json"]):
                r = view("--db", f.db, *(args + json_))
                self.assertRefused(r, 1, "no host 'nope.test' in db %s "
                                   "(known: api.test)" % f.db, args)

    def test_empty_database(self):
        f = Fleet(self)
        self.addCleanup(f.close)
        for args in REPORTS + (["failures"], ["failures", "--json"]):
            r = view("--db", f.db, *args)
            self.assertRefused(r, 1, "db %s is empty: no handshakes stored "
                               "yet" % f.db, args)

    def test_malformed_times(self):
        f = self.loaded()
        for args in REPORTS + (["failures"],):
            for opt in ("--since", "--until"):
                for bad in ("yesterday", "15", "2026-13-01T00:00:00Z",
                            "2026-11-23", "-5m", ""):
                    r = view("--db", f.db, *(args + [opt, bad]))
                    self.assertRefused(r, 2, "%s %s: expected RFC 3339"
                                       % (opt, bad), args)
        r = view("--db", f.db, "diagnose", "--since", "1h", "--until", "2h")
        self.assertRefused(r, 2, "--until 2h is not after --since 1h", "")

    def test_other_schema_version(self):
        f = self.loaded()
        f.c.stop()
        db = sqlite3.connect(f.db)
        other = SCHEMA_VERSION + 1
        db.execute("PRAGMA user_version = %d" % other)
        db.commit()
        db.close()
        for args in REPORTS + (["failures"],):
            r = view("--db", f.db, *args)
            self.assertRefused(r, 1, "db %s has schema version %d, this build "
                               "reads %d" % (f.db, other, SCHEMA_VERSION), args)

    def test_not_a_pinshim_database(self):
        f = Fleet(self, start=False)
        self.addCleanup(f.close)
        foreign = os.path.join(f.tmp, "foreign.db")
        db = sqlite3.connect(foreign)
        db.execute("CREATE TABLE t (x)")
        db.commit()
        db.close()
        junk = os.path.join(f.tmp, "junk.db")
        with open(junk, "wb") as out:
            out.write(os.urandom(8192))
        for args in REPORTS:
            self.assertRefused(view("--db", foreign, *args), 1,
                               "not a pinshim database", args)
            r = view("--db", junk, *args)
            self.assertEqual(r.returncode, 1, args)
            self.assertIn(b"junk.db", r.stderr)
            self.assertRefused(view("--db", os.path.join(f.tmp, "none.db"),
                                    *args), 1, "cannot open", args)

    def test_usage_errors(self):
        f = self.loaded()
        for args, msg in ((["chain"], "which host?"),
                          (["chain", "a.test", "b.test"], "unexpected argument 'b.test'"),
                          (["rollout", "--kind", "expired"],
                           "rollout does not take --kind"),
                          (["chain", "api.test", "--host", "x"],
                           "chain does not take --host"),
                          (["diagnose", "--bogus"], "unknown option"),
                          (["summary", "extra"], "unexpected argument"),
                          (["diagnose", "--since"], "unknown option")):
            r = view("--db", f.db, *args)
            self.assertRefused(r, 2, msg, args)
            self.assertIn("usage", r.stderr.decode())


class Hostile(FleetCase):
    """Host names and certificate fields are the senders' bytes."""

    HOST = "evil\x1b[31m<script>alert(1)</script>\x07.test"

    def test_text_and_json_stay_clean(self):
        f = self.fleet()
        good = f.chain(self.HOST, "Int A", "Root")
        # claims (no DER): the subject reaches the viewer as written
        bad = f.chain(self.HOST, "Proxy\x1b]0;pwned\x07 <b>CA</b>\xff",
                      keys=["x", "Proxy CA"], der=False)
        f.handshakes(self.HOST, good, ok=20, network="office")
        f.handshakes(self.HOST, good, ok=20, network="home\x1b[2J")
        f.handshakes(self.HOST, bad, failed=20, network="corp\x9b1m")
        f.flush()
        for args in (["summary"], ["diagnose"], ["rollout"],
                     ["chain", self.HOST], ["failures"]):
            r = view("--db", f.db, *args)
            self.assertEqual(r.returncode, 0, (args, r.stderr))
            for ctl in (b"\x1b", b"\x07", b"\xc2\x9b"):
                self.assertNotIn(ctl, r.stdout, args)
            self.assertIn(b"<script>", r.stdout)   # text, made inert
            j = view("--db", f.db, *(args + ["--json"]))
            self.assertEqual(j.returncode, 0, (args, j.stderr))
            doc = json.loads(j.stdout.decode("utf-8"))  # valid UTF-8 JSON
            self.assertTrue(doc)
        d = json.loads(view("--db", f.db, "diagnose", "--json").stdout)
        d = d["diagnoses"][0]
        self.assertEqual(d["host"], self.HOST)
        self.assertEqual(d["cause"], "interception")
        subject = d["chains"][0]["certs"][1]["subject"]
        self.assertEqual(subject, "CN=Proxy\x1b]0;pwned\x07 <b>CA</b>\xff")
        r = view("--db", f.db, "diagnose", "--host", "nope\x1b[31m")
        self.assertEqual(r.returncode, 1)
        self.assertNotIn(b"\x1b", r.stderr)


if __name__ == "__main__":
    unittest.main()
