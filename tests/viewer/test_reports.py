"""pinshim-view summary, failures (the new filters), rollout and chain over
crafted fleets: text and JSON, exact counts, the filters."""

import json
import re
import time
import unittest

from vlib import DAY, HOUR, FleetCase, pin_of

RFC3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"


def hour_text(h):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(h))


class Summary(FleetCase):

    def setUp(self):
        self.f = f = self.fleet()
        self.good = f.chain("api.test", "Int A", "Root")
        self.mitm = f.chain("api.test", "Proxy CA", keys=["m", "Proxy CA"])
        f.handshakes("api.test", self.good, ok=90, network="office",
                     app="app 1.0")
        f.handshakes("api.test", self.good, ok=10, failed=5, network="home",
                     app="app 2.0", kind="expired", mode="enforce",
                     skew=400 * DAY)
        f.handshakes("api.test", self.mitm, failed=20, network="corp",
                     app="app 1.0")
        w = f.chain("web.test", "Int A", "Root")
        f.handshakes("web.test", w, ok=50, network="office",
                     hour=f.hour - 2 * HOUR)
        f.handshakes("web.test", w, failed=2, network="office",
                     kind="untrusted_issuer", mode="enforce", decision="blocked",
                     hour=f.hour - 2 * HOUR,
                     time_us=(f.hour - 2 * HOUR + 60) * 1000000)

    def test_json(self):
        s = self.f.json("summary")
        self.assertEqual(set(s), {"from", "to", "handshakes", "successes",
                                  "failures", "failure_rate", "resumed",
                                  "resumed_failed", "events", "kinds",
                                  "decisions", "hosts"})
        self.assertEqual((s["handshakes"], s["successes"], s["failures"],
                          s["events"]), (177, 150, 27, 27))
        self.assertAlmostEqual(s["failure_rate"], 27 / 177)
        self.assertEqual(s["kinds"], {"pin_mismatch": 20, "expired": 5,
                                      "untrusted_issuer": 2})
        self.assertEqual(s["decisions"], {"would_block": 20, "blocked": 7})
        self.assertEqual(s["from"], hour_text(self.f.hour - 2 * HOUR))
        self.assertEqual(s["to"], hour_text(self.f.hour + HOUR))
        api, web = s["hosts"]
        self.assertEqual(set(api), {"host", "handshakes", "successes",
                                    "failures", "failure_rate", "resumed",
                                    "resumed_failed", "events", "first_seen",
                                    "last_seen", "mode", "kinds", "senders",
                                    "top_sender", "one_sender"})
        # every counter came from the fleet's one sender
        self.assertEqual((api["senders"], api["one_sender"],
                          api["top_sender"]["share"]), (1, False, 1.0))
        self.assertEqual((api["host"], api["handshakes"], api["failures"],
                          api["events"], api["mode"]),
                         ("api.test", 125, 25, 25, "mixed"))
        self.assertEqual(api["kinds"], {"pin_mismatch": 20, "expired": 5})
        self.assertEqual((web["host"], web["handshakes"], web["failures"],
                          web["mode"]), ("web.test", 52, 2, "enforce"))
        self.assertEqual(web["first_seen"], hour_text(self.f.hour - 2 * HOUR))

    def test_filters(self):
        s = self.f.json("summary", "--host", "web.test")
        self.assertEqual([h["host"] for h in s["hosts"]], ["web.test"])
        s = self.f.json("summary", "--network", "corp")
        self.assertEqual((s["handshakes"], s["failures"], s["events"]),
                         (20, 20, 20))
        s = self.f.json("summary", "--version", "app 2.0")
        self.assertEqual((s["handshakes"], s["failures"], s["kinds"]),
                         (15, 5, {"expired": 5}))
        # 60m back always lies in the previous hour: web.test (2 hours back)
        # is out whatever the minute
        s = self.f.json("summary", "--since", "60m")
        self.assertEqual([h["host"] for h in s["hosts"]], ["api.test"])
        s = self.f.json("summary", "--until", hour_text(self.f.hour))
        self.assertEqual([h["host"] for h in s["hosts"]], ["web.test"])
        s = self.f.json("summary", "--kind", "expired")
        self.assertEqual((s["events"], s["kinds"]), (5, {"expired": 5}))

    def test_text(self):
        r = self.f.view("summary")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertRegex(lines[0], r"^\S+Z \.\. \S+Z: 177 handshakes, 27 "
                         r"failed \(15\.3%\), 27 failure events$")
        self.assertEqual(lines[1], "  by kind: pin_mismatch 20, expired 5, "
                         "untrusted_issuer 2")
        self.assertEqual(lines[2], "  by decision: would_block 20, blocked 7")
        self.assertRegex(lines[4], r"^HOST\s+HANDSHAKES\s+FAILED\s+RATE\s+"
                         r"RESUMED\s+EVENTS\s+MODE\s+KINDS$")
        self.assertRegex(lines[5], r"^api\.test\s+125\s+25\s+20\.0%\s+0\s+25\s+"
                         r"mixed\s+pin_mismatch 20, expired 5$")
        self.assertRegex(lines[6], r"^web\.test\s+52\s+2\s+3\.8%\s+0\s+2\s+"
                         r"enforce\s+untrusted_issuer 2$")


class Failures(FleetCase):

    def test_new_filters(self):
        f = self.fleet()
        c = f.chain("api.test", "Int A", "Root")
        f.handshakes("api.test", c, failed=3, network="corp", app="app 1.0")
        f.handshakes("api.test", c, failed=4, network="home", app="app 2.0",
                     kind="expired", mode="enforce")
        f.handshakes("api.test", c, failed=5, network="home", app="app 1.0",
                     hour=f.hour - HOUR, time_us=(f.hour - HOUR + 5) * 10**6)
        counts = lambda *a: sorted(x["count"] for x in
                                   f.json("failures", *a)["failures"])
        self.assertEqual(counts(), [3, 4, 5])
        self.assertEqual(counts("--network", "home"), [4, 5])
        self.assertEqual(counts("--version", "app 1.0"), [3, 5])
        self.assertEqual(counts("--kind", "expired"), [4])
        self.assertEqual(counts("--until", hour_text(f.hour)), [5])
        self.assertEqual(counts("--since", hour_text(f.hour)), [3, 4])
        self.assertEqual(counts("--network", "home", "--version", "app 1.0",
                                "--kind", "pin_mismatch"), [5])


class Rollout(FleetCase):

    def setUp(self):
        self.f = f = self.fleet()
        c = f.chain("obs.test", "Int A", "Root")
        mitm = f.chain("obs.test", "Proxy CA", keys=["m", "Proxy CA"])
        for n in ("office", "home"):
            f.handshakes("obs.test", c, ok=40, network=n, app="app 1.0")
            f.handshakes("obs.test", c, ok=10, network=n, app="app 2.0")
        f.handshakes("obs.test", mitm, failed=12, network="corp",
                     app="app 2.0")
        f.handshakes("obs.test", mitm, ok=0, failed=3, network="corp",
                     app="app 1.0", hour=f.hour - 5 * HOUR,
                     time_us=(f.hour - 5 * HOUR + 9) * 10**6)
        e = f.chain("enf.test", "Int A", "Root")
        f.handshakes("enf.test", e, ok=5, failed=5, mode="enforce",
                     decision="blocked")

    def test_json(self):
        r = self.f.json("rollout")["rollout"]
        self.assertEqual([h["host"] for h in r], ["obs.test"])  # enforcing
        h = r[0]
        self.assertEqual(set(h), {"host", "handshakes", "would_block",
                                  "recent_would_block", "ready", "verdict",
                                  "kinds", "cells"})
        self.assertEqual((h["handshakes"], h["would_block"],
                          h["recent_would_block"], h["ready"]),
                         (115, 15, 15, False))
        self.assertTrue(h["verdict"].startswith(
            "not ready: 15 of 115 handshakes in the last 24 hours would be "
            "blocked (network corp / app 2.0: 12/12, network corp / app 1.0: "
            "3/3)"), h["verdict"])
        self.assertEqual(h["kinds"], {"pin_mismatch": 15})
        cells = {(c["network"], c["app_version"]): (c["would_block"],
                                                     c["total"])
                 for c in h["cells"]}
        self.assertEqual(cells, {("corp", "app 2.0"): (12, 12),
                                 ("corp", "app 1.0"): (3, 3),
                                 ("office", "app 1.0"): (0, 40),
                                 ("home", "app 1.0"): (0, 40),
                                 ("office", "app 2.0"): (0, 10),
                                 ("home", "app 2.0"): (0, 10)})
        self.assertEqual(h["cells"][0]["network"], "corp")

    def test_ready_when_nothing_would_be_blocked(self):
        r = self.f.json("rollout", "--host", "obs.test", "--network",
                        "office")["rollout"]
        self.assertEqual(len(r), 1)
        self.assertEqual((r[0]["ready"], r[0]["verdict"], r[0]["handshakes"]),
                         (True, "ready", 50))

    def test_no_traffic_is_not_ready(self):
        r = self.f.json("rollout", "--host", "obs.test", "--since",
                        "2030-01-01T00:00:00Z")["rollout"]
        self.assertFalse(r[0]["ready"])
        self.assertIn("no handshakes", r[0]["verdict"])

    def test_text(self):
        r = self.f.view("rollout")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"(?m)^obs\.test: not ready: 15 of 115 ")
        self.assertIn("  network corp, app app 2.0: 12 would block of 12\n",
                      r.stdout)


class Chains(FleetCase):

    def setUp(self):
        self.f = f = self.fleet()
        self.old = f.chain("api.test", "Int A", "Root")
        self.new = f.chain("api.test", "Int A", "Root",
                           keys=["api-new", "Int A", "Root"])
        self.pins = [self.old.pins[0], pin_of("backup")]
        f.handshakes("api.test", self.old, ok=30, network="office",
                     hour=f.hour - HOUR, pins=self.pins)
        f.handshakes("api.test", self.old, ok=5, network="home",
                     hour=f.hour - HOUR, pins=self.pins, peer="192.0.2.11")
        f.handshakes("api.test", self.new, failed=7, network="office",
                     pins=self.pins, time_us=(f.hour + 1) * 10**6)

    def test_json(self):
        h = self.f.json("chain", "api.test")
        self.assertEqual(set(h), {"host", "pins", "chains"})
        self.assertEqual((h["host"], h["pins"]), ("api.test", self.pins))
        old, new = h["chains"]
        self.assertEqual(set(old), {"fingerprint", "role", "successes",
                                    "failures", "first_seen", "last_seen",
                                    "changed_position", "pinned", "certs",
                                    "networks", "peers", "versions"})
        self.assertEqual((old["fingerprint"], old["role"], old["successes"],
                          old["failures"], old["changed_position"],
                          old["pinned"]),
                         (self.old.hex, "succeeding", 35, 0, None, True))
        self.assertEqual(old["first_seen"], hour_text(self.f.hour - HOUR))
        self.assertEqual(old["last_seen"], hour_text(self.f.hour))
        self.assertEqual(old["networks"], {"office": 30, "home": 5})
        self.assertEqual(old["peers"], {"192.0.2.10": 30, "192.0.2.11": 5})
        self.assertEqual((new["fingerprint"], new["role"], new["failures"],
                          new["changed_position"], new["pinned"]),
                         (self.new.hex, "failing", 7, 0, False))
        self.assertEqual(new["first_seen"], hour_text(self.f.hour))
        cert = new["certs"][0]
        self.assertEqual(set(cert), {"position", "subject", "issuer", "serial",
                                     "pin", "not_before", "not_after",
                                     "pinned", "changed", "verified",
                                     "conflict"})
        self.assertEqual((cert["verified"], cert["conflict"]), (True, False))
        self.assertEqual((cert["subject"], cert["issuer"], cert["pin"],
                          cert["changed"], cert["pinned"]),
                         ("CN=api.test", "CN=Int A", self.new.pins[0], True,
                          False))
        self.assertRegex(cert["not_after"], RFC3339)

    def test_text_and_filters(self):
        r = self.f.view("chain", "api.test")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("chains served by api.test\n"
                                            "  pins expected: %s %s\n"
                                            % tuple(self.pins)), r.stdout)
        self.assertIn("      networks: office 30, home 5\n", r.stdout)
        self.assertLess(r.stdout.index(self.old.hex),
                        r.stdout.index(self.new.hex))
        h = self.f.json("chain", "api.test", "--since", hour_text(self.f.hour))
        self.assertEqual([c["fingerprint"] for c in h["chains"]],
                         [self.new.hex])
        h = self.f.json("chain", "api.test", "--network", "home")
        self.assertEqual([c["fingerprint"] for c in h["chains"]],
                         [self.old.hex])


if __name__ == "__main__":
    unittest.main()
