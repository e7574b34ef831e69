"""Every way a program reaches the handshake is covered: SSL_connect,
SSL_do_handshake, the implicit handshake inside SSL_write/SSL_write_ex and
SSL_read/SSL_read_ex/SSL_peek/SSL_peek_ex, BIO_do_handshake, blocking and
non-blocking sockets, a program's own cert verify callback.  For each: a
matching pin passes silently, a mismatch in enforce fails promptly with a
pinshim reason and no application byte, in observe it passes with an event."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness as H  # noqa: E402
from harness import BOGUS, TLS_VERSIONS, Host, add_matrix  # noqa

MODES = ("connect", "nonblock", "do_handshake", "implicit", "implicit_ex",
         "implicit_read", "implicit_read_ex", "implicit_peek",
         "implicit_peek_ex", "bio", "cert_cb", "accept_cb", "verify_none")


class EntryPoints(H.ShimTestCase):

    def test_programs_cert_verify_callback_still_runs_once_per_handshake(self):
        self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode="enforce"))
        r = self.run_client("tlsclient:cert_cb", self.server("leaf", "1.3"), count=3)
        self.assertSucceeded(r)
        self.assertIn("cert_cb calls=3", r.stdout)
        self.assertNoEvents(r)

    def test_programs_cert_verify_callback_runs_before_a_block(self):
        self.policy(Host("pinned.test", pins=[self.P["rotated"], BOGUS], mode="enforce"))
        r = self.run_client("tlsclient:cert_cb", self.server("leaf", "1.3"), count=2)
        self.assertFailedTLS(r)
        self.assertIn("cert_cb calls=2", r.stdout)
        self.assertEqual(len(r.events), 2, r.describe())

    def test_programs_cert_verify_callback_on_unpinned_host_runs(self):
        self.policy(Host("pinned.test", pins=[self.P["rotated"], BOGUS], mode="enforce"))
        r = self.run_client("tlsclient:cert_cb", self.server("leaf", "1.2"),
                            host="unpinned.test", tls="1.2")
        self.assertSucceeded(r)
        self.assertIn("cert_cb calls=1", r.stdout)

    def test_event_has_port_and_peer(self):
        self.policy(Host("pinned.test", pins=[self.P["rotated"], BOGUS], mode="observe"))
        srv = self.server("leaf", "1.2")
        for kind in ("tlsclient:connect", "tlsclient:bio", "python", "curl",
                     "s_client"):
            with self.subTest(kind=kind):
                r = self.run_client(kind, srv, tls="1.2")
                ev = self.assertOneEvent(r, decision="would_block")
                self.assertEqual(ev["port"], srv.port, r.describe())
                self.assertEqual(ev["peer"], "127.0.0.1", r.describe())
                self.assertEqual(ev["tls_version"], "TLSv1.2", r.describe())


def _match(self, mode, tls):
    self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode="enforce"))
    srv = self.server("leaf", tls)
    probe = H.Probe(srv)
    r = self.run_client("tlsclient:" + mode, srv, tls=tls)
    self.assertSucceeded(r)
    self.assertNoEvents(r)
    self.assertEqual(r.stderr, "", r.describe())
    self.assertEqual(probe.app_bytes, len(b"ping\n"))


def _enforce(self, mode, tls):
    self.policy(Host("pinned.test", pins=[self.P["rotated"], BOGUS], mode="enforce"))
    srv = self.server("leaf", tls)
    probe = H.Probe(srv)
    r = self.run_client("tlsclient:" + mode, srv, tls=tls)
    self.assertBlocked(r, probe)
    # Promptly: a non-blocking loop must see SSL_ERROR_SSL, not WANT_*.
    self.assertLess(r.elapsed, 5.0, r.describe())
    # The failing call names the pinshim reason first.
    first = r.stdout.splitlines()[0]
    self.assertRegex(first, r"^fail: .*pinshim.*pinned\.test", r.describe())
    self.assertEqual(len(re.findall(r"(?im)^  err: .*pinshim", r.stdout)), 1,
                     r.describe())


def _observe(self, mode, tls):
    self.policy(Host("pinned.test", pins=[self.P["rotated"], BOGUS], mode="observe"))
    srv = self.server("leaf", tls)
    probe = H.Probe(srv)
    r = self.run_client("tlsclient:" + mode, srv, tls=tls)
    self.assertSucceeded(r)
    self.assertEqual(probe.app_bytes, len(b"ping\n"))
    self.assertOneEvent(r, kind="pin_mismatch", decision="would_block")


add_matrix(EntryPoints, "%s_matching_pin_passes_silently_tls%s",
           [(m, v) for m in MODES for v in TLS_VERSIONS], _match)
add_matrix(EntryPoints, "%s_mismatch_enforce_fails_promptly_with_reason_tls%s",
           [(m, v) for m in MODES for v in TLS_VERSIONS], _enforce)
add_matrix(EntryPoints, "%s_mismatch_observe_passes_with_event_tls%s",
           [(m, v) for m in MODES for v in TLS_VERSIONS], _observe)


if __name__ == "__main__":
    H.main()
