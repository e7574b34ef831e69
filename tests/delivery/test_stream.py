"""kill -9 of the collector in the middle of a stream of 100,000 events from
4 processes, then a restart: nothing lost, nothing duplicated.  The events
come from eventgen (the shim's real queue, sender and spool, without TLS);
what a process could not deliver before it exited is in the spool, which a
later process replays."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dlib  # noqa: E402
from dlib import H  # noqa: E402

PROCS, EACH = 4, 25000
TOTAL = PROCS * EACH


class Stream(dlib.DeliveryCase):

    def check_exact(self, total):
        records, summed = self.wait_stored(total, timeout=60)
        self.assertEqual(summed, total, "summed counts (%d records)" % records)
        # Each event has its own host: one that appears in two records of
        # count 1 was delivered twice under two ids.
        dup = self.db_rows("SELECT host, COUNT(*) FROM event WHERE count = 1 "
                           "GROUP BY host HAVING COUNT(*) > 1 LIMIT 5")
        self.assertEqual(dup, [], "delivered twice")
        return records

    def test_kill_9_mid_stream_then_restart_nothing_lost_nothing_duplicated(self):
        self.policy_with_collector()
        env = self.delivery_env(extra={"PINSHIM_LOG": "info"})
        procs = [self.eventgen_bg("--count", EACH, "--pace", "--rate", 8000,
                                  env=env) for _ in range(PROCS)]
        try:
            deadline = time.monotonic() + 120
            while self.stored()[1] < TOTAL // 10:
                self.assertLess(time.monotonic(), deadline, "nothing arrives")
                self.assertTrue(any(p.poll() is None for p in procs),
                                "the stream ended before the kill")
                time.sleep(0.02)
            self.collector.kill()
            at_kill = self.stored()[1]
            time.sleep(1.0)
            self.start_collector()
            outs = [p.communicate(timeout=240) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        for p, (out, err) in zip(procs, outs):
            self.assertEqual(p.returncode, 0, err[-3000:])
            self.assertIn("queued %d" % EACH, out)
        self.assertLess(at_kill, TOTAL, "the kill came after the stream")
        self.replay(wait=120)
        records = self.check_exact(TOTAL)
        self.assertSpoolEmpty()
        # Paced, every event travels as its own record.
        self.assertEqual(records, TOTAL)

    def test_a_flood_overflowing_the_queue_keeps_every_count(self):
        # No pacing: the queue (1024) overflows and failures are folded
        # into summary records; their counts must add up exactly.
        self.policy_with_collector()
        r = self.eventgen("--count", 30000, timeout=240)
        self.assertIn("queued 30000", r.stdout)
        self.replay()
        records = self.check_exact(30000)
        self.assertLess(records, 30000, "nothing was folded: the test is void")
        # A folded record says so (the last host's, say).
        last = self.db_rows("SELECT host FROM event WHERE count > 1 "
                            "ORDER BY count DESC LIMIT 1")
        if last:
            f = self.collector.failures(host=last[0][0])
            self.assertTrue(any("folded into one record" in e["message"]
                                for e in f), f)

    def test_identical_events_coalesce_in_one_process(self):
        self.policy_with_collector()
        self.eventgen("--count", 5000, "--same")
        self.replay()
        records = self.check_exact(5000)
        self.assertLessEqual(records, 3)


if __name__ == "__main__":
    H.main()
