"""A resumed handshake carries no certificate, so in enforce mode it must
not skip the pin check: the shim only resumes sessions whose chain passed the
check for that host; any other session (from another process, from another
host) leads to a full, checked handshake.  Observe mode is invisible: every
session resumes exactly as without the shim (test_observe_invisible.py
compares the two)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness as H  # noqa: E402
from harness import BOGUS, Host, add_matrix  # noqa

VARIANTS = H.RESUMPTION_VARIANTS


class Resumption(H.ShimTestCase):

    def variant(self, name, chain="leaf"):
        tls, tickets = VARIANTS[name]
        return tls, self.server(chain, tls, tickets=tickets)

    def save_session(self, srv, tls, host="pinned.test", shim=False):
        """A session from a run without the shim (or under it), in a file."""
        path = os.path.join(self.tmp, "session-%s.pem" % host)
        r = self.run_client("tlsclient:connect", srv, tls=tls, host=host,
                            shim=shim, policy=True if shim else None,
                            events=shim, extra=["--sess-out", path])
        self.assertSucceeded(r)
        return path


def _matching_resumes(self, variant):
    self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode="enforce"))
    tls, srv = self.variant(variant)
    probe = H.Probe(srv)
    r = self.run_client("tlsclient:resume", srv, tls=tls)
    self.assertSucceeded(r)
    self.assertNoEvents(r)
    # Sessions that passed the check resume as usual.
    self.assertEqual(r.reused(), [0, 1], r.describe())
    self.assertEqual([c.resumed for c in probe.connections()], [False, True])


def _observe_mismatch_resumes(self, variant):
    self.policy(Host("pinned.test", pins=[self.P["rotated"], BOGUS], mode="observe"))
    tls, srv = self.variant(variant)
    probe = H.Probe(srv)
    r = self.run_client("tlsclient:resume", srv, tls=tls)
    self.assertSucceeded(r)
    self.assertEqual(r.reused(), [0, 1], r.describe())
    self.assertEqual([c.resumed for c in probe.connections()], [False, True])
    # The full handshake carried the event; the resumption saw no chain.
    self.assertOneEvent(r, kind="pin_mismatch", decision="would_block",
                        host="pinned.test")


def _unmarked_session_enforce_blocked(self, variant):
    tls, srv = self.variant(variant)
    path = self.save_session(srv, tls)
    self.policy(Host("pinned.test", pins=[self.P["rotated"], BOGUS], mode="enforce"))
    probe = H.Probe(srv)
    r = self.run_client("tlsclient:connect", srv, tls=tls, extra=["--sess-in", path])
    self.assertBlocked(r, probe)


def _unmarked_session_observe_resumes(self, variant):
    tls, srv = self.variant(variant)
    path = self.save_session(srv, tls)
    self.policy(Host("pinned.test", pins=[self.P["rotated"], BOGUS], mode="observe"))
    probe = H.Probe(srv)
    r = self.run_client("tlsclient:connect", srv, tls=tls, extra=["--sess-in", path])
    self.assertSucceeded(r)
    self.assertEqual(r.reused(), [1], r.describe())
    self.assertNoEvents(r)
    self.assertEqual([c.resumed for c in probe.connections()], [True])


def _unmarked_session_matching_passes(self, variant):
    tls, srv = self.variant(variant)
    path = self.save_session(srv, tls)
    self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode="enforce"))
    r = self.run_client("tlsclient:connect", srv, tls=tls, extra=["--sess-in", path])
    self.assertSucceeded(r)
    self.assertNoEvents(r)


def _session_of_another_host_rechecked(self, variant):
    # pinned.test's pins match; pinned2.test's do not.  A session checked
    # for pinned.test, offered to pinned2.test, must not skip its check.
    self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode="enforce"),
                Host("pinned2.test", pins=[self.P["rotated"], BOGUS], mode="enforce"))
    tls, srv = self.variant(variant)
    probe = H.Probe(srv)
    r = self.run_client("tlsclient:resume", srv, tls=tls,
                        extra=["--resume-host", "pinned2.test"])
    self.assertFailedTLS(r)
    lines = r.lines()
    self.assertEqual(len(lines), 2, r.describe())
    self.assertTrue(lines[0][1], r.describe())
    self.assertFalse(lines[1][1], r.describe())
    conns = probe.connections()
    self.assertEqual(len(conns), 2)
    self.assertEqual(conns[1].received, b"", r.describe())
    self.assertOneEvent(r, kind="pin_mismatch", decision="blocked", host="pinned2.test")


def _session_of_unpinned_host_rechecked(self, variant):
    self.policy(Host("pinned.test", pins=[self.P["rotated"], BOGUS], mode="enforce"))
    tls, srv = self.variant(variant)
    probe = H.Probe(srv)
    r = self.run_client("tlsclient:resume", srv, tls=tls, host="unpinned.test",
                        extra=["--resume-host", "pinned.test"])
    self.assertFailedTLS(r)
    conns = probe.connections()
    self.assertEqual(len(conns), 2, r.describe())
    self.assertEqual(conns[1].received, b"", r.describe())
    self.assertOneEvent(r, kind="pin_mismatch", decision="blocked", host="pinned.test")


def _shimmed_session_from_earlier_process_rechecked(self, variant):
    # A session saved by a process under the shim (marks live in memory,
    # not in the saved session) and resumed in another under a policy that
    # now mismatches.
    tls, srv = self.variant(variant)
    self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode="enforce"))
    path = self.save_session(srv, tls, shim=True)
    self.policy(Host("pinned.test", pins=[self.P["rotated"], BOGUS], mode="enforce"))
    probe = H.Probe(srv)
    r = self.run_client("tlsclient:connect", srv, tls=tls, extra=["--sess-in", path])
    self.assertBlocked(r, probe)


for fn, template in (
        (_matching_resumes, "matching_pin_session_resumes_%s"),
        (_observe_mismatch_resumes,
         "observe_mismatch_session_resumes_as_without_the_shim_%s"),
        (_unmarked_session_enforce_blocked,
         "enforce_blocks_a_session_saved_without_the_shim_%s"),
        (_unmarked_session_observe_resumes,
         "observe_resumes_a_session_saved_without_the_shim_%s"),
        (_unmarked_session_matching_passes,
         "matching_pin_accepts_a_session_saved_without_the_shim_%s"),
        (_session_of_another_host_rechecked,
         "session_checked_for_another_host_does_not_skip_this_hosts_pins_%s"),
        (_session_of_unpinned_host_rechecked,
         "session_of_an_unpinned_host_does_not_skip_pins_%s"),
        (_shimmed_session_from_earlier_process_rechecked,
         "session_saved_under_the_shim_is_rechecked_in_a_new_process_%s")):
    add_matrix(Resumption, template, list(VARIANTS), fn)


if __name__ == "__main__":
    H.main()
