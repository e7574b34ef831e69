"""interception: one network's gateway re-signs TLS with a corporate CA.

Four real networks (tests/lab/netlab.py: a network namespace each, with its
own subnet, gateway and resolver, so the shim derives a different network
fingerprint on each; no PINSHIM_NETWORK label is set):

  corp-wifi   10.77.N.0/24 behind the router corp-gw, whose netfilter rule
              (nat PREROUTING, REDIRECT) hands every TCP connection to port
              443 to sslsplit in transparent mode.  sslsplit forges the
              server's certificate with "Example Corp TLS Inspection CA"
              (made by the lab), and connects on to the original
              destination, so the clients still see the server's address
              as their peer.
  home, cafe, mobile-4g   straight through wan: the real chain.

The clients are the same corporate-managed devices everywhere: they trust
a bundle with both roots, so on corp-wifi verification passes and only the
pins tell.  Server shop.lab.test, 198.51.100.X:443 in wan, chain leaf <-
Lab Shop Issuing CA (<- Lab Shop Root CA); pins: the leaf key and a backup
key not yet deployed.  Versions "shop 4.2.0" (observe) and "shop 4.3.0"
(enforce); clients tlsclient, curl and python3 on every network.

Known answer: interception.  Separating dimension: network.  Every
handshake on corp-wifi fails with pin_mismatch and its served chain ends in
the corporate CA, an issuer no other network ever sees; on every other
network every handshake succeeds with the pinned chain.

Without network namespaces (not root) the lab says so loudly and falls back
to PINSHIM_NETWORK labels, corp-wifi's clients connecting to sslsplit in
static-forward mode on loopback instead (their peer is then the proxy's).
"""

import os
import shutil
import socket
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import labdb  # noqa: E402
import netlab  # noqa: E402

HOST = "shop.lab.test"
CORP = "corp-wifi"
DIRECT = ("home", "cafe", "mobile-4g")
VERSIONS = {"shop 4.2.0": "observe", "shop 4.3.0": "enforce"}
CORP_CA = "Example Corp TLS Inspection CA"
PROXY_PORT = 8443


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sslsplit(lab, gw, ca, target=None):
    """sslsplit in gw (transparent: the original destination comes from
    netfilter), or on loopback forwarding to target (the fallback).  The
    port clients are redirected to."""
    if not shutil.which("sslsplit"):
        raise netlab.NetLabError("sslsplit is not installed (scripts/deps.sh)")
    port = PROXY_PORT if gw.ns else _free_port()
    argv = ["sslsplit", "-k", ca.key, "-c", ca.pem,
            "-l", os.path.join(lab.tmp, "sslsplit-connect.log")]
    if gw.ns:
        argv += ["ssl", "0.0.0.0", str(port)]
    else:
        argv += ["ssl", "127.0.0.1", str(port), target[0], str(target[1])]
    proc = lab.spawn(argv, "sslsplit", netns=gw.ns)
    netlab.wait_listening(proc, port)
    return port


def setup(lab, per=25):
    """Networks, server, proxy and policies; the client specs to run
    (lab.clients) and the facts of the known answer."""
    net = netlab.for_lab(lab)
    pki = lab.pki("interception")
    root = pki.root("root", cn="Lab Shop Root CA")
    issuing = pki.intermediate("issuing", root, cn="Lab Shop Issuing CA")
    leaf = pki.leaf("leaf", HOST, issuing, key_type="rsa")
    backup = pki.leaf("backup", HOST, issuing)
    corp_ca = pki.root("corp", cn=CORP_CA)
    trusted = pki.bundle("corp-managed", root, corp_ca)

    with net.in_wan():
        server = lab.server(leaf, address=net.server_address())
    port = net.expose(server)
    gw = net.router("corp-gw")
    corp = net.network(CORP, via=gw)
    direct = [net.network(n) for n in DIRECT]
    target = {n.name: (server.address, port) for n in direct}
    if gw.ns:
        gw.iptables("-t", "nat", "-A", "PREROUTING", "-i", corp.gateway_iface,
                    "-p", "tcp", "--dport", str(port), "-j", "REDIRECT",
                    "--to-ports", str(_sslsplit(lab, gw, corp_ca)))
        target[CORP] = (server.address, port)
    else:
        target[CORP] = ("127.0.0.1", _sslsplit(lab, gw, corp_ca,
                                               (server.address, port)))

    pins = {HOST: [leaf.pin, backup.pin]}
    policies = {v: lab.policy(v, pins, mode=m) for v, m in VERSIONS.items()}
    specs = []
    for n in [corp] + direct:
        ip, p = target[n.name]
        for version, policy in policies.items():
            base = dict(host=HOST, port=p, connect_ip=ip, version=version,
                        policy=policy, ca=trusted, **n.client_args())
            specs += [dict(base, kind="tlsclient", count=lab.n(per)),
                      dict(base, kind="curl", count=2),
                      dict(base, kind="python", count=2)]
    facts = dict(
        real_networks=net.real, issuer=CORP_CA, corp_ca=corp_ca.sha256,
        server=server.address, port=port, versions=VERSIONS,
        pins=pins[HOST], pinned_chain=labdb.counter_fp([leaf.der, issuing.der]),
        networks={n.name: {"label": n.label,
                           "fingerprint": n.expected_fingerprint,
                           "subnet": n.subnet if net.real else None,
                           "gateway": n.gateway if net.real else None,
                           "intercepted": n is corp}
                  for n in [corp] + direct})
    return specs, facts


def run(lab):
    specs, facts = setup(lab)
    net = netlab.for_lab(lab)
    for line in net.describe((CORP,) + DIRECT):
        print("interception: network " + line, file=sys.stderr)
    lab.clients(specs)
    corp = facts["networks"][CORP]
    # Connections the corp-gw rule handed to the proxy (None: fallback).
    gw = net.router("corp-gw")
    proxied = gw.nat_connections() if gw.ns else None
    lab.answer(HOST, "interception", "network", corp["label"],
               proxied=proxied, **facts)


def check(t, stored, a):
    """The stored proof: only corp-wifi fails, with a chain whose issuer no
    other network sees."""
    import labdb as L
    host, nets = a["host"], a["networks"]
    corp = nets[CORP]
    # The network separates: by derived fingerprint and label on real
    # networks (by label alone in the fallback), and every network is there.
    dims = [("network", "label")]
    if a["real_networks"]:
        dims.append(("network_fingerprint", "fingerprint"))
    for dim, key in dims:
        by = L.assert_split(t, stored, host, dim, [corp[key]])
        t.assertEqual(set(by), {n[key] for n in nets.values()})
    # Not a version thing: both versions fail (on corp-wifi) and succeed.
    L.assert_everywhere(t, stored, host, "app_version", list(a["versions"]))
    L.assert_events_match_counters(t, stored, host)
    # Elsewhere only the pinned chain; on corp-wifi never the pinned chain.
    by = stored.counters2(host, "network", "chain_fingerprint")
    for (label, chain), (ok, failed) in by.items():
        if label == corp["label"]:
            t.assertNotEqual(chain, a["pinned_chain"], (label, by))
        else:
            t.assertEqual(chain, a["pinned_chain"], (label, by))
    # Every corp-wifi handshake went through the proxy, and only those.
    if a["proxied"] is not None:
        t.assertEqual(a["proxied"], sum(f for (l, _), (s, f) in by.items()
                                        if l == corp["label"]))
    if a["real_networks"]:
        rows = stored.rows(
            "SELECT DISTINCT n.label, n.fingerprint, n.gateway, n.subnet,"
            " e.peer, e.port FROM event e JOIN network n ON n.id = e.network_id"
            " WHERE e.host = ?", host)
        t.assertEqual(rows, [(corp["label"], corp["fingerprint"],
                              corp["gateway"], corp["subnet"], a["server"],
                              a["port"])])
    evs = stored.events(host)
    issuer = stored.rows("SELECT subject FROM cert WHERE lower(hex(sha256))"
                         " = ? AND verified", a["corp_ca"])
    t.assertEqual(len(issuer), 1, "the corporate CA is stored once, "
                  "proven by its DER")
    t.assertEqual(stored.rows("SELECT 1 FROM cert_shown WHERE"
                              " lower(hex(sha256)) = ? AND conflict",
                              a["corp_ca"]), [], "no claim contradicts it")
    issuer = issuer[0][0]
    t.assertIn("CN=" + a["issuer"], issuer)
    for e in evs:
        ctx = repr(e)
        t.assertEqual(e["kind"], "pin_mismatch", ctx)
        t.assertEqual(e["decision"], {"observe": "would_block",
                                      "enforce": "blocked"}[
                                          a["versions"][e["app_version"]]], ctx)
        t.assertEqual(e["expected_pins"], a["pins"], ctx)
        t.assertEqual(e["network"], corp["label"], ctx)
        t.assertFalse(set(e["served_pins"]) & set(a["pins"]), ctx)
        # The forged leaf names the corporate CA as issuer and the chain
        # ends in that CA itself.
        chain = stored.rows(
            "SELECT c.subject, c.issuer, lower(hex(c.sha256)) FROM chain_cert cc"
            " JOIN cert c ON c.id = cc.cert_id WHERE cc.chain_id = ?"
            " ORDER BY cc.position", e["served_chain_id"])
        t.assertEqual(chain[0][1], issuer, ctx)
        t.assertEqual(chain[-1][:2], (issuer, issuer), ctx)
        t.assertEqual(chain[-1][2], a["corp_ca"], ctx)
    t.assertEqual({e["app_version"] for e in evs}, set(a["versions"]))
    # The corporate CA is in no chain stored for another network: neither in
    # an event's nor in a chain that succeeded (ChainSeen, when delivered).
    other = [n["label"] for n in nets.values() if not n["intercepted"]]
    mark = ",".join("?" * len(other))
    t.assertEqual(stored.rows(
        "SELECT count(*) FROM counter k JOIN chain ch"
        " ON ch.counter_fp = k.chain_fingerprint"
        " JOIN chain_cert cc ON cc.chain_id = ch.id"
        " JOIN cert c ON c.id = cc.cert_id"
        " WHERE k.host = ? AND k.network IN (%s) AND (c.issuer = ? OR"
        " c.subject = ?)" % mark, host, *other, issuer, issuer), [(0,)])
