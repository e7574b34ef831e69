"""healthy: pinned hosts that never fail, on every network and version.

Two hosts, both pinned correctly with a backup pin, served the whole time
by the same chain, reached by tlsclient, curl, python3 and openssl
s_client on every network (office, home, hotel-wifi, mobile-4g), from two
app versions (one observe, one enforce):

  healthy.lab.test      RSA leaf, pins on the leaf key + a backup key
  healthy-api.lab.test  ECDSA leaf, pins on the issuing intermediate + root

Known answer: no cause.  Every handshake to either host succeeds; no
failure event names them.  A diagnosis that accuses one of them is wrong.
"""

HOSTS = ("healthy.lab.test", "healthy-api.lab.test")
VERSIONS = {"app 7.0.0": "observe", "app 7.1.0": "enforce"}


def setup(lab, per=25):
    """The servers and policies, and the known answers; returns the traffic
    calls to make, so that the mixed scenario can run more of it in the
    background."""
    pki = lab.pki("healthy")
    root = pki.root("root", cn="Lab Healthy Root CA")
    ca = pki.intermediate("ca", root, cn="Lab Healthy Issuing CA")
    leaf = pki.leaf("leaf", HOSTS[0], ca, key_type="rsa")
    backup = pki.leaf("backup", HOSTS[0], ca)
    api = pki.leaf("api", HOSTS[1], ca)
    pins = {HOSTS[0]: [leaf.pin, backup.pin], HOSTS[1]: [ca.pin, root.pin]}
    policies = {v: lab.policy(v, pins, mode=m) for v, m in VERSIONS.items()}
    servers = {HOSTS[0]: lab.server(leaf), HOSTS[1]: lab.server(api)}
    for h in HOSTS:
        c = servers[h].cert
        lab.answer(h, "none", None, None, versions=list(VERSIONS),
                   chains={c.counter_fp: [x.pin for x in c.served]})
    return [dict(host=h, server=servers[h], ca=root, policies=policies,
                 per=per) for h in HOSTS]


def run(lab):
    for call in setup(lab):
        lab.traffic(**call)


def check(t, stored, a):
    """Never a failure, successes on every network and version."""
    import lab
    import labdb as L
    host = a["host"]
    t.assertEqual(stored.events(host), [], host)
    s, f = stored.totals(host)
    t.assertEqual(f, 0, host)
    t.assertGreater(s, 0, host)
    t.assertTrue(set(lab.NETWORKS) <= set(stored.counters(host, "network")))
    t.assertEqual(set(stored.counters(host, "app_version")), set(a["versions"]))
    L.assert_counted_chains(t, stored, host, a["chains"])
