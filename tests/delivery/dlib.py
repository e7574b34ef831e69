"""Shared by the delivery tests: a ShimTestCase with a real pinshim-collector,
a policy naming it, a spool directory, eventgen, and ways to look at what
was stored (the viewer's `failures --json`, or the collector's SQLite
database directly for sums over many records).

Environment (tests/delivery/meson.build): EVENTGEN, PINSHIM_COLLECTOR_BIN,
PINSHIM_VIEW_BIN, plus the harness's own."""

import os
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import harness as H  # noqa: E402
from harness import BOGUS, Host  # noqa: E402,F401

from collector import Collector  # noqa: E402

EVENTGEN = os.environ.get("EVENTGEN") or os.path.join(
    H.SRCDIR, "build-t", "tests", "delivery", "eventgen")
TOKEN = "delivery-shared-secret"

# A python3 under the shim: COUNT handshakes to pinned.test in one process
# (to PORTS in turn, comma-separated), then by MODE: "loop" nothing more; "wait" says "failed N" and waits for a
# line on stdin; "fork" forks a child that lists its descriptors and
# threads, fails once more, and reports to the parent (JSON on stdout).
PY_LOOP = r"""
import json, os, socket, ssl, sys
ports, count, ca, mode = sys.argv[1].split(","), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
def one(i=0):
    port = int(ports[i % len(ports)])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            with ctx.wrap_socket(s, server_hostname="pinned.test") as t:
                t.sendall(b"ping\n")
                t.recv(100)
        return True
    except ssl.SSLError:
        return False
def fds():
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            out[fd] = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            pass
    return out
results = [one(i) for i in range(count)]
if mode == "wait":
    print("failed", sum(results), flush=True)
    sys.stdin.readline()
if mode == "fork":
    # let the parent's sender connect first, so there is a socket to leak
    import time; time.sleep(0.5)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        before = fds()
        ok = one()
        after = fds()
        threads = sorted(os.listdir("/proc/self/task"))
        os.write(w, json.dumps({"before": before, "after": after, "ok": ok,
                                "threads": threads,
                                "pid": os.getpid()}).encode())
        os.close(w)
        sys.exit(0)
    os.close(w)
    child = json.loads(os.read(r, 1 << 20).decode())
    os.waitpid(pid, 0)
    print(json.dumps({"child": child, "parent_fds": fds(),
                      "pid": os.getpid()}))
print("results", sum(results), len(results) - sum(results))
"""


def spool_entries(path):
    """Files in the spool by kind: batch, claim, torn, tmp, other."""
    out = {"batch": [], "claim": [], "torn": [], "tmp": [], "other": []}
    if not os.path.isdir(path):
        return out
    for name in sorted(os.listdir(path)):
        if name.endswith(".torn"):
            out["torn"].append(name)
        elif ".batch.claim." in name:
            out["claim"].append(name)
        elif name.endswith(".batch"):
            out["batch"].append(name)
        elif name.startswith(".tmp."):
            out["tmp"].append(name)
        else:
            out["other"].append(name)
    return out


class DeliveryCase(H.ShimTestCase):
    """A collector per test (started, so its address is known), a token, a
    spool directory and a policy that names them."""

    def setUp(self):
        super().setUp()
        self.token = os.path.join(self.tmp, "token")
        with open(self.token, "w") as f:
            f.write(TOKEN + "\n")
        self.spool = os.path.join(self.tmp, "spool")
        self.collector = Collector(self.tmp, token=self.token)
        self.addCleanup(self.stop_collector)
        self.collector.start()

    def start_collector(self):
        """Starts the collector, on the address it had before when it ran
        already (the policy names that address)."""
        if self.collector.address is None:
            return self.collector.start()
        return self.collector.start(args=("--listen", self.collector.address))

    def stop_collector(self):
        try:
            self.collector.stop()
        except Exception:   # already gone (killed)
            pass

    # -- configuration ---------------------------------------------------

    def policy_with_collector(self, address=None, hosts=None, mode="enforce"):
        hosts = hosts if hosts is not None else [
            Host("pinned.test", pins=[self.P["leaf"], BOGUS])]
        keys = {"collector": address or self.collector.address,
                "token": self.token}
        self.shim.write_policy(text=H.policy_text(
            hosts, mode=mode, version="delivery-1", keys=keys))

    def delivery_env(self, log="info", events=False, extra=None):
        env = self.shim.env(log=log, events=events)
        env["PINSHIM_SPOOL"] = self.spool
        env.update(extra or {})
        return env

    # -- programs ----------------------------------------------------------

    def eventgen_env(self, env=None):
        # eventgen links the delivery code itself (and the ASan runtime in
        # an ASan build): nothing to preload.
        env = dict(env or self.delivery_env())
        env.pop("LD_PRELOAD", None)
        return env

    def eventgen(self, *args, env=None, timeout=120, check=True):
        env = self.eventgen_env(env)
        r = subprocess.run([EVENTGEN] + [str(a) for a in args], env=env,
                           capture_output=True, text=True, timeout=timeout)
        if check:
            self.assertEqual(r.returncode, 0, "eventgen %s\nstdout: %s\nstderr: %s"
                             % (args, r.stdout, r.stderr[-3000:]))
        return r

    def eventgen_bg(self, *args, env=None):
        env = self.eventgen_env(env)
        return subprocess.Popen([EVENTGEN] + [str(a) for a in args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def replay(self, wait=60):
        """A later process that only replays the spool."""
        r = self.eventgen("--count", 0, "--replay-wait", wait,
                          timeout=wait + 60)
        self.assertIn("spool empty", r.stdout, r.stderr[-3000:])
        return r

    def tlsclient(self, mode="connect", srv=None, extra=None, env_extra=None,
                  timeout=H.CLIENT_TIMEOUT):
        srv = srv or self.server("rotated", "1.3")
        argv, _ = H.client_command("tlsclient:" + mode, "pinned.test",
                                   srv.port, ca=self.pki.root, tls="1.3",
                                   extra=extra or ())
        env = self.delivery_env(extra=env_extra)
        return H.run(argv, env, kind="tlsclient:" + mode, timeout=timeout)

    # -- what was stored ---------------------------------------------------

    def db_rows(self, sql, args=()):
        if not os.path.exists(self.collector.db):
            return []
        con = sqlite3.connect("file:%s?mode=ro" % self.collector.db, uri=True,
                              timeout=30)
        try:
            return con.execute(sql, args).fetchall()
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                return []
            raise
        finally:
            con.close()

    def stored(self, host_like="%"):
        """(records, summed count) of the stored events."""
        rows = self.db_rows("SELECT COUNT(*), COALESCE(SUM(count), 0) FROM event "
                            "WHERE host LIKE ?", (host_like,))
        return rows[0] if rows else (0, 0)

    def wait_stored(self, total, host_like="%", timeout=30):
        deadline = time.monotonic() + timeout
        got = (0, 0)
        while time.monotonic() < deadline:
            got = self.stored(host_like)
            if got[1] >= total:
                return got
            time.sleep(0.1)
        return got

    def wait_failures(self, n, timeout=20, **filters):
        deadline = time.monotonic() + timeout
        got = []
        while time.monotonic() < deadline:
            got = self.collector.failures(**filters)
            if sum(f["count"] for f in got) >= n:
                return got
            time.sleep(0.1)
        return got

    def assertSpoolEmpty(self, msg=""):
        e = spool_entries(self.spool)
        self.assertEqual(e["batch"] + e["claim"] + e["tmp"], [],
                         "spool not empty %s: %r" % (msg, e))
