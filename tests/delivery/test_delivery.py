"""Delivery to a collector that is up: a failure reaches it once, even from
a process that exits right after failing; identical failures in one process
are coalesced without losing a count; after fork, parent and child deliver
their own failures and the child inherits no descriptor of the parent's
sender; every handshake is counted."""

import json
import time
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dlib  # noqa: E402
from dlib import H  # noqa: E402


class Delivery(dlib.DeliveryCase):

    def test_failure_of_a_process_that_exits_at_once_arrives_once(self):
        # tlsclient fails its one handshake and exits: the exit flush must
        # deliver the event (no spool involved).
        self.policy_with_collector()
        r = self.tlsclient()
        self.assertFailedTLS(r)
        got = self.wait_failures(1)
        self.assertEqual(len(got), 1, got)
        ev = got[0]
        self.assertEqual((ev["host"], ev["kind"], ev["decision"], ev["count"]),
                         ("pinned.test", "pin_mismatch", "blocked", 1), ev)
        self.assertEqual(ev["process"]["exe"], H.TLSCLIENT)
        self.assertEqual(self.collector.failures(), got, "stored once")
        self.assertSpoolEmpty()
        self.assertFalse(os.path.exists(self.spool), "spool created for nothing")
        # Nothing about delivery on stderr (the failure itself is logged
        # at info).
        self.assertEqual([l for l in r.pinshim_stderr_lines
                          if "collector" in l or "spool" in l], [],
                         r.describe())

    def test_every_process_delivers_its_own(self):
        self.policy_with_collector()
        for _ in range(3):
            self.assertFailedTLS(self.tlsclient())
        got = self.wait_failures(3)
        self.assertEqual(len(got), 3, got)
        self.assertEqual(len({e["id"] for e in got}), 3)
        self.assertEqual(len({e["process"]["pid"] for e in got}), 3)

    def test_300_identical_failures_coalesce_and_keep_their_count(self):
        self.policy_with_collector()
        srv = self.server("rotated", "1.3")
        r = H.run([H.PYTHON, "-c", dlib.PY_LOOP, str(srv.port), "300",
                   self.pki.root, "loop"], self.delivery_env(), timeout=240)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertIn("results 0 300", r.stdout, r.describe())
        # The viewer adds repeats to their first record.
        got = self.wait_failures(300)
        self.assertEqual(sum(e["count"] for e in got), 300, got)
        self.assertEqual(len(got), 1, got)
        # Stored: the first failure as it was, one repeat record with the
        # 299 others (the window is 60 s; the process exits sooner).
        rows = self.db_rows("SELECT hex(uuid), count, hex(repeat_of), host "
                            "FROM event ORDER BY time_us")
        self.assertEqual(len(rows), 2, rows)
        self.assertEqual([r[1] for r in rows], [1, 299], rows)
        self.assertEqual(rows[0][2], "", "hex(NULL): the first is no repeat")
        self.assertEqual(rows[1][2], rows[0][0], "the repeat names the first")
        self.assertEqual(rows[1][3], "pinned.test")
        self.assertEqual((got[0]["kind"], got[0]["decision"]),
                         ("pin_mismatch", "blocked"))

    def test_different_chains_are_not_coalesced_together(self):
        # Same host, kind, decision and error, two different served chains
        # (the rotated key and an interception): two failures, each with
        # its own record and its own repeats.
        self.policy_with_collector()
        ports = "%d,%d" % (self.server("rotated", "1.3").port,
                           self.server("mitm_leaf", "1.3").port)
        r = H.run([H.PYTHON, "-c", dlib.PY_LOOP, ports, "20",
                   self.pki.bundle_both, "loop"], self.delivery_env(),
                  timeout=120)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertIn("results 0 20", r.stdout, r.describe())
        got = self.wait_failures(20)
        self.assertEqual(sorted(e["count"] for e in got), [10, 10], got)
        leaves = {e["served_chain"][0]["pin"] for e in got}
        self.assertEqual(leaves, {self.P["rotated"], self.P["mitm_leaf"]})
        rows = self.db_rows("SELECT count FROM event ORDER BY count")
        self.assertEqual([c for (c,) in rows], [1, 1, 9, 9], rows)

    def test_fork_parent_and_child_deliver_theirs_child_inherits_no_descriptor(self):
        self.policy_with_collector()
        srv = self.server("rotated", "1.3")
        r = H.run([H.PYTHON, "-c", dlib.PY_LOOP, str(srv.port), "1",
                   self.pki.root, "fork"], self.delivery_env(), timeout=120)
        self.assertEqual(r.returncode, 0, r.describe())
        out = json.loads(r.stdout.splitlines()[0])
        child = out["child"]
        parent_kinds = sorted(v.split("[")[0] for v in out["parent_fds"].values())
        # The parent's sender holds its collector connection and its
        # eventfd; the child, before its own first failure, holds neither.
        self.assertIn("socket:", parent_kinds, out)
        leaked = [v for v in child["before"].values()
                  if v.startswith("socket:") or "eventfd" in v]
        self.assertEqual(leaked, [], "the child inherited: %r" % child["before"])
        self.assertFalse(child["ok"])
        got = self.wait_failures(2)
        self.assertEqual(len(got), 2, got)
        self.assertEqual(sorted(e["process"]["pid"] for e in got),
                         sorted([out["pid"], child["pid"]]), got)
        self.assertEqual(len({e["id"] for e in got}), 2)

    def test_handshakes_are_counted(self):
        self.policy_with_collector()
        self.assertSucceeded(self.tlsclient(srv=self.server("leaf", "1.3")))
        self.assertFailedTLS(self.tlsclient())
        self.wait_failures(1)
        deadline = time.monotonic() + 20
        rows = []
        while time.monotonic() < deadline:
            rows = self.db_rows("SELECT SUM(successes), SUM(failures) FROM counter "
                                "WHERE host = 'pinned.test'")
            if rows and rows[0][0] is not None and rows[0] == (1, 1):
                break
            time.sleep(0.1)
        self.assertEqual(rows, [(1, 1)])
        row = self.db_rows("SELECT hour, peer, network_fingerprint, app_version, "
                           "libssl_version FROM counter WHERE host = "
                           "'pinned.test' LIMIT 1")[0]
        self.assertEqual(row[0] % 3600, 0)
        self.assertEqual(row[1], "127.0.0.1")
        self.assertTrue(row[3] and row[4].startswith("OpenSSL 3"), row)


if __name__ == "__main__":
    H.main()
