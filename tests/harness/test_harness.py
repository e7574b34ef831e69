"""The test infrastructure itself, without the shim: the PKI is what the
tests assume, every client mode succeeds against a good chain and fails
where an ordinary client fails, the server records what reached it."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness as H  # noqa: E402
from harness import ALL_CLIENTS, TLS_VERSIONS, add_matrix  # noqa: E402


def openssl_pin(cert):
    """The pin the way the issue spells it, with the openssl CLI."""
    p = subprocess.run(
        "openssl x509 -in '%s' -pubkey -noout | openssl pkey -pubin -outform der"
        " | openssl dgst -sha256 -binary | base64" % cert,
        shell=True, capture_output=True, text=True, check=True)
    return "sha256/" + p.stdout.strip()


def pem_count(path):
    with open(path) as f:
        return f.read().count("-----BEGIN CERTIFICATE-----")


def subject(path):
    return subprocess.run(["openssl", "x509", "-in", path, "-noout", "-subject",
                           "-nameopt", "RFC2253"], capture_output=True,
                          text=True, check=True).stdout.strip()


class PKITest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = H.pki()

    def test_mkpki_writes_everything_in_under_5_seconds(self):
        d = tempfile.mkdtemp(prefix="pinshim-mkpki-")
        try:
            t0 = time.monotonic()
            subprocess.run([H.MKPKI, d], check=True, timeout=60)
            elapsed = time.monotonic() - t0
            self.assertLess(elapsed, 5.0)
            for n in H.PKI.LEAVES:
                for suffix in (".pem", ".key.pem", ".chain.pem"):
                    self.assertTrue(os.path.exists(os.path.join(d, n + suffix)),
                                    n + suffix)
            for n in ("root.pem", "mitm_root.pem", "bundle_both.pem",
                      "int1.pem", "int2.pem", "pins.json"):
                self.assertTrue(os.path.exists(os.path.join(d, n)), n)
        finally:
            shutil.rmtree(d)

    def test_pins_json_holds_the_spki_pin_of_every_certificate(self):
        names = set(H.PKI.LEAVES) | {"root", "int1", "int2", "mitm_root"}
        self.assertEqual(set(self.pki.pins), names)
        for n in names:
            self.assertEqual(self.pki.pin(n), openssl_pin(self.pki.cert(n)), n)

    def test_pins_are_distinct_except_leaf_via_int2_which_keeps_the_leaf_key(self):
        P = self.pki.pins
        self.assertEqual(P["leaf"], P["leaf_via_int2"])
        others = [v for k, v in P.items() if k not in ("leaf", "leaf_via_int2")]
        self.assertEqual(len(set(others)), len(others))
        self.assertNotIn(P["leaf"], others)
        self.assertNotIn(H.BOGUS, P.values())

    def test_chain_files_hold_leaf_and_intermediate_never_the_root(self):
        for n in H.PKI.LEAVES:
            want = 1 if n == "mitm_leaf" else 2
            self.assertEqual(pem_count(self.pki.chain(n)), want, n)
            with open(self.pki.chain(n)) as f:
                text = f.read()
            with open(self.pki.root) as f:
                self.assertNotIn(f.read().strip(), text, n)
        self.assertEqual(pem_count(self.pki.bundle_both), 2)

    def test_issuers_and_key_types(self):
        def text(n):
            return subprocess.run(["openssl", "x509", "-in", self.pki.cert(n),
                                   "-noout", "-text"], capture_output=True,
                                  text=True, check=True).stdout
        for n, issuer in (("leaf", "Intermediate 1"), ("rotated", "Intermediate 1"),
                          ("leaf_via_int2", "Intermediate 2"),
                          ("ecdsa", "Intermediate 1"), ("ed25519", "Intermediate 1"),
                          ("expired", "Intermediate 1"),
                          ("mitm_leaf", "Intercepting Proxy CA")):
            self.assertRegex(text(n), r"Issuer: .*%s" % issuer, n)
        self.assertIn("rsaEncryption", text("leaf"))
        self.assertIn("Public-Key: (2048 bit)", text("leaf"))
        self.assertIn("prime256v1", text("ecdsa"))
        self.assertIn("ED25519", text("ed25519"))
        for n in ("leaf", "rotated", "mitm_leaf", "ecdsa", "ed25519"):
            t = text(n)
            for name in ("DNS:pinned.test", "DNS:*.wild.test", "DNS:sub.parent.test",
                         "DNS:other.test", "DNS:unpinned.test", "IP Address:127.0.0.1"):
                self.assertIn(name, t, n)

    def test_verification_outcomes_with_openssl_verify(self):
        def verify(n, ca):
            return subprocess.run(["openssl", "verify", "-CAfile", ca,
                                   "-untrusted", self.pki.chain(n),
                                   self.pki.cert(n)], capture_output=True,
                                  text=True)
        for n in ("leaf", "rotated", "leaf_via_int2", "ecdsa", "ed25519"):
            self.assertEqual(verify(n, self.pki.root).returncode, 0, n)
        r = verify("expired", self.pki.root)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("expired", r.stdout + r.stderr)
        r = verify("notyet", self.pki.root)
        self.assertIn("not yet valid", r.stdout + r.stderr)
        self.assertNotEqual(verify("mitm_leaf", self.pki.root).returncode, 0)
        self.assertEqual(verify("mitm_leaf", self.pki.bundle_both).returncode, 0)


class ClientsWithoutShim(H.ShimTestCase):
    """Every client, no shim: what the shim tests take as the baseline."""
    needs_shim = False

    def go(self, kind, chain, tls, ca="root", host="pinned.test", **kw):
        srv = self.server(chain, tls)
        probe = H.Probe(srv)
        r = self.run_client(kind, srv, host=host, ca=ca, tls=tls, shim=False,
                            policy=None, events=False, **kw)
        return r, probe

    def test_tlsclient_usage_error_exits_2(self):
        for argv in ([], ["--host", "x"], ["--host", "x", "--port", "1",
                                           "--mode", "nosuchmode"]):
            p = subprocess.run([H.TLSCLIENT] + argv, capture_output=True)
            self.assertEqual(p.returncode, 2, argv)

    def test_threads_8x25_all_succeed_and_server_counts_them(self):
        srv = self.server("leaf", "1.3")
        probe = H.Probe(srv)
        r = self.run_client("tlsclient:threads", srv, shim=False, policy=None,
                            events=False, threads=8, count=25)
        self.assertSucceeded(r)
        self.assertIn("threads ok=200 failed=0", r.stdout)
        self.assertEqual(probe.handshakes, 200)
        self.assertEqual(probe.app_bytes, 200 * len(b"ping\n"))

    def test_several_servers_serve_concurrently(self):
        import threading
        srvs = [self.server(c, "1.2") for c in ("leaf", "rotated", "ecdsa", "ed25519")]
        results = {}

        def go(s):
            results[s.port] = self.run_client(
                "tlsclient:threads", s, shim=False, policy=None, events=False,
                threads=4, count=10, tls="1.2")
        ts = [threading.Thread(target=go, args=(s,)) for s in srvs]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for r in results.values():
            self.assertSucceeded(r)

    def test_server_records_application_bytes_per_connection(self):
        r, probe = self.go("tlsclient:connect", "leaf", "1.3")
        self.assertSucceeded(r)
        conns = probe.connections()
        self.assertEqual(len(conns), 1)
        self.assertEqual(conns[0].received, b"ping\n")
        self.assertTrue(conns[0].handshake_ok)
        self.assertEqual(conns[0].version, "TLSv1.3")

    def test_server_records_no_bytes_for_a_rejected_chain(self):
        r, probe = self.go("tlsclient:connect", "mitm_leaf", "1.3")
        self.assertFailedTLS(r)
        self.assertNoAppBytes(probe, r)

    def test_cert_cb_runs_once_per_handshake(self):
        r, _ = self.go("tlsclient:cert_cb", "leaf", "1.2", count=3)
        self.assertSucceeded(r)
        self.assertIn("cert_cb calls=3", r.stdout)

    def test_fork_child_and_parent_both_handshake(self):
        r, probe = self.go("tlsclient:fork", "leaf", "1.3", extra=["--prefork"])
        self.assertSucceeded(r)
        self.assertEqual([t for t, ok, _ in r.lines()], ["prefork", "child", "parent"])
        self.assertEqual(probe.handshakes, 3)

    def test_valgrind_finds_no_leak_on_the_success_path(self):
        if H.ASAN or not shutil.which("valgrind"):
            self.skipTest("valgrind not usable here")
        srv = self.server("leaf", "1.3")
        for mode, extra in (("connect", []), ("resume", []), ("bio", []),
                            ("implicit_peek", []), ("threads", ["--threads", "2", "--count", "2"])):
            argv, _ = H.client_command("tlsclient:" + mode, "pinned.test",
                                       srv.port, ca=self.pki.root, extra=extra)
            p = subprocess.run(["valgrind", "-q", "--leak-check=full",
                                "--errors-for-leak-kinds=definite,indirect",
                                "--error-exitcode=99"] + argv,
                               capture_output=True, text=True, env=H.base_env(),
                               timeout=120)
            self.assertEqual(p.returncode, 0, "%s\n%s\n%s" % (mode, p.stdout, p.stderr))


def _good(self, kind, tls):
    r, probe = self.go(kind, "leaf", tls)
    self.assertSucceeded(r)
    conns = probe.connections()
    self.assertTrue(conns and all(c.handshake_ok for c in conns), conns)
    self.assertEqual(conns[-1].version, "TLSv" + tls)


def _tlsclient_mode_good(self, mode, tls):
    r, probe = self.go("tlsclient:" + mode, "leaf", tls)
    self.assertSucceeded(r)
    if mode == "resume":
        self.assertEqual(r.reused(), [0, 1])
        self.assertEqual([c.resumed for c in probe.connections()], [False, True])
    if mode == "fork":
        self.assertEqual([t for t, _, _ in r.lines()], ["child", "parent"])


def _untrusted(self, kind, chain, tls):
    r, probe = self.go(kind, chain, tls)
    if H.client_verifies(kind):
        self.assertFailedTLS(r)
        self.assertNoAppBytes(probe, r)
    else:
        self.assertSucceeded(r)


def _key_type(self, chain, tls):
    r, _ = self.go("tlsclient:connect", chain, tls)
    self.assertSucceeded(r)


def _reject_cb(self, tls):
    r, probe = self.go("tlsclient:reject_cb", "leaf", tls)
    self.assertFailedTLS(r)
    self.assertNoAppBytes(probe, r)


def _hostname_mismatch(self, kind, tls):
    r, probe = self.go(kind, "leaf", tls, host="wrong.example")
    self.assertFailedTLS(r)
    if kind == "python":
        self.assertIn("Hostname mismatch", r.stdout)


def _trust_both(self, tls):
    r, _ = self.go("tlsclient:connect", "mitm_leaf", tls, ca="bundle_both")
    self.assertSucceeded(r)


def _wild_names(self, host):
    r, _ = self.go("tlsclient:connect", "leaf", "1.3", host=host)
    self.assertSucceeded(r)


add_matrix(ClientsWithoutShim, "%s_succeeds_against_leaf_tls%s",
           [(k, v) for k in ALL_CLIENTS for v in TLS_VERSIONS], _good)
add_matrix(ClientsWithoutShim, "tlsclient_%s_succeeds_tls%s",
           [(m, v) for m in ("threads", "fork", "resume") for v in TLS_VERSIONS],
           _tlsclient_mode_good)
add_matrix(ClientsWithoutShim, "%s_vs_%s_tls%s_fails_only_if_it_verifies",
           [(k, c, v) for k in ALL_CLIENTS for c in ("mitm_leaf", "expired")
            for v in TLS_VERSIONS], _untrusted)
add_matrix(ClientsWithoutShim, "key_type_%s_tls%s_succeeds",
           [(c, v) for c in ("ecdsa", "ed25519", "rotated", "leaf_via_int2")
            for v in TLS_VERSIONS], _key_type)
add_matrix(ClientsWithoutShim, "reject_cb_fails_tls%s", TLS_VERSIONS, _reject_cb)
add_matrix(ClientsWithoutShim, "%s_fails_on_hostname_mismatch_tls%s",
           [(k, v) for k in ("python", "curl", "s_client", "tlsclient:connect")
            for v in TLS_VERSIONS], _hostname_mismatch)
add_matrix(ClientsWithoutShim, "trusting_both_roots_accepts_mitm_tls%s",
           TLS_VERSIONS, _trust_both)
add_matrix(ClientsWithoutShim, "cert_names_cover_%s", [
    "pinned.test", "a.wild.test", "a.b.wild.test", "sub.parent.test",
    "deep.sub.parent.test", "other.test", "unpinned.test"], _wild_names)


if __name__ == "__main__":
    H.main()
