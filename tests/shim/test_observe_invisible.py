"""Observe mode is invisible to the program: on a pinned host whose pins do
not match, a client that resumes sessions gets the same resumptions, session
ids and session cache statistics as without the shim, whatever the client
(our C client, Python's ssl with session=, openssl s_client -sess_out /
-sess_in).  The full handshake carries the event; the counters show the full
handshake and each resumption (resumed_failed: sessions whose full handshake
failed the pins).  Enforce mode keeps refusing such sessions."""

import json
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness as H  # noqa: E402
from harness import BOGUS, Host, add_matrix  # noqa: E402
from collector import Collector  # noqa: E402

VARIANTS = H.RESUMPTION_VARIANTS

# Connects N times, offering each connection the previous one's session.
PY_RESUME = r"""
import json, socket, ssl, sys
host, port, ca, tls, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
ctx = ssl.create_default_context(cafile=ca)
v = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[tls]
ctx.minimum_version = ctx.maximum_version = v
conns, sess = [], None
for i in range(n):
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        with ctx.wrap_socket(s, server_hostname=host, session=sess) as t:
            t.sendall(b"ping\n")
            while t.recv(4096):
                pass
            conns.append({"reused": t.session_reused,
                          "id": t.session.id.hex() if t.session else ""})
            sess = t.session
            try:
                t.unwrap()   # close_notify: the session stays resumable
            except (ssl.SSLError, OSError):
                pass
print(json.dumps({"conns": conns, "stats": ctx.session_stats(),
                  "verify_mode": int(ctx.verify_mode)}))
"""


def same_as_first(ids):
    """Which connections carry the first connection's session id: the
    resumption pattern, comparable across runs (ids themselves are fresh
    per run)."""
    return [i == ids[0] for i in ids]


class ObserveInvisible(H.ShimTestCase):

    def mismatching(self, mode="observe"):
        self.policy(Host("pinned.test", pins=[self.P["rotated"], BOGUS], mode=mode))

    def tlsclient(self, srv, tls, shim):
        r = self.run_client("tlsclient:resume", srv, tls=tls, shim=shim,
                            events=shim, extra=["--resumes", "4"])
        self.assertSucceeded(r)
        return r

    def python(self, srv, tls, shim):
        argv = [H.PYTHON, "-c", PY_RESUME, "pinned.test", str(srv.port),
                self.pki.cert("root"), tls, "4"]
        r = H.run(argv, self.shim.env(shim=shim, events=shim),
                  events_path=self.shim.events_path if shim else None)
        self.assertEqual(r.returncode, 0, r.describe())
        return r, json.loads(r.stdout)

    def s_client(self, srv, tls, shim, sess_path, out):
        argv, stdin = H.client_command("s_client", "pinned.test", srv.port,
                                       ca=self.pki.cert("root"), tls=tls)
        argv.remove("-quiet")          # it would not say "Reused"
        # -ign_eof: read until the server closes, so a TLS 1.3 ticket
        # arrives before -sess_out writes the session
        argv += ["-ign_eof", "-sess_out" if out else "-sess_in", sess_path]
        self.shim.clear_events()
        return H.run(argv, self.shim.env(shim=shim, events=shim), stdin=stdin,
                     events_path=self.shim.events_path if shim else None)


def _tlsclient_same(self, variant):
    tls, tickets = VARIANTS[variant]
    srv = self.server("leaf", tls, tickets=tickets)
    self.mismatching()
    base = self.tlsclient(srv, tls, shim=False)
    self.shim.clear_events()
    probe = H.Probe(srv)
    r = self.tlsclient(srv, tls, shim=True)
    self.assertEqual(r.reused(), base.reused(), r.describe())
    self.assertEqual(r.reused(), [0, 1, 1, 1, 1], r.describe())
    self.assertEqual(same_as_first(r.sessions()), same_as_first(base.sessions()))
    self.assertEqual(r.stats(), base.stats(), r.describe())
    self.assertEqual([c.resumed for c in probe.connections()],
                     [False, True, True, True, True])
    self.assertEqual([t for _, _, t in r.lines()][0].split()[3],
                     [t for _, _, t in base.lines()][0].split()[3])  # verify_mode
    self.assertOneEvent(r, kind="pin_mismatch", decision="would_block")
    self.assertQuietStderr(r)


def _python_same(self, variant):
    tls, tickets = VARIANTS[variant]
    srv = self.server("leaf", tls, tickets=tickets)
    self.mismatching()
    _, base = self.python(srv, tls, shim=False)
    r, got = self.python(srv, tls, shim=True)
    self.assertEqual([c["reused"] for c in got["conns"]],
                     [c["reused"] for c in base["conns"]], r.describe())
    self.assertTrue(all(c["reused"] for c in got["conns"][1:]), r.describe())
    self.assertEqual(same_as_first([c["id"] for c in got["conns"]]),
                     same_as_first([c["id"] for c in base["conns"]]))
    self.assertEqual(got["stats"], base["stats"])
    self.assertEqual(got["verify_mode"], base["verify_mode"])
    self.assertOneEvent(r, kind="pin_mismatch", decision="would_block")


def _s_client_same(self, variant):
    tls, tickets = VARIANTS[variant]
    srv = self.server("leaf", tls, tickets=tickets)
    self.mismatching()
    seen = {}
    for shim in (False, True):
        path = os.path.join(self.tmp, "s_client-%d.sess" % shim)
        first = self.s_client(srv, tls, shim, path, out=True)
        self.assertEqual(first.returncode, 0, first.describe())
        second = self.s_client(srv, tls, shim, path, out=False)
        self.assertEqual(second.returncode, 0, second.describe())
        seen[shim] = ["Reused," in first.stdout, "Reused," in second.stdout]
        if shim:
            self.assertNoEvents(second)   # resumed: no chain, no event
    self.assertEqual(seen[True], seen[False])
    self.assertEqual(seen[True], [False, True])


def _enforce_refuses(self, variant):
    # The other side of the rule: enforce never resumes an unchecked or
    # failed session (the first full handshake is blocked, so here a
    # session saved without the shim is offered).
    tls, tickets = VARIANTS[variant]
    srv = self.server("leaf", tls, tickets=tickets)
    path = os.path.join(self.tmp, "saved.pem")
    r = self.run_client("tlsclient:connect", srv, tls=tls, shim=False,
                        events=False, extra=["--sess-out", path])
    self.assertSucceeded(r)
    self.mismatching("enforce")
    probe = H.Probe(srv)
    r = self.run_client("tlsclient:connect", srv, tls=tls, extra=["--sess-in", path])
    self.assertBlocked(r, probe)


for fn, template in (
        (_tlsclient_same, "tlsclient_resumes_as_without_the_shim_%s"),
        (_python_same, "python_session_resumes_as_without_the_shim_%s"),
        (_s_client_same, "s_client_sess_in_resumes_as_without_the_shim_%s"),
        (_enforce_refuses, "enforce_still_refuses_an_unchecked_session_%s")):
    add_matrix(ObserveInvisible, template, list(VARIANTS), fn)


class ResumedCounters(H.ShimTestCase):
    """Full and resumed handshakes in the counters, stored by a collector."""

    def setUp(self):
        super().setUp()
        self.token = os.path.join(self.tmp, "token")
        with open(self.token, "w") as f:
            f.write("resumed-secret\n")
        self.collector = Collector(self.tmp, token=self.token).start()
        self.addCleanup(self.collector.stop)

    def write_policy(self, pins, mode):
        self.shim.write_policy(text=H.policy_text(
            [Host("pinned.test", pins=pins, mode=mode)],
            keys=self.collector.policy_keys()))

    def counts(self, want_total):
        deadline = time.time() + 15
        row = None
        while time.time() < deadline:
            con = sqlite3.connect(self.collector.db)
            try:
                row = con.execute(
                    "SELECT sum(successes), sum(failures), sum(resumed),"
                    " sum(resumed_failed) FROM counter WHERE host = ?",
                    ("pinned.test",)).fetchone()
            except sqlite3.OperationalError:
                row = None          # the schema is not there yet
            con.close()
            if row and row[0] is not None and sum(row[:3]) >= want_total:
                return tuple(row)
            time.sleep(0.2)
        self.fail("counters for pinned.test: %r" % (row,))

    def run_resumes(self, tls):
        srv = self.server("leaf", tls)
        r = self.run_client("tlsclient:resume", srv, tls=tls, events=False,
                            env_extra={"PINSHIM_SPOOL": os.path.join(self.tmp, "spool")},
                            extra=["--resumes", "3"])
        self.assertSucceeded(r)
        self.assertEqual(r.reused(), [0, 1, 1, 1], r.describe())
        return r

    def test_observe_mismatch_counts_one_failure_and_three_failed_resumptions(self):
        for tls in ("1.2", "1.3"):
            with self.subTest(tls=tls):
                before = self.counts(0) if tls == "1.3" else (0, 0, 0, 0)
                self.write_policy([self.P["rotated"], BOGUS], "observe")
                self.run_resumes(tls)
                got = self.counts(sum(before[:3]) + 4)
                self.assertEqual(tuple(g - b for g, b in zip(got, before)),
                                 (0, 1, 3, 3))

    def test_matching_pins_count_one_success_and_three_resumptions(self):
        self.write_policy([self.P["leaf"], BOGUS], "enforce")
        self.run_resumes("1.3")
        self.assertEqual(self.counts(4), (1, 0, 3, 0))


if __name__ == "__main__":
    H.main()
