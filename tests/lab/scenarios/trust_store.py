"""trust_store: one app version's CA bundle lacks the server's root.

trust.lab.test moved to a chain under a new root, "Lab Root R2".  app
5.2.0 and app 5.3.0 carry a CA bundle with both the old root R1 and R2;
app 5.1.0 carries an older bundle with R1 only.  The pins (the leaf key
and the intermediate) match the served chain.  Every version runs on every
network, all in observe mode except app 5.3.0 (enforce).

Known answer: host trust.lab.test, cause trust_store, separating dimension
app_version = app 5.1.0: all of its handshakes fail with untrusted_issuer
on every network, while the other versions accept the very same chain
(same served chain fingerprint) and never fail.
"""

HOST = "trust.lab.test"
OLD_VERSION = "app 5.1.0"


def run(lab):
    pki = lab.pki("trust")
    r1 = pki.root("r1", cn="Lab Root R1")
    r2 = pki.root("r2", cn="Lab Root R2")
    ca = pki.intermediate("ca", r2, cn="Lab Issuing CA R2-1")
    leaf = pki.leaf("leaf", HOST, ca)
    old_bundle = pki.bundle("old", r1)
    new_bundle = pki.bundle("new", r1, r2)
    pins = {HOST: [leaf.pin, ca.pin]}
    versions = {OLD_VERSION: ("observe", old_bundle),
                "app 5.2.0": ("observe", new_bundle),
                "app 5.3.0": ("enforce", new_bundle)}
    policies = {v: lab.policy(v, pins, mode=m) for v, (m, _) in versions.items()}
    cas = {v: b for v, (_, b) in versions.items()}
    srv = lab.server(leaf)
    lab.traffic(HOST, srv, cas, policies, per=20)
    lab.answer(HOST, "trust_store", "app_version", OLD_VERSION,
               missing_root=r2.cn, root_pin=r2.pin, leaf_pin=leaf.pin,
               chain=leaf.counter_fp, versions=list(policies),
               chains={leaf.counter_fp: [c.pin for c in leaf.served]})


def check(t, stored, a):
    """The stored proof: the same chain, untrusted only by one version."""
    import lab
    import labdb as L
    host = a["host"]
    L.assert_split(t, stored, host, "app_version", [a["value"]])
    t.assertEqual(set(stored.counters(host, "app_version")), set(a["versions"]))
    # One served chain for everyone: the chain does not separate.
    L.assert_counted_chains(t, stored, host, a["chains"])
    L.assert_everywhere(t, stored, host, "network", lab.NETWORKS)
    L.assert_events_match_counters(t, stored, host)
    evs = stored.events(host)
    for e in evs:
        ctx = repr(e)
        t.assertEqual(e["kind"], "untrusted_issuer", ctx)
        t.assertEqual(e["app_version"], a["value"], ctx)
        t.assertEqual(e["served_pins"][0], a["leaf_pin"], ctx)
        # The served chain ends in an intermediate issued by the root the
        # failing clients lack.
        t.assertIn("CN=" + a["missing_root"], stored.rows(
            "SELECT c.issuer FROM chain_cert cc JOIN cert c ON c.id = cc.cert_id"
            " WHERE cc.chain_id = ? ORDER BY cc.position DESC LIMIT 1",
            e["served_chain_id"])[0][0], ctx)
    t.assertEqual({e["network"] for e in evs}, set(lab.NETWORKS))
