"""intermediate_change: same leaf key, new issuing intermediate at T.

The pins are on the old intermediate.

intermediate.lab.test serves a leaf issued by "Lab Issuing CA 1" until T,
then a leaf with the SAME key reissued by "Lab Issuing CA 2" (same root,
so every client still trusts it).  Both app versions pin CA 1's key plus a
backup intermediate key never used; neither pins the leaf.  Traffic on
every network and both versions (app 3.1.0 observe, app 3.2.0 enforce)
before and after T.

Known answer: host intermediate.lab.test, cause intermediate_change,
separating dimension the served intermediate (position 1) / time T.
Before T everything succeeds; from T everything fails with pin_mismatch on
every network and version; the leaf pin of the failing chain equals the
leaf pin of the succeeding one; the pins are on position 1, whose key
changed (CA 1 -> CA 2).
"""

HOST = "intermediate.lab.test"
VERSIONS = {"app 3.1.0": "observe", "app 3.2.0": "enforce"}


def run(lab):
    pki = lab.pki("intermediate")
    root = pki.root("root", cn="Lab Root CA")
    ca1 = pki.intermediate("ca1", root, cn="Lab Issuing CA 1")
    ca2 = pki.intermediate("ca2", root, cn="Lab Issuing CA 2")
    spare = pki.intermediate("spare", root, cn="Lab Issuing CA spare")
    leaf1 = pki.leaf("leaf1", HOST, ca1)
    leaf2 = pki.leaf("leaf2", HOST, ca2, key=leaf1)   # same key, new issuer
    pins = {HOST: [ca1.pin, spare.pin]}
    policies = {v: lab.policy(v, pins, mode=m) for v, m in VERSIONS.items()}
    srv = lab.server(leaf1)
    lab.traffic(HOST, srv, root, policies, per=20)
    t = lab.mark(HOST + " T", srv.switch(leaf2))
    lab.traffic(HOST, srv, root, policies, per=20)
    lab.answer(HOST, "intermediate_change", "intermediate_pin", ca2.pin, T=t,
               leaf_pin=leaf1.pin, old_intermediate_pin=ca1.pin,
               new_intermediate_pin=ca2.pin, expected_pins=pins[HOST],
               old_chain=leaf1.counter_fp, new_chain=leaf2.counter_fp,
               versions=VERSIONS, chains={leaf1.counter_fp: [c.pin for c in leaf1.served], leaf2.counter_fp: [c.pin for c in leaf2.served]})


def check(t, stored, a):
    """The stored proof of an intermediate change at T."""
    import lab
    import labdb as L
    host = a["host"]
    L.assert_split(t, stored, host, "chain_fingerprint", [a["new_chain"]])
    L.assert_counted_chains(t, stored, host, a["chains"])
    L.assert_everywhere(t, stored, host, "network", lab.NETWORKS)
    L.assert_everywhere(t, stored, host, "app_version", list(a["versions"]))
    L.assert_events_match_counters(t, stored, host)
    evs = stored.events(host)
    for e in evs:
        ctx = repr(e)
        t.assertEqual(e["kind"], "pin_mismatch", ctx)
        # The leaf key is the one that used to pass; position 1 changed,
        # and the pins were on position 1.
        t.assertEqual(e["served_pins"][0], a["leaf_pin"], ctx)
        t.assertEqual(e["served_pins"][1], a["new_intermediate_pin"], ctx)
        t.assertIn(a["old_intermediate_pin"], e["expected_pins"], ctx)
        t.assertNotIn(a["leaf_pin"], e["expected_pins"], ctx)
        t.assertNotIn(a["new_intermediate_pin"], e["expected_pins"], ctx)
        t.assertGreaterEqual(e["time_us"], a["T"] * 1e6, "failure before T")
    t.assertEqual({e["network"] for e in evs}, set(lab.NETWORKS))
    t.assertEqual({e["app_version"] for e in evs}, set(a["versions"]))
