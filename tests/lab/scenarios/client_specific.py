"""client_specific: app versions ship different pins for the same chain.

client.lab.test rotated its key before the lab starts and serves the new
leaf the whole time.  app 4.0.0 (enforce) still pins only the old key and
a backup; app 4.1.0 (observe) and app 4.1.1 (enforce) ship the new pin
next to the old one.  Every version runs on every network.

Known answer: host client.lab.test, cause client_specific, separating
dimension app_version = app 4.0.0: all of its handshakes fail with
pin_mismatch, on every network; app 4.1.0 and 4.1.1 never fail; every
handshake of every version saw the same served chain.
"""

HOST = "client.lab.test"
OLD_VERSION = "app 4.0.0"


def run(lab):
    pki = lab.pki("client")
    root = pki.root("root", cn="Lab Root CA")
    ca = pki.intermediate("ca1", root, cn="Lab Issuing CA 1")
    old = pki.leaf("old", HOST, ca)
    cur = pki.leaf("current", HOST, ca)
    backup = pki.leaf("backup", HOST, ca)
    policies = {
        OLD_VERSION: lab.policy(OLD_VERSION, {HOST: [old.pin, backup.pin]},
                                mode="enforce"),
        "app 4.1.0": lab.policy("app 4.1.0", {HOST: [cur.pin, old.pin]},
                                mode="observe"),
        "app 4.1.1": lab.policy("app 4.1.1", {HOST: [cur.pin, old.pin]},
                                mode="enforce"),
    }
    srv = lab.server(cur)
    lab.traffic(HOST, srv, root, policies, per=20)
    lab.answer(HOST, "client_specific", "app_version", OLD_VERSION,
               leaf_pin=cur.pin, failing_expected_pins=[old.pin, backup.pin],
               chain=cur.counter_fp, versions=list(policies),
               chains={cur.counter_fp: [c.pin for c in cur.served]})


def check(t, stored, a):
    """The stored proof: one chain, one version fails on it everywhere."""
    import lab
    import labdb as L
    host = a["host"]
    L.assert_split(t, stored, host, "app_version", [a["value"]])
    t.assertEqual(set(stored.counters(host, "app_version")), set(a["versions"]))
    # One served chain for everyone: the chain does not separate.
    L.assert_counted_chains(t, stored, host, a["chains"])
    for net in lab.NETWORKS:
        s, f = stored.counters2(host, "network", "app_version")[(net, a["value"])]
        t.assertGreater(f, 0, "%s: no failure of %s" % (net, a["value"]))
    L.assert_everywhere(t, stored, host, "network", lab.NETWORKS)
    L.assert_events_match_counters(t, stored, host)
    evs = stored.events(host)
    for e in evs:
        ctx = repr(e)
        t.assertEqual(e["kind"], "pin_mismatch", ctx)
        t.assertEqual(e["app_version"], a["value"], ctx)
        t.assertEqual(e["decision"], "blocked", ctx)
        t.assertEqual(e["served_pins"][0], a["leaf_pin"], ctx)
        t.assertEqual(e["expected_pins"], a["failing_expected_pins"], ctx)
