"""rollover: the server moves to a new leaf key at T; the pins lack it.

rollover.lab.test serves leaf "old" (issued by Lab Issuing CA 1) until T,
then leaf "new": a new key, same names, same intermediate.  Both app
versions pin the old leaf key plus a backup key that was never deployed,
so the new key is in no policy.  Traffic runs on every network (office,
home, hotel-wifi, mobile-4g) and both versions (app 3.1.0 observe, app 3.2.0
enforce) before and after T.

Known answer: host rollover.lab.test, cause rollover, separating dimension
the served leaf key (equivalently time: before / after T).  Before T every
handshake succeeds on the old chain; from T on every handshake fails with
pin_mismatch on the new chain, on every network and version; the new
chain's leaf pin is not among the expected pins; the issuer is unchanged.
"""

HOST = "rollover.lab.test"
VERSIONS = {"app 3.1.0": "observe", "app 3.2.0": "enforce"}


def run(lab):
    pki = lab.pki("rollover")
    root = pki.root("root", cn="Lab Root CA")
    ca = pki.intermediate("ca1", root, cn="Lab Issuing CA 1")
    old = pki.leaf("old", HOST, ca)
    new = pki.leaf("new", HOST, ca)            # a new key
    backup = pki.leaf("backup", HOST, ca)      # generated, never deployed
    pins = {HOST: [old.pin, backup.pin]}
    policies = {v: lab.policy(v, pins, mode=m) for v, m in VERSIONS.items()}
    srv = lab.server(old)
    lab.traffic(HOST, srv, root, policies, per=20)
    t = lab.mark(HOST + " T", srv.switch(new))
    lab.traffic(HOST, srv, root, policies, per=20)
    lab.answer(HOST, "rollover", "leaf_pin", new.pin, T=t,
               old_leaf_pin=old.pin, new_leaf_pin=new.pin,
               issuer_pin=ca.pin, expected_pins=pins[HOST],
               old_chain=old.counter_fp, new_chain=new.counter_fp,
               versions=VERSIONS, chains={old.counter_fp: [c.pin for c in old.served], new.counter_fp: [c.pin for c in new.served]})


def check(t, stored, a):
    """The stored proof of a rollover at T."""
    import lab
    import labdb as L
    host = a["host"]
    # The served chain separates: the old one only succeeded, the new one
    # only failed; no third chain.
    L.assert_split(t, stored, host, "chain_fingerprint", [a["new_chain"]])
    L.assert_counted_chains(t, stored, host, a["chains"])
    # ... on every network and every version: no other dimension does.
    L.assert_everywhere(t, stored, host, "network", lab.NETWORKS)
    L.assert_everywhere(t, stored, host, "app_version", list(a["versions"]))
    L.assert_events_match_counters(t, stored, host)
    evs = stored.events(host)
    for e in evs:
        ctx = repr(e)
        t.assertEqual(e["kind"], "pin_mismatch", ctx)
        t.assertEqual(e["served_pins"][0], a["new_leaf_pin"], ctx)
        t.assertNotIn(a["new_leaf_pin"], e["expected_pins"], ctx)
        t.assertEqual(e["expected_pins"], a["expected_pins"], ctx)
        t.assertEqual(e["served_pins"][1], a["issuer_pin"], "issuer unchanged")
        t.assertGreaterEqual(e["time_us"], a["T"] * 1e6, "failure before T")
        t.assertLess(abs(e["offset_s"]), 60, "client clock right " + ctx)
        want = {"observe": "would_block", "enforce": "blocked"}[
            a["versions"][e["app_version"]]]
        t.assertEqual(e["decision"], want, ctx)
    t.assertEqual({e["network"] for e in evs}, set(lab.NETWORKS))
    t.assertEqual({e["app_version"] for e in evs}, set(a["versions"]))
