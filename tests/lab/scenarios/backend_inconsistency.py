"""backend_inconsistency: one of three backends still serves the old key.

api.lab.test resolves to three backends (every network's hosts file lists
all three), each a TLS server at its own address in wan (198.51.100.X),
all on port 443 (tests/lab/netlab.py: a DNAT rule per address).  After a
key rotation the pins hold the new leaf key and a backup key; the first two
backends serve the new leaf, the third was missed by the deployment and
still serves the previous certificate (old key, same issuing CA, still
valid), so its handshakes verify but match no pin.

Clients on three real networks (office, home, mobile-4g: a namespace each)
spread their connections across the backends round robin, one backend per
client run, as a client that resolves the name and picks an address does;
every network and every kind of client meets every backend equally often.
Versions "api-client 2.0.1" (observe) and "api-client 2.1.0" (enforce);
clients tlsclient, curl and python3.

No load balancer in front: a proxy or balancer terminating TCP would make
every client's peer the balancer's address, hiding which backend served the
stale chain (the very dimension that separates this cause); the backends
are reached directly, as with DNS round robin or client-side balancing.

Known answer: backend_inconsistency.  Separating dimension: peer.  Every
handshake with the stale backend fails (pin_mismatch, leaf = the old
certificate) on every network and version; every handshake with the other
two succeeds with the pinned chain.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import labdb  # noqa: E402
import netlab  # noqa: E402

HOST = "api.lab.test"
NETWORKS = ("office", "home", "mobile-4g")
VERSIONS = {"api-client 2.0.1": "observe", "api-client 2.1.0": "enforce"}
BACKENDS = 3
STALE = 2          # the index of the backend with the old certificate


def setup(lab, per=10, rounds=3):
    """Backends, networks and policies; the client specs to run
    (lab.clients) and the facts of the known answer."""
    net = netlab.for_lab(lab)
    pki = lab.pki("backend")
    root = pki.root("root", cn="Lab API Root CA")
    issuing = pki.intermediate("issuing", root, cn="Lab API Issuing CA")
    old = pki.leaf("old", HOST, issuing, key_type="rsa", start="-300d",
                   end="+65d")
    new = pki.leaf("new", HOST, issuing, key_type="rsa")
    backup = pki.leaf("backup", HOST, issuing)

    backends = []
    for i in range(BACKENDS):
        with net.in_wan():
            s = lab.server(old if i == STALE else new,
                           address=net.server_address())
        backends.append((s, net.expose(s)))
    net.resolve(HOST, [s.address for s, _ in backends])
    networks = [net.network(n) for n in NETWORKS]

    pins = {HOST: [new.pin, backup.pin]}
    policies = {v: lab.policy(v, pins, mode=m) for v, m in VERSIONS.items()}
    specs = []
    for ni, n in enumerate(networks):
        cells = [(r, v) for r in range(rounds) for v in policies]
        for j, (_, version) in enumerate(cells):
            # round robin per network and kind of client: each visits every
            # backend equally often (neither may stand in for the peer)
            for k, (kind, count) in enumerate((
                    ("tlsclient", lab.n(per)), ("curl", 2), ("python", 2))):
                s, port = backends[(ni + j + k) % BACKENDS]
                specs.append(dict(kind=kind, count=count, host=HOST,
                                  port=port, connect_ip=s.address,
                                  version=version, policy=policies[version],
                                  ca=root, **n.client_args()))
    stale = backends[STALE][0]
    facts = dict(
        real_networks=net.real, versions=VERSIONS, pins=pins[HOST],
        stale_peer=stale.address, ports=[p for _, p in backends],
        stale_leaf_pin=old.pin,
        stale_chain=labdb.counter_fp([old.der, issuing.der]),
        pinned_chain=labdb.counter_fp([new.der, issuing.der]),
        peers=[s.address for s, _ in backends],
        networks={n.name: n.label for n in networks})
    return specs, facts


def run(lab):
    specs, facts = setup(lab)
    net = netlab.for_lab(lab)
    for line in net.describe(NETWORKS):
        print("backend_inconsistency: network " + line, file=sys.stderr)
    lab.clients(specs)
    lab.answer(HOST, "backend_inconsistency", "peer", facts["stale_peer"],
               **facts)


def check(t, stored, a):
    """The stored proof: only the stale backend's address fails, on every
    network and version; the others serve the pinned chain."""
    import labdb as L
    host = a["host"]
    by = L.assert_split(t, stored, host, "peer", [a["stale_peer"]])
    t.assertEqual(set(by), set(a["peers"]))
    by = L.assert_split(t, stored, host, "chain_fingerprint", [a["stale_chain"]])
    t.assertEqual(set(by), {a["stale_chain"], a["pinned_chain"]})
    for (peer, chain) in stored.counters2(host, "peer", "chain_fingerprint"):
        t.assertEqual(chain, a["stale_chain"] if peer == a["stale_peer"]
                      else a["pinned_chain"], (peer, chain))
    # Neither the network nor the version separates: each fails and succeeds.
    L.assert_everywhere(t, stored, host, "network", list(a["networks"].values()))
    L.assert_everywhere(t, stored, host, "app_version", list(a["versions"]))
    L.assert_events_match_counters(t, stored, host)
    evs = stored.events(host)
    for e in evs:
        ctx = repr(e)
        t.assertEqual(e["kind"], "pin_mismatch", ctx)
        t.assertEqual((e["peer"], e["port"]),
                      (a["stale_peer"], a["ports"][a["peers"].index(
                          a["stale_peer"])]), ctx)
        t.assertEqual(e["decision"], {"observe": "would_block",
                                      "enforce": "blocked"}[
                                          a["versions"][e["app_version"]]], ctx)
        t.assertEqual(e["expected_pins"], a["pins"], ctx)
        t.assertEqual(e["served_pins"][0], a["stale_leaf_pin"], ctx)
        t.assertNotIn(a["stale_leaf_pin"], a["pins"], ctx)
    t.assertEqual({e["network"] for e in evs}, set(a["networks"].values()))
    t.assertEqual({e["app_version"] for e in evs}, set(a["versions"]))
