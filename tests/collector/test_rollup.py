"""What the collector keeps for the viewer at ingest (schema version 2):
counters get their clock class; host_hour and failure_hour always equal a
plain SQL aggregate over the record and counter tables, whatever the mix of
hosts, hours, skewed clocks, repeats, replays, duplicates and batches that
fail half-way; ChainSeen records give a chain its counter fingerprint, on
the same row an event's served chain uses."""

import hashlib
import json
import os
import sqlite3
import time
import unittest

from clib import CollectorCase, wire

DAY_US = 86400 * 1000000
HOUR_US = 3600 * 1000000

# The rollups as schema.c defines them, computed from the raw tables.
RECORD_HOUR = ("CASE WHEN abs(time_us - received_us) > 86400000000"
               " THEN received_us / 1000000 / 3600 * 3600"
               " ELSE time_us / 1000000 / 3600 * 3600 END")
FAILURE_HOUR_SQL = (
    "SELECT failure_id, %s AS h, sum(count), min(time_us),"
    " max(last_time_us), min((time_us - received_us) / 1000000),"
    " max((time_us - received_us) / 1000000) FROM record"
    " GROUP BY failure_id, h ORDER BY 1, 2" % RECORD_HOUR)
EVENTS_SQL = ("SELECT host, %s AS h, sum(count) FROM record"
              " GROUP BY host, h" % RECORD_HOUR)


def now_us():
    return int(time.time() * 1000000)


def hour_of_s(s):
    return s // 3600 * 3600


class Rollup(CollectorCase):

    def db(self):
        con = sqlite3.connect("file:%s?mode=ro" % self.c.db, uri=True,
                              timeout=30)
        self.addCleanup(con.close)
        return con

    def assertRollupsMatch(self, receive_hours=None):
        """host_hour and failure_hour equal the aggregates over record and
        counter.  receive_hours: {host: set of allowed hours} for counters
        whose clock is not 'ok' (their receive time is not stored)."""
        con = self.db()
        self.assertEqual(
            con.execute("SELECT failure_id, hour, count, first_us, last_us,"
                        " offset_min_s, offset_max_s FROM failure_hour"
                        " ORDER BY 1, 2").fetchall(),
            con.execute(FAILURE_HOUR_SQL).fetchall())
        want = {}
        for host, hour, n in con.execute(EVENTS_SQL):
            want.setdefault((host, hour), [0, 0, 0])[2] += n
        for host, hour, clock, ok, bad in con.execute(
                "SELECT host, hour, clock, sum(successes), sum(failures)"
                " FROM counter GROUP BY host, hour, clock"):
            if clock != "ok":
                got = [h for (hh, h) in self.host_hours(con) if hh == host]
                hours = (receive_hours or {}).get(host, set())
                self.assertTrue(got and set(got) <= hours,
                                "%s: %r not in %r" % (host, got, hours))
                hour = got[0]
            w = want.setdefault((host, hour), [0, 0, 0])
            w[0] += ok
            w[1] += bad
        got = {(h, hr): [s, f, e] for h, hr, s, f, e in con.execute(
            "SELECT host, hour, successes, failures, events FROM host_hour")}
        self.assertEqual(got, want)
        return got

    def host_hours(self, con):
        return con.execute("SELECT host, hour FROM host_hour").fetchall()

    # -- counters ---------------------------------------------------------

    def test_counters_get_their_clock_class(self):
        before = time.time()
        hour = hour_of_s(int(before))
        ack = self.send(counters=[
            wire.make_counter(host="ok.test", hour=hour),
            wire.make_counter(host="near.test", hour=hour + 20 * 3600),
            wire.make_counter(host="ahead.test", hour=hour + 3 * 86400),
            wire.make_counter(host="behind.test", hour=hour - 3 * 86400),
            wire.make_counter(host="behind.test", hour=hour - 40 * 86400,
                              successes=2, failures=0)])
        after = time.time()
        self.assertEqual(ack["stored"], 5)
        con = self.db()
        clocks = dict(con.execute(
            "SELECT host, group_concat(DISTINCT clock) FROM counter"
            " GROUP BY host"))
        self.assertEqual(clocks, {"ok.test": "ok", "near.test": "ok",
                                  "ahead.test": "ahead",
                                  "behind.test": "behind"})
        received = {hour_of_s(int(before)), hour_of_s(int(after))}
        got = self.assertRollupsMatch({"ahead.test": received,
                                       "behind.test": received})
        # a skewed clock's handshakes count in the hour they arrived
        hh = {h: (hr, v) for (h, hr), v in got.items()}
        self.assertIn(hh["ahead.test"][0], received)
        self.assertEqual(hh["behind.test"][1], [12, 1, 0])
        self.assertEqual(hh["near.test"][0], hour + 20 * 3600)

    # -- records ----------------------------------------------------------

    def mixed_events(self):
        """Events over several hosts, failures and hours, with counts,
        repeats and skewed clocks."""
        now = now_us()
        evs = []
        for i in range(12):
            t = now - (i % 4) * HOUR_US - i * 1000
            evs.append(wire.make_event(
                host="h%d.test" % (i % 3), time_us=t,
                last_time_us=t + 5000000, count=1 + i % 5,
                kind="pin_mismatch" if i % 2 else "expired"))
        evs.append(wire.make_event(host="h0.test", repeat_of=evs[0]["id"],
                                   count=7, time_us=now - 30000000,
                                   last_time_us=now - 1000000))
        # the client's clock two days ahead, forty days behind
        evs.append(wire.make_event(host="skew.test", time_us=now + 2 * DAY_US,
                                   last_time_us=now + 2 * DAY_US, count=3))
        evs.append(wire.make_event(host="skew.test",
                                   time_us=now - 40 * DAY_US,
                                   last_time_us=now - 40 * DAY_US))
        evs.append(wire.make_event(host="h1.test", count=0))   # means 1
        return evs

    def test_rollups_equal_the_aggregates_over_records_and_counters(self):
        evs = self.mixed_events()
        hour = hour_of_s(int(time.time()))
        ctrs = [wire.make_counter(host="h%d.test" % (i % 3),
                                  hour=hour - (i % 2) * 3600,
                                  successes=100 + i, failures=i)
                for i in range(6)]
        # several batches over two connections, pipelined
        a, b = self.sender(), self.sender()
        ids = [a.send_batch(evs[:5], ctrs[:2]), b.send_batch(evs[5:9]),
               a.send_batch(evs[9:], ctrs[2:4]), b.send_batch((), ctrs[4:])]
        acks = [a.expect("ack"), b.expect("ack"), a.expect("ack"),
                b.expect("ack")]
        self.assertEqual(sorted(x["batch_id"] for x in acks), sorted(ids))
        got = self.assertRollupsMatch()
        self.assertEqual(sum(v[2] for v in got.values()),
                         sum(max(e["count"], 1) for e in evs))
        self.assertEqual(sum(v[0] for v in got.values()),
                         sum(c["successes"] for c in ctrs))
        con = self.db()
        # skewed: counted in the receive hour, the offset kept
        (skew,) = con.execute(
            "SELECT group_concat(DISTINCT hour), min(offset_min_s),"
            " max(offset_max_s) FROM failure_hour fh JOIN failure f"
            " ON f.id = fh.failure_id WHERE f.host = 'skew.test'").fetchall()
        self.assertEqual(int(skew[0]) // 3600 * 3600, int(skew[0]))
        self.assertLessEqual(abs(int(skew[0]) - hour), 3600)
        self.assertLess(skew[1], -39 * 86400)
        self.assertGreater(skew[2], 47 * 3600)
        # the rollups survive a restart and go on from there
        self.c.stop()
        self.c.start()
        more = [wire.make_event(host="h2.test", count=4)]
        self.send(more, [wire.make_counter(host="h2.test", hour=hour)])
        self.assertRollupsMatch()

    def test_duplicates_and_replays_are_not_counted_twice(self):
        evs = self.mixed_events()[:6]
        ctr = wire.make_counter(host="h0.test", successes=9, failures=2)
        s = self.sender()
        bid = wire.new_id()
        self.assertEqual(s.batch(evs, [ctr], batch_id=bid)["stored"], 7)
        first = self.assertRollupsMatch()
        # the same batch again, and again from another connection
        ack = s.batch(evs, [ctr], batch_id=bid)
        self.assertEqual((ack["stored"], ack["duplicates"]), (0, 7))
        self.assertEqual(self.send(evs[:3], [ctr])["duplicates"], 4)
        self.assertEqual(self.assertRollupsMatch(), first)
        # the same id twice in one batch, beside a new record
        new = wire.make_event(host="h0.test", count=2)
        ack = self.send([new, new, evs[0]], [ctr, ctr])
        self.assertEqual((ack["stored"], ack["duplicates"]), (1, 4))
        got = self.assertRollupsMatch()
        self.assertEqual(sum(v[2] for v in got.values()),
                         sum(v[2] for v in first.values()) + 2)
        self.assertEqual(sum(v[0] for v in got.values()), 9)

    def test_a_batch_that_fails_half_way_leaves_no_contribution(self):
        good = [wire.make_event(host="good.test", count=3)]
        # a database error after some of the batch is stored: a trigger
        # refuses the last record of the second batch
        con = sqlite3.connect(self.c.db, timeout=30)
        con.execute("CREATE TRIGGER boom BEFORE INSERT ON record"
                    " WHEN NEW.host = 'boom.test'"
                    " BEGIN SELECT RAISE(ABORT, 'boom'); END")
        con.commit()
        half = [wire.make_event(host="half.test", count=5),
                wire.make_event(host="good.test", count=11),
                wire.make_event(host="boom.test")]
        ctr = wire.make_counter(host="half.test", successes=50)
        s = self.sender()
        s.send_batch(good, [wire.make_counter(host="good.test")])
        s.send_batch(half, [ctr])           # likely in the same group
        self.assertEqual(s.expect("ack")["stored"], 2)
        self.assertIn("could not store", s.closed_by_peer())
        got = self.assertRollupsMatch()
        self.assertEqual({h for h, _ in got}, {"good.test"})
        self.assertEqual(sum(v[2] for v in got.values()), 3)
        # once the database takes it, the whole batch counts, once
        con.execute("DROP TRIGGER boom")
        con.commit()
        con.close()
        half[2]["host"] = "fine.test"
        self.assertEqual(self.send(half, [ctr])["stored"], 4)
        self.assertEqual(self.send(half, [ctr])["duplicates"], 4)
        got = self.assertRollupsMatch()
        self.assertEqual(sum(v[2] for v in got.values()), 3 + 5 + 11 + 1)
        self.assertEqual(sum(v[0] for v in got.values()), 10 + 50)

    # -- chains seen --------------------------------------------------------

    def chain_seen(self, certs, fp=None, host="api.test"):
        fp = fp or hashlib.sha256(os.urandom(16)).digest()
        return {"fingerprint": fp, "host": host, "certs": certs,
                "total": len(certs)}

    def chain_rows(self):
        return self.db().execute(
            "SELECT id, counter_fp, length FROM chain ORDER BY id").fetchall()

    def counter_fp(self, certs):
        """Counter.chain_fingerprint, as the shim computes it."""
        return hashlib.sha256(b"".join(hashlib.sha1(c["der"]).digest()
                                       for c in certs)).digest()

    def test_chain_seen_claims_and_the_events_der_chain_are_kept_apart(self):
        ev = wire.make_event()
        real_fp = self.counter_fp(ev["served_chain"])
        # the shim sends no DER in a ChainSeen, only the SHA-256s: claims
        bare = [dict(c, der=b"") for c in ev["served_chain"]]
        cs = self.chain_seen(bare, fp=real_fp)
        ack = self.sender().batch(chains=[cs])
        self.assertEqual((ack["stored"], ack["duplicates"]), (0, 0))
        [(claimed, fp, length)] = self.chain_rows()
        self.assertEqual((fp, length), (real_fp, 2))
        con = self.db()
        self.assertEqual(con.execute(
            "SELECT c.pin, c.sha256, c.der IS NULL, c.verified"
            " FROM chain_cert cc JOIN cert c ON c.id = cc.cert_id"
            " WHERE cc.chain_id = ? ORDER BY position", (claimed,)).fetchall(),
            [(c["pin"], c["sha256"], 1, 0) for c in bare])
        # the event's chain came with DER: a row of its own, its fields
        # derived by the collector, its counters' fingerprint computed
        self.send([ev])
        (served,) = con.execute("SELECT served_chain_id FROM failure"
                                ).fetchone()
        self.assertNotEqual(served, claimed)
        self.assertEqual(con.execute(
            "SELECT counter_fp, verified FROM chain WHERE id = ?",
            (served,)).fetchone(), (real_fp, 1))
        self.assertEqual(con.execute(
            "SELECT count(*) FROM cert WHERE der IS NOT NULL AND verified"
        ).fetchone(), (3,))
        # counters of that fingerprint name the proven chain first
        ctr = wire.make_counter(chain_fingerprint=real_fp)
        self.sender().batch(counters=[ctr])
        r = self.c.view("chain", "api.test", "--json")
        chains = json.loads(r.stdout)["chains"]
        self.assertEqual([c["fingerprint"] for c in chains
                          if c["successes"]], [real_fp.hex()])
        self.assertTrue(all(x["verified"] for c in chains
                            for x in c["certs"]), chains)
        # replays and other processes' copies change nothing
        self.sender().batch(chains=[cs, cs])
        self.assertEqual(len(self.chain_rows()), 3)   # + the built chain

    def test_forged_chain_seen_is_outranked_and_flagged(self):
        ev = wire.make_event()
        real_fp = self.counter_fp(ev["served_chain"])
        forged = [dict(c, der=b"") for c in ev["served_chain"]]
        forged[0] = dict(forged[0], pin="sha256/" + "Q" * 43 + "=",
                         subject="CN=attacker")
        self.sender().batch(chains=[self.chain_seen(forged, fp=real_fp)])
        self.send([ev])
        con = self.db()
        # every reader sees the DER's fields for the leaf's SHA-256, and
        # the claim that disagreed with them is flagged
        rows = con.execute(
            "SELECT c.verified, s.pin, s.subject, s.verified, s.conflict"
            " FROM cert c JOIN cert_shown s ON s.id = c.id"
            " WHERE c.sha256 = ? ORDER BY c.verified",
            (ev["served_chain"][0]["sha256"],)).fetchall()
        leaf = ev["served_chain"][0]
        self.assertEqual(rows, [(0, leaf["pin"], leaf["subject"], 1, 1),
                                (1, leaf["pin"], leaf["subject"], 1, 1)])
        f = self.c.failures()[0]
        self.assertEqual(f["served_chain"][0]["pin"], leaf["pin"])
        self.assertTrue(f["served_chain"][0]["verified"])

    def test_fields_sent_beside_a_der_are_not_read(self):
        ev = wire.make_event()
        leaf = ev["served_chain"][0]
        ev["served_chain"][0] = dict(leaf, pin="sha256/" + "Q" * 43 + "=",
                                     subject="CN=claimed", not_after=1)
        self.send([ev])
        f = self.c.failures()[0]
        self.assertEqual((f["served_chain"][0]["pin"],
                          f["served_chain"][0]["subject"]),
                         (leaf["pin"], leaf["subject"]))

    def test_bad_chain_seen_is_refused(self):
        certs = wire.make_event()["served_chain"]
        for bad, why in (
                (self.chain_seen(certs, fp=b"\x01" * 31), "fingerprint"),
                (self.chain_seen(certs * 6), "chain of 12"),
                (self.chain_seen([dict(certs[0], sha256=b"x")]), "sha256"),
                (self.chain_seen([dict(certs[0], sha256=b"\x00" * 32)]),
                 "DER does not hash"),
                (self.chain_seen(certs, host="h" * 5000), "host")):
            with self.subTest(why=why):
                s = self.sender()
                s.send_batch(chains=[bad])
                self.assertIn(why, self.assertRejected(s, "chain 0"))
        self.assertEqual(self.chain_rows(), [])
        self.assertServing()


if __name__ == "__main__":
    unittest.main()
