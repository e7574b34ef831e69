"""The shim never turns a verification failure of the program's own into a
success, and it enforces pins where the program disabled verification, while
keeping the program's own choice (and reporting its own verify mode back)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness as H  # noqa: E402
from harness import BOGUS, TLS_VERSIONS, Host, add_matrix  # noqa

# A failure of the program's own, even though the pins match:
#   chain: (served, CA the client trusts, host, expected kind)
OWN_FAILURES = {
    "untrusted_chain": ("mitm_leaf", "root", "pinned.test", "untrusted_issuer"),
    "expired_leaf": ("expired", "root", "pinned.test", "expired"),
    "not_yet_valid_leaf": ("notyet", "root", "pinned.test", "not_yet_valid"),
}

SKIP_VERIFY_CLIENTS = ("curl-k", "python-noverify", "s_client-noverify",
                       "tlsclient:verify_none", "tlsclient:accept_cb")


class NeverWeakens(H.ShimTestCase):

    def test_reject_cb_still_fails_with_a_matching_pin(self):
        for mode in ("enforce", "observe"):
            for tls in TLS_VERSIONS:
                with self.subTest(mode=mode, tls=tls):
                    self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS],
                                     mode=mode))
                    srv = self.server("leaf", tls)
                    probe = H.Probe(srv)
                    r = self.run_client("tlsclient:reject_cb", srv, tls=tls)
                    self.assertFailedTLS(r)
                    self.assertNoAppBytes(probe, r)

    def test_reject_cb_on_an_unpinned_host_still_fails(self):
        self.policy(Host("pinned.test", pins=[self.P["rotated"], BOGUS], mode="enforce"))
        srv = self.server("leaf", "1.3")
        probe = H.Probe(srv)
        r = self.run_client("tlsclient:reject_cb", srv, host="unpinned.test")
        self.assertFailedTLS(r)
        self.assertNoAppBytes(probe, r)

    def test_hostname_mismatch_still_fails_with_a_matching_pin(self):
        # nomatch.test is not in the certificate, but its pins match.
        self.policy(Host("nomatch.test", pins=[self.P["leaf"], BOGUS], mode="enforce"))
        srv = self.server("leaf", "1.3")
        for kind in ("tlsclient:connect", "python", "s_client"):
            with self.subTest(kind=kind):
                probe = H.Probe(srv)
                r = self.run_client(kind, srv, host="nomatch.test")
                self.assertFailedTLS(r)
                self.assertNoAppBytes(probe, r)
                self.assertOneEvent(r, kind="hostname_mismatch", decision="blocked",
                                    host="nomatch.test")

    def test_curl_k_with_matching_pin_still_accepts_an_untrusted_chain(self):
        self.policy(Host("pinned.test", pins=[self.P["mitm_leaf"], BOGUS],
                         mode="enforce"))
        for tls in TLS_VERSIONS:
            srv = self.server("mitm_leaf", tls)
            r = self.run_client("curl-k", srv, tls=tls, ca=None)
            self.assertSucceeded(r)
            for ev in r.events:
                self.assertEvent(ev, r, decision="allowed", kind="untrusted_issuer")

    def test_verify_none_with_matching_pin_still_accepts_an_untrusted_chain(self):
        self.policy(Host("pinned.test", pins=[self.P["mitm_leaf"], BOGUS],
                         mode="enforce"))
        for kind in SKIP_VERIFY_CLIENTS:
            with self.subTest(kind=kind):
                r = self.run_client(kind, self.server("mitm_leaf", "1.3"), ca="root")
                self.assertSucceeded(r)
                for ev in r.events:
                    self.assertEvent(ev, r, decision="allowed",
                                     kind="untrusted_issuer")

    def test_verify_none_without_any_ca_gets_pins_enforced(self):
        # Like curl -k: no trust store at all.
        self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode="enforce"))
        for tls in TLS_VERSIONS:
            srv = self.server("rotated", tls)
            probe = H.Probe(srv)
            r = self.run_client("tlsclient:verify_none", srv, ca=None, tls=tls)
            self.assertBlocked(r, probe)

    def test_verify_none_keeps_its_verify_mode_and_result_visible_to_the_program(self):
        # What the program reads back is what it set, and the verify result
        # OpenSSL stored is what it would be without the shim.
        self.policy(Host("pinned.test", pins=[self.P["mitm_leaf"], BOGUS],
                         mode="enforce"))
        srv = self.server("mitm_leaf", "1.3")
        base = self.run_client("tlsclient:verify_none", srv, ca="root", shim=False,
                               policy=None, events=False)
        r = self.run_client("tlsclient:verify_none", srv, ca="root")
        self.assertSucceeded(base)
        self.assertSucceeded(r)
        self.assertIn("verify_mode=0 ", r.stdout)
        field = lambda out: [w for w in out.split() if w.startswith("verify_result=")]
        self.assertEqual(field(r.stdout), field(base.stdout))

    def test_python_reads_back_its_own_verify_settings(self):
        self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode="enforce"))
        srv = self.server("leaf", "1.3")
        r = self.run_client("python-noverify", srv)
        self.assertSucceeded(r)
        self.assertIn("verify_mode=0 check_hostname=0", r.stdout)
        r = self.run_client("python", srv)
        self.assertSucceeded(r)
        self.assertIn("verify_mode=2 check_hostname=1", r.stdout)

    def test_accept_cb_still_accepts_an_untrusted_unpinned_chain(self):
        self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode="enforce"))
        r = self.run_client("tlsclient:accept_cb", self.server("mitm_leaf", "1.3"),
                            host="unpinned.test")
        self.assertSucceeded(r)

    def test_accept_cb_gets_pins_enforced(self):
        self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode="enforce"))
        srv = self.server("mitm_leaf", "1.3")
        probe = H.Probe(srv)
        r = self.run_client("tlsclient:accept_cb", srv)
        self.assertFailedTLS(r)
        self.assertNoAppBytes(probe, r)
        self.assertOneEvent(r, decision="blocked", host="pinned.test")


def _own_failure(self, failure, kind, tls, mode):
    chain, ca, host, ev_kind = OWN_FAILURES[failure]
    self.policy(Host(host, pins=[self.P[chain], BOGUS], mode=mode))
    srv = self.server(chain, tls)
    probe = H.Probe(srv)
    r = self.run_client(kind, srv, host=host, ca=ca, tls=tls)
    self.assertFailedTLS(r)
    self.assertNoAppBytes(probe, r)
    self.assertOneEvent(r, kind=ev_kind, decision="blocked", host=host,
                        pin_matched=True)


def _skip_verify_mismatch(self, kind, tls):
    self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode="enforce"))
    srv = self.server("mitm_leaf", tls)
    probe = H.Probe(srv)
    r = self.run_client(kind, srv, tls=tls, ca="root")
    self.assertFailedTLS(r)
    self.assertNoAppBytes(probe, r)
    self.assertOneEvent(r, decision="blocked", host="pinned.test", pin_matched=False)


add_matrix(NeverWeakens, "%s_pinned_still_fails_%s_tls%s_%s",
           [(f, k, v, m) for f in OWN_FAILURES
            for k in ("curl", "python", "s_client", "tlsclient:connect",
                      "tlsclient:cert_cb", "tlsclient:bio")
            for v in TLS_VERSIONS for m in ("enforce", "observe")], _own_failure)
add_matrix(NeverWeakens, "pins_enforced_when_verification_is_off_%s_tls%s",
           [(k, v) for k in SKIP_VERIFY_CLIENTS for v in TLS_VERSIONS],
           _skip_verify_mismatch)


if __name__ == "__main__":
    H.main()
