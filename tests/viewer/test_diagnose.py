"""pinshim-view diagnose on small crafted fleets: each cause of DESIGN.md
named from the right evidence, with the separating dimension and both
sides' counts, the fix, the chains marked against the pins; no cause named
without contrast; one diagnosis per (host, cause); filters."""

import re
import time
import unittest

from vlib import DAY, TOKEN, FleetCase, pin_of, wire

NETS = ("office", "home", "hotel")
RFC3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"


class Causes(FleetCase):

    def one(self, f, host, *args):
        ds = [d for d in f.diagnose(*args) if d["host"] == host]
        self.assertEqual(len(ds), 1, ds)
        return ds[0]

    def assertSplit(self, d, dim, value, failed, total, rest_failed,
                    rest_total):
        self.assertEqual((d["dimension"], d["value"], d["failed"], d["total"],
                          d["rest_failed"], d["rest_total"]),
                         (dim, value, failed, total, rest_failed, rest_total))

    def test_rollover_new_leaf_key_on_every_network(self):
        f = self.fleet()
        old = f.chain("api.test", "Int A", "Root")
        new = f.chain("api.test", "Int A", "Root",
                      keys=["api-new", "Int A", "Root"])
        pins = [old.pins[0], pin_of("backup")]
        for n in NETS:
            f.handshakes("api.test", old, ok=30, network=n, pins=pins)
            f.handshakes("api.test", new, failed=10, network=n, pins=pins)
        d = self.one(f, "api.test")
        self.assertEqual(d["cause"], "rollover")
        self.assertSplit(d, "leaf_key", new.pins[0], 30, 30, 0, 90)
        self.assertTrue(d["contrast"])
        self.assertGreater(d["confidence"], 0.7)
        self.assertLessEqual(d["confidence"], 1)
        self.assertEqual((d["host_failed"], d["host_total"], d["events"]),
                         (30, 120, 30))
        self.assertRegex(d["first_seen"], RFC3339)
        self.assertRegex(d["last_seen"], RFC3339)
        self.assertEqual(d["evidence"][0], "leaf_key=%s: 30/30 failed; "
                         "elsewhere 0/90" % new.pins[0])
        self.assertIn("add pin %s" % new.pins[0], d["fix"])
        self.assertIn("api.test", d["fix"])
        self.assertEqual(d["pins"], pins)
        failing, ref = d["chains"]
        self.assertEqual((failing["role"], failing["fingerprint"],
                          failing["changed_position"], failing["failures"]),
                         ("failing", new.hex, 0, 30))
        self.assertEqual([c["changed"] for c in failing["certs"]],
                         [True, False, False])
        self.assertFalse(failing["pinned"])
        self.assertEqual((ref["role"], ref["fingerprint"], ref["successes"]),
                         ("succeeding", old.hex, 90))
        self.assertEqual([c["pinned"] for c in ref["certs"]],
                         [True, False, False])
        self.assertEqual(failing["networks"], {n: 10 for n in NETS})

    def test_forged_chain_seen_does_not_become_the_fix(self):
        # a token holder claims, first, the new leaf's SHA-256 with its
        # own key: the DER the failing clients sent decides the fix
        f = self.fleet()
        old = f.chain("api.test", "Int A", "Root")
        new = f.chain("api.test", "Int A", "Root",
                      keys=["api-new", "Int A", "Root"])
        attacker = "sha256/" + "Q" * 43 + "="
        forged = [dict(c, der=b"") for c in new.certs]
        forged[0] = dict(forged[0], pin=attacker, subject="CN=attacker")
        with wire.Sender(f.c.address, token=TOKEN) as s:
            s.hello()
            s.batch(chains=[{"fingerprint": new.fp, "host": "api.test",
                             "certs": forged, "total": 3}])
        pins = [old.pins[0], pin_of("backup")]
        for n in NETS:
            f.handshakes("api.test", old, ok=30, network=n, pins=pins)
            f.handshakes("api.test", new, failed=10, network=n, pins=pins)
        d = self.one(f, "api.test")
        self.assertEqual(d["cause"], "rollover")
        self.assertIn("add pin %s" % new.pins[0], d["fix"])
        self.assertNotIn(attacker, str(d))
        self.assertNotIn("CN=attacker", str(d))
        leaf = d["chains"][0]["certs"][0]
        self.assertEqual((leaf["pin"], leaf["verified"], leaf["conflict"]),
                         (new.pins[0], True, True))

    def test_intermediate_change_leaf_key_kept(self):
        f = self.fleet()
        a = f.chain("im.test", "Int A", "Root", keys=["im", "Int A", "Root"])
        b = f.chain("im.test", "Int B", "Root", keys=["im", "Int B", "Root"])
        pins = [a.pins[1], pin_of("backup")]
        for n in NETS:
            f.handshakes("im.test", a, ok=20, network=n, pins=pins)
            f.handshakes("im.test", b, failed=8, network=n, pins=pins)
        d = self.one(f, "im.test")
        self.assertEqual(d["cause"], "intermediate_change")
        self.assertSplit(d, "issuer", "CN=Int B", 24, 24, 0, 60)
        self.assertIn("re-pin im.test to the new intermediate %s" % b.pins[1],
                      d["fix"])
        self.assertIn("pin the leaf key %s" % a.pins[0], d["fix"])
        self.assertTrue(any("position 1 changed" in e and "pinned" in e
                            for e in d["evidence"]), d["evidence"])
        failing, ref = d["chains"]
        self.assertEqual(failing["changed_position"], 1)
        self.assertEqual([c["changed"] for c in failing["certs"]],
                         [False, True, False])
        self.assertEqual([c["pinned"] for c in ref["certs"]],
                         [False, True, False])

    def test_interception_on_two_networks(self):
        f = self.fleet()
        good = f.chain("ic.test", "Int A", "Root")
        mitm = f.chain("ic.test", "Proxy CA", keys=["ic-mitm", "Proxy CA"])
        mitm2 = f.chain("ic.test", "Hotel CA", keys=["ic-h", "Hotel CA"])
        pins = [good.pins[0], pin_of("backup")]
        for n in NETS:
            f.handshakes("ic.test", good, ok=25, network=n, pins=pins)
        f.handshakes("ic.test", mitm, failed=30, network="corp", pins=pins)
        f.handshakes("ic.test", mitm2, failed=20, network="guest", pins=pins)
        d = self.one(f, "ic.test")
        self.assertEqual(d["cause"], "interception")
        self.assertEqual(d["dimension"], "network")
        self.assertEqual(set(d["value"].split(",")), {"corp", "guest"})
        self.assertEqual((d["failed"], d["total"], d["rest_failed"],
                          d["rest_total"]), (50, 50, 0, 75))
        self.assertIn("intercepts TLS to ic.test", d["fix"])
        self.assertIn("CN=Proxy CA", d["fix"])
        self.assertIn("CN=Hotel CA", d["fix"])
        self.assertEqual([c["fingerprint"] for c in d["chains"]],
                         [mitm.hex, mitm2.hex, good.hex])
        self.assertTrue(any("no chain that succeeded" in e
                            for e in d["evidence"]), d["evidence"])

    def test_backend_inconsistency_one_stale_peer(self):
        f = self.fleet()
        new = f.chain("be.test", "Int A", "Root",
                      keys=["be-new", "Int A", "Root"])
        old = f.chain("be.test", "Int A", "Root",
                      keys=["be-old", "Int A", "Root"],
                      not_before=int(time.time()) - 300 * DAY)
        pins = [new.pins[0], pin_of("backup")]
        for n in NETS:
            for p in ("10.0.0.1", "10.0.0.2"):
                f.handshakes("be.test", new, ok=10, network=n, peer=p,
                             pins=pins)
            f.handshakes("be.test", old, failed=10, network=n,
                         peer="10.0.0.3", pins=pins)
        d = self.one(f, "be.test")
        self.assertEqual(d["cause"], "backend_inconsistency")
        self.assertSplit(d, "peer", "10.0.0.3", 30, 30, 0, 60)
        self.assertIn("stale backend 10.0.0.3 of be.test", d["fix"])
        self.assertIn(old.pins[0], d["fix"])

    def test_client_specific_same_chain_other_versions_pass(self):
        f = self.fleet()
        c = f.chain("cs.test", "Int A", "Root", keys=["cs-new", "Int A", "Root"])
        for n in NETS:
            f.handshakes("cs.test", c, ok=15, network=n, app="app 2.0",
                         pins=[c.pins[0]])
            f.handshakes("cs.test", c, failed=15, network=n, app="app 1.0",
                         pins=[pin_of("cs-old")])
        d = self.one(f, "cs.test")
        self.assertEqual(d["cause"], "client_specific")
        self.assertSplit(d, "app_version", "app 1.0", 45, 45, 0, 45)
        self.assertIn("update the policy of app version app 1.0", d["fix"])
        self.assertIn(c.pins[0], d["fix"])
        self.assertEqual(d["chains"][0]["role"], "both")

    def test_client_specific_by_libssl(self):
        f = self.fleet()
        c = f.chain("ls.test", "Int A", "Root")
        for n in NETS:
            f.handshakes("ls.test", c, ok=15, network=n, libssl="OpenSSL 3.1")
            f.handshakes("ls.test", c, failed=15, network=n,
                         libssl="OpenSSL 1.1.1")
        d = self.one(f, "ls.test")
        self.assertEqual(d["cause"], "client_specific")
        self.assertSplit(d, "libssl_version", "OpenSSL 1.1.1", 45, 45, 0, 45)

    def test_trust_store_untrusted_issuer_others_accept(self):
        f = self.fleet()
        t = f.chain("ts.test", "Int A", "New Root")
        for n in NETS:
            f.handshakes("ts.test", t, ok=15, network=n, app="app 2.0")
            f.handshakes("ts.test", t, failed=15, network=n, app="app 1.0",
                         kind="untrusted_issuer", mode="enforce")
        d = self.one(f, "ts.test")
        self.assertEqual(d["cause"], "trust_store")
        self.assertSplit(d, "app_version", "app 1.0", 45, 45, 0, 45)
        self.assertIn("add root CN=New Root to the trust store of app version "
                      "app 1.0", d["fix"])
        self.assertEqual(d["kinds"], {"untrusted_issuer": 45})

    def test_clock_skew_validity_errors_from_wrong_clocks(self):
        f = self.fleet()
        k = f.chain("ck.test", "Int A", "Root")
        for n in NETS:
            f.handshakes("ck.test", k, ok=20, network=n)
            f.handshakes("ck.test", k, failed=5, network=n, kind="expired",
                         skew=400 * DAY, hostname="fast-" + n)
            f.handshakes("ck.test", k, failed=5, network=n,
                         kind="not_yet_valid", skew=-150 * DAY,
                         hostname="slow-" + n)
        d = self.one(f, "ck.test")
        self.assertEqual(d["cause"], "clock_skew")
        self.assertEqual(d["dimension"], "clock")
        self.assertEqual(set(d["value"].split(",")), {"ahead", "behind"})
        self.assertEqual((d["failed"], d["total"], d["rest_failed"],
                          d["rest_total"]), (30, 30, 0, 60))
        self.assertIn("fix the clocks", d["fix"])
        self.assertIn("fast-office", d["fix"])
        # first/last seen are the collector's times, not the wrong clocks
        now = time.strftime("%Y-%m-%d", time.gmtime())
        self.assertTrue(d["first_seen"].startswith(now), d["first_seen"])
        self.assertTrue(d["last_seen"].startswith(now), d["last_seen"])

    def test_expired_for_everyone_without_contrast(self):
        f = self.fleet()
        now = int(time.time())
        e = f.chain("ex.test", "Int A", "Root", not_before=now - 90 * DAY,
                    not_after=now - 7200)
        for n in NETS:
            f.handshakes("ex.test", e, failed=10, network=n, kind="expired",
                         mode="enforce")
        d = self.one(f, "ex.test")
        self.assertEqual(d["cause"], "expired")
        self.assertFalse(d["contrast"])
        self.assertEqual(d["dimension"], "time")
        self.assertEqual(d["value"], "from " + time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 7200)))
        self.assertEqual((d["failed"], d["total"], d["rest_failed"],
                          d["rest_total"]), (30, 30, 0, 0))
        self.assertIn("renew the certificate CN=ex.test", d["fix"])
        self.assertTrue(any("clocks are right" in x for x in d["evidence"]))
        # thinner than a contrast would give
        self.assertLess(d["confidence"], 0.9)

    def test_expired_with_earlier_successes(self):
        f = self.fleet()
        now = int(time.time())
        e = f.chain("ex2.test", "Int A", "Root", not_before=now - 90 * DAY,
                    not_after=now - 7200)
        for n in NETS:
            f.handshakes("ex2.test", e, ok=20, network=n,
                         hour=f.hour - 3 * 3600)
            f.handshakes("ex2.test", e, failed=10, network=n, kind="expired")
        d = self.one(f, "ex2.test")
        self.assertEqual(d["cause"], "expired")
        self.assertTrue(d["contrast"])
        self.assertEqual((d["dimension"], d["failed"], d["total"],
                          d["rest_failed"], d["rest_total"]),
                         ("time", 30, 30, 0, 60))

    def test_expired_within_the_second_of_not_after(self):
        """A handshake in the second after notAfter is already expired
        (the lab's straddling handshakes)."""
        f = self.fleet()
        t = int(time.time())
        e = f.chain("ex3.test", "Int A", "Root", not_before=t - 90 * DAY,
                    not_after=t)
        f.handshakes("ex3.test", e, ok=20)
        f.handshakes("ex3.test", e, failed=5, kind="expired",
                     time_us=t * 1000000 + 300000)
        d = self.one(f, "ex3.test")
        self.assertEqual((d["cause"], d["dimension"]), ("expired", "time"))

    def test_no_successes_no_cause(self):
        """Pin failures alone name nothing: no contrast, unknown."""
        f = self.fleet()
        c = f.chain("nc.test", "Int A", "Root")
        for n in NETS:
            f.handshakes("nc.test", c, failed=10, network=n)
        d = self.one(f, "nc.test")
        self.assertEqual(d["cause"], "unknown")
        self.assertFalse(d["contrast"])
        self.assertEqual(d["dimension"], "")
        self.assertTrue(any("nothing to compare" in e for e in d["evidence"]),
                        d["evidence"])
        self.assertLessEqual(d["confidence"], 0.3)

    def test_unknown_when_nothing_fits(self):
        f = self.fleet()
        c = f.chain("hn.test", "Int A", "Root")
        for n in NETS:
            f.handshakes("hn.test", c, ok=20, network=n)
            f.handshakes("hn.test", c, failed=3, network=n,
                         kind="hostname_mismatch")
        d = self.one(f, "hn.test")
        self.assertEqual(d["cause"], "unknown")
        self.assertTrue(d["contrast"])
        self.assertEqual(d["events"], 9)
        self.assertTrue(d["evidence"])

    def test_scattered_noise_names_no_cause(self):
        """A few failures on unrelated chains (a captive portal, another
        site's certificate) are too few to correlate: unknown, whatever a
        lone value seems to separate."""
        f = self.fleet()
        good = f.chain("ns.test", "Int A", "Root")
        portal = f.chain("captive.portal.lan", keys=["portal"],
                         not_before=int(time.time()) - 400 * DAY)
        other = f.chain("other.example", "Other CA", keys=["o", "Other CA"])
        for n in NETS:
            f.handshakes("ns.test", good, ok=200, network=n)
        f.handshakes("ns.test", portal, failed=2, network="hotel-x",
                     kind="untrusted_issuer", peer="10.1.1.1")
        f.handshakes("ns.test", other, failed=1, network="office",
                     kind="hostname_mismatch", peer="10.1.1.2")
        ds = f.diagnose()
        self.assertEqual([(d["host"], d["cause"]) for d in ds],
                         [("ns.test", "unknown")])
        d = ds[0]
        self.assertEqual((d["dimension"], d["value"], d["failed"],
                          d["total"]), ("", "", 3, 603))
        self.assertTrue(any("too few to correlate" in e
                            for e in d["evidence"]), d["evidence"])
        self.assertTrue(any("other names: CN=captive.portal.lan" in e
                            for e in d["evidence"]), d["evidence"])
        self.assertLessEqual(d["confidence"], 0.3)

    def test_thin_support_lowers_confidence(self):
        f = self.fleet()
        for host, ok, failed in (("thick.test", 60, 30), ("thin.test", 4, 3)):
            good = f.chain(host, "Int A", "Root")
            mitm = f.chain(host, "Proxy CA", keys=[host + "-m", "Proxy CA"])
            f.handshakes(host, good, ok=ok, network="office")
            f.handshakes(host, good, ok=ok, network="home")
            f.handshakes(host, mitm, failed=failed, network="corp")
        ds = {d["host"]: d for d in f.diagnose()}
        self.assertEqual(ds["thick.test"]["cause"], "interception")
        self.assertEqual(ds["thin.test"]["cause"], "interception")
        self.assertLess(ds["thin.test"]["confidence"],
                        ds["thick.test"]["confidence"] - 0.3)

    def test_one_diagnosis_per_host_and_cause(self):
        f = self.fleet()
        good = f.chain("two.test", "Int A", "Root")
        mitm = f.chain("two.test", "Proxy CA", keys=["two-m", "Proxy CA"])
        for n in NETS:
            f.handshakes("two.test", good, ok=30, network=n)
            f.handshakes("two.test", good, failed=4, network=n,
                         kind="expired", skew=400 * DAY)
        f.handshakes("two.test", mitm, failed=20, network="corp")
        h = f.chain("healthy.test", "Int A", "Root")
        f.handshakes("healthy.test", h, ok=500)
        ds = f.diagnose()
        self.assertEqual([(d["host"], d["cause"]) for d in ds],
                         [("two.test", "interception"),
                          ("two.test", "clock_skew")])
        self.assertEqual(ds[0]["host_failed"], 32)
        self.assertEqual(ds[0]["kinds"], {"pin_mismatch": 20})
        self.assertEqual(ds[1]["kinds"], {"expired": 12})

    def test_sorted_by_host_failures(self):
        f = self.fleet()
        for host, failed in (("few.test", 5), ("many.test", 40),
                             ("mid.test", 12)):
            good = f.chain(host, "Int A", "Root")
            mitm = f.chain(host, "Proxy CA", keys=[host + "-m", "Proxy CA"])
            for n in NETS:
                f.handshakes(host, good, ok=20, network=n)
            f.handshakes(host, mitm, failed=failed, network="corp")
        self.assertEqual([d["host"] for d in f.diagnose()],
                         ["many.test", "mid.test", "few.test"])

    def test_ranking_lists_every_separating_dimension(self):
        f = self.fleet()
        good = f.chain("rk.test", "Int A", "Root")
        mitm = f.chain("rk.test", "Proxy CA", keys=["rk-m", "Proxy CA"])
        for n in NETS:
            f.handshakes("rk.test", good, ok=20, network=n)
        f.handshakes("rk.test", mitm, failed=20, network="corp",
                     peer="10.9.9.9")
        d = self.one(f, "rk.test")
        dims = [r["dimension"] for r in d["ranking"]]
        self.assertLessEqual({"network", "peer", "chain", "leaf_key",
                              "issuer"}, set(dims))
        self.assertNotIn("app_version", dims)   # one version: no split
        scores = [r["score"] for r in d["ranking"]]
        self.assertEqual(scores, sorted(scores, reverse=True))
        for r in d["ranking"]:
            self.assertEqual(set(r), {"dimension", "value", "failed", "total",
                                      "rest_failed", "rest_total", "score"})
        self.assertTrue(any("peer separates too" in e for e in d["evidence"]))

    def test_filters(self):
        f = self.fleet()
        good = f.chain("fl.test", "Int A", "Root")
        mitm = f.chain("fl.test", "Proxy CA", keys=["fl-m", "Proxy CA"])
        for n in NETS:
            f.handshakes("fl.test", good, ok=20, network=n)
            f.handshakes("fl.test", good, failed=4, network=n, kind="expired",
                         skew=400 * DAY)
        f.handshakes("fl.test", mitm, failed=20, network="corp")
        other = f.chain("other.test", "Int A", "Root")
        f.handshakes("other.test", other, ok=10)
        f.handshakes("other.test", mitm, failed=10, network="corp")
        causes = lambda *a: [(d["host"], d["cause"]) for d in f.diagnose(*a)]
        self.assertEqual(causes("--host", "fl.test"),
                         [("fl.test", "interception"),
                          ("fl.test", "clock_skew")])
        self.assertEqual(causes("--kind", "expired"),
                         [("fl.test", "clock_skew")])
        # on home alone: the skewed clients against the right ones
        self.assertEqual(causes("--network", "home"),
                         [("fl.test", "clock_skew")])
        self.assertEqual(causes("--since", "2h", "--until", "1h"), [])
        r = f.view("diagnose", "--since", "2030-01-01T00:00:00Z")
        self.assertEqual((r.returncode, r.stdout),
                         (0, "no failures in range: nothing to diagnose\n"))

    def test_text_output(self):
        f = self.fleet()
        good = f.chain("tx.test", "Int A", "Root")
        mitm = f.chain("tx.test", "Proxy CA", keys=["tx-m", "Proxy CA"])
        for n in NETS:
            f.handshakes("tx.test", good, ok=20, network=n)
        f.handshakes("tx.test", mitm, failed=20, network="corp")
        r = f.view("diagnose")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertRegex(out, r"(?m)^tx\.test: interception \(confidence "
                         r"0\.\d\d\)$")
        self.assertIn("  - network=corp: 20/20 failed; elsewhere 0/60\n", out)
        self.assertRegex(out, r"(?m)^  first seen \S+Z, last seen \S+Z$")
        self.assertRegex(out, r"(?m)^  fix: network corp intercepts TLS to "
                         r"tx\.test")
        self.assertRegex(out, r"(?m)^    failing %s: 0 succeeded, 20 failed, "
                         r"changed at position 0$" % mitm.hex)
        self.assertRegex(out, r"(?m)^      #0 \[changed\] sha256/")
        self.assertRegex(out, r"(?m)^    succeeding %s: 60 succeeded"
                         % good.hex)


if __name__ == "__main__":
    unittest.main()
