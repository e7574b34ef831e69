"""expired: the server's certificate expires at T, for everyone.

expired.lab.test serves one chain the whole time; its leaf's notAfter is a
few seconds after the lab starts (T).  Traffic runs on every network and
both versions, with correct clocks, before T and after T.  The pins match
(leaf key + backup).

Known answer: host expired.lab.test, cause expired, separating dimension
time (the leaf's notAfter = T): before T every handshake succeeds, from T
on every handshake fails with kind expired, on every network and version,
from clients whose clock is right (counter clock 'ok', event time about
the receive time), on the same served chain.
"""

import time

HOST = "expired.lab.test"
VERSIONS = {"app 8.0.0": "observe", "app 8.1.0": "enforce"}
LIFETIME = 8         # seconds from issue to notAfter
# In mixed every scenario's traffic shares the machine: the traffic before
# T takes several times longer there, and must still end before T.
LIFETIME_SHARED = 30


def run(lab):
    import lab as L
    pki = lab.pki("expired")
    root = pki.root("root", cn="Lab Root CA")
    ca = pki.intermediate("ca1", root, cn="Lab Issuing CA 1")
    life = LIFETIME if lab.name == "expired" else LIFETIME_SHARED
    leaf = pki.leaf("leaf", HOST, ca, start="-90d", end="+%ds" % life)
    backup = pki.leaf("backup", HOST, ca)
    pins = {HOST: [leaf.pin, backup.pin]}
    policies = {v: lab.policy(v, pins, mode=m) for v, m in VERSIONS.items()}
    srv = lab.server(leaf)
    t = lab.mark(HOST + " T", leaf.not_after)
    # Before T (a handshake that straddles notAfter fails, which is still
    # true to the known answer: the failures come after notAfter).
    lab.traffic(HOST, srv, root, policies, per=15)
    if time.time() >= t:
        raise L.LabError("expired: the traffic before T overran T (%d s); "
                        "the machine is too loaded" % life)
    time.sleep(max(0.0, t + 1.0 - time.time()))
    lab.traffic(HOST, srv, root, policies, per=20)
    lab.answer(HOST, "expired", "time", "notAfter", T=t,
               leaf_not_after=leaf.not_after, leaf_pin=leaf.pin,
               chain=leaf.counter_fp, versions=list(policies),
               chains={leaf.counter_fp: [c.pin for c in leaf.served]})


def check(t, stored, a):
    """The stored proof: one chain, right clocks, every failure an expiry
    after notAfter, on every network and version."""
    import lab
    import labdb as L
    host = a["host"]
    # One served chain for everyone: the chain does not separate.
    L.assert_counted_chains(t, stored, host, a["chains"])
    t.assertEqual(list(stored.counters(host, "clock")), ["ok"])
    L.assert_everywhere(t, stored, host, "network", lab.NETWORKS)
    L.assert_everywhere(t, stored, host, "app_version", a["versions"])
    L.assert_events_match_counters(t, stored, host)
    evs = stored.events(host)
    for e in evs:
        ctx = repr(e)
        t.assertEqual(e["kind"], "expired", ctx)
        t.assertGreaterEqual(e["time_us"], a["leaf_not_after"] * 1e6, ctx)
        t.assertLess(abs(e["offset_s"]), 60, "client clock right " + ctx)
        t.assertEqual(e["served_pins"][0], a["leaf_pin"], ctx)
    t.assertEqual({e["network"] for e in evs}, set(lab.NETWORKS))
    t.assertEqual({e["app_version"] for e in evs}, set(a["versions"]))
