"""Counts of processes that end without exit() (the hardening issue, item
14).  Once, counters and coalesced failures went out every 30 s and at a
clean exit only: a process ending in os._exit or killed by SIGTERM stored 1
of its 10 handshakes and 0 of its 5 failures, and multiprocessing pools
lost most of theirs.  Now _exit hands over what the shim holds, and what a
process counts is handed over within HANDOVER_IDLE_MS (1 s) of its last
count or HANDOVER_MAX_MS (5 s) of its first: a process killed by a signal
loses only what it counted in that window (README)."""

import os
import signal
import subprocess
import time

from dlib import BOGUS, DeliveryCase, H, Host

# One handshake with pinned.test on the i-th of the ports (argv[1]) in
# turn: one serves the pinned chain, one a rotated key, so every second
# one fails; the CA is argv[3].
PY_ONE = r"""
import socket, ssl, sys
def one(i):
    ports, ca = sys.argv[1].split(","), sys.argv[3]
    ctx = ssl.create_default_context(cafile=ca)
    try:
        with socket.create_connection(("127.0.0.1", int(ports[i % 2])), timeout=20) as s:
            with ctx.wrap_socket(s, server_hostname="pinned.test") as t:
                t.sendall(b"ping\n"); t.recv(100)
        return 1
    except ssl.SSLError:
        return 0
"""

# COUNT handshakes, then by END: "exit" os._exit(0); "wait" says "done"
# and sleeps.
PY_ENDS = PY_ONE + r"""
import os, time
count, end = int(sys.argv[2]), sys.argv[4]
ok = sum(one(i) for i in range(count))
print("done", ok, flush=True)
if end == "exit":
    os._exit(0)
time.sleep(120)
"""

# A multiprocessing pool: TASKS handshakes spread over 4 workers, ended by
# close/join or by terminate (after WAIT seconds).
PY_POOL = PY_ONE + r"""
import multiprocessing as mp, time
tasks, method, end, wait = (int(sys.argv[2]), sys.argv[4], sys.argv[5],
                            float(sys.argv[6]))
if __name__ == "__main__":
    mp.set_start_method(method)
    pool = mp.Pool(4)
    ok = sum(pool.map(one, range(tasks)))
    if end == "join":
        pool.close()
        pool.join()
    else:
        time.sleep(wait)
        pool.terminate()
        pool.join()
    print("done", ok, flush=True)
"""


class LostCounts(DeliveryCase):

    def setUp(self):
        super().setUp()
        self.policy_with_collector(hosts=[
            Host("pinned.test", pins=[self.P["leaf"], BOGUS],
                 mode="enforce")])
        self.good = self.server("leaf", "1.3")
        self.bad = self.server("rotated", "1.3")
        self.ports = "%d,%d" % (self.good.port, self.bad.port)

    def handshakes(self):
        rows = self.db_rows("SELECT COALESCE(SUM(successes), 0),"
                            " COALESCE(SUM(failures), 0) FROM counter"
                            " WHERE host = 'pinned.test'")
        return rows[0] if rows else (0, 0)

    def assertAllStored(self, ok, failed, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = (self.handshakes(), self.stored("pinned.test")[1])
            if got == ((ok, failed), failed):
                return
            time.sleep(0.2)
        self.fail("stored %r, expected %r\n%s" % (
            got, ((ok, failed), failed), self.collector.log()[-2000:]))

    def start(self, script, *args):
        # a file, not -c: spawned workers import the main module by path
        path = os.path.join(self.tmp, "script.py")
        with open(path, "w") as f:
            f.write(script)
        argv = [H.PYTHON, path, self.ports] + [str(a) for a in args]
        p = subprocess.Popen(argv, env=self.delivery_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True)
        self.addCleanup(lambda: p.poll() is None and H.kill_tree(p.pid))
        return p

    def test_os_exit_hands_over_every_count(self):
        p = self.start(PY_ENDS, 10, self.pki.root, "exit")
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("done 5", out)
        self.assertAllStored(5, 5)

    def killed(self, sig):
        p = self.start(PY_ENDS, 10, self.pki.root, "wait")
        self.addCleanup(p.stdout.close)
        self.addCleanup(p.stderr.close)
        self.assertEqual(p.stdout.readline().split(), ["done", "5"])
        # the handover window: 1 s after the last count, on the sender's
        # 1 s tick
        time.sleep(2.5)
        p.send_signal(sig)
        p.wait(timeout=30)
        self.assertAllStored(5, 5)

    def test_sigterm_after_the_handover_window_loses_nothing(self):
        self.killed(signal.SIGTERM)

    def test_sigkill_after_the_handover_window_loses_nothing(self):
        self.killed(signal.SIGKILL)

    def run_pool(self, method, end):
        p = self.start(PY_POOL, 40, self.pki.root, method, end, 2.5)
        out, err = p.communicate(timeout=180)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("done 20", out)
        self.assertAllStored(20, 20)

    def test_fork_pool_closed_and_joined_stores_every_handshake(self):
        self.run_pool("fork", "join")

    def test_fork_pool_terminated_stores_every_handshake(self):
        self.run_pool("fork", "terminate")

    def test_spawn_pool_closed_and_joined_stores_every_handshake(self):
        self.run_pool("spawn", "join")

    def test_spawn_pool_terminated_stores_every_handshake(self):
        self.run_pool("spawn", "terminate")


if __name__ == "__main__":
    H.main()
