"""Crafted fleets for the viewer tests: handshakes of made-up clients sent
through a real pinshim-collector as protocol frames (tests/lib/wire.py):
counters for every handshake, a failure event for the failed ones, and a
ChainSeen per served chain, as the shim sends them.  Then pinshim-view
reads the collector's database.

    with Fleet(self) as f:                  # a collector, started
        old = f.chain("api.test", "Int A", "Root A")
        f.handshakes("api.test", old, ok=50)
        f.handshakes("api.test", new, failed=20, kind="pin_mismatch",
                     network="corp", pins=[old.pins[0]])
        f.view("diagnose", "--json")        # CompletedProcess
        f.diagnose()                        # the "diagnoses" list
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import wire  # noqa: E402
import x509der  # noqa: E402
from collector import Collector, VIEW_BIN  # noqa: E402,F401

TOKEN = b"viewer-test-token"
HOUR = 3600
DAY = 86400


def pin_of(name):
    """The pin of the key named name (as a chain's certificates get it)."""
    return x509der.pin_of_key(name)


class Chain:
    """A served chain: certs leaf first; key names decide the pins (the
    same key name, the same pin: a reissued certificate)."""

    def __init__(self, names, keys=None, issuers=None, not_before=None,
                 not_after=None, der=True):
        now = int(time.time())
        keys = keys or names
        issuers = issuers or list(names[1:]) + [names[-1] if len(names) == 1
                                                else names[-1]]
        self.certs = []
        for i, name in enumerate(names):
            nb = (not_before or now - 30 * DAY) if i == 0 else now - 900 * DAY
            na = (not_after or now + 90 * DAY) if i == 0 else now + 900 * DAY
            self.certs.append(x509der.cert(i, name, issuers[i], keys[i],
                                           nb, na))
        # Counter.chain_fingerprint: SHA-256 over the certificates' SHA-1s
        h = hashlib.sha256()
        for c in self.certs:
            h.update(hashlib.sha1(c["der"]).digest())
        self.fp = h.digest()
        self.hex = self.fp.hex()
        if not der:
            # claims only: the fields as the sender wrote them, verbatim
            for c, name, issuer in zip(self.certs, names, issuers):
                c.update(der=b"", subject="CN=" + name, issuer="CN=" + issuer)

    @property
    def pins(self):
        return [c["pin"] for c in self.certs]


class Fleet:
    def __init__(self, case, start=True):
        self.case = case
        self.tmp = tempfile.mkdtemp(prefix="pinshim-viewer-")
        self.c = Collector(self.tmp, token=TOKEN)
        self.db = self.c.db
        self.hour = int(time.time()) // HOUR * HOUR
        self.pending_counters, self.pending_events = [], []
        self.seen = {}
        if start:
            self.c.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.c.running():
            self.c.stop()
        log = self.c.log()
        shutil.rmtree(self.tmp, True)
        for bad in ("runtime error:", "AddressSanitizer", "LeakSanitizer"):
            self.case.assertNotIn(bad, log, log[-3000:])

    def chain(self, *names, keys=None, issuers=None, not_before=None,
              not_after=None, der=True):
        return Chain(list(names), keys, issuers, not_before, not_after, der)

    def handshakes(self, host, chain, ok=0, failed=0, kind="pin_mismatch",
                   decision=None, mode="observe", network="office",
                   app="app 1.0", libssl="OpenSSL 3.0.11 19 Sep 2023",
                   os_id="debian", os_version="12", peer="192.0.2.10",
                   pins=None, hour=None, skew=0, time_us=None,
                   verify_error=None, hostname="client1"):
        """ok + failed handshakes of one kind of client with host: one
        counter record, one failure event (count = failed), one ChainSeen.
        skew: the client's clock minus the real time, seconds."""
        hour = self.hour if hour is None else hour
        now_us = time_us or min(int(time.time() * 1e6),
                                (hour + HOUR) * 1000000 - 1)
        client_hour = (hour + skew) // HOUR * HOUR
        pins = pins if pins is not None else ["sha256/" + "A" * 43 + "="]
        self.pending_counters.append(wire.make_counter(
            hour=client_hour, host=host, peer=peer, network=network,
            network_fingerprint=hashlib.sha256(network.encode()).hexdigest(),
            app_version=app, libssl_version=libssl,
            os="%s %s" % (os_id, os_version), chain_fingerprint=chain.fp,
            successes=ok, failures=failed))
        key = (host, chain.hex)
        if key not in self.seen:
            self.seen[key] = True
            self.pending_chains = getattr(self, "pending_chains", [])
            self.pending_chains.append({
                "fingerprint": chain.fp, "host": host,
                "certs": chain.certs, "total": len(chain.certs)})
        if failed:
            decision = decision or ("would_block" if mode == "observe"
                                    and kind == "pin_mismatch" else "blocked")
            verr = verify_error if verify_error is not None else {
                "pin_mismatch": 0, "expired": 10, "not_yet_valid": 9,
                "untrusted_issuer": 20, "hostname_mismatch": 62}.get(kind, 1)
            ev = wire.make_event(
                time_us=now_us + skew * 1000000, last_time_us=now_us +
                skew * 1000000, kind=kind, decision=decision, mode=mode,
                host=host, peer=peer, expected_pins=pins,
                verify_error=verr, verify_error_text="e%d" % verr,
                served_chain=chain.certs, served_total=len(chain.certs),
                built_chain=chain.certs, built_total=len(chain.certs),
                count=failed)
            ev["platform"] = dict(ev["platform"], os_id=os_id,
                                  os_version=os_version,
                                  libssl_version=libssl, hostname=hostname)
            ev["process"] = dict(ev["process"], app_version=app)
            ev["network"] = dict(ev["network"], label=network,
                                 fingerprint=hashlib.sha256(
                                     network.encode()).hexdigest())
            self.pending_events.append(ev)

    def flush(self):
        chains = getattr(self, "pending_chains", [])
        with wire.Sender(self.c.address, token=TOKEN) as s:
            s.hello()
            for i in range(0, max(len(self.pending_events),
                                  len(self.pending_counters), 1), 200):
                s.batch(self.pending_events[i:i + 200],
                        self.pending_counters[i:i + 200],
                        chains=chains if i == 0 else ())
        self.pending_counters, self.pending_events = [], []
        self.pending_chains = []

    def view(self, *args, check=False):
        self.flush()
        return subprocess.run([VIEW_BIN, "--db", self.db] + list(args),
                              capture_output=True, text=True, timeout=120)

    def json(self, *args):
        r = self.view(*(list(args) + ["--json"]))
        self.case.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def diagnose(self, *args):
        return self.json("diagnose", *args)["diagnoses"]


class FleetCase(unittest.TestCase):
    def fleet(self):
        f = Fleet(self)
        self.addCleanup(f.close)
        return f
