"""clock_skew: clients with a clock months off see validity errors.

clock.lab.test serves one chain the whole time; its leaf is valid from 20
days ago to 60 days from now.  On every network and both versions, some
clients run under libfaketime: 150 days behind (the leaf is not yet valid
for them) or 400 days ahead (it has expired for them); the others have the
right clock.  The pins match.

Known answer: host clock.lab.test, cause clock_skew, separating dimension
the client clock (counter clock 'behind' / 'ahead', event time - receive
time about -150 d / +400 d): every skewed handshake fails (not_yet_valid
behind, expired ahead), every handshake with the right clock succeeds, on
the same chain, on every network and version.
"""

HOST = "clock.lab.test"
VERSIONS = {"app 6.0.0": "observe", "app 6.1.0": "enforce"}
SKEWS = ("-150d", "+400d")


def run(lab):
    pki = lab.pki("clock")
    root = pki.root("root", cn="Lab Root CA")
    ca = pki.intermediate("ca1", root, cn="Lab Issuing CA 1")
    leaf = pki.leaf("leaf", HOST, ca, start="-20d", end="+60d")
    backup = pki.leaf("backup", HOST, ca)
    pins = {HOST: [leaf.pin, backup.pin]}
    policies = {v: lab.policy(v, pins, mode=m) for v, m in VERSIONS.items()}
    srv = lab.server(leaf)
    lab.traffic(HOST, srv, root, policies, per=20)
    for skew in SKEWS:
        lab.traffic(HOST, srv, root, policies, per=6, skew=skew)
    lab.answer(HOST, "clock_skew", "clock", "behind/ahead",
               skews=list(SKEWS), leaf_not_before=leaf.not_before,
               leaf_not_after=leaf.not_after, leaf_pin=leaf.pin,
               chain=leaf.counter_fp, versions=list(policies),
               chains={leaf.counter_fp: [c.pin for c in leaf.served]})


def check(t, stored, a):
    """The stored proof: only the clients with a wrong clock fail."""
    import lab
    import labdb as L
    host = a["host"]
    L.assert_split(t, stored, host, "clock", ["ahead", "behind"])
    # One served chain for everyone: the chain does not separate.
    L.assert_counted_chains(t, stored, host, a["chains"])
    L.assert_everywhere(t, stored, host, "network", lab.NETWORKS)
    L.assert_everywhere(t, stored, host, "app_version", a["versions"])
    L.assert_events_match_counters(t, stored, host)
    evs = stored.events(host)
    day = 86400
    kinds = set()
    for e in evs:
        ctx = repr(e)
        kinds.add(e["kind"])
        if e["kind"] == "not_yet_valid":
            # The client's clock was before the leaf's notBefore.
            t.assertLess(e["offset_s"], -100 * day, ctx)
            t.assertLess(e["time_us"], a["leaf_not_before"] * 1e6, ctx)
        else:
            t.assertEqual(e["kind"], "expired", ctx)
            t.assertGreater(e["offset_s"], 300 * day, ctx)
            t.assertGreater(e["time_us"], a["leaf_not_after"] * 1e6, ctx)
        t.assertEqual(e["served_pins"][0], a["leaf_pin"], ctx)
    t.assertEqual(kinds, {"expired", "not_yet_valid"})
    t.assertEqual({e["network"] for e in evs}, set(lab.NETWORKS))
