"""The database file taken away while the collector runs (the hardening
issue, item 8): once, it acknowledged batches into the unlinked file and
everything was gone at exit, after the senders had dropped their copies.
Deleted: what was acknowledged is written back to the path and storing
goes on.  Replaced: it is saved beside the new file, nothing more is
acknowledged, and the collector exits 1."""

import glob
import os
import sqlite3
import time

from clib import CollectorCase, wire


class DatabaseFile(CollectorCase):

    def ids(self, path):
        con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        try:
            return {r[0].hex() for r in con.execute("SELECT uuid FROM record")}
        finally:
            con.close()

    def acked(self, n, host):
        evs = [wire.make_event(host=host) for _ in range(n)]
        ack = self.send(evs)
        self.assertEqual(ack["stored"], n)
        return {e["id"].hex() for e in evs}

    def test_deleted_database_is_written_back_and_storing_goes_on(self):
        before = self.acked(5, "before.test")
        for p in glob.glob(self.c.db + "*"):
            os.unlink(p)
        self.wait_log("was deleted while the collector had it open")
        self.wait_log("is back, with everything acknowledged")
        after = self.acked(5, "after.test")
        self.assertEqual(self.c.stop(), 0)
        self.assertEqual(self.ids(self.c.db), before | after)
        self.assertEqual(glob.glob(self.c.db + ".rescue*"), [])

    def test_replaced_database_is_saved_beside_and_acks_stop(self):
        before = self.acked(5, "before.test")
        other = os.path.join(self.tmp, "other.db")
        sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
        os.rename(other, self.c.db)
        self.wait_log("was replaced while the collector had it open")
        # a batch now is not acknowledged: the sender keeps it (told to
        # try again later, or the collector is already gone)
        try:
            with wire.Sender(self.c.address, token=self.token) as s:
                s.hello()
                s.send_batch([wire.make_event(host="late.test")])
                f = s.read_frame()
        except (OSError, wire.ProtocolError):
            f = None
        self.assertTrue(f is None or f["error"].get("transient"), f)
        deadline = time.monotonic() + 20
        while self.c.running() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.c.stop(), 1)
        [saved] = glob.glob(self.c.db + ".rescued-*")
        self.assertEqual(self.ids(saved), before)
        self.assertIn("everything acknowledged so far is saved in " + saved,
                      self.c.log())


if __name__ == "__main__":
    import unittest
    unittest.main()
