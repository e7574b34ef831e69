"""End to end: the counters of real handshakes and the chains they name.
Real clients (tlsclient, python3, curl) under the shim talk to real TLS
servers, succeed against the pinned chain and fail (observe mode) against a
rotated one; the real collector must then hold, for each served chain, the
counter rows and one chain row whose counter_fp is the counters'
chain_fingerprint and whose certificates are the ones the server sent (pins
and SHA-256s from the PKI on disk, the fingerprint recomputed here from the
certificates' SHA-1s).  The failing chain's row is the very row the event
refers to; the rollups agree with the counters."""

import hashlib
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness as H  # noqa: E402
from harness import BOGUS, Host  # noqa: E402
from collector import Collector  # noqa: E402

# The chains the servers send: the leaf and its intermediate (mkpki).
SERVED = {"leaf": ["leaf", "int1"], "rotated": ["rotated", "int1"]}


class ChainSeen(H.ShimTestCase):

    def setUp(self):
        super().setUp()
        self.collector = Collector(self.tmp, token="chain-seen-secret").start()
        self.addCleanup(self.collector.stop)
        self.shim.write_policy(text=H.policy_text(
            [Host("pinned.test", pins=[self.P["leaf"], BOGUS])],
            mode="observe", version="cs-1", keys=self.collector.policy_keys()))
        self.spool = os.path.join(self.tmp, "spool")

    def run_ok(self, kind, chain, count=None):
        r = self.run_client(kind, self.server(chain, "1.3"), tls="1.3",
                            events=False, count=count,
                            env_extra={"PINSHIM_SPOOL": self.spool})
        self.assertSucceeded(r)   # observe: the rotated chain goes through
        return r

    def counter_fp(self, name):
        """Counter.chain_fingerprint of a served chain, from the PKI: SHA-256
        over the certificates' SHA-1s (shim/chain.c chain_fingerprint)."""
        return hashlib.sha256(b"".join(hashlib.sha1(self.pki.der(n)).digest()
                                       for n in SERVED[name])).digest()

    def db(self):
        con = sqlite3.connect("file:%s?mode=ro" % self.collector.db, uri=True)
        self.addCleanup(con.close)
        return con

    def wait_rows(self, sql, args, n, timeout=20):
        deadline = time.monotonic() + timeout
        rows = []
        while time.monotonic() < deadline:
            con = sqlite3.connect("file:%s?mode=ro" % self.collector.db,
                                  uri=True)
            try:
                rows = con.execute(sql, args).fetchall()
            except sqlite3.OperationalError:
                rows = []    # not created yet
            finally:
                con.close()
            if len(rows) >= n:
                return rows
            time.sleep(0.1)
        self.fail("expected %d rows of %s, got %r\n%s"
                  % (n, sql, rows, self.collector.log()))

    def chain_certs(self, con, chain_id):
        return con.execute(
            "SELECT cc.position, c.pin, c.sha256, c.subject, c.verified"
            " FROM chain_cert cc JOIN cert_shown c ON c.id = cc.cert_id"
            " WHERE cc.chain_id = ? ORDER BY cc.position",
            (chain_id,)).fetchall()

    def check_chain(self, con, name):
        # the chain the viewer takes for the fingerprint: one proven by
        # DER (an event's) before the ChainSeen's claims
        fp = self.counter_fp(name)
        rows = con.execute("SELECT id, length FROM chain WHERE counter_fp = ?"
                           " ORDER BY verified DESC, id", (fp,)).fetchall()
        self.assertIn(len(rows), (1, 2), "chain rows for %s" % name)
        chain_id, length = rows[0]
        self.assertEqual(length, len(SERVED[name]))
        certs = self.chain_certs(con, chain_id)
        self.assertEqual([c[0] for c in certs], list(range(len(SERVED[name]))))
        self.assertEqual([c[1] for c in certs],
                         [self.P[n] for n in SERVED[name]], name)
        self.assertEqual([c[2].hex() for c in certs],
                         [self.pki.cert_sha256(n) for n in SERVED[name]])
        self.assertTrue(all("CN=" in c[3] for c in certs), certs)
        return chain_id, certs

    def test_counted_chains_are_described(self):
        # the pinned chain: two processes, one of three handshakes
        for kind in ("tlsclient:connect", "python"):
            self.run_ok(kind, "leaf", count=3 if kind != "python" else None)
        # the rotated chain: a pin mismatch, allowed in observe mode
        self.run_ok("python", "rotated")
        leaf_fp, rot_fp = self.counter_fp("leaf"), self.counter_fp("rotated")
        self.wait_rows("SELECT 1 FROM chain WHERE counter_fp IN (?, ?)",
                       (leaf_fp, rot_fp), 2)
        self.wait_rows("SELECT 1 FROM counter WHERE chain_fingerprint = ?"
                       " AND failures > 0", (rot_fp,), 1)
        self.wait_rows("SELECT 1 FROM host_hour WHERE events > 0", (), 1)
        con = self.db()

        # every counter row names a chain the collector can describe
        fps = {r[0] for r in con.execute(
            "SELECT DISTINCT chain_fingerprint FROM counter"
            " WHERE host = 'pinned.test'")}
        self.assertEqual(fps, {leaf_fp, rot_fp})
        ok = dict(con.execute(
            "SELECT chain_fingerprint, sum(successes) FROM counter"
            " WHERE host = 'pinned.test' GROUP BY chain_fingerprint"))
        bad = dict(con.execute(
            "SELECT chain_fingerprint, sum(failures) FROM counter"
            " WHERE host = 'pinned.test' GROUP BY chain_fingerprint"))
        self.assertEqual((ok[leaf_fp], bad[leaf_fp]), (4, 0))
        self.assertEqual((ok[rot_fp], bad[rot_fp]), (0, 1))
        self.assertEqual({r[0] for r in con.execute(
            "SELECT clock FROM counter")}, {"ok"})

        # the pinned chain was only ever seen succeeding: it is known from
        # the ChainSeen records alone (claims: the shim sends no DER there),
        # one row although two processes sent it; the intermediate's fields
        # are proven by the DER the failure event brought
        _, certs = self.check_chain(con, "leaf")
        self.assertEqual([c[4] for c in certs], [0, 1], "verified: %r" % certs)
        self.assertEqual(len(con.execute(
            "SELECT 1 FROM chain WHERE counter_fp = ?",
            (leaf_fp,)).fetchall()), 1)

        # the rotated chain's row is the one its failure event refers to
        rot_id, _ = self.check_chain(con, "rotated")
        served = [r[0] for r in con.execute(
            "SELECT served_chain_id FROM failure WHERE host = 'pinned.test'")]
        self.assertEqual(served, [rot_id])

        # the rollups say what the counters and the record say
        hh = con.execute("SELECT sum(successes), sum(failures), sum(events)"
                         " FROM host_hour WHERE host = 'pinned.test'"
                         ).fetchone()
        self.assertEqual(hh, (4, 1, 1))
        fh = con.execute("SELECT count, first_us, last_us FROM failure_hour"
                         ).fetchall()
        rec = con.execute("SELECT count, time_us, last_time_us FROM record"
                          ).fetchall()
        self.assertEqual(fh, rec)

    def test_curl(self):
        self.run_ok("curl", "leaf")
        fp = self.counter_fp("leaf")
        self.wait_rows("SELECT 1 FROM chain WHERE counter_fp = ?", (fp,), 1)
        self.wait_rows("SELECT 1 FROM counter WHERE chain_fingerprint = ?",
                       (fp,), 1)
        self.check_chain(self.db(), "leaf")


if __name__ == "__main__":
    H.main()
