"""The collector's life: an ack means the batch is committed (it survives
kill -9), many senders are served at once, SIGTERM acks what is in flight
and exits 0 with the database closed, and the schema version is checked
(created when new, refused when from another version)."""

import os
import socket
import sqlite3
import subprocess
import threading
import time
import unittest

from clib import CollectorCase, Collector, CollectorError, wire
from collector import SCHEMA_VERSION  # noqa: E402
from collector import COLLECTOR_BIN


class Lifecycle(CollectorCase):

    def test_acked_batches_survive_kill_9(self):
        acked, lock, stop = [], threading.Lock(), threading.Event()

        def stream():
            try:
                with wire.Sender(self.c.address, token=self.token) as s:
                    s.hello()
                    while not stop.is_set():
                        evs = [wire.make_event() for _ in range(50)]
                        s.batch(evs)
                        with lock:
                            acked.extend(e["id"].hex() for e in evs)
                            if len(acked) >= 2000:
                                stop.set()
            except (wire.ProtocolError, OSError):
                pass                    # the collector died under us

        threads = [threading.Thread(target=stream) for _ in range(4)]
        for t in threads:
            t.start()
        stop.wait(120)
        self.c.kill()                   # right after an ack, mid-stream
        for t in threads:
            t.join(60)
        with lock:
            sent = list(acked)
        self.c.start()
        stored = [f["id"] for f in self.c.failures()]
        self.assertEqual(len(stored), len(set(stored)), "no duplicates")
        missing = set(sent) - set(stored)
        self.assertEqual(missing, set(), "%d acked events lost" % len(missing))

    def test_many_senders_at_once(self):
        results, errors = [], []

        def one(i):
            try:
                with wire.Sender(self.c.address, token=self.token,
                                 name="s%d" % i) as s:
                    s.hello()
                    for _ in range(10):
                        evs = [wire.make_event(host="h%d.test" % i)
                               for _ in range(20)]
                        results.append(s.batch(evs)["stored"])
            except Exception as e:      # reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        self.assertEqual(sum(results), 16 * 10 * 20)
        self.assertEqual(len(self.c.failures()), 3200)
        self.assertEqual(len(self.c.failures(host="h3.test")), 200)

    def test_viewer_reads_while_the_collector_writes(self):
        stop = threading.Event()

        def stream():
            with wire.Sender(self.c.address, token=self.token) as s:
                s.hello()
                while not stop.is_set():
                    s.batch([wire.make_event() for _ in range(100)])

        t = threading.Thread(target=stream)
        t.start()
        try:
            counts = [len(self.c.failures()) for _ in range(5)]
        finally:
            stop.set()
            t.join(60)
        self.assertEqual(counts, sorted(counts))

    def test_sigterm_acks_what_is_in_flight_and_exits_0(self):
        s = self.sender()
        evs = [[wire.make_event() for _ in range(100)] for _ in range(8)]
        ids = [s.send_batch(b) for b in evs]
        # a frame the collector has fully received is acked before it exits
        self.assertEqual(s.expect("ack")["batch_id"], ids[0])
        self.c.proc.send_signal(15)
        acked = [ids[0]]
        while True:
            try:
                f = s.read_frame()
            except (wire.ProtocolError, OSError):
                break
            if f is None or "ack" not in f:
                break
            acked.append(f["ack"]["batch_id"])
        self.assertEqual(self.c.stop(), 0)
        self.assertEqual(acked, ids[:len(acked)], "acks in order")
        stored = {f["id"] for f in self.c.failures()}
        for bid, batch in zip(ids, evs):
            if bid in acked:
                self.assertTrue({e["id"].hex() for e in batch} <= stored)
        wal = self.c.db + "-wal"
        self.assertFalse(os.path.exists(wal) and os.path.getsize(wal) > 0,
                         "WAL left behind")
        self.assertNotIn("error", self.c.log().lower())

    def test_sigterm_stops_accepting(self):
        port = self.c.port
        self.assertEqual(self.c.stop(), 0)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()

    def test_sigterm_cuts_a_slow_sender_short(self):
        s = self.sender()
        s.send_raw(wire.frame("batch", {"id": wire.new_id(),
                                        "events": [wire.make_event()]})[:20])
        time.sleep(0.2)                 # the collector is inside the frame
        self.assertEqual(self.c.stop(timeout=30), 0)
        self.assertEqual(s.closed_by_peer(), "")
        self.assertNotIn("inside a frame", self.c.log())
        self.assertEqual(self.c.failures(), [])

    def test_sync_full_stores_the_same(self):
        c = Collector(self.tmp, token=self.token, args=("--sync", "full"),
                      db=os.path.join(self.tmp, "full.db"))
        c.start()
        self.addCleanup(c.kill)
        with wire.Sender(c.address, token=self.token) as s:
            s.hello()
            self.assertEqual(s.batch([wire.make_event()])["stored"], 1)
        self.assertEqual(c.stop(), 0)
        self.assertEqual(len(c.failures()), 1)

    def test_warns_when_every_sender_is_accepted(self):
        c = Collector(self.tmp, db=os.path.join(self.tmp, "open.db"))
        c.start()
        self.addCleanup(c.kill)
        with wire.Sender(c.address) as s:
            s.hello()
            self.assertEqual(s.batch([wire.make_event()])["stored"], 1)
        self.assertEqual(c.stop(), 0)
        self.assertIn("warning: no --token-file", c.log())


class Schema(CollectorCase):

    start = False

    def run_collector(self, db, *args):
        return subprocess.run([COLLECTOR_BIN, "--listen", "127.0.0.1:0",
                               "--db", db] + list(args),
                              capture_output=True, text=True, timeout=30)

    def test_new_database_gets_the_current_schema(self):
        self.c.start()
        self.assertEqual(self.c.stop(), 0)
        db = sqlite3.connect(self.c.db)
        self.assertEqual(db.execute("PRAGMA user_version").fetchone()[0],
                         SCHEMA_VERSION)
        self.assertEqual(db.execute("PRAGMA journal_mode").fetchone()[0], "wal")
        tables = {r[0] for r in db.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table'")}
        self.assertTrue({"record", "failure", "cert", "chain", "chain_cert",
                         "platform", "process", "network", "stack",
                         "stack_frame", "pinset", "sender", "dims",
                         "dims_client", "counter_row", "counter_seen",
                         "stats", "host_hour", "failure_hour"} <= tables,
                        tables)
        # the views for queries by hand (counter: for every reader)
        db.execute("SELECT uuid, time_us, host, kind, message, count, "
                   "repeat_of FROM event").fetchall()
        cur = db.execute("SELECT * FROM counter")
        self.assertEqual([d[0] for d in cur.description], [
            "hour", "host", "port", "peer", "network", "network_fingerprint",
            "app_version", "libssl_version", "os", "chain_fingerprint",
            "clock", "successes", "failures", "resumed", "resumed_failed"])

    def test_empty_file_is_given_the_schema(self):
        open(self.c.db, "w").close()
        self.c.start()
        self.assertEqual(self.c.stop(), 0)
        self.assertEqual(self.c.failures(), [])

    def test_newer_schema_version_is_refused(self):
        self.c.start()
        self.c.stop()
        db = sqlite3.connect(self.c.db)
        db.execute("PRAGMA user_version = 7")
        db.commit()
        db.close()
        r = self.run_collector(self.c.db)
        self.assertEqual(r.returncode, 1)
        self.assertIn("db %s has schema version 7, this build reads %d"
                      % (self.c.db, SCHEMA_VERSION), r.stderr)
        self.assertEqual(r.stdout, "")

    def test_foreign_sqlite_database_is_refused(self):
        db = sqlite3.connect(self.c.db)
        db.execute("CREATE TABLE other (x)")
        db.commit()
        db.close()
        r = self.run_collector(self.c.db)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a pinshim database", r.stderr)

    def test_unwritable_database_is_reported(self):
        r = self.run_collector(os.path.join(self.tmp, "no", "such", "dir.db"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot open", r.stderr)

    def test_token_file_missing_is_reported(self):
        r = self.run_collector(self.c.db, "--token-file",
                               os.path.join(self.tmp, "nope"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("token file", r.stderr)

    def test_usage_errors_exit_2(self):
        for args in (["--sync", "sometimes"], ["--max-connections", "0"],
                     ["--frame-timeout", "x"], ["extra"], ["--bogus"]):
            r = self.run_collector(self.c.db, *args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("usage:", r.stderr)
        r = subprocess.run([COLLECTOR_BIN, "--help"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0)
        self.assertIn("--token-file", r.stdout)

    def test_bad_listen_address_is_reported(self):
        r = self.run_collector(self.c.db, "--listen", "nonsense")
        self.assertEqual(r.returncode, 1)
        self.assertIn("--listen nonsense", r.stderr)

    def test_stats_of_a_missing_database_fails(self):
        with self.assertRaises(CollectorError):
            self.c.stats()


if __name__ == "__main__":
    unittest.main()
