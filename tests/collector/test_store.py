"""What the collector stores: every field of an event comes back through
`pinshim-view failures --json`; ids dedupe replays; repeats fold into
their original's count whatever order they come in; counters dedupe and
add up; the statistics count it all."""

import datetime
import sqlite3
import subprocess
import time
import unittest

from clib import CollectorCase, hexid, wire
from collector import COLLECTOR_BIN


def rfc3339_ms(us):
    t = datetime.datetime.fromtimestamp(us / 1e6, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (us // 1000 % 1000)


class Store(CollectorCase):

    def test_every_field_round_trips_through_failures_json(self):
        ev = wire.make_event(kind="untrusted_issuer", decision="blocked",
                             mode="enforce", matched="built", pin_expired=True,
                             verify_error=20,
                             verify_error_text="unable to get local issuer",
                             message="hello", count=2)
        before = time.time()
        self.assertEqual(self.send([ev])["stored"], 1)
        [f] = self.c.failures()
        self.assertEqual(f["id"], hexid(ev["id"]))
        self.assertEqual(f["time"], rfc3339_ms(ev["time_us"]))
        received = datetime.datetime.strptime(
            f["received"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        self.assertAlmostEqual(received, before, delta=30)
        for k in ("host", "port", "peer", "policy_version", "expected_pins",
                  "verify_error", "verify_error_text", "tls_version",
                  "message", "pinned", "pin_expired", "served_total",
                  "built_total"):
            self.assertEqual(f[k], ev[k], k)
        self.assertEqual((f["kind"], f["decision"], f["mode"], f["matched"]),
                         ("untrusted_issuer", "blocked", "enforce", "built"))
        self.assertEqual(f["count"], 2)
        self.assertEqual(f["network"], "office")
        self.assertEqual(f["network_fingerprint"], ev["network"]["fingerprint"])
        self.assertEqual(f["app_version"], "8.1.2")
        for name in ("served_chain", "built_chain"):
            self.assertEqual(len(f[name]), len(ev[name]))
            for got, sent in zip(f[name], ev[name]):
                self.assertEqual(got["position"], sent["position"])
                for k in ("subject", "issuer", "serial", "pin"):
                    self.assertEqual(got[k], sent[k], k)
                self.assertEqual(got["sha256"], sent["sha256"].hex())
                self.assertEqual(got["not_before"], "2023-11-14T22:13:20Z")
                self.assertEqual(got["not_after"], "2030-03-17T17:46:40Z")
        self.assertEqual([(s["module"], s["symbol"], s["offset"])
                          for s in f["stack"]],
                         [(s["module"], s["symbol"], s["offset"])
                          for s in ev["stack"]])
        p = ev["platform"]
        self.assertEqual(f["platform"]["os"], "debian 12")
        for k in ("kernel", "arch", "libssl_version", "host_id", "os_name"):
            self.assertEqual(f["platform"][k], p[k], k)
        self.assertEqual(f["process"], {
            "exe": "/usr/bin/curl", "build_id": "cd" * 20, "pid": 4242,
            "argv0": "curl", "app_version": "8.1.2",
            "app_version_source": "env"})
        n = f["network_details"]
        self.assertEqual((n["gateway"], n["subnet"], n["resolvers"],
                          n["proxy_vars"]),
                         ("192.0.2.1", "192.0.2.0/24", ["192.0.2.53"],
                          ["https_proxy"]))
        self.assertRegex(f["sender"], r"^127\.0\.0\.1:\d+$")
        self.assertIsNone(f["repeat_of"])

    def test_der_is_stored_once_per_certificate(self):
        evs = [wire.make_event() for _ in range(5)]
        self.send(evs)
        self.c.stop()
        db = sqlite3.connect(self.c.db)
        certs = db.execute("SELECT count(*), count(der) FROM cert").fetchone()
        chains = db.execute("SELECT count(*) FROM chain").fetchone()[0]
        self.assertEqual(certs, (3, 3))   # leaf, intermediate, root
        self.assertEqual(chains, 2)       # served, built

    def test_replayed_batch_is_stored_once_and_acked_as_duplicates(self):
        evs = [wire.make_event(host="h%d.test" % i) for i in range(3)]
        s = self.sender()
        bid = wire.new_id()
        self.assertEqual(s.batch(evs, batch_id=bid)["stored"], 3)
        ack = s.batch(evs, batch_id=bid)
        self.assertEqual((ack["stored"], ack["duplicates"]), (0, 3))
        # and from another connection (a spool replayed by another process)
        ack = self.send(evs[:2] + [wire.make_event(host="new.test")])
        self.assertEqual((ack["stored"], ack["duplicates"]), (1, 2))
        self.assertEqual(self.stored_hosts(),
                         ["h0.test", "h1.test", "h2.test", "new.test"])

    def test_repeats_fold_into_their_original_in_any_order(self):
        first = wire.make_event(count=1)
        r1 = wire.make_event(repeat_of=first["id"], count=5)
        r2 = wire.make_event(repeat_of=first["id"], count=7)
        self.send([r1])                       # before its original
        [orphan] = self.c.failures()
        self.assertEqual(orphan["count"], 5)
        self.assertEqual(orphan["repeat_of"], hexid(first["id"]))
        self.send([first, r2])
        [f] = self.c.failures()
        self.assertEqual(f["id"], hexid(first["id"]))
        self.assertEqual(f["count"], 13)
        self.send([r2])                       # a replay adds nothing
        self.assertEqual(self.c.failures()[0]["count"], 13)

    def test_count_zero_means_one(self):
        self.send([wire.make_event(count=0)])
        self.assertEqual(self.c.failures()[0]["count"], 1)

    def test_counters_dedupe_by_id_and_add_up_per_hour(self):
        hour = 1795435200
        a = wire.make_counter(hour=hour + 5, successes=10, failures=1)
        b = wire.make_counter(hour=hour + 3599, successes=5, failures=2)
        other = wire.make_counter(hour=hour, network="home", successes=1,
                                  failures=0)
        ack = self.send(counters=[a, b, other])
        self.assertEqual(ack["stored"], 3)
        ack = self.send(counters=[a])
        self.assertEqual((ack["stored"], ack["duplicates"]), (0, 1))
        self.c.stop()
        rows = sqlite3.connect(self.c.db).execute(
            "SELECT hour, network, successes, failures FROM counter "
            "ORDER BY network").fetchall()
        self.assertEqual(rows, [(hour, "home", 1, 0), (hour, "office", 15, 3)])

    def test_stats_count_received_stored_duplicates_rejections(self):
        evs = [wire.make_event() for _ in range(4)]
        self.send(evs, [wire.make_counter()])
        self.send(evs[:1])
        bad = wire.Sender(self.c.address, token=b"wrong")
        with self.assertRaises(wire.ProtocolError):
            bad.hello()
        bad.close()
        g = wire.Sender(self.c.address, token=self.token)
        g.send_raw(b"\x00\x00\x00\x05garbage")
        g.closed_by_peer()
        g.close()
        self.assertEqual(self.c.stop(), 0)
        st = self.c.stats()
        self.assertEqual(st["connections"], 4)
        self.assertEqual(st["auth_failures"], 1)
        self.assertEqual(st["frames_rejected"], 1)
        self.assertEqual(st["batches"], 2)
        self.assertEqual(st["events_received"], 5)
        self.assertEqual(st["events_stored"], 4)
        self.assertEqual(st["events_duplicate"], 1)
        self.assertEqual(st["counters_stored"], 1)
        # persisted: a restart goes on from there
        self.c.start()
        self.send([wire.make_event()])
        self.c.stop()
        st = self.c.stats()
        self.assertEqual((st["events_stored"], st["connections"]), (5, 5))

    def test_stats_prints_text_too(self):
        self.send([wire.make_event()])
        self.c.stop()
        out = subprocess.run([COLLECTOR_BIN, "--stats", "--db", self.c.db],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"(?m)^events_stored\s+1$")
        self.assertRegex(out.stdout, r"(?m)^connections\s+1$")

    def test_event_without_parts_is_stored(self):
        ev = {"id": wire.new_id(), "time_us": int(time.time() * 1e6),
              "host": "bare.test", "kind": "policy_error",
              "decision": "allowed"}
        self.assertEqual(self.send([ev])["stored"], 1)
        [f] = self.c.failures()
        self.assertEqual((f["host"], f["served_chain"], f["stack"],
                          f["platform"]["os"], f["process"]["exe"]),
                         ("bare.test", [], [], "", ""))

    def test_control_characters_come_out_as_valid_json(self):
        # (strings that are not UTF-8 are refused: test_reject.py)
        ev = wire.make_event(host="caf\u00e9host", message=b"\x1b[31mred")
        self.send([ev])
        [f] = self.c.failures()
        self.assertEqual(f["host"], "caf\u00e9host")
        self.assertEqual(f["message"], "\x1b[31mred")
        text = self.c.view("failures").stdout
        self.assertNotIn("\x1b", text)


if __name__ == "__main__":
    unittest.main()
