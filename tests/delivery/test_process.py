"""What delivery does to the program: nothing without telemetry configured
(no thread, no file, even when handshakes fail); one sender thread once
something is to be sent; a blackholed collector (accepts, never reads)
changes neither the handshakes nor, beyond the bounded exit flush, the
exit, and what could not be sent waits in the spool."""

import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dlib  # noqa: E402
from dlib import H, spool_entries  # noqa: E402

# Handshakes (failing or not), then the threads and descriptors.
PY_INTROSPECT = r"""
import json, os, socket, ssl, sys, time
port, count, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
ok = 0
for _ in range(count):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            with ctx.wrap_socket(s, server_hostname="pinned.test") as t:
                t.sendall(b"ping\n"); t.recv(100)
        ok += 1
    except ssl.SSLError:
        pass
time.sleep(0.3)
names = []
for tid in os.listdir("/proc/self/task"):
    with open("/proc/self/task/%s/comm" % tid) as f:
        names.append(f.read().strip())
fds = []
for fd in os.listdir("/proc/self/fd"):
    try:
        fds.append(os.readlink("/proc/self/fd/" + fd).split("[")[0])
    except OSError:
        pass
print(json.dumps({"ok": ok, "threads": sorted(names), "fds": sorted(fds)}))
"""


class Blackhole:
    """Accepts connections and never reads from them."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.held = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            self.held.append(conn)

    def close(self):
        self.sock.close()
        for c in self.held:
            c.close()


class Process(dlib.DeliveryCase):

    def introspect(self, srv, count, env):
        r = H.run([H.PYTHON, "-c", PY_INTROSPECT, str(srv.port), str(count),
                   self.pki.root], env, timeout=120)
        self.assertEqual(r.returncode, 0, r.describe())
        return json.loads(r.stdout.splitlines()[-1]), r

    def test_no_thread_no_file_without_telemetry_even_when_handshakes_fail(self):
        self.policy(H.Host("pinned.test", pins=[self.P["leaf"], H.BOGUS],
                           mode="enforce"))
        env = self.shim.env(events=False, log="info")
        env["PINSHIM_SPOOL"] = self.spool
        base = self.shim.env(events=False, shim=False)
        srv = self.server("rotated", "1.3")
        got, r = self.introspect(srv, 3, env)
        want, _ = self.introspect(srv, 3, base)
        self.assertEqual(got["threads"], want["threads"], r.describe())
        # Pipes aside: libunwind opens one to validate addresses on the
        # first backtrace (stack.c), telemetry or not.
        self.assertEqual([f for f in got["fds"] if f != "pipe:"],
                         [f for f in want["fds"] if f != "pipe:"], r.describe())
        self.assertFalse(os.path.exists(self.spool))

    def test_one_sender_thread_once_there_is_something_to_send(self):
        self.policy_with_collector()
        got, r = self.introspect(self.server("rotated", "1.3"), 3,
                                 self.delivery_env())
        self.assertEqual(got["ok"], 0)
        self.assertEqual(got["threads"].count("pinshim-send"), 1, got)
        # A collector configured, no handshake: nothing.
        got, r = self.introspect(self.server("rotated", "1.3"), 0,
                                 self.delivery_env())
        self.assertNotIn("pinshim-send", got["threads"])
        self.assertFalse(os.path.exists(self.spool))

    def test_blackholed_collector_handshakes_unchanged_events_spooled(self):
        hole = Blackhole()
        self.addCleanup(hole.close)
        self.policy_with_collector(address=hole.address)
        # enforce: each run fails its handshake as it would without
        # telemetry, and exits within the bounded flush.
        for _ in range(2):
            r = self.tlsclient()
            self.assertFailedTLS(r)
            self.assertLess(r.elapsed, 10, "exit held up: %.2f s" % r.elapsed)
        # observe, in one process: every handshake goes through.
        self.policy_with_collector(address=hole.address, mode="observe")
        srv = self.server("rotated", "1.3")
        r = H.run([H.PYTHON, "-c", dlib.PY_LOOP, str(srv.port), "20",
                   self.pki.root, "loop"], self.delivery_env(), timeout=120)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertIn("results 20 0", r.stdout)
        self.assertTrue(hole.held, "the shim never reached the blackhole")
        e = spool_entries(self.spool)
        self.assertGreaterEqual(len(e["batch"]), 3, e)
        self.assertEqual(e["claim"] + e["tmp"], [], e)
        # Nothing lost: replayed to a real collector, all 22 arrive.
        env = self.delivery_env(extra={"PINSHIM_COLLECTOR": self.collector.address})
        r = self.eventgen("--count", 0, "--replay-wait", 60, env=env)
        self.assertIn("spool empty", r.stdout, r.stderr)
        got = self.wait_failures(22)
        self.assertEqual(sum(f["count"] for f in got), 22, got)

    def test_an_events_file_alone_leaves_the_spool_alone_and_the_cpu_idle(self):
        # Batches of other processes wait in the spool; without a collector
        # this process has nothing to do with them, and its sender sleeps.
        os.mkdir(self.spool, 0o700)
        with open(os.path.join(self.spool, "0" * 32 + ".batch"), "wb") as f:
            f.write(b"not even looked at")
        self.policy(H.Host("pinned.test", pins=[self.P["leaf"], H.BOGUS],
                           mode="enforce"))
        env = self.shim.env(events=True)
        env["PINSHIM_SPOOL"] = self.spool
        got, r = self.introspect_cpu(self.server("rotated", "1.3"), env)
        self.assertIn("pinshim-send", got["threads"], got)
        self.assertLess(got["sender_cpu_s"], 0.5, got)
        self.assertEqual(os.listdir(self.spool), ["0" * 32 + ".batch"])

    def introspect_cpu(self, srv, env):
        code = PY_INTROSPECT.replace("time.sleep(0.3)", "time.sleep(2)") + r'''
cpu = 0.0
for tid in os.listdir("/proc/self/task"):
    with open("/proc/self/task/%s/comm" % tid) as f:
        if f.read().strip() != "pinshim-send":
            continue
    with open("/proc/self/task/%s/stat" % tid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
print(json.dumps({"threads": sorted(names), "sender_cpu_s": cpu}))
'''
        r = H.run([H.PYTHON, "-c", code, str(srv.port), "1", self.pki.root],
                  env, timeout=120)
        self.assertEqual(r.returncode, 0, r.describe())
        return json.loads(r.stdout.splitlines()[-1]), r

    def test_an_events_file_that_is_a_fifo_is_refused_without_waiting(self):
        # once: 3 s at every exit, and the collector's records lost
        fifo = os.path.join(self.tmp, "events.fifo")
        os.mkfifo(fifo)
        self.policy_with_collector()
        r = self.tlsclient(env_extra={"PINSHIM_EVENTS_FILE": fifo})
        self.assertFailedTLS(r)
        # (nobody reads it: the open fails at once, ENXIO; with a reader
        # it is refused as not a regular file)
        self.assertIn("cannot open PINSHIM_EVENTS_FILE %s: " % fifo,
                      r.stderr)
        self.assertLess(r.elapsed, 2.5, r.describe())
        self.assertEqual(len(self.wait_failures(1)), 1)

    def test_events_file_written_at_exit_without_a_collector(self):
        # PINSHIM_EVENTS_FILE alone: every failure its own line (no
        # coalescing for the local file), written by the exit flush.
        self.policy(H.Host("pinned.test", pins=[self.P["leaf"], H.BOGUS],
                           mode="enforce"))
        srv = self.server("rotated", "1.3")
        env = self.shim.env(events=True)
        env["PINSHIM_SPOOL"] = self.spool
        r = H.run([H.PYTHON, "-c", dlib.PY_LOOP, str(srv.port), "50",
                   self.pki.root, "loop"], env, timeout=120)
        self.assertEqual(r.returncode, 0, r.describe())
        evs = self.shim.events()
        self.assertEqual(len(evs), 50)
        self.assertEqual(len({e["id"] for e in evs}), 50)
        self.assertFalse(os.path.exists(self.spool))


if __name__ == "__main__":
    H.main()
