"""Which pins match and which hosts a policy entry covers.

A pin matches any certificate of the chain: leaf, intermediate, or the root
(which the server does not send: the shim also checks the chain OpenSSL
built).  Hosts: exact names, `*.wild.test` (one label), include-subdomains;
a host without an entry is untouched."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness as H  # noqa: E402
from harness import ALL_CLIENTS, BOGUS, BOGUS2, TLS_VERSIONS, Host, add_matrix  # noqa

MATCH_CLIENTS = ("curl", "python", "s_client", "tlsclient:connect",
                 "tlsclient:verify_none", "curl-k")


class Matching(H.ShimTestCase):

    def host_result(self, host, chain="leaf", kind="tlsclient:connect", tls="1.3"):
        srv = self.server(chain, tls)
        probe = H.Probe(srv)
        return self.run_client(kind, srv, host=host, tls=tls), probe

    def assertUntouched(self, r, probe=None):
        """Success, no pinshim output, and no pin event.  A client that
        skips verification without a trust store (curl -k loads no CA) has
        its chain error recorded as `allowed`; nothing else may appear."""
        self.assertSucceeded(r)
        if H.client_verifies(r.kind):
            self.assertNoEvents(r)
        else:
            for ev in r.events:
                self.assertEvent(ev, r, decision="allowed")
                self.assertNotEqual(ev["kind"], "pin_mismatch", r.describe())
        self.assertQuietStderr(r)
        if not r.kind.startswith("s_client"):
            self.assertEqual(r.stderr, "", r.describe())
        if probe is not None:
            self.assertGreater(probe.app_bytes, 0)

    # -- pins ---------------------------------------------------------------

    def test_policy_of_100000_hosts_is_enforced_in_the_first_handshake(self):
        # Once quadratic (38 s inside curl's first handshake, which then
        # timed out): a table of 100,000 hosts, the pinned host last, a
        # wildcard and a parent among them.
        hosts = [Host("h%d.fleet.test" % i, pins=[BOGUS, BOGUS2])
                 for i in range(100000)]
        hosts += [Host("*.wild.test", pins=[BOGUS, BOGUS2], mode="enforce"),
                  Host("pinned.test", pins=[self.P["leaf"], BOGUS],
                       mode="enforce"),
                  Host("pinned2.test", pins=[BOGUS, BOGUS2], mode="enforce")]
        self.policy(*hosts)
        srv = self.server("leaf", "1.3")
        for kind in ("curl", "python", "tlsclient:connect"):
            with self.subTest(kind=kind):
                r = self.run_client(kind, srv, host="pinned.test")
                self.assertSucceeded(r)
                self.assertNoEvents(r)
                r = self.run_client(kind, srv, host="pinned2.test")
                self.assertFailedTLS(r)
                r = self.run_client(kind, srv, host="x.wild.test")
                self.assertFailedTLS(r)

    def test_backup_pin_second_in_the_list_matches(self):
        self.policy(Host("pinned.test", pins=[BOGUS, BOGUS2, self.P["leaf"]],
                         mode="enforce"))
        self.assertUntouched(*self.host_result("pinned.test"))

    def test_intermediate_pin_survives_leaf_rotation(self):
        self.policy(Host("pinned.test", pins=[self.P["int1"], BOGUS], mode="enforce"))
        self.assertUntouched(*self.host_result("pinned.test", chain="rotated"))

    def test_leaf_pin_survives_intermediate_change(self):
        self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode="enforce"))
        self.assertUntouched(*self.host_result("pinned.test", chain="leaf_via_int2"))

    def test_root_pin_rejects_a_chain_to_another_root(self):
        # mitm chain trusted by the client (bundle), root pin on our root.
        self.policy(Host("pinned.test", pins=[self.P["root"], BOGUS], mode="enforce"))
        srv = self.server("mitm_leaf", "1.3")
        probe = H.Probe(srv)
        r = self.run_client("tlsclient:connect", srv, ca="bundle_both")
        self.assertBlocked(r, probe)

    def test_intercepting_root_pin_matches_its_own_chain(self):
        self.policy(Host("pinned.test", pins=[self.P["mitm_root"], BOGUS],
                         mode="enforce"))
        srv = self.server("mitm_leaf", "1.3")
        r = self.run_client("tlsclient:connect", srv, ca="bundle_both")
        self.assertUntouched(r)

    def test_root_pin_cannot_match_when_the_program_loads_no_trust_store(self):
        # curl -k loads no CA file: OpenSSL builds no chain up to the root,
        # so a root-only pin has nothing to match (pin an intermediate).
        self.policy(Host("pinned.test", pins=[self.P["root"], BOGUS], mode="enforce"))
        srv = self.server("leaf", "1.3")
        probe = H.Probe(srv)
        r = self.run_client("curl-k", srv)
        self.assertFailedTLS(r)
        self.assertNoAppBytes(probe, r)

    def test_pin_of_a_different_key_with_the_same_names_does_not_match(self):
        self.policy(Host("pinned.test", pins=[self.P["rotated"], BOGUS], mode="enforce"))
        srv = self.server("leaf", "1.3")
        probe = H.Probe(srv)
        self.assertBlocked(self.run_client("tlsclient:connect", srv), probe)

    # -- hosts --------------------------------------------------------------

    def mismatch(self, name, **kw):
        return Host(name, pins=[self.P["rotated"], BOGUS], mode="enforce", **kw)

    def assertHostBlocked(self, host, policy_hosts, kind="tlsclient:connect"):
        self.policy(*policy_hosts)
        r, probe = self.host_result(host, kind=kind)
        self.assertBlocked(r, probe, host=host.lower())

    def assertHostUntouched(self, host, policy_hosts, kind="tlsclient:connect"):
        self.policy(*policy_hosts)
        self.assertUntouched(*self.host_result(host, kind=kind))

    def test_exact_host_is_checked(self):
        self.assertHostBlocked("pinned.test", [self.mismatch("pinned.test")])

    def test_other_host_is_untouched(self):
        self.assertHostUntouched("other.test", [self.mismatch("pinned.test")])

    def test_host_names_compare_case_insensitively(self):
        self.assertHostBlocked("PINNED.Test", [self.mismatch("pinned.test")])

    def test_policy_host_names_compare_case_insensitively(self):
        self.assertHostBlocked("pinned.test", [self.mismatch("Pinned.TEST")])

    def test_wildcard_matches_one_label(self):
        self.assertHostBlocked("a.wild.test", [self.mismatch("*.wild.test")])

    def test_wildcard_does_not_match_two_labels(self):
        self.assertHostUntouched("a.b.wild.test", [self.mismatch("*.wild.test")])

    def test_wildcard_does_not_match_the_bare_parent(self):
        # wild.test is not in the certificate: use a non-verifying client.
        self.assertHostUntouched("wild.test", [self.mismatch("*.wild.test")],
                                 kind="tlsclient:verify_none")

    def test_include_subdomains_covers_a_subdomain(self):
        self.assertHostBlocked("sub.parent.test",
                               [self.mismatch("parent.test", include_subdomains=True)])

    def test_include_subdomains_covers_a_deeper_subdomain(self):
        self.assertHostBlocked("deep.sub.parent.test",
                               [self.mismatch("parent.test", include_subdomains=True)])

    def test_include_subdomains_covers_the_parent_itself(self):
        self.assertHostBlocked("parent.test",
                               [self.mismatch("parent.test", include_subdomains=True)])

    def test_without_include_subdomains_a_subdomain_is_untouched(self):
        self.assertHostUntouched("sub.parent.test", [self.mismatch("parent.test")])

    def test_include_subdomains_no_leaves_subdomains_untouched(self):
        self.assertHostUntouched("sub.parent.test",
                                 [self.mismatch("parent.test", include_subdomains=False)])

    def test_parent_suffix_without_dot_does_not_match(self):
        # "ent.test" is a suffix of "parent.test" but not a parent domain.
        self.assertHostUntouched("parent.test",
                                 [self.mismatch("ent.test", include_subdomains=True)],
                                 kind="tlsclient:connect")

    def test_exact_entry_wins_over_wildcard(self):
        good = Host("a.wild.test", pins=[self.P["leaf"], BOGUS], mode="enforce")
        self.assertHostUntouched("a.wild.test", [self.mismatch("*.wild.test"), good])

    def test_wildcard_still_applies_to_siblings_of_an_exact_entry(self):
        good = Host("a.wild.test", pins=[self.P["leaf"], BOGUS], mode="enforce")
        self.assertHostBlocked("b.wild.test", [self.mismatch("*.wild.test"), good])

    def test_exact_entry_wins_over_include_subdomains_parent(self):
        good = Host("sub.parent.test", pins=[self.P["leaf"], BOGUS], mode="enforce")
        self.assertHostUntouched("sub.parent.test",
                                 [self.mismatch("parent.test", include_subdomains=True),
                                  good])

    def test_ip_literal_host_is_matched_by_peer_address_python(self):
        # Python sends no SNI for an IP address; the host is the address.
        self.assertHostBlocked("127.0.0.1", [self.mismatch("127.0.0.1")],
                               kind="python")

    def test_ip_literal_host_is_matched_by_peer_address_curl(self):
        self.assertHostBlocked("127.0.0.1", [self.mismatch("127.0.0.1")],
                               kind="curl")

    ASYNCIO_CLIENT = r"""
import asyncio, ssl, sys
async def one(addr, port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = sys.argv[2] == "check"
    ctx.verify_mode = ssl.CERT_REQUIRED if ctx.check_hostname else ssl.CERT_NONE
    ctx.load_verify_locations(sys.argv[1])  # chains verify: no other event
    try:
        r, w = await asyncio.open_connection(addr, port, ssl=ctx)
        w.write(b"ping\n"); await w.drain()
        d = await r.read(); w.close()
        return "%s:%d ok" % (addr, port)
    except ssl.SSLError as e:
        return "%s:%d SSLError" % (addr, port)
async def main():
    targets = [a.split(":") for a in sys.argv[3:]]
    for line in await asyncio.gather(*(one(a, int(p)) for a, p in targets)):
        print(line)
asyncio.run(main())
"""

    def _asyncio_two_servers(self, check):
        # asyncio drives TLS through memory BIOs: the shim cannot ask the
        # BIO for the socket.  Connections are opened before any of them
        # handshakes, to IP-literal hosts (no SNI): 127.0.0.2 is pinned
        # (mismatch, enforce), 127.0.0.1 is not.
        self.policy(self.mismatch("127.0.0.2"))
        pinned = H.TLSServer(self.pki.chain("leaf"), self.pki.key("leaf"),
                             address="127.0.0.2").start()
        self.addCleanup(pinned.stop)
        unpinned = self.server("rotated", "1.3")
        targets = ["127.0.0.2:%d" % pinned.port, "127.0.0.1:%d" % unpinned.port] * 2
        r = H.run([H.PYTHON, "-c", self.ASYNCIO_CLIENT, self.pki.root,
                   "check" if check else "nocheck"] + targets, self.shim.env(),
                  kind="python-asyncio", events_path=self.shim.events_path)
        return r, pinned, unpinned

    def test_concurrent_memory_bio_connections_are_judged_by_their_checked_ip(self):
        # With hostname checking, Python hands OpenSSL the IP to check: each
        # handshake is judged by its own host, whatever the sockets are.
        r, pinned, unpinned = self._asyncio_two_servers(check=True)
        self.assertEqual(sorted(r.stdout.split("\n")[:-1]),
                         sorted(["127.0.0.2:%d SSLError" % pinned.port,
                                 "127.0.0.1:%d ok" % unpinned.port] * 2),
                         r.describe())
        self.assertEqual(len(r.events), 2, r.describe())
        for ev in r.events:
            self.assertEvent(ev, r, kind="pin_mismatch", decision="blocked",
                             host="127.0.0.2")
            self.assertEqual(ev["served_chain"][0]["pin"], self.P["leaf"])
        self.assertEqual(pinned.app_bytes, 0, r.describe())

    def test_concurrent_memory_bio_connections_without_a_name_are_not_guessed(self):
        # What the shim does today (README, "Out of reach"): with no SNI, no
        # name or IP to check and no socket behind the BIO, the host is only
        # known from this thread's recent connect()s.  Several peers are
        # possible here, so the shim does not guess: no pins are chosen, and
        # above all no pinned host's verdict or wrong address is recorded.
        r, pinned, unpinned = self._asyncio_two_servers(check=False)
        self.assertEqual(sorted(r.stdout.split("\n")[:-1]),
                         sorted(["127.0.0.2:%d ok" % pinned.port,
                                 "127.0.0.1:%d ok" % unpinned.port] * 2),
                         r.describe())
        self.assertEqual(r.events, [], r.describe())

    def test_unpinned_host_prints_nothing_and_records_nothing_on_success(self):
        self.policy(self.mismatch("pinned.test"))
        for kind in ALL_CLIENTS:
            for tls in TLS_VERSIONS:
                with self.subTest(kind=kind, tls=tls):
                    self.assertUntouched(*self.host_result("unpinned.test",
                                                           kind=kind, tls=tls))


def _matching_pin_passes(self, position, kind, tls):
    self.policy(Host("pinned.test", pins=[BOGUS, self.P[position]], mode="enforce"))
    r, probe = self.host_result("pinned.test", kind=kind, tls=tls)
    self.assertUntouched(r, probe)


add_matrix(Matching, "enforce_passes_matching_%s_pin_%s_tls%s",
           [(p, k, v) for p in ("leaf", "int1", "root") for k in MATCH_CLIENTS
            for v in TLS_VERSIONS
            # see test_root_pin_cannot_match_when_the_program_loads_no_trust_store
            if (p, k) != ("root", "curl-k")], _matching_pin_passes)


if __name__ == "__main__":
    H.main()
