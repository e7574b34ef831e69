"""Every TLS verification failure is recorded, pinned host or not, and
classified, so pin failures are told apart from ordinary TLS failures.
The program rejected it: `blocked`; the program skips verification and went
on: `allowed`.  When the program's own verification fails the kind is that
failure's class even if the pins also mismatch."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness as H  # noqa: E402
from harness import BOGUS, TLS_VERSIONS, Host, add_matrix  # noqa

# failure: (served chain, host, CA, kind, OpenSSL verify errors accepted)
FAILURES = {
    "untrusted_issuer": ("mitm_leaf", "unpinned.test", "root", (2, 19, 20, 21)),
    "expired": ("expired", "unpinned.test", "root", (10,)),
    "not_yet_valid": ("notyet", "unpinned.test", "root", (9,)),
    "hostname_mismatch": ("leaf", "nomatch.test", "root", (62,)),
}
VERIFYING = ("python", "tlsclient:connect", "tlsclient:implicit", "s_client",
             "curl")
NONVERIFYING = ("curl-k", "tlsclient:verify_none", "python-noverify",
                "s_client-noverify", "tlsclient:accept_cb")


class Classification(H.ShimTestCase):

    def setUp(self):
        super().setUp()
        # Pins only for pinned.test: every host below is unpinned.
        self.policy(Host("pinned.test", pins=[self.P["rotated"], BOGUS],
                         mode="enforce"))

    def test_program_rejecting_in_its_callback_is_other_verify_error(self):
        srv = self.server("leaf", "1.3")
        r = self.run_client("tlsclient:reject_cb", srv, host="unpinned.test")
        self.assertFailedTLS(r)
        self.assertOneEvent(r, kind="other_verify_error", decision="blocked",
                            host="unpinned.test")

    def test_program_failure_wins_over_pin_mismatch(self):
        # mitm chain, client trusts our root only, pins also mismatch.
        self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode="enforce"))
        for tls in TLS_VERSIONS:
            srv = self.server("mitm_leaf", tls)
            probe = H.Probe(srv)
            r = self.run_client("tlsclient:connect", srv, tls=tls)
            self.assertFailedTLS(r)
            self.assertNoAppBytes(probe, r)
            self.assertOneEvent(r, kind="untrusted_issuer", decision="blocked",
                                host="pinned.test", pin_matched=False)

    def test_expired_wins_over_pin_mismatch_in_observe(self):
        self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode="observe"))
        r = self.run_client("python", self.server("expired", "1.3"))
        self.assertFailedTLS(r)
        self.assertOneEvent(r, kind="expired", decision="blocked", pin_matched=False)

    def test_successful_handshake_records_nothing(self):
        for kind in VERIFYING + NONVERIFYING[1:]:  # curl -k: no CA
            with self.subTest(kind=kind):
                r = self.run_client(kind, self.server("leaf", "1.3"),
                                    host="unpinned.test")
                self.assertSucceeded(r)
                self.assertNoEvents(r)


def _rejected(self, failure, kind, tls):
    chain, host, ca, codes = FAILURES[failure]
    if failure == "hostname_mismatch" and kind == "curl":
        self.skipTest("curl checks the name itself, after the handshake, "
                      "outside OpenSSL's verification")
    srv = self.server(chain, tls)
    probe = H.Probe(srv)
    r = self.run_client(kind, srv, host=host, ca=ca, tls=tls)
    self.assertFailedTLS(r)
    self.assertNoAppBytes(probe, r)
    ev = self.assertOneEvent(r, kind=failure, decision="blocked", host=host,
                             expected_pins=[])
    self.assertIn(ev["verify_error"], codes, r.describe())
    self.assertTrue(ev["verify_error_text"] and ev["verify_error_text"] != "ok",
                    r.describe())
    self.assertEqual(ev["served_chain"][0]["pin"], self.P[chain])
    self.assertEqual(r.pinshim_stderr_lines, [], r.describe())


def _allowed(self, failure, kind, tls):
    chain, host, ca, codes = FAILURES[failure]
    if failure == "hostname_mismatch":
        self.skipTest("a client that skips verification checks no name")
    srv = self.server(chain, tls)
    r = self.run_client(kind, srv, host=host, ca=ca, tls=tls)
    self.assertSucceeded(r)
    ev = self.assertOneEvent(r, kind=failure, decision="allowed", host=host)
    self.assertIn(ev["verify_error"], codes, r.describe())


add_matrix(Classification, "%s_rejected_by_%s_is_recorded_blocked_tls%s",
           [(f, k, v) for f in FAILURES for k in VERIFYING for v in TLS_VERSIONS
            if not (f == "hostname_mismatch" and k == "curl")], _rejected)
# curl -k loads no CA at all, so OpenSSL's first finding is always an
# untrusted issuer: only that kind can be seen with it.
add_matrix(Classification, "%s_accepted_by_%s_is_recorded_allowed_tls%s",
           [(f, k, v) for f in FAILURES if f != "hostname_mismatch"
            for k in NONVERIFYING for v in TLS_VERSIONS
            if k != "curl-k" or f == "untrusted_issuer"], _allowed)


if __name__ == "__main__":
    H.main()
