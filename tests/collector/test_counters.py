"""Counters as the readers see them: the counter view returns exactly what
was sent, summed per dimension and hour, one row each, whatever the mix of
batches, connections, replays and restarts (the writer's dimension caches
start empty after one), and after the migration of a version 1 database
(schema.c), whose counters keep their rows and ids."""

import json
import os
import re
import sqlite3
import time

from clib import CollectorCase, wire
from collector import SCHEMA_VERSION  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_C = os.path.join(HERE, "..", "..", "store", "schema.c")

DIMS = ("hour", "host", "port", "peer", "network", "network_fingerprint",
        "app_version", "libssl_version", "os", "chain_fingerprint", "clock")
VIEW_SQL = ("SELECT %s, sum(successes), sum(failures), count(*) FROM counter"
            " GROUP BY %s" % (", ".join(DIMS), ", ".join(DIMS)))
DAY = 86400


def this_hour():
    return int(time.time()) // 3600 * 3600


def counters(n, hour, seed=0):
    """n counters over a few hosts, peers, networks, apps, chains and
    hours, several sharing their dimensions; one clock two days ahead and
    one forty days behind."""
    out = []
    for i in range(n):
        j = i + seed
        out.append(wire.make_counter(
            hour=hour - (j % 3) * 3600 + (j % 7),   # stray seconds: same hour
            host="h%d.test" % (j % 4), port=443 + j % 2,
            peer="192.0.2.%d" % (j % 3), network="net%d" % (j % 5),
            network_fingerprint="%02x" % (j % 5) * 32,
            app_version="1.%d" % (j % 2),
            libssl_version="OpenSSL 3.0.%d" % (j % 3),
            os="debian 12" if j % 4 else "ubuntu 24.04",
            chain_fingerprint=bytes([j % 2 + 1]) * 32,
            successes=j % 11, failures=j % 3))
    out.append(wire.make_counter(host="ahead.test", hour=hour + 2 * DAY,
                                 successes=5, failures=1))
    out.append(wire.make_counter(host="behind.test", hour=hour - 40 * DAY,
                                 successes=0, failures=0))
    return out


def clock_of(c, now_hour):
    off = c["hour"] - now_hour
    return "ahead" if off > DAY else "behind" if off < -DAY else "ok"


def expected(sent, now_hour):
    """What the view must say: per dimension and hour, the sums, one row."""
    want = {}
    for c in sent:
        key = tuple(c["hour"] // 3600 * 3600 if d == "hour" else
                    clock_of(c, now_hour) if d == "clock" else c[d]
                    for d in DIMS)
        s = want.setdefault(key, [0, 0, 1])
        s[0] += c["successes"]
        s[1] += c["failures"]
    return want


class ViewCase(CollectorCase):

    def db(self):
        con = sqlite3.connect("file:%s?mode=ro" % self.c.db, uri=True,
                              timeout=30)
        self.addCleanup(con.close)
        return con

    def assertViewIs(self, want):
        con = self.db()
        got = {tuple(r[:len(DIMS)]): list(r[len(DIMS):])
               for r in con.execute(VIEW_SQL)}
        self.assertEqual(got, want)
        # each side of the dimensions stored once
        for table, cols in (("dims", "host, port, peer, chain_fingerprint"),
                            ("dims_client", "network, network_fingerprint,"
                             " app_version, libssl_version, os")):
            n, distinct = con.execute(
                "SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT %s"
                " FROM %s)) FROM %s" % (cols, table, table)).fetchone()
            self.assertEqual(n, distinct, table)


class Counters(ViewCase):

    def test_the_view_returns_what_was_sent_across_restarts(self):
        hour = this_hour()
        sent = counters(40, hour)
        a, b = self.sender(), self.sender()
        a.send_batch((), sent[:15])
        b.send_batch((), sent[15:30])
        a.send_batch((), sent[30:] + sent[:5])     # five replayed
        acks = [a.expect("ack"), b.expect("ack"), a.expect("ack")]
        self.assertEqual(sum(x.get("stored", 0) for x in acks), len(sent))
        self.assertEqual(sum(x.get("duplicates", 0) for x in acks), 5)
        self.assertViewIs(expected(sent, hour))
        # a restart empties the writer's caches: the same dimensions must
        # find their rows, new ones get theirs, replays still add nothing
        self.c.stop()
        self.c.start()
        more = counters(25, hour, seed=3)
        ack = self.send(counters=more + sent[10:20])
        self.assertEqual((ack["stored"], ack["duplicates"]), (len(more), 10))
        sent += more
        self.assertViewIs(expected(sent, hour))
        # and after a crash, what was acked is there
        self.c.kill()
        self.c.start()
        last = counters(9, hour, seed=7)
        self.assertEqual(self.send(counters=last)["stored"], len(last))
        sent += last
        self.assertViewIs(expected(sent, hour))


class Resumed(ViewCase):
    """Resumed handshakes (no chain of their own) are counted apart: in the
    counter view, host_hour and summary; rollout counts resumptions of
    failed sessions as would-be-blocked (enforce mode refuses them)."""

    def view_json(self, *args):
        return json.loads(self.c.view(*args, "--json").stdout)

    def test_resumed_counts_add_up_in_view_rollup_summary_and_rollout(self):
        hour = this_hour()
        sent = [wire.make_counter(host="r.test", hour=hour, successes=2,
                                  failures=1, resumed=5, resumed_failed=3)
                for _ in range(3)]
        ack = self.send(counters=sent)
        self.assertEqual(ack["stored"], 3)
        con = self.db()
        for table in ("counter", "host_hour"):
            self.assertEqual(con.execute(
                "SELECT sum(successes), sum(failures), sum(resumed),"
                " sum(resumed_failed) FROM %s WHERE host = 'r.test'"
                % table).fetchone(), (6, 3, 15, 9), table)
        s = self.view_json("summary")
        h = [x for x in s["hosts"] if x["host"] == "r.test"][0]
        self.assertEqual((h["handshakes"], h["failures"], h["resumed"],
                          h["resumed_failed"]), (9, 3, 15, 9))
        self.assertEqual((s["resumed"], s["resumed_failed"]), (15, 9))
        # one observe-mode event of the failed full handshakes
        ev = wire.make_event(host="r.test", decision="would_block",
                             mode="observe", count=3)
        self.assertEqual(self.send(events=[ev])["stored"], 1)
        ro = self.view_json("rollout", "--host", "r.test")["rollout"][0]
        self.assertEqual((ro["handshakes"], ro["would_block"]), (24, 12))
        self.assertFalse(ro["ready"])

    def test_more_resumed_failed_than_resumed_is_refused(self):
        bad = wire.make_counter(resumed=1, resumed_failed=2)
        with self.assertRaises(wire.ProtocolError) as e:
            self.send(counters=[bad])
        self.assertIn("resumed", str(e.exception))
        self.assertEqual(self.db().execute(
            "SELECT count(*) FROM counter").fetchone(), (0,))


class Origins(ViewCase):
    """Counters are a sender's word: attributed to the origin that sent
    them (address, program and machine), bounded per origin, host and hour,
    and a host whose handshakes nearly all come from one origin is shown
    as such (the hardening issue, item 6)."""

    def counted(self, name, **over):
        s = self.sender(name=name)
        return s.batch(counters=[wire.make_counter(**over)])

    def test_more_than_a_real_count_per_origin_and_hour_is_refused(self):
        big = dict(successes=20000000, failures=0)
        self.assertEqual(self.counted("flood[1]@x", **big)["stored"], 1)
        # another process of the same program on the same machine: the
        # same origin, over 36,000,000 handshakes with api.test this hour
        with self.assertRaises(wire.ProtocolError) as e:
            self.counted("flood[2]@x", **big)
        self.assertIn("not a real count", str(e.exception))
        # another host, or another origin, is counted apart
        self.assertEqual(self.counted("flood[3]@x", host="other.test",
                                      **big)["stored"], 1)
        self.assertEqual(self.counted("curl[4]@y", **big)["stored"], 1)
        self.assertEqual(self.db().execute(
            "SELECT sum(successes) FROM counter WHERE host = 'api.test'"
        ).fetchone(), (40000000,))
        # one record alone is bounded as strictly
        with self.assertRaises(wire.ProtocolError) as e:
            self.counted("z[5]@z", successes=1 << 40)
        self.assertIn("a count over 36000000", str(e.exception))

    def test_counters_are_attributed_to_their_origin(self):
        self.counted("curl[10]@a", successes=5, failures=2)
        self.counted("curl[11]@a", successes=1, failures=0)
        self.counted("python3[12]@b", successes=3, failures=3)
        self.assertEqual(sorted(self.db().execute(
            "SELECT o.host, g.name, g.address, o.handshakes, o.failures"
            " FROM origin_hour o JOIN origin g ON g.id = o.origin_id")),
            [("api.test", "curl@a", "127.0.0.1", 8, 2),
             ("api.test", "python3@b", "127.0.0.1", 6, 3)])

    def test_thousands_of_hosts_in_one_batch_all_add_up(self):
        # (each new host and origin entry grows the writer's table: one
        # grown under a pointer still held once wrote to freed memory)
        cs = [wire.make_counter(host="h%d.test" % i, successes=i % 7 + 1,
                                failures=i % 3) for i in range(3000)]
        # an event first: an odd number of entries, so that growth comes
        # between a counter's two lookups
        ack = self.sender(name="many[1]@x").batch(
            [wire.make_event(host="e.test")], cs)
        self.assertEqual(ack["stored"], 3001)
        con = self.db()
        self.assertEqual(con.execute(
            "SELECT count(*), sum(handshakes), sum(failures)"
            " FROM origin_hour").fetchone(),
            (3000, sum(c["successes"] + c["failures"] for c in cs),
             sum(c["failures"] for c in cs)))
        self.assertEqual(con.execute(
            "SELECT sum(successes) FROM host_hour").fetchone(),
            (sum(c["successes"] for c in cs),))

    def test_a_host_counted_by_one_sender_is_shown(self):
        self.counted("app[1]@a", successes=10, failures=10)
        self.counted("app[2]@b", successes=5, failures=5)
        self.counted("flood[3]@x", successes=1000000, failures=0)
        [h] = json.loads(self.c.view("summary", "--json").stdout)["hosts"]
        self.assertEqual((h["senders"], h["one_sender"]), (3, True))
        self.assertEqual(h["top_sender"]["sender"], "flood@x (127.0.0.1)")
        self.assertEqual(h["top_sender"]["handshakes"], 1000000)
        text = self.c.view("summary").stdout
        self.assertIn("counted by one of 3 senders: flood@x (127.0.0.1)",
                      text)


def v1_schema():
    """Version 1's schema as released: schema.c's first migration."""
    with open(SCHEMA_C) as f:
        src = f.read()
    body = src[src.index("/* 0 → 1 */"):src.index("/* 1 → 2")]
    return "".join(re.findall(r'"([^"]*)"', body))


class Migration(ViewCase):

    start = False

    def make_v1(self, rows, seen):
        con = sqlite3.connect(self.c.db)
        con.executescript(v1_schema())
        con.executemany("INSERT INTO counter VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                        rows)
        con.executemany("INSERT INTO counter_seen VALUES (?)",
                        [(i,) for i in seen])
        con.execute("PRAGMA user_version = 1")
        con.execute("PRAGMA application_id = %d" % 0x504e5348)
        con.commit()
        con.close()

    def test_version_1_counters_are_migrated(self):
        hour = this_hour()
        old = counters(30, hour - 2 * 3600)[:30]     # clocks all 'ok'
        want = expected(old, hour)
        rows = [k[:-1] + tuple(v[:2]) for k, v in want.items()]
        self.make_v1(rows, [c["id"] for c in old])
        self.c.start()
        con = self.db()
        self.assertEqual(con.execute("PRAGMA user_version").fetchone(),
                         (SCHEMA_VERSION,))
        self.assertViewIs(want)
        # host_hour from the migrated counters
        self.assertEqual(
            sorted(con.execute("SELECT host, hour, successes, failures"
                               " FROM host_hour")),
            sorted(con.execute("SELECT host, hour, sum(successes),"
                               " sum(failures) FROM counter"
                               " GROUP BY host, hour")))
        # new counters of the same dimensions and hours add to their rows;
        # the migrated ids are still known
        new = [dict(c, id=wire.new_id(), successes=c["successes"] + 1)
               for c in old[:12]]
        ack = self.send(counters=new + old[:4])
        self.assertEqual((ack["stored"], ack["duplicates"]), (12, 4))
        self.assertViewIs(expected(old + new, hour))
        self.c.stop()
        self.c.start()
        self.assertEqual(self.send(counters=new[:3])["duplicates"], 3)
        self.assertViewIs(expected(old + new, hour))

    def test_version_3_certificates_take_their_ders_fields(self):
        # before version 4 the first claim fixed a certificate's fields
        # for good, DER or not: a forged one stayed; the migration derives
        # them from the DER the row kept
        self.c.start()
        ev = wire.make_event()
        self.send([ev])
        self.c.stop()
        con = sqlite3.connect(self.c.db)
        con.executescript(
            "DROP VIEW cert_shown; DROP INDEX cert_by_sha256;"
            "DROP TABLE origin_hour; DROP TABLE origin;"
            "ALTER TABLE cert DROP COLUMN verified;"
            "ALTER TABLE chain DROP COLUMN verified;"
            "UPDATE cert SET pin = 'sha256/forged', subject = 'CN=forged',"
            "  not_after = 1;"
            "PRAGMA user_version = 3;")
        con.commit()
        con.close()
        self.c.start()
        con = self.db()
        self.assertEqual(con.execute("PRAGMA user_version").fetchone(),
                         (SCHEMA_VERSION,))
        leaf = ev["served_chain"][0]
        self.assertEqual(con.execute(
            "SELECT pin, subject, not_after, verified FROM cert"
            " WHERE sha256 = ?", (leaf["sha256"],)).fetchone(),
            (leaf["pin"], leaf["subject"], leaf["not_after"], 1))
        self.assertEqual(con.execute(
            "SELECT count(*) FROM chain WHERE NOT verified").fetchone(), (0,))


if __name__ == "__main__":
    import unittest
    unittest.main()
