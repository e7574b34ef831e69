"""enforce + pin mismatch: the handshake fails before any application byte,
the program sees an ordinary TLS failure, one `blocked` event is recorded.

Scenarios (the policy pins pinned.test to keys the served chain lacks):
  rotated_leaf          server rotated its leaf key; pins: old leaf + backup
  intermediate_change   leaf key kept, now issued by int2; pins: int1 + backup
  interception          an intercepting CA the client trusts; pins: leaf + int1
Every client and every tlsclient mode, TLS 1.2 and 1.3."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness as H  # noqa: E402
from harness import ALL_CLIENTS, BOGUS, TLS_VERSIONS, Host, add_matrix  # noqa

# name: (served chain, CA the client trusts, pinned names)
SCENARIOS = {
    "rotated_leaf": ("rotated", "root", ("leaf",)),
    "intermediate_change": ("leaf_via_int2", "root", ("int1",)),
    "interception": ("mitm_leaf", "bundle_both", ("leaf", "int1")),
}

ENFORCE_CLIENTS = ALL_CLIENTS + tuple(
    "tlsclient:" + m for m in ("threads", "fork", "resume"))


class EnforceBlocksMismatch(H.ShimTestCase):

    def scenario_policy(self, scenario, host="pinned.test", **kw):
        chain, ca, names = SCENARIOS[scenario]
        pins = [self.P[n] for n in names] + [BOGUS]
        self.policy(Host(host, pins=pins, mode="enforce"), **kw)
        return chain, ca, pins

    def test_event_records_every_field(self):
        _, _, pins = self.scenario_policy("rotated_leaf", version="2026-11-22.1")
        srv = self.server("rotated", "1.3")
        probe = H.Probe(srv)
        r = self.run_client("tlsclient:connect", srv, tls="1.3")
        ev = self.assertBlocked(r, probe)
        self.assertRegex(ev["id"], r"^[0-9a-f]{32}$")
        self.assertRegex(ev["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(ev["port"], srv.port)
        self.assertEqual(ev["peer"], "127.0.0.1")
        self.assertEqual(ev["mode"], "enforce")
        self.assertEqual(ev["policy_version"], "2026-11-22.1")
        self.assertEqual(ev["expected_pins"], pins)
        self.assertIs(ev["pin_matched"], False)
        self.assertIs(ev["pin_expired"], False)
        self.assertEqual(ev["verify_error"], 0)
        self.assertEqual(ev["verify_error_text"], "ok")
        self.assertEqual(ev["tls_version"], "TLSv1.3")
        self.assertEqual(ev["pid"] > 0, True)
        self.assertEqual(os.path.realpath(ev["exe"]), os.path.realpath(H.TLSCLIENT))
        self.assertIsInstance(ev["message"], str)
        self.assertTrue(ev["message"])
        served = ev["served_chain"]
        self.assertEqual([c["position"] for c in served], [0, 1])
        self.assertEqual([c["pin"] for c in served],
                         [self.P["rotated"], self.P["int1"]])
        self.assertEqual([c["sha256"] for c in served],
                         [self.pki.cert_sha256("rotated"), self.pki.cert_sha256("int1")])
        self.assertIn("pinned.test", served[0]["subject"])
        self.assertIn("Intermediate 1", served[0]["issuer"])
        self.assertIn("Intermediate 1", served[1]["subject"])
        self.assertIn("Root CA", served[1]["issuer"])
        built = ev["built_chain"]
        self.assertEqual([c["position"] for c in built], [0, 1, 2])
        self.assertEqual([c["pin"] for c in built],
                         [self.P["rotated"], self.P["int1"], self.P["root"]])
        self.assertEqual(built[2]["sha256"], self.pki.cert_sha256("root"))
        for c in served + built:
            self.assertEqual(set(c) >= {"position", "subject", "issuer", "pin",
                                        "sha256"}, True, c)
            self.assertRegex(c["sha256"], r"^[0-9a-f]{64}$")

    def test_event_ids_differ_between_events(self):
        self.scenario_policy("rotated_leaf")
        srv = self.server("rotated", "1.3")
        r = self.run_client("tlsclient:connect", srv, tls="1.3", count=3)
        self.assertEqual(len(r.events), 3, r.describe())
        self.assertEqual(len({e["id"] for e in r.events}), 3)

    def test_error_queue_holds_exactly_one_pinshim_reason_naming_the_host(self):
        self.scenario_policy("rotated_leaf")
        r = self.run_client("tlsclient:connect", self.server("rotated", "1.3"))
        self.assertFailedTLS(r)
        errs = [l for l in r.stdout.splitlines() if l.startswith("  err: ")]
        ours = [l for l in errs if "pinshim" in l.lower()]
        self.assertEqual(len(ours), 1, r.describe())
        self.assertIn("pinned.test", ours[0])
        # The first error a program sees names the reason.
        first = r.stdout.splitlines()[0]
        self.assertIn("pinshim", first.lower(), r.describe())

    def test_s_client_prints_a_pinshim_reason_naming_the_host(self):
        self.scenario_policy("rotated_leaf")
        r = self.run_client("s_client", self.server("rotated", "1.3"))
        self.assertFailedTLS(r)
        self.assertPinshimReason(r)

    def test_curl_blocked_exit_code_is_35_or_60(self):
        self.scenario_policy("rotated_leaf")
        for tls in TLS_VERSIONS:
            r = self.run_client("curl", self.server("rotated", tls), tls=tls)
            self.assertIn(r.returncode, (35, 60), r.describe())

    def test_python_blocked_raises_ssl_error(self):
        self.scenario_policy("rotated_leaf")
        r = self.run_client("python", self.server("rotated", "1.3"))
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertTrue(r.stdout.startswith("SSLError:"), r.describe())

    def test_policy_default_enforce_applies_to_hosts_without_a_mode(self):
        self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS]),
                    mode="enforce")
        srv = self.server("rotated", "1.3")
        probe = H.Probe(srv)
        r = self.run_client("tlsclient:connect", srv)
        self.assertBlocked(r, probe)


def _blocks(self, scenario, kind, tls):
    chain, ca, pins = self.scenario_policy(scenario)
    srv = self.server(chain, tls)
    probe = H.Probe(srv)
    r = self.run_client(kind, srv, ca=ca, tls=tls)
    self.assertFailedTLS(r)
    self.assertNoAppBytes(probe, r)
    n = {"tlsclient:fork": 2, "tlsclient:threads": None}.get(kind, 1)
    if kind == "tlsclient:threads":
        self.assertIn("failed=", r.stdout)
        self.assertRegex(r.stdout, r"threads ok=0 failed=\d+")
        n = int(re.search(r"failed=(\d+)", r.stdout).group(1))
    self.assertEqual(len(r.events), n, r.describe())
    for ev in r.events:
        self.assertEvent(ev, r, decision="blocked", host="pinned.test",
                         mode="enforce", pin_matched=False)
        # The program's own verification passed, or the program turned it
        # off (curl -k loads no CA at all, so OpenSSL's chain check fails
        # but the program would accept): the pins block, so a pin mismatch.
        self.assertEqual(ev["kind"], "pin_mismatch", r.describe())
        self.assertEqual(ev["served_chain"][0]["pin"], self.P[chain])
    if kind.startswith("tlsclient:"):
        self.assertIn("pinshim", r.stdout.lower(), r.describe())


add_matrix(EnforceBlocksMismatch, "enforce_blocks_%s_%s_tls%s",
           [(s, k, v) for s in SCENARIOS for k in ENFORCE_CLIENTS
            for v in TLS_VERSIONS], _blocks)


if __name__ == "__main__":
    H.main()
