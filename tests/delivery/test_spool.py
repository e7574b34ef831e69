"""The spool: while the collector is down, batches go to disk; a later
process, or the same one once the collector is back, sends them, each stored
exactly once; torn files are skipped with a log line and never sent; a spool
directory that others could write to is refused."""

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dlib  # noqa: E402
from dlib import H, spool_entries  # noqa: E402


class Spool(dlib.DeliveryCase):

    def setUp(self):
        super().setUp()
        # The collector's address, with nothing listening there (yet).
        self.policy_with_collector()
        self.collector.stop()

    def fail_while_down(self, n, log="info"):
        for i in range(n):
            r = self.tlsclient(env_extra={"PINSHIM_LOG": log})
            self.assertFailedTLS(r)
        return r

    def test_down_then_up_a_later_process_replays_each_event_once(self):
        r = self.fail_while_down(1, log="error")
        # Unreachable is not an error of the program: silent by default.
        self.assertEqual(r.pinshim_stderr_lines, [], r.describe())
        r = self.fail_while_down(2)
        self.assertTrue(any("spooled" in l for l in r.pinshim_stderr_lines),
                        r.describe())
        e = spool_entries(self.spool)
        self.assertEqual(len(e["batch"]), 3, e)
        self.assertEqual(e["claim"] + e["tmp"] + e["torn"] + e["other"], [], e)
        st = os.stat(self.spool)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700)
        for name in e["batch"]:
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.spool, name))
                                          .st_mode), 0o600)
        self.assertEqual(self.collector.failures(), [])

        self.start_collector()
        self.replay()
        self.assertSpoolEmpty()
        got = self.wait_failures(3)
        self.assertEqual(len(got), 3, got)
        self.assertEqual(sum(f["count"] for f in got), 3)
        self.assertEqual(len({f["process"]["pid"] for f in got}), 3)
        # A second replay finds nothing; nothing is stored twice.
        self.replay()
        self.assertEqual(len(self.collector.failures()), 3)

    def test_the_same_long_running_process_delivers_once_the_collector_is_back(self):
        srv = self.server("rotated", "1.3")
        p = subprocess.Popen([H.PYTHON, "-c", dlib.PY_LOOP, str(srv.port), "1",
                              self.pki.root, "wait"], env=self.delivery_env(),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            self.assertEqual(p.stdout.readline().split(), ["failed", "0"])
            deadline = time.monotonic() + 20
            while not spool_entries(self.spool)["batch"]:
                self.assertLess(time.monotonic(), deadline, "nothing spooled")
                time.sleep(0.05)
            self.start_collector()
            # Reconnection backs off at most 30 s (it is at a few seconds
            # here); the spooled batch is replayed by the process itself.
            got = self.wait_failures(1, timeout=45)
            self.assertEqual([f["count"] for f in got], [1], got)
            self.assertEqual(got[0]["process"]["pid"], p.pid)
            deadline = time.monotonic() + 10
            while spool_entries(self.spool)["batch"] + spool_entries(self.spool)["claim"]:
                self.assertLess(time.monotonic(), deadline, "spool not drained")
                time.sleep(0.05)
            out, err = p.communicate("\n", timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("reachable again", err)
        self.assertSpoolEmpty()
        self.assertEqual(len(self.collector.failures()), 1)

    def test_counters_of_a_long_running_process_arrive_once_it_is_back(self):
        srv = self.server("leaf", "1.3")
        p = subprocess.Popen([H.PYTHON, "-c", dlib.PY_LOOP, str(srv.port), "5",
                              self.pki.root, "wait"], env=self.delivery_env(),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            self.assertEqual(p.stdout.readline().split(), ["failed", "5"])
            time.sleep(0.5)
            self.start_collector()
            deadline = time.monotonic() + 45
            rows = []
            while time.monotonic() < deadline:
                rows = self.db_rows("SELECT SUM(successes), SUM(failures) "
                                    "FROM counter WHERE host = 'pinned.test'")
                if rows and rows[0] == (5, 0):
                    break
                time.sleep(0.1)
            self.assertEqual(rows, [(5, 0)], "counted while it runs")
            out, err = p.communicate("\n", timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)
        self.assertSpoolEmpty()
        self.assertEqual(self.db_rows("SELECT SUM(successes) FROM counter"),
                         [(5,)], "counted once")

    def test_chains_seen_while_down_travel_through_the_spool(self):
        # successes only: what names the chain is the ChainSeen record
        srv = self.server("leaf", "1.3")
        for _ in range(2):
            r = self.tlsclient(srv=srv, extra=("--count", "2"))
            self.assertSucceeded(r)
        self.assertTrue(spool_entries(self.spool)["batch"], "nothing spooled")
        self.start_collector()
        self.replay()
        self.assertSpoolEmpty()
        fp = hashlib.sha256(b"".join(
            hashlib.sha1(self.pki.der(n)).digest()
            for n in ("leaf", "int1"))).digest()
        self.assertEqual(self.db_rows(
            "SELECT chain_fingerprint, SUM(successes), SUM(failures)"
            " FROM counter WHERE host = 'pinned.test'"), [(fp, 4, 0)])
        rows = self.db_rows(
            "SELECT cc.position, c.pin FROM chain ch"
            " JOIN chain_cert cc ON cc.chain_id = ch.id"
            " JOIN cert c ON c.id = cc.cert_id WHERE ch.counter_fp = ?"
            " ORDER BY cc.position", (fp,))
        self.assertEqual(rows, [(0, self.P["leaf"]), (1, self.P["int1"])])
        self.assertEqual(self.db_rows("SELECT count(*) FROM chain"), [(1,)])

    def test_torn_files_are_skipped_with_a_log_line_and_never_sent(self):
        self.fail_while_down(2)
        valid = spool_entries(self.spool)["batch"]
        self.assertEqual(len(valid), 2)
        with open(os.path.join(self.spool, valid[0]), "rb") as f:
            good0 = f.read()
        with open(os.path.join(self.spool, valid[1]), "rb") as f:
            good1 = f.read()
        bad = {
            "garbage.batch": os.urandom(300),
            "truncated.batch": good0[:-7],          # a torn write
            "crc.batch": good1[:-1] + bytes([good1[-1] ^ 0x55]),
            "empty.batch": b"",
        }
        # A whole header and CRC around bytes that are not a Frame.
        import struct
        import zlib
        junk = b"\x00\x00\x00\x05hello"
        bad["notaframe.batch"] = (b"PSPOOL01" + struct.pack(">II", len(junk),
                                  zlib.crc32(junk)) + junk)
        for name, data in bad.items():
            with open(os.path.join(self.spool, name), "wb") as f:
                f.write(data)

        self.start_collector()
        r = self.replay()
        lines = [l for l in r.stderr.splitlines() if l.startswith("pinshim:")]
        for name in bad:
            self.assertTrue(any(name in l and "not sent" in l for l in lines),
                            "no log line for %s in %r" % (name, lines))
        got = self.wait_failures(2)
        self.assertEqual(len(got), 2, got)
        e = spool_entries(self.spool)
        self.assertEqual(sorted(e["torn"]), sorted(n + ".torn" for n in bad), e)
        self.assertSpoolEmpty()
        stats = self.collector.stats()
        self.assertEqual(stats.get("frames_rejected", 0), 0, stats)

    def test_a_batch_the_collector_refuses_is_set_aside_not_retried(self):
        # A whole, valid frame the collector refuses (a counter no sender
        # could have counted): first in line, it must not hold up the
        # batch behind it forever.
        import struct
        import zlib
        import wire
        self.fail_while_down(1)
        data = wire.frame("batch", {"id": wire.new_id(), "counters": [
            wire.make_counter(successes=1 << 50)]})
        poison = "0" * 32 + ".batch"
        with open(os.path.join(self.spool, poison), "wb") as f:
            f.write(b"PSPOOL01" + struct.pack(">II", len(data), zlib.crc32(data))
                    + data)
        self.start_collector()
        r = self.replay()
        self.assertTrue(any(poison in l and "refused by the collector" in l
                            for l in r.stderr.splitlines()), r.stderr)
        self.assertEqual(len(self.wait_failures(1)), 1)
        self.assertEqual(spool_entries(self.spool)["torn"], [poison + ".torn"])
        self.assertSpoolEmpty()

    def test_claims_and_temporary_files_of_dead_processes_are_taken_over(self):
        self.fail_while_down(3)
        names = spool_entries(self.spool)["batch"]
        self.assertEqual(len(names), 3)
        j = lambda n: os.path.join(self.spool, n)  # noqa: E731
        dead = 4194303          # above the default pid_max: never running
        with open("/proc/self/stat") as f:
            mine = int(f.read().rsplit(")", 1)[1].split()[19])
        # Claimed by a process that is gone: taken over and sent.
        os.rename(j(names[0]), j(names[0] + ".claim.%d.77" % dead))
        # Claimed by a live process (this one): left alone.
        live = names[1] + ".claim.%d.%d" % (os.getpid(), mine)
        os.rename(j(names[1]), j(live))
        # A temporary file of a dead writer: never whole, removed.
        with open(j(".tmp.%s.%d.5" % ("ab" * 16, dead)), "wb") as f:
            f.write(b"PSPOOL01 half")
        self.start_collector()
        r = self.eventgen("--count", 0, "--replay-wait", 3)
        self.assertIn("spool left 1", r.stdout, r.stderr)
        e = spool_entries(self.spool)
        self.assertEqual(e["claim"], [live], e)
        self.assertEqual(e["batch"] + e["tmp"] + e["torn"], [], e)
        self.assertEqual(len(self.wait_failures(2)), 2)
        # The live claimer gives up (renames it back): a later run sends it.
        os.rename(j(live), j(names[1]))
        self.replay()
        self.assertEqual(len(self.wait_failures(3)), 3)

    def test_a_spool_directory_others_can_write_to_is_refused(self):
        os.mkdir(self.spool, 0o700)
        os.chmod(self.spool, 0o777)
        r = self.tlsclient(env_extra={"PINSHIM_LOG": "error"})
        self.assertFailedTLS(r)
        lines = r.pinshim_stderr_lines
        self.assertEqual(len(lines), 1, r.describe())
        self.assertIn("writable by group or others", lines[0])
        self.assertEqual(os.listdir(self.spool), [])

    def test_a_spool_of_torn_files_costs_one_line_and_is_capped(self):
        # once: 257 torn files, one stderr line each for every process,
        # and counted against the spool's limits forever
        self.start_collector()
        os.makedirs(self.spool, mode=0o700, exist_ok=True)
        for i in range(257):
            with open(os.path.join(self.spool, "%032x.batch" % i), "wb") as f:
                f.write(b"PSPOOL01" + os.urandom(40))
        env = self.delivery_env(log="error")
        r = self.eventgen("--count", 0, "--replay-wait", 60, env=env,
                          timeout=120)
        self.assertIn("spool empty", r.stdout, r.stderr)
        lines = [l for l in r.stderr.splitlines() if l.startswith("pinshim:")]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("set aside, not sent (at most 64 torn files", lines[0])
        self.assertEqual(len(spool_entries(self.spool)["torn"]), 64)
        # a later process says nothing about them
        r = self.eventgen("--count", 0, "--replay-wait", 5, env=env)
        self.assertEqual([l for l in r.stderr.splitlines()
                          if l.startswith("pinshim:")], [])

    def test_a_squatted_default_spool_is_not_used(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to make a directory of another user")
        default = "/var/tmp/pinshim-%d" % os.geteuid()
        shutil.rmtree(default, ignore_errors=True)
        os.mkdir(default, 0o700)
        os.chown(default, 65534, 65534)         # taken by nobody first
        self.addCleanup(shutil.rmtree, default, True)
        run = os.path.join(self.tmp, "run")
        os.mkdir(run, 0o700)
        env = self.delivery_env(extra={"PINSHIM_SPOOL": "",
                                       "XDG_RUNTIME_DIR": run})
        argv, _ = H.client_command("tlsclient:connect", "pinned.test",
                                   self.server("rotated", "1.3").port,
                                   ca=self.pki.root, tls="1.3")
        r = H.run(argv, env, kind="tlsclient:connect")
        self.assertFailedTLS(r)
        self.assertIn("spool directory %s (owned by another user) refused: "
                      "spooling to %s/pinshim-spool instead" % (default, run),
                      r.stderr)
        self.assertEqual(os.listdir(default), [])
        self.assertTrue(spool_entries(run + "/pinshim-spool")["batch"])
        self.start_collector()
        r = self.eventgen("--count", 0, "--replay-wait", 60, env=env)
        self.assertIn("spool empty", r.stdout, r.stderr)
        self.assertEqual(len(self.wait_failures(1)), 1)

    def test_default_spool_is_private_to_the_user(self):
        default = "/var/tmp/pinshim-%d" % os.geteuid()
        env = self.delivery_env(extra={"PINSHIM_SPOOL": ""})
        argv, _ = H.client_command("tlsclient:connect", "pinned.test",
                                   self.server("rotated", "1.3").port,
                                   ca=self.pki.root, tls="1.3")
        r = H.run(argv, env, kind="tlsclient:connect")
        self.assertFailedTLS(r)
        st = os.lstat(default)
        self.assertTrue(stat.S_ISDIR(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700)
        self.assertEqual(st.st_uid, os.geteuid())
        self.assertTrue(spool_entries(default)["batch"])
        self.start_collector()
        r = self.eventgen("--count", 0, "--replay-wait", 60, env=env)
        self.assertIn("spool empty", r.stdout, r.stderr)
        self.assertTrue(any(f["process"]["pid"] for f in self.wait_failures(1)))


if __name__ == "__main__":
    H.main()
