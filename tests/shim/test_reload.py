"""A running process picks up a changed policy file within 2 seconds, with
no restart: replaced by rename or edited in place, in both directions
(blocked → allowed → blocked); a broken new file keeps the old policy in
force with one "pinshim:" line and a policy_error event; the handshake path
stats the file at most once a second and never reads it there."""

import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness as H  # noqa: E402
from harness import BOGUS, Host  # noqa: E402

# Handshakes in a loop until the stop file appears, one JSON line each:
# when it started (wall clock) and whether it got through.
LOOP = r"""
import json, os, socket, ssl, sys, time
host, port, ca, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
while not os.path.exists(stop):
    t = time.time()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname=host) as c:
                c.sendall(b"ping\n")
                ok = c.recv(100).startswith(b"pong")
    except (ssl.SSLError, OSError):
        ok = False
    print(json.dumps({"t": t, "ok": ok}), flush=True)
    time.sleep(0.05)
"""

DEADLINE = 2.0


class Reload(H.ShimTestCase):

    def policy_for(self, pins, version):
        return H.policy_text([Host("pinned.test", pins=pins, mode="enforce")],
                             version=version)

    def replace(self, text):
        """An atomic replace, as configuration management does it."""
        tmp = self.shim.policy_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.shim.policy_path)
        return time.time()

    def edit_in_place(self, text):
        with open(self.shim.policy_path, "r+") as f:
            f.truncate(0)
            f.write(text)
        return time.time()

    def start_loop(self, srv):
        self.stop = os.path.join(self.tmp, "stop")
        argv = [H.PYTHON, "-c", LOOP, "pinned.test", str(srv.port),
                self.pki.cert("root"), self.stop]
        self.seen = []
        p = subprocess.Popen(argv, env=self.shim.env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.loops.append(p)
        return p

    def setUp(self):
        super().setUp()
        self.loops = []

    def tearDown(self):
        # before the harness removes the directory the loop writes into
        for p in self.loops:
            self.finish(p)
        super().tearDown()

    def finish(self, p):
        """Stops the loop: every handshake it made, and its stderr."""
        if p.poll() is not None and hasattr(self, "err"):
            return self.seen, self.err
        open(self.stop, "w").close()
        try:
            out, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        self.seen += [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        self.err = err
        return self.seen, err

    def wait_for(self, p, ok, since, what):
        """Waits for a handshake started after `since` (None: now) with
        outcome ok, which must come within DEADLINE; returns how long it
        took."""
        since = time.time() if since is None else since
        deadline = since + DEADLINE + 3
        while time.time() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            r = json.loads(line)
            self.seen.append(r)
            if r["t"] > since and r["ok"] == ok:
                self.assertLess(r["t"] - since, DEADLINE + 0.5, what)
                return r["t"] - since
            if r["t"] > since + DEADLINE:
                self.fail("%s: still %s %.2f s after the change"
                          % (what, "blocked" if ok else "allowed", r["t"] - since))
        self.fail("%s: no handshake with the new outcome" % what)

    def test_decision_follows_the_file_both_ways_and_a_broken_file_keeps_the_old(self):
        srv = self.server("leaf", "1.3")
        self.shim.write_policy(text=self.policy_for([self.P["rotated"], BOGUS], "v1"))
        p = self.start_loop(srv)
        self.wait_for(p, False, None, "v1 blocks")
        took = [self.wait_for(p, True, self.replace(
            self.policy_for([self.P["leaf"], BOGUS], "v2")), "rename to v2 allows")]
        # broken in place: v2 stays in force
        broken = self.edit_in_place("[policy]\nmode = sometimes\n")
        time.sleep(DEADLINE + 0.5)
        t_back = self.edit_in_place(self.policy_for([self.P["rotated"], BOGUS], "v3"))
        took.append(self.wait_for(p, False, t_back, "edit to v3 blocks"))
        out, err = self.finish(p)
        between = [r for r in out if broken + 0.2 < r["t"] < t_back]
        self.assertTrue(between and all(r["ok"] for r in between),
                        "the broken file must keep v2 in force: %r" % between)
        lines = [l for l in err.splitlines() if l.startswith("pinshim:")]
        self.assertEqual(len([l for l in lines if "not loaded" in l]), 1, err)
        self.assertIn("the previous one stays in force", err)
        evs = self.shim.events()
        errors = [e for e in evs if e["kind"] == "policy_error"]
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("mode", errors[0]["message"])
        # each event carries the version in force when it happened
        versions = {e["policy_version"] for e in evs if e["kind"] == "pin_mismatch"}
        self.assertEqual(versions, {"v1", "v3"})
        sys.stderr.write("reload took %s s\n" % ", ".join("%.2f" % t for t in took))

    def test_a_policy_appearing_later_is_picked_up(self):
        srv = self.server("leaf", "1.3")
        os.unlink(self.shim.write_policy(text=""))   # no file at all
        p = self.start_loop(srv)
        self.wait_for(p, True, None, "no policy: fail open")
        self.wait_for(p, False, self.replace(
            self.policy_for([self.P["rotated"], BOGUS], "v1")), "v1 blocks")

    def test_at_most_one_stat_a_second_and_no_read_on_the_handshake_path(self):
        if not shutil.which("strace"):
            self.skipTest("strace not installed")
        srv = self.server("leaf", "1.3")
        self.shim.write_policy(text=self.policy_for([self.P["leaf"], BOGUS], "v1"))
        argv, _ = H.client_command("tlsclient:connect", "pinned.test", srv.port,
                                   ca=self.pki.cert("root"), tls="1.3",
                                   count=400)
        log = os.path.join(self.tmp, "strace")
        t0 = time.monotonic()
        r = H.run(["strace", "-f", "-qq", "-o", log, "-e",
                   "trace=%stat,openat,open,read"] + argv, self.shim.env())
        elapsed = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.describe())
        path = self.shim.policy_path
        with open(log) as f:
            calls = [l for l in f if path in l]
        stats = [l for l in calls if re.search(r"stat", l)]
        opens = [l for l in calls if "open" in l]
        # one open: the first load, on the first handshake
        self.assertEqual(len(opens), 1, calls)
        self.assertLessEqual(len(stats), int(elapsed) + 2,
                             "%d stats in %.1f s" % (len(stats), elapsed))


if __name__ == "__main__":
    H.main()
