"""Shared by the web tests: a database filled by a real pinshim-collector,
and `pinshim-view serve` on it.

    fleet = Fleet(tmpdir).start()     # a collector, then batches sent to it
    fleet.send_all()                  # the scenarios below, as wire frames
    fleet.real_clients()              # + real clients under the shim
    web = Serve(fleet.c.db, tmpdir).start()
    status, headers, body = web.get("/host/" + quote_host(HOSTILE_HOST))
    web.stop()                        # SIGTERM: the exit status

The data (the last six hours, through the protocol, as the shim sends it:
counters for every handshake, one event per failure with its count,
ChainSeen for every counted chain):
  api.test      fine on network "office", fails on "hotel-wifi" whose chain
                ends in an issuer no other network sees (interception)
  HOSTILE_HOST  a host name, network label, app version and certificate
                subject made of markup: they must render as text
  healthy.test  only successes
  pinned.test   (real_clients) curl/python under the shim, the leaf
                chain, then a rotated key in observe mode
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import wire  # noqa: E402
import x509der  # noqa: E402
from collector import Collector, VIEW_BIN, first_line  # noqa: E402

TOKEN = b"web-test-token"
ASAN = os.environ.get("PINSHIM_ASAN") == "1"
HOUR = 3600
HOUR_US = HOUR * 1000000

HOSTILE_HOST = ("evil<script>alert(1)</script>\"'&amp;"
                "<img src=x onerror=alert(2)>.test")
HOSTILE_SUBJECT = ("CN=<script>alert(3)</script>\"'&<img src=y "
                   "onerror=alert(4)>")
HOSTILE_NETWORK = "<b>net</b>&<script>alert(5)</script>"
HOSTILE_VERSION = "\"><svg onload=alert(6)>"

CSP = "default-src 'self'; script-src 'none'"


def quote_host(host):
    """A host as a path segment, as the pages link it."""
    return urllib.parse.quote(host, safe="-._~")


def counter_fp(certs):
    """Counter.chain_fingerprint (shim/chain.c): SHA-256 over the served
    certificates' SHA-1s."""
    return hashlib.sha256(b"".join(hashlib.sha1(c.get("fp_der", c["der"]))
                                   .digest() for c in certs)).digest()


def cert(position, subject_cn, issuer_cn, key_name, claim=False):
    """A Cert dict whose pin and DER follow key_name (two certificates of
    one subject with different keys have different pins).  claim: sent
    without its DER, so its subject reaches the pages as the sender wrote
    it (with DER the collector shows OpenSSL's RFC 2253 text, escaped)."""
    cn = subject_cn[3:] if subject_cn.startswith("CN=") else subject_cn
    c = x509der.cert(position, cn, issuer_cn, key_name)
    if claim:
        c["fp_der"], c["der"] = c["der"], b""
        c["subject"] = "CN=" + cn
    return c


def chain_seen(host, certs):
    return {"fingerprint": counter_fp(certs), "host": host,
            "certs": certs, "total": len(certs)}


class Scenario:
    """One host's traffic: (network, version, chain) → handshakes per hour,
    failures with their events."""

    def __init__(self, host, pins, mode="observe"):
        self.host = host
        self.pins = pins
        self.mode = mode
        self.counters, self.events, self.chains = [], [], []

    def traffic(self, hours, network, chain, successes=0, failures=0,
                version="8.1.2", kind="pin_mismatch", peer="192.0.2.10"):
        now_hour = int(time.time()) // HOUR * HOUR
        self.chains.append(chain_seen(self.host, chain))
        for h in hours:
            hour = now_hour - h * HOUR
            self.counters.append(wire.make_counter(
                hour=hour, host=self.host, network=network,
                app_version=version, peer=peer,
                chain_fingerprint=counter_fp(chain),
                successes=successes, failures=failures))
            if failures:
                t = (hour + 600) * 1000000
                self.events.append(wire.make_event(
                    host=self.host, time_us=t, last_time_us=t + 60000000,
                    count=failures, kind=kind, peer=peer,
                    decision="would_block" if self.mode == "observe"
                    else "blocked", mode=self.mode,
                    expected_pins=self.pins, served_chain=chain,
                    served_total=len(chain), built_chain=[],
                    built_total=0,
                    network=dict(wire.make_event()["network"],
                                 label=network),
                    process=dict(wire.make_event()["process"],
                                 app_version=version)))
        return self


def scenarios():
    office = [cert(0, "api.test", "Test Int", "api.test"),
              cert(1, "Test Int", "Test Root", "Test Int")]
    hotel = [cert(0, "api.test", "Evil Proxy CA", "api.test-mitm"),
             cert(1, "Evil Proxy CA", "Evil Proxy CA", "Evil Proxy CA")]
    api = Scenario("api.test", [office[0]["pin"], "sha256/" + "B" * 43 + "="])
    api.traffic(range(6), "office", office, successes=50)
    api.traffic(range(3), "hotel-wifi", hotel, failures=12)

    evil_ok = [cert(0, HOSTILE_HOST, "Test Int", "evil-ok"),
               cert(1, "Test Int", "Test Root", "Test Int")]
    evil_bad = [cert(0, HOSTILE_SUBJECT, "Test Int", "evil-bad", claim=True),
                cert(1, "Test Int", "Test Root", "Test Int")]
    evil = Scenario(HOSTILE_HOST, [evil_ok[0]["pin"],
                                   "sha256/" + "C" * 43 + "="])
    evil.traffic(range(4), "office", evil_ok, successes=20)
    evil.traffic(range(2), HOSTILE_NETWORK, evil_bad, failures=5,
                 version=HOSTILE_VERSION, peer="192.0.2.66")

    healthy = Scenario("healthy.test", [])
    healthy.traffic(range(6), "office", office, successes=40)
    return [api, evil, healthy]


class Fleet:
    """A real collector and what was sent to it."""

    def __init__(self, tmpdir):
        self.tmp = tmpdir
        self.c = Collector(tmpdir, token=TOKEN)

    def start(self):
        self.c.start()
        return self

    def stop(self):
        if self.c.running():
            return self.c.stop()
        return None

    def send(self, events=(), counters=(), chains=()):
        with wire.Sender(self.c.address, token=TOKEN) as s:
            s.hello()
            return s.batch(events, counters, chains=chains)

    def send_all(self):
        self.scenarios = scenarios()
        for sc in self.scenarios:
            self.send(sc.events, sc.counters, sc.chains)
        return self

    def real_clients(self):
        """curl / python under the shim against real TLS servers: the pinned
        chain passes, a rotated key fails in observe mode.  Returns the
        number of handshakes made."""
        import harness as H
        from harness import BOGUS, Host

        pki = H.pki()
        pool = H.ServerPool(pki)
        shim = H.Shim(self.tmp)
        shim.write_policy(text=H.policy_text(
            [Host("pinned.test", pins=[pki.pins["leaf"], BOGUS])],
            mode="observe", version="web-1", keys=self.c.policy_keys()))
        env = {"PINSHIM_SPOOL": os.path.join(self.tmp, "spool"),
               "PINSHIM_NETWORK": "lab-net"}
        kinds = ["python", "tlsclient:connect"] + ([] if ASAN else ["curl"])
        n = 0
        try:
            for chain in ("leaf", "rotated"):
                for kind in kinds:
                    srv = pool.get(chain, "1.3")
                    argv, stdin = H.client_command(
                        kind, "pinned.test", srv.port, ca=pki.cert("root"),
                        tls="1.3")
                    r = H.run(argv, shim.env(events=False, extra=env),
                              stdin=stdin, kind=kind)
                    if not H.client_succeeded(kind, r):
                        raise AssertionError("client failed\n" + r.describe())
                    n += 1
        finally:
            pool.stop()
        return n

    def wait_handshakes(self, host, n, timeout=30):
        """Polls the database until host has n counted handshakes."""
        import sqlite3
        deadline = time.monotonic() + timeout
        got = 0
        while time.monotonic() < deadline:
            con = sqlite3.connect("file:%s?mode=ro" % self.c.db, uri=True,
                                  timeout=10)
            try:
                got = con.execute("SELECT total(successes + failures)"
                                  " FROM counter WHERE host = ?",
                                  (host,)).fetchone()[0]
            finally:
                con.close()
            if got >= n:
                return got
            time.sleep(0.1)
        raise AssertionError("%s: %d of %d handshakes counted\n%s"
                             % (host, got, n, self.c.log()))

    def wait_events(self, host, n, timeout=30):
        """Polls the collector until host has n failure events stored."""
        deadline = time.monotonic() + timeout
        got = 0
        while time.monotonic() < deadline:
            got = sum(f["count"] for f in self.c.failures(host=host))
            if got >= n:
                return got
            time.sleep(0.1)
        raise AssertionError("%s: %d of %d failure events stored\n%s"
                             % (host, got, n, self.c.log()))

    def view_json(self, *args):
        """pinshim-view --db DB ARGS --json, parsed."""
        r = self.c.view(*(list(args) + ["--json"]))
        return json.loads(r.stdout)


class ServeError(Exception):
    pass


class Serve:
    """pinshim-view serve on a database."""

    def __init__(self, db, tmpdir, listen="127.0.0.1:0", args=()):
        self.db = db
        self.listen = listen
        self.args = list(args)
        self.log_path = os.path.join(tmpdir, "serve-%d.log" % id(self))
        self.proc = None
        self.url = None

    def start(self, timeout=60):
        self._log = open(self.log_path, "ab")
        env = dict(os.environ)
        if ASAN:
            env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
        self.proc = subprocess.Popen(
            [VIEW_BIN, "--db", self.db, "serve", "--listen", self.listen]
            + self.args,
            stdout=subprocess.PIPE, stderr=self._log,
            stdin=subprocess.DEVNULL, env=env)
        line = first_line(self.proc, timeout)
        if not line.startswith("listening on http://"):
            self.proc.kill()
            self.proc.wait()
            raise ServeError("serve did not start: %r\n%s" % (line, self.log()))
        self.url = line.split()[-1].rstrip("/")
        return self

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise ServeError("serve ignored signal %d for %ds" % (sig, timeout))
        self.proc.stdout.close()
        self._log.close()
        self.proc = None
        return rc

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def get(self, path, method="GET", timeout=60):
        """(status, headers as a dict with lower-case names, body bytes)."""
        req = urllib.request.Request(self.url + path, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return (resp.status, {k.lower(): v for k, v in
                                      resp.headers.items()}, resp.read())
        except urllib.error.HTTPError as e:
            body = e.read()
            return (e.code, {k.lower(): v for k, v in e.headers.items()},
                    body)

    def json(self, path):
        status, headers, body = self.get(path)
        if status != 200:
            raise ServeError("%s: %d %r" % (path, status, body[:500]))
        return json.loads(body)
