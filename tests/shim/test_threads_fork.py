"""Thread safety and fork safety: 8 threads x 25 handshakes on one SSL_CTX,
and handshakes in a forked child (before and after the parent handshook)."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness as H  # noqa: E402
from harness import BOGUS, TLS_VERSIONS, Host, add_matrix  # noqa

THREADS, COUNT = 8, 25
TOTAL = THREADS * COUNT


class ThreadsFork(H.ShimTestCase):

    def counts(self, r):
        m = re.search(r"threads ok=(\d+) failed=(\d+)", r.stdout)
        self.assertIsNotNone(m, r.describe())
        return int(m.group(1)), int(m.group(2))

    def threads(self, mode, pin, tls):
        self.policy(Host("pinned.test", pins=[self.P[pin], BOGUS], mode=mode))
        srv = self.server("leaf", tls)
        probe = H.Probe(srv)
        r = self.run_client("tlsclient:threads", srv, tls=tls, threads=THREADS,
                            count=COUNT, timeout=240)
        return r, probe

    def assertDistinctIds(self, r):
        ids = [e["id"] for e in r.events]
        self.assertEqual(len(ids), len(set(ids)), "duplicate event ids")

    def fork(self, mode, pin, prefork=False, tls="1.3"):
        self.policy(Host("pinned.test", pins=[self.P[pin], BOGUS], mode=mode))
        srv = self.server("leaf", tls)
        probe = H.Probe(srv)
        r = self.run_client("tlsclient:fork", srv, tls=tls,
                            extra=["--prefork"] if prefork else [])
        return r, probe

    def test_fork_matching_pin_child_and_parent_pass(self):
        r, probe = self.fork("enforce", "leaf")
        self.assertSucceeded(r)
        self.assertEqual([t for t, ok, _ in r.lines()], ["child", "parent"])
        self.assertNoEvents(r)
        self.assertEqual(probe.handshakes, 2)

    def test_fork_enforce_child_handshake_is_checked_and_blocked(self):
        r, probe = self.fork("enforce", "rotated")
        self.assertFailedTLS(r)
        self.assertEqual([(t, ok) for t, ok, _ in r.lines()],
                         [("child", False), ("parent", False)], r.describe())
        self.assertNoAppBytes(probe, r)
        self.assertEqual(len(r.events), 2, r.describe())
        for ev in r.events:
            self.assertEvent(ev, r, kind="pin_mismatch", decision="blocked")
        self.assertEqual(len({e["pid"] for e in r.events}), 2, r.describe())
        self.assertDistinctIds(r)

    def test_fork_after_parent_handshook_child_is_blocked(self):
        r, probe = self.fork("enforce", "rotated", prefork=True)
        self.assertEqual([(t, ok) for t, ok, _ in r.lines()],
                         [("prefork", False), ("child", False), ("parent", False)],
                         r.describe())
        self.assertNoAppBytes(probe, r)
        self.assertEqual(len(r.events), 3, r.describe())
        self.assertDistinctIds(r)

    def test_fork_observe_after_parent_recorded_child_records_too(self):
        # The parent has recorded an event (and may run a sender) before
        # fork; the child must record its own without deadlock or loss.
        r, probe = self.fork("observe", "rotated", prefork=True)
        self.assertSucceeded(r)
        self.assertEqual(len(r.events), 3, r.describe())
        for ev in r.events:
            self.assertEvent(ev, r, kind="pin_mismatch", decision="would_block")
        pids = [e["pid"] for e in r.events]
        self.assertEqual(len(set(pids)), 2, r.describe())
        self.assertDistinctIds(r)


def _threads_match(self, tls):
    r, probe = self.threads("enforce", "leaf", tls)
    self.assertSucceeded(r)
    self.assertEqual(self.counts(r), (TOTAL, 0))
    self.assertNoEvents(r)
    self.assertEqual(probe.handshakes, TOTAL)


def _threads_enforce_mismatch(self, tls):
    r, probe = self.threads("enforce", "rotated", tls)
    self.assertEqual(self.counts(r), (0, TOTAL), r.describe())
    self.assertNoAppBytes(probe, r)
    self.assertEqual(len(r.events), TOTAL, "events recorded")
    for ev in r.events:
        self.assertEvent(ev, r, kind="pin_mismatch", decision="blocked",
                         host="pinned.test")
    self.assertDistinctIds(r)
    # Every failure names the pinshim reason.
    fails = [l for l in r.stdout.splitlines() if l.startswith("fail: ")]
    self.assertEqual(len(fails), TOTAL)
    self.assertTrue(all("pinshim" in l for l in fails), r.describe())


def _threads_observe_mismatch(self, tls):
    r, probe = self.threads("observe", "rotated", tls)
    self.assertSucceeded(r)
    self.assertEqual(self.counts(r), (TOTAL, 0))
    self.assertEqual(len(r.events), TOTAL)
    for ev in r.events:
        self.assertEvent(ev, r, kind="pin_mismatch", decision="would_block")
    self.assertDistinctIds(r)


add_matrix(ThreadsFork, "threads_8x25_matching_pin_all_succeed_tls%s",
           TLS_VERSIONS, _threads_match)
add_matrix(ThreadsFork, "threads_8x25_enforce_mismatch_all_blocked_and_recorded_tls%s",
           TLS_VERSIONS, _threads_enforce_mismatch)
add_matrix(ThreadsFork, "threads_8x25_observe_mismatch_all_pass_and_recorded_tls%s",
           TLS_VERSIONS, _threads_observe_mismatch)


if __name__ == "__main__":
    H.main()
