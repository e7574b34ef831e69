"""What a lab database actually holds, read with SQL (schema: store/schema.c).

The scenarios' check() functions and the lab tests assert on these, never on
what the lab meant to do: the lab is the viewer's ground truth only if its
answers are proven by the stored rows.

    s = Stored(db)
    s.counters(host, "network")      {value: [successes, failures]}
    s.counters(host, "chain_fingerprint")   keys are hex strings
    s.events(host)                   one dict per stored record (see below)
    s.failure_total(host)            failures counted by the counters
"""

import hashlib
import json
import sqlite3

COUNTER_DIMENSIONS = ("hour", "port", "peer", "network", "network_fingerprint",
                      "app_version", "libssl_version", "os",
                      "chain_fingerprint", "clock")


def counter_fp(certs):
    """Counter.chain_fingerprint of a served chain (shim/chain.c): SHA-256
    over the certificates' SHA-1s, in order; certs: DER bytes."""
    return hashlib.sha256(b"".join(hashlib.sha1(d).digest()
                                   for d in certs)).hexdigest()


class Stored:
    def __init__(self, db):
        self.db = db
        self.con = sqlite3.connect("file:%s?mode=ro" % db, uri=True,
                                   timeout=10)

    def close(self):
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def rows(self, sql, *args):
        return self.con.execute(sql, args).fetchall()

    # -- counters: every full handshake ------------------------------------

    def counters(self, host, by):
        if by not in COUNTER_DIMENSIONS:
            raise ValueError(by)
        out = {}
        for v, s, f in self.rows("SELECT %s, total(successes), total(failures)"
                                 " FROM counter WHERE host = ? GROUP BY 1" % by,
                                 host):
            if isinstance(v, bytes):
                v = v.hex()
            out[v] = [int(s), int(f)]
        return out

    def counters2(self, host, a, b):
        """{(a value, b value): [successes, failures]}."""
        assert a in COUNTER_DIMENSIONS and b in COUNTER_DIMENSIONS
        out = {}
        for x, y, s, f in self.rows(
                "SELECT %s, %s, total(successes), total(failures) FROM counter"
                " WHERE host = ? GROUP BY 1, 2" % (a, b), host):
            x = x.hex() if isinstance(x, bytes) else x
            y = y.hex() if isinstance(y, bytes) else y
            out[(x, y)] = [int(s), int(f)]
        return out

    def totals(self, host):
        s, f = self.rows("SELECT total(successes), total(failures) FROM counter"
                         " WHERE host = ?", host)[0]
        return int(s), int(f)

    def failure_total(self, host):
        return self.totals(host)[1]

    def hosts(self):
        return sorted(r[0] for r in self.rows("SELECT DISTINCT host FROM counter"
                                              " UNION SELECT DISTINCT host"
                                              " FROM failure"))

    # -- events: one per verification failure -------------------------------

    def chain_pins(self, chain_id):
        return [r[0] for r in self.rows(
            "SELECT c.pin FROM chain_cert cc JOIN cert c ON c.id = cc.cert_id"
            " WHERE cc.chain_id = ? ORDER BY cc.position", chain_id)]

    def chain_subjects(self, chain_id):
        return [r[0] for r in self.rows(
            "SELECT c.subject FROM chain_cert cc JOIN cert c ON c.id = cc.cert_id"
            " WHERE cc.chain_id = ? ORDER BY cc.position", chain_id)]

    def chain_certs(self, chain_id):
        """[{pin, sha256 (hex), subject, issuer}] in chain order."""
        return [{"pin": r[0], "sha256": r[1].hex() if isinstance(r[1], bytes)
                 else (r[1] or ""), "subject": r[2], "issuer": r[3]}
                for r in self.rows(
                    "SELECT c.pin, c.sha256, c.subject, c.issuer FROM chain_cert"
                    " cc JOIN cert c ON c.id = cc.cert_id WHERE cc.chain_id = ?"
                    " ORDER BY cc.position", chain_id)]

    def events(self, host):
        """Every stored record of host (repeats included, each with its
        count): kind decision mode peer port count time_us received_us
        offset_s (client clock - collector clock) network
        network_fingerprint app_version libssl_version expected_pins
        served_pins built_pins served_subjects served (chain_certs)
        served_chain_id."""
        out = []
        for r in self.rows(
                "SELECT e.kind, e.decision, e.mode, e.peer, e.port, e.count,"
                " e.time_us, e.received_us, n.label, n.fingerprint,"
                " p.app_version, pl.libssl_version, ps.pins,"
                " e.served_chain_id, e.built_chain_id, e.policy_version"
                " FROM event e"
                " LEFT JOIN network n ON n.id = e.network_id"
                " LEFT JOIN process p ON p.id = e.process_id"
                " LEFT JOIN platform pl ON pl.id = e.platform_id"
                " LEFT JOIN pinset ps ON ps.id = e.pinset_id"
                " WHERE e.host = ? ORDER BY e.time_us", host):
            out.append({
                "kind": r[0], "decision": r[1], "mode": r[2], "peer": r[3],
                "port": r[4], "count": r[5] or 1, "time_us": r[6],
                "received_us": r[7], "offset_s": (r[6] - r[7]) / 1e6,
                "network": r[8], "network_fingerprint": r[9],
                "app_version": r[10], "libssl_version": r[11],
                "expected_pins": json.loads(r[12]) if r[12] else [],
                "served_chain_id": r[13],
                "served_pins": self.chain_pins(r[13]) if r[13] else [],
                "served_subjects": self.chain_subjects(r[13]) if r[13] else [],
                "served": self.chain_certs(r[13]) if r[13] else [],
                "built_pins": self.chain_pins(r[14]) if r[14] else [],
                "policy_version": r[15],
            })
        return out

    def event_total(self, host):
        return sum(e["count"] for e in self.events(host))


# -- assertions shared by the scenarios' check() --------------------------

def assert_split(t, stored, host, dim, failing, msg=""):
    """dim separates host's handshakes completely: every value in failing
    only failed, every other value only succeeded (and both sides exist).
    Returns the counters by dim."""
    by = stored.counters(host, dim)
    ctx = "%s %s by %s: %r %s" % (stored.db, host, dim, by, msg)
    t.assertTrue(set(failing) <= set(by), "failing values missing " + ctx)
    t.assertTrue(set(by) - set(failing), "no succeeding value " + ctx)
    for v, (s, f) in by.items():
        if v in failing:
            t.assertEqual(s, 0, "successes on failing value %r %s" % (v, ctx))
            t.assertGreater(f, 0, "no failure on %r %s" % (v, ctx))
        else:
            t.assertEqual(f, 0, "failures on value %r %s" % (v, ctx))
            t.assertGreater(s, 0, "no success on %r %s" % (v, ctx))
    return by


def assert_everywhere(t, stored, host, dim, values, failed=True, msg=""):
    """Every value of dim (at least these) has failures (failed=True) and
    successes: the dimension does not separate."""
    by = stored.counters(host, dim)
    ctx = "%s %s by %s: %r %s" % (stored.db, host, dim, by, msg)
    t.assertTrue(set(values) <= set(by), "values missing " + ctx)
    for v in values:
        if failed:
            t.assertGreater(by[v][1], 0, "no failure on %r %s" % (v, ctx))
        t.assertGreater(by[v][0], 0, "no success on %r %s" % (v, ctx))
    return by


def assert_events_match_counters(t, stored, host, slack=0):
    """The failure events (with repeat counts) account for every failure
    the counters counted."""
    ev, cnt = stored.event_total(host), stored.failure_total(host)
    t.assertGreater(cnt, 0, "%s: no failure counted" % host)
    t.assertLessEqual(abs(ev - cnt), slack,
                      "%s: %d failure events vs %d counted failures"
                      % (host, ev, cnt))


def chain_seen(stored):
    """Whether the collector stores the chains of counted handshakes
    (ChainSeen: chain.counter_fp) — not before that landed."""
    try:
        return bool(stored.rows("SELECT 1 FROM chain WHERE counter_fp IS NOT"
                                " NULL LIMIT 1"))
    except Exception:
        return False


def assert_counted_chains(t, stored, host, chains):
    """chains: {counter fingerprint (hex): [served pins in order]}: the
    chains host's counters name are exactly these, and, once the collector
    knows counted chains (ChainSeen), each is stored with those pins."""
    fps = set(stored.counters(host, "chain_fingerprint"))
    t.assertEqual(fps, set(chains), "%s: counted chains" % host)
    if not chain_seen(stored):
        return
    for fp in fps:
        rows = stored.rows("SELECT id FROM chain WHERE counter_fp = ?",
                           bytes.fromhex(fp))
        t.assertTrue(rows, "%s: counted chain %s not stored" % (host, fp))
        t.assertEqual(stored.chain_pins(rows[0][0]), chains[fp],
                      "%s: chain %s" % (host, fp))
