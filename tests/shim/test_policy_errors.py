"""A policy that cannot be read or parsed: the program keeps working
(fail-open, observe), stderr gets exactly one `pinshim:` line, the events
file a `policy_error` event.  With PINSHIM_FAIL=closed every handshake, pinned
or not, fails with a pinshim reason."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness as H  # noqa: E402
from harness import BOGUS, Host, add_matrix  # noqa

VALID_PIN = "sha256/" + "A" * 43 + "="


def broken(self, case):
    """The policy path for a broken case (written into self.tmp)."""
    if case == "missing":
        return os.path.join(self.tmp, "no-such-dir", "policy.ini")
    if case == "directory":
        d = os.path.join(self.tmp, "policy-dir")
        os.mkdir(d)
        return d
    if case == "fifo":          # opened blocking, it would hang forever
        path = os.path.join(self.tmp, "policy.fifo")
        os.mkfifo(path)
        return path
    if case == "device":        # read whole, it would take all memory
        return "/dev/zero"
    texts = {
        "malformed_pin": "[policy]\nmode = enforce\n[host pinned.test]\n"
                         "pin = sha256/notbase64!!\npin = %s\n" % VALID_PIN,
        "short_pin": "[policy]\n[host pinned.test]\npin = sha256/AAAA\n"
                     "pin = %s\n" % VALID_PIN,
        "garbage_line": "[policy]\nthis line is not ini\n",
        "binary": "\x00\x01\x02garbage\xff",
    }
    path = os.path.join(self.tmp, "broken.ini")
    with open(path, "w", errors="surrogateescape") as f:
        f.write(texts[case])
    return path


CASES = ("missing", "directory", "fifo", "device", "malformed_pin",
         "short_pin", "garbage_line")
CLIENTS = ("tlsclient:connect", "curl", "python")


class PolicyErrors(H.ShimTestCase):

    def assertFailOpen(self, r):
        self.assertSucceeded(r)
        lines = [l for l in r.stderr.splitlines() if l.startswith("pinshim:")]
        self.assertEqual(len(lines), 1, r.describe())
        errs = [e for e in r.events if e.get("kind") == "policy_error"]
        self.assertEqual(len(errs), 1, r.describe())
        self.assertTrue(errs[0].get("message"), r.describe())
        return lines[0], errs[0]

    def test_error_line_names_the_policy_file(self):
        path = broken(self, "malformed_pin")
        r = self.run_client("tlsclient:connect", self.server("leaf", "1.3"),
                            policy=path)
        line, ev = self.assertFailOpen(r)
        self.assertIn(path, line)
        self.assertIn(path, ev["message"])

    def test_one_line_and_one_event_for_many_handshakes(self):
        path = broken(self, "missing")
        r = self.run_client("tlsclient:connect", self.server("leaf", "1.3"),
                            policy=path, count=4)
        self.assertFailOpen(r)

    def test_one_line_and_one_event_for_many_threads(self):
        path = broken(self, "garbage_line")
        r = self.run_client("tlsclient:threads", self.server("leaf", "1.3"),
                            policy=path, threads=4, count=3)
        self.assertFailOpen(r)

    def test_fail_open_is_observe_mismatch_is_not_blocked(self):
        # Nothing is pinned when the policy is unreadable: a chain that a
        # valid policy would block passes.
        path = broken(self, "malformed_pin")
        r = self.run_client("tlsclient:connect", self.server("rotated", "1.3"),
                            policy=path)
        self.assertFailOpen(r)

    def test_default_policy_path_missing_is_a_policy_error(self):
        if os.path.exists("/etc/pinshim/policy.ini"):
            self.skipTest("/etc/pinshim/policy.ini exists on this machine")
        r = self.run_client("tlsclient:connect", self.server("leaf", "1.3"),
                            policy=None)
        line, ev = self.assertFailOpen(r)
        self.assertIn("/etc/pinshim/policy.ini", line)

    def test_fail_closed_blocks_an_unpinned_host_too(self):
        path = broken(self, "missing")
        for host in ("pinned.test", "unpinned.test"):
            for tls in ("1.2", "1.3"):
                with self.subTest(host=host, tls=tls):
                    srv = self.server("leaf", tls)
                    probe = H.Probe(srv)
                    r = self.run_client("tlsclient:connect", srv, host=host,
                                        tls=tls, policy=path, fail="closed")
                    self.assertFailedTLS(r)
                    self.assertNoAppBytes(probe, r)
                    self.assertPinshimReason(r, host=host)
                    # One event for the unreadable policy, and the blocked
                    # handshake recorded as a failure naming the host.
                    load = [e for e in r.events if not e.get("host")]
                    hs = [e for e in r.events if e.get("host")]
                    self.assertEqual(len(load), 1, r.describe())
                    self.assertEvent(load[0], r, kind="policy_error")
                    self.assertEqual(len(hs), 1, r.describe())
                    self.assertEvent(hs[0], r, decision="blocked", host=host)

    def test_fail_closed_blocks_every_client(self):
        path = broken(self, "garbage_line")
        srv = self.server("leaf", "1.3")
        for kind in ("curl", "curl-k", "python", "python-noverify", "s_client",
                     "tlsclient:verify_none", "tlsclient:implicit",
                     "tlsclient:bio"):
            with self.subTest(kind=kind):
                probe = H.Probe(srv)
                r = self.run_client(kind, srv, policy=path, fail="closed")
                self.assertFailedTLS(r)
                self.assertNoAppBytes(probe, r)

    def test_fail_closed_with_a_valid_policy_changes_nothing(self):
        self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode="enforce"))
        r = self.run_client("tlsclient:connect", self.server("leaf", "1.3"),
                            fail="closed", host="unpinned.test")
        self.assertSucceeded(r)
        self.assertNoEvents(r)
        self.assertEqual(r.stderr, "")

    def _one_bad_section(self):
        """pinned2.test enforces pins that match nothing; other.test's
        section has a malformed pin and a 1,000-byte comment before it."""
        return self.policy(
            Host("pinned2.test", pins=[BOGUS, H.BOGUS2], mode="enforce"),
            Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode="enforce",
                 extra=["; " + "x" * 1000]),
            Host("other.test", pins=["sha256/notbase64!!", VALID_PIN],
                 mode="enforce"),
            mode="enforce")

    def test_error_in_one_host_section_refuses_that_section_only(self):
        self._one_bad_section()
        srv = self.server("leaf", "1.3")
        r = self.run_client("tlsclient:connect", srv, host="pinned2.test")
        self.assertFailedTLS(r)
        self.assertPinshimReason(r, host="pinned2.test")
        r = self.run_client("tlsclient:connect", srv, host="pinned.test")
        self.assertSucceeded(r)
        # the refused section: its handshakes are not checked, and the
        # loss of enforcement is said once, at error level, and recorded
        r = self.run_client("python", srv, host="other.test")
        self.assertSucceeded(r)
        line, ev = self.assertFailOpen(r)
        self.assertIn("[host other.test] not in force: malformed pin", line)
        self.assertIn("its pins are not checked", line)
        self.assertIn("[host other.test] not in force", ev["message"])
        self.assertEqual(ev.get("decision"), "allowed", r.describe())

    def test_fail_closed_refuses_the_broken_section_only(self):
        self._one_bad_section()
        srv = self.server("leaf", "1.3")
        r = self.run_client("tlsclient:connect", srv, host="other.test",
                            fail="closed")
        self.assertFailedTLS(r)
        self.assertPinshimReason(r, host="other.test")
        self.assertIn("its handshakes fail", r.stderr)
        for host in ("pinned.test", "unpinned.test"):
            r = self.run_client("tlsclient:connect", srv, host=host,
                                fail="closed")
            self.assertSucceeded(r)

    def test_fail_open_explicitly(self):
        path = broken(self, "missing")
        r = self.run_client("tlsclient:connect", self.server("leaf", "1.3"),
                            policy=path, fail="open")
        self.assertFailOpen(r)


def _fail_open(self, case, kind):
    path = broken(self, case)
    srv = self.server("leaf", "1.3")
    probe = H.Probe(srv)
    r = self.run_client(kind, srv, policy=path)
    self.assertFailOpen(r)
    self.assertGreater(probe.app_bytes, 0)


add_matrix(PolicyErrors, "policy_%s_fails_open_%s",
           [(c, k) for c in CASES for k in CLIENTS], _fail_open)


if __name__ == "__main__":
    H.main()
