#!/usr/bin/python3
"""The failure lab: real servers, real clients under the shim, a real
collector, one failure cause per scenario, and a SQLite database as the
result.

    python3 tests/lab/lab.py SCENARIO --db PATH [--build DIR] [--json]
                             [--scale F] [--collector HOST:PORT --token-file F]
    python3 tests/lab/lab.py --list

runs tests/lab/scenarios/SCENARIO.py end to end: it starts a
pinshim-collector on a fresh PATH, runs the scenario's run(lab), waits
until everything the shims sent is stored, stops the collector and prints
what was produced (handshakes run, successes and failures per host,
network, version and kind, events and counters stored, wall time, database
size).  With --collector, a running collector that writes PATH is used
instead (the demo), and PATH is not recreated.  The database is what the
viewer reads; the scenario's docstring and its lab.answer() are the known
answer the viewer must find in it.

Lab API (what a scenario's run(lab) uses)
-----------------------------------------

    with Lab("rollover", db="/tmp/x.db") as lab:   # collector started
        ...                                        # everything cleaned up

lab.tmp                 the run's temporary directory (removed at exit)
lab.scale               volume factor (1.0; the mixed scenario lowers it):
                        use lab.n(200) for handshake counts
lab.pki(scope="")       a PKI of its own (directory lab.tmp/pki-SCOPE),
                        generated with the openssl CLI:
    pki.root(name, cn=None, key=None, start=-3650d, end=+3650d)   -> Cert
    pki.intermediate(name, issuer, cn=None, key=None, start=, end=) -> Cert
    pki.leaf(name, hosts, issuer, key=None, start=-30d, end=+90d,
             key_type="ec"|"rsa")                                   -> Cert
        hosts: DNS names (or IP literals) of the subjectAltName.
        key: a Cert (or name) whose private key to reuse (same SPKI pin,
             e.g. a leaf reissued by another intermediate); default a new
             key ("rotated").
        start / end: validity, as seconds relative to now (int/float), an
             absolute datetime, or "-30d" / "+2h" / "+8s" strings.
    pki.bundle(name, *certs) -> path of a PEM file holding those certs
    Cert: .name .cn .pem (path) .key (path) .chain (path: the cert and its
          intermediates, never the root: what a server sends) .served (those
          Certs) .counter_fp (hex Counter.chain_fingerprint of .chain) .pin
          ("sha256/..." of its SPKI) .sha256 (hex of the DER) .issuer
          (Cert or None) .not_before .not_after (Unix seconds)
lab.server(cert, address="127.0.0.1", tls=None) -> Server (started)
    a TLS server (tests/lib/tlsserver.TLSServer) serving cert.chain on
    ADDRESS:<ephemeral port>.  .port .address .cert
    server.switch(cert) -> T: serves another chain from now on (new
    connections); returns the time of the switch (Unix seconds, float).
lab.collector           the started tests/lib/collector.Collector
                        (.address .db .token_file)
lab.policy(version, hosts, mode="observe", name=None) -> path
    a policy file with [policy] version/mode/collector/token and one
    [host NAME] per entry of hosts: {name: [pins]} or a list of
    harness.Host.  Written once per app version, normally.
lab.client(kind, host, port, connect_ip="127.0.0.1", network="lab",
           version="app 1.0", policy=None, mode=None, ca=None, count=1,
           threads=None, tls=None, netns=None, wrapper=None, skew=None,
           env=None, background=False, timeout=120) -> ClientRun
    runs one client under the shim (LD_PRELOAD=libpinshim.so) with
    PINSHIM_COLLECTOR, PINSHIM_NETWORK=network, PINSHIM_APP_VERSION=version,
    PINSHIM_POLICY=policy, PINSHIM_SPOOL=<the run's spool>, PINSHIM_MODE=mode
    (None: the policy's).  kind: "tlsclient" (count sequential full
    handshakes; with threads=T, T threads of count each), "curl" (count
    URLs, no session reuse), "python" (/usr/bin/python3 ssl, count
    connections), "s_client" (openssl s_client, one).  ca: a Cert or a
    path of the CA file the client trusts (default: none, i.e. every chain
    untrusted — pass one).  netns: run as `ip netns exec NETNS ...`.
    wrapper: argv prefix (e.g. ["faketime", "-f", "-150d"]); skew="-150d"
    is the shorthand for faketime with a real monotonic clock (libfaketime
    is then preloaded after libpinshim).  background=True returns at once;
    run.wait() finishes it.  ClientRun: .ok .failed (handshakes as the
    program saw them) .returncode .stdout .stderr .argv .elapsed
lab.traffic(host, server, ca, policies, networks=NETWORKS, per=20,
            mix=True, **client_args) -> [ClientRun]
    every network x every version {version: policy}: a tlsclient run of
    lab.n(per) handshakes each, plus a curl / python3 / s_client in turn.
lab.clients(specs, jobs=3) -> [ClientRun]
    runs lab.client(**spec) for each dict of specs, jobs at a time.
lab.spawn(argv, name, netns=None, env=None) -> subprocess.Popen
    a helper daemon (proxy, load balancer ...) killed at cleanup.
lab.on_cleanup(fn)      fn() is called at cleanup (last registered first):
                        namespaces, firewall rules, anything global.
lab.answer(host, cause, dimension, value, **facts)
    records the scenario's known answer (printed, and in --json).
lab.mark(name, t=None)  records a named moment (e.g. "T"); lab.marks[name]
lab.wait_delivered(timeout=60)
    waits until no client runs, the spool is empty and the collector's
    stored counts (records, event counts, counters) stop changing.
lab.log(fmt, *args)     progress line on stderr (with --verbose)
lab.ports()             the TCP ports the run listens on
lab.closing             true once cleanup began (a scenario's own threads
                        stop); lab.kill_runs() kills the running clients
lab.local.scenario      per thread: the scenario whose answers are recorded
                        (the mixed scenario runs several in threads)

A scenario is tests/lab/scenarios/NAME.py with
    run(lab)                makes its servers, PKI, policies and traffic and
                            records its known answer with lab.answer()
    a docstring             saying the known answer in words: host, cause,
                            the dimension and value that separate failing
                            from succeeding handshakes
    check(t, stored, a)     proves answer a from the database alone
                            (t: a unittest.TestCase, stored: labdb.Stored);
                            the tests and the mixed scenario call it.

Cleanup (Lab.__exit__, also on exceptions; the CLI turns SIGINT/SIGTERM
into an exception): background clients and spawned daemons are killed by
process group, servers stopped (their ports closed), cleanup functions
called, the collector stopped (SIGTERM: it commits what it has), the
temporary directory removed.  The database stays.
"""

import argparse
import base64
import contextlib
import datetime
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

import collector as C  # noqa: E402
import harness as H  # noqa: E402
from tlsserver import TLSServer  # noqa: E402

SCENARIO_DIR = os.path.join(HERE, "scenarios")
PYTHON = "/usr/bin/python3"
FAKETIME_LIB = "/usr/$LIB/faketime/libfaketimeMT.so.1"

# The PINSHIM_NETWORK labels and app versions scenarios use by default.
NETWORKS = ("office", "home", "hotel-wifi", "mobile-4g")


# ---------------------------------------------------------------------------
# Which binaries

def configure(build=None):
    """Points the test helpers at the binaries of build (a build
    directory); without it, at $PINSHIM_* (tests/meson.build) or
    SRCDIR/build."""
    if build is None and os.environ.get("PINSHIM_LIB"):
        return
    build = os.path.abspath(build or os.path.join(SRCDIR, "build"))
    H.LIB = os.path.join(build, "shim", "libpinshim.so")
    H.TLSCLIENT = os.path.join(build, "tests", "tlsclient")
    C.COLLECTOR_BIN = os.path.join(build, "collector", "pinshim-collector")
    C.VIEW_BIN = os.path.join(build, "viewer", "pinshim-view")
    for path in (H.LIB, H.TLSCLIENT, C.COLLECTOR_BIN):
        if not os.path.exists(path):
            raise LabError("%s: not built (ninja -C %s)" % (path, build))


class LabError(Exception):
    pass


# ---------------------------------------------------------------------------
# PKI

def _when(spec, now):
    """Unix seconds from "-30d" / "+8s" / a number of seconds relative to
    now / a datetime."""
    if isinstance(spec, datetime.datetime):
        return spec.timestamp()
    if isinstance(spec, (int, float)):
        return now + spec
    m = re.fullmatch(r"([+-]\d+(?:\.\d+)?)([smhd])", spec)
    if not m:
        raise ValueError("validity %r: want e.g. -30d, +8s" % spec)
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    return now + float(m.group(1)) * unit


def _gentime(t):
    return time.strftime("%Y%m%d%H%M%SZ", time.gmtime(int(t)))


EXTENSIONS = """\
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[int_ext]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[leaf_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = @san
[san]
"""

CA_CONFIG = """\
[ca]
default_ca = lab
[lab]
database = %(dir)s/index.txt
new_certs_dir = %(dir)s
serial = %(dir)s/serial
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[anything]
commonName = supplied
organizationName = optional
[req]
distinguished_name = dn
[dn]
"""


class Cert:
    def __init__(self, pki, name, cn, issuer, not_before, not_after):
        self.name = name
        self.cn = cn
        self.issuer = issuer
        self.not_before = not_before
        self.not_after = not_after
        self.pem = os.path.join(pki.dir, name + ".pem")
        self.key = os.path.join(pki.dir, name + ".key.pem")
        self.chain = os.path.join(pki.dir, name + ".chain.pem")
        with open(self.pem) as f:
            self.der = ssl.PEM_cert_to_DER_cert(f.read())
        self.sha256 = hashlib.sha256(self.der).hexdigest()
        self.pin = pki.spki_pin(self.pem)
        # The counters know a served chain only by this fingerprint.
        self.served = [self]
        while self.served[-1].issuer is not None and \
                self.served[-1].issuer.issuer is not None:
            self.served.append(self.served[-1].issuer)
        self.counter_fp = hashlib.sha256(b"".join(
            hashlib.sha1(c.der).digest() for c in self.served)).hexdigest()
        # What a server sends: this certificate and its issuers, not the
        # self-signed root.
        with open(self.chain, "w") as out:
            for c in self.served:
                with open(c.pem) as f:
                    out.write(f.read())

    @property
    def is_root(self):
        return self.issuer is None

    def __repr__(self):
        return "<Cert %s %s>" % (self.name, self.pin)


class PKI:
    """Certificates made with the openssl CLI in one directory (thread
    safe: one openssl run at a time per PKI)."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.certs = {}
        self._lock = threading.Lock()

    def _openssl(self, *args, stdin=None):
        r = subprocess.run(["openssl"] + list(args), cwd=self.dir,
                           input=stdin, capture_output=True, timeout=60)
        if r.returncode != 0:
            raise LabError("openssl %s: %s" % (" ".join(args[:2]),
                                              r.stderr.decode(errors="replace")))
        return r.stdout

    def spki_pin(self, pem):
        """sha256/<base64> of the certificate's SubjectPublicKeyInfo: the
        PEM "PUBLIC KEY" body is that DER."""
        out = self._openssl("x509", "-in", pem, "-pubkey", "-noout").decode()
        body = "".join(l for l in out.splitlines() if not l.startswith("-----"))
        return "sha256/" + base64.b64encode(
            hashlib.sha256(base64.b64decode(body)).digest()).decode()

    def _key(self, name, key, key_type):
        path = os.path.join(self.dir, name + ".key.pem")
        if key is not None:
            src = key.key if isinstance(key, Cert) else self.certs[key].key
            if os.path.abspath(src) != path:
                shutil.copyfile(src, path)
            return path
        if key_type == "rsa":
            self._openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
                          "rsa_keygen_bits:2048", "-out", path)
        else:
            self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
                          "ec_paramgen_curve:P-256", "-out", path)
        return path

    def _issue(self, name, cn, issuer, ext, key, key_type, start, end,
               hosts=()):
        now = time.time()
        nb, na = _when(start, now), _when(end, now)
        with self._lock:
            if name in self.certs:
                raise LabError("pki %s: %s issued twice" % (self.dir, name))
            work = tempfile.mkdtemp(prefix="ca-", dir=self.dir)
            try:
                keypath = self._key(name, key, key_type)
                conf = os.path.join(work, "ca.cnf")
                san = "".join("%s.%d = %s\n" % (
                    "IP" if re.fullmatch(r"[0-9.]+|.*:.*", h) else "DNS", i, h)
                    for i, h in enumerate(hosts, 1))
                with open(conf, "w") as f:
                    f.write(CA_CONFIG % {"dir": work})
                    f.write(EXTENSIONS + (san or "DNS.1 = unused.invalid\n"))
                open(os.path.join(work, "index.txt"), "w").close()
                with open(os.path.join(work, "serial"), "w") as f:
                    f.write(os.urandom(8).hex().upper() + "\n")
                csr = os.path.join(work, "req.csr")
                self._openssl("req", "-new", "-key", keypath, "-config", conf,
                              "-subj", "/O=pinshim lab/CN=%s" % cn, "-out", csr)
                args = ["ca", "-batch", "-config", conf, "-notext",
                        "-in", csr, "-extfile", conf,
                        "-extensions", ext, "-startdate", _gentime(nb),
                        "-enddate", _gentime(na),
                        "-out", os.path.join(self.dir, name + ".pem")]
                if issuer is None:
                    args += ["-selfsign", "-keyfile", keypath]
                else:
                    args += ["-cert", issuer.pem, "-keyfile", issuer.key]
                self._openssl(*args)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            cert = Cert(self, name, cn, issuer, int(nb), int(na))
            self.certs[name] = cert
            return cert

    def root(self, name, cn=None, key=None, start="-3650d", end="+3650d"):
        return self._issue(name, cn or "%s Root CA" % name, None, "ca_ext",
                           key, "ec", start, end)

    def intermediate(self, name, issuer, cn=None, key=None, start="-1800d",
                     end="+1800d"):
        return self._issue(name, cn or "%s Intermediate CA" % name, issuer,
                           "int_ext", key, "ec", start, end)

    def leaf(self, name, hosts, issuer, key=None, start="-30d", end="+90d",
             key_type="ec", cn=None):
        if isinstance(hosts, str):
            hosts = [hosts]
        return self._issue(name, cn or hosts[0], issuer, "leaf_ext", key,
                           key_type, start, end, hosts)

    def bundle(self, name, *certs):
        path = os.path.join(self.dir, name + ".bundle.pem")
        with open(path, "w") as out:
            for c in certs:
                with open(c.pem) as f:
                    out.write(f.read())
        return path


# ---------------------------------------------------------------------------
# Servers

class Server(TLSServer):
    """A TLSServer whose chain can be switched while it runs."""

    def __init__(self, cert, address="127.0.0.1", tls=None):
        super().__init__(cert.chain, cert.key, min_version=tls,
                         max_version=tls, tickets=False, address=address)
        self.cert = cert
        self.tls = tls
        self.switches = []      # [(time, cert)]

    def switch(self, cert):
        """Serves cert from now on: the context is replaced whole (one
        reference assignment), so a handshake in progress keeps the old
        one and the next gets the new one.  Returns the time of the
        switch."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert.chain, cert.key)
        ctx.minimum_version = self.context.minimum_version
        ctx.maximum_version = self.context.maximum_version
        ctx.options = self.context.options
        ctx.num_tickets = 0
        t = time.time()
        self.context = ctx
        self.cert = cert
        self.switches.append((t, cert))
        return t


# ---------------------------------------------------------------------------
# Clients

# One Python client process, count connections (no session reuse: each a
# full handshake).  Prints one "ok"/"fail:" line per connection.
PY_CLIENT = r"""
import socket, ssl, sys
host, ip, port, ca, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
ctx = ssl.create_default_context(cafile=ca or None)
status = 0
for i in range(count):
    try:
        with socket.create_connection((ip, port), timeout=20) as s:
            with ctx.wrap_socket(s, server_hostname=host) as t:
                t.sendall(b"ping\n")
                data = b""
                while True:
                    d = t.recv(4096)
                    if not d:
                        break
                    data += d
                print("ok", data.decode().strip(), t.version())
    except ssl.SSLCertVerificationError as e:
        print("fail: verify", e.verify_code, e.verify_message)
        status = 1
    except (ssl.SSLError, OSError) as e:
        print("fail:", type(e).__name__, e)
        status = 1
sys.exit(status)
"""


class ClientRun:
    def __init__(self, lab, kind, argv, env, stdin, timeout, labels):
        self.lab = lab
        self.kind = kind
        self.argv = argv
        self.labels = labels        # host, network, version, ...
        self.timeout = timeout
        self.returncode = None
        self.stdout = self.stderr = ""
        self.ok = self.failed = 0
        self._stdin = stdin
        self.t0 = time.monotonic()
        self.elapsed = None
        while not lab._slots.acquire(timeout=0.2):
            if lab.closing:
                raise LabError("lab %s is closing" % lab.name)
        if lab.closing:
            lab._slots.release()
            raise LabError("lab %s is closing" % lab.name)
        self.proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)
        lab._track(self)

    def wait(self):
        if self.elapsed is not None:
            return self
        try:
            out, err = self.proc.communicate(
                self._stdin.encode() if self._stdin else None,
                timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.lab._killpg(self.proc)
            out, err = self.proc.communicate()
            err += b"\n[lab: timed out after %ds]" % self.timeout
        self.returncode = self.proc.returncode
        self.stdout = out.decode(errors="replace")
        self.stderr = err.decode(errors="replace")
        self.elapsed = time.monotonic() - self.t0
        self._tally()
        self.lab._untrack(self)
        self.lab._slots.release()
        return self

    def _tally(self):
        """Handshakes as the program saw them."""
        if self.kind in ("tlsclient", "python"):
            for line in self.stdout.splitlines():
                if line.startswith("ok"):
                    self.ok += 1
                elif line.startswith("fail:"):
                    self.failed += 1
        elif self.kind == "curl":
            # -w prints one "code=NNN" line per URL; 000 = no response.
            for line in self.stdout.splitlines():
                if line.startswith("code="):
                    if line == "code=200":
                        self.ok += 1
                    else:
                        self.failed += 1
        elif self.kind == "s_client":
            if "pong" in self.stdout:
                self.ok += 1
            else:
                self.failed += 1

    def describe(self):
        return ("%s %s: exit %s ok=%d failed=%d\n  argv: %s\n  stdout: %s\n"
                "  stderr: %s" % (self.kind, self.labels, self.returncode,
                                  self.ok, self.failed, " ".join(self.argv),
                                  self.stdout[-1500:], self.stderr[-1500:]))


def _ca_path(ca):
    if ca is None:
        return None
    return ca.pem if isinstance(ca, Cert) else ca


def client_argv(kind, host, port, connect_ip, ca, count, threads, tls):
    """(argv, stdin) of one client process."""
    ca = _ca_path(ca)
    if kind in ("tlsclient", "tlsclient:connect"):
        argv = [H.TLSCLIENT, "--host", host, "--port", str(port),
                "--connect-ip", connect_ip, "--count", str(count)]
        argv += ["--mode", "threads", "--threads", str(threads)] if threads \
            else ["--mode", "connect"]
        if ca:
            argv += ["--ca", ca]
        if tls:
            argv += ["--tls", tls]
        return argv, None
    if kind == "curl":
        argv = ["curl", "-sS", "--max-time", "30", "--no-sessionid",
                "--resolve", "%s:%d:%s" % (host, port, connect_ip),
                "--cacert", ca or os.devnull, "-w", "\\ncode=%{http_code}\\n"]
        if tls == "1.2":
            argv += ["--tlsv1.2", "--tls-max", "1.2"]
        elif tls == "1.3":
            argv += ["--tlsv1.3", "--tls-max", "1.3"]
        argv += ["https://%s:%d/" % (host, port)] * count
        return argv, None
    if kind == "python":
        return [PYTHON, "-c", PY_CLIENT, host, connect_ip, str(port),
                ca or "", str(count)], None
    if kind == "s_client":
        argv = ["openssl", "s_client", "-connect", "%s:%d" % (connect_ip, port),
                "-servername", host, "-quiet", "-verify", "9",
                "-verify_return_error", "-verify_hostname", host]
        argv += ["-CAfile", ca] if ca else ["-no-CAfile", "-no-CApath",
                                            "-no-CAstore"]
        if tls == "1.2":
            argv.append("-tls1_2")
        elif tls == "1.3":
            argv.append("-tls1_3")
        return argv, "ping\n"
    raise ValueError("unknown client kind %r" % kind)


# ---------------------------------------------------------------------------
# The lab

class Lab:
    def __init__(self, name, db, verbose=False, scale=1.0, token=None,
                 max_procs=4, collector=None):
        self.name = name
        self.db = os.path.abspath(db)
        self.verbose = verbose
        self.scale = scale
        self.tmp = tempfile.mkdtemp(prefix="pinshim-lab-%s-" % name)
        self.spool = os.path.join(self.tmp, "spool")
        os.makedirs(self.spool, mode=0o700)
        self.answers = []
        self.marks = {}
        self.t_start = time.time()
        self._pkis = {}
        self._servers = []
        self._runs = set()
        self._finished = []
        self._daemons = []
        self._cleanups = []
        self._lock = threading.Lock()
        self._policy_n = 0
        # Per thread: which scenario is running (the mixed scenario runs
        # several at once; answers name theirs).
        self.local = threading.local()
        # Client processes at once, whatever the scenarios ask (2 cores).
        self._slots = threading.BoundedSemaphore(max_procs)
        self.collector = None
        # (address, token file) of a collector someone else runs on db
        # (the demo), instead of one of our own.
        self._external = collector
        self.closing = False
        self._token = token or base64.b64encode(os.urandom(18)).decode()

    # -- life cycle ------------------------------------------------------

    def start(self):
        if self._external:
            self.collector = ExternalCollector(self.db, *self._external)
            self.log("collector on %s (not ours), database %s",
                     self.collector.address, self.db)
            return self
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(self.db + suffix)
            except FileNotFoundError:
                pass
        os.makedirs(os.path.dirname(self.db) or ".", exist_ok=True)
        self.collector = C.Collector(self.tmp, token=self._token, db=self.db)
        self.collector.start()
        self.log("collector on %s, database %s", self.collector.address,
                 self.db)
        return self

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Kills what runs, stops servers, runs cleanups, stops the
        collector, removes the temporary directory.  Idempotent."""
        self.closing = True
        self.kill_runs()
        for p in reversed(self._daemons):
            self._killpg(p)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self._daemons = []
        for s in self._servers:
            try:
                s.stop(timeout=5)
            except Exception as e:
                self.log("server %d: %s", s.port, e)
        self._servers = []
        while self._cleanups:
            fn = self._cleanups.pop()
            try:
                fn()
            except Exception as e:
                print("lab: cleanup %r: %s" % (fn, e), file=sys.stderr)
        if self.collector is not None and self.collector.running():
            try:
                self.collector.stop()
            except C.CollectorError as e:
                print("lab: collector: %s" % e, file=sys.stderr)
        if self.tmp and os.path.isdir(self.tmp):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def kill_runs(self):
        """Kills every client still running (their threads see them end)."""
        with self._lock:
            runs = list(self._runs)
        for r in runs:
            self._killpg(r.proc)

    @staticmethod
    def _killpg(proc):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                proc.kill()
            except ProcessLookupError:
                pass

    def on_cleanup(self, fn):
        self._cleanups.append(fn)
        return fn

    def log(self, fmt, *args):
        if self.verbose:
            print("lab %s %6.2fs: %s" % (self.name, time.time() - self.t_start,
                                          fmt % args), file=sys.stderr)

    # -- what a scenario uses --------------------------------------------

    def n(self, count):
        """A handshake count scaled by lab.scale (at least 1)."""
        return max(1, int(round(count * self.scale)))

    def pki(self, scope=""):
        with self._lock:
            p = self._pkis.get(scope)
            if p is None:
                p = PKI(os.path.join(self.tmp, "pki-" + (scope or "main")))
                self._pkis[scope] = p
            return p

    def server(self, cert, address="127.0.0.1", tls=None):
        s = Server(cert, address=address, tls=tls).start()
        with self._lock:
            self._servers.append(s)
        self.log("server %s:%d serves %s", address, s.port, cert.name)
        return s

    def policy(self, version, hosts, mode="observe", name=None):
        if isinstance(hosts, dict):
            hosts = [H.Host(h, pins=p) for h, p in hosts.items()]
        # an ExternalCollector too: always a token
        text = H.policy_text(hosts, mode=mode, version=version,
                             keys={"collector": self.collector.address,
                                   "token": self.collector.token_file})
        with self._lock:
            self._policy_n += 1
            n = self._policy_n
        path = os.path.join(self.tmp, "%s.policy-%d.ini"
                            % (re.sub(r"[^0-9A-Za-z_.-]", "_", name or version), n))
        with open(path, "w") as f:
            f.write(text)
        return path

    def env(self, network, version, policy, mode=None, extra=None):
        env = H.base_env()
        env["LD_PRELOAD"] = H.preload_value(True)
        env["PINSHIM_COLLECTOR"] = self.collector.address
        env["PINSHIM_SPOOL"] = self.spool
        if network:
            env["PINSHIM_NETWORK"] = network
        if version:
            env["PINSHIM_APP_VERSION"] = version
        if policy:
            env["PINSHIM_POLICY"] = policy
        if mode:
            env["PINSHIM_MODE"] = mode
        if extra:
            env.update(extra)
        return env

    def client(self, kind, host, port, connect_ip="127.0.0.1", network="lab",
               version="app 1.0", policy=None, mode=None, ca=None, count=1,
               threads=None, tls=None, netns=None, wrapper=None, skew=None,
               env=None, background=False, timeout=120):
        argv, stdin = client_argv(kind, host, port, connect_ip, ca, count,
                                  threads, tls)
        kind = "tlsclient" if kind.startswith("tlsclient") else kind
        e = self.env(network, version, policy, mode, env)
        if skew:
            # libfaketime after libpinshim (faketime(1) would append it the
            # same way); the monotonic clock stays real so that timeouts
            # and the sender's backoff behave.
            e["LD_PRELOAD"] = e["LD_PRELOAD"] + ":" + FAKETIME_LIB
            e["FAKETIME"] = skew
            e["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
            e["FAKETIME_DONT_RESET"] = "1"
        if wrapper:
            argv = list(wrapper) + argv
        if netns:
            argv = ["ip", "netns", "exec", netns] + argv
        labels = {"host": host, "network": network, "version": version,
                  "skew": skew, "netns": netns, "connect_ip": connect_ip}
        run = ClientRun(self, kind, argv, e, stdin, timeout, labels)
        return run if background else run.wait()

    def traffic(self, host, server, ca, policies, networks=NETWORKS, per=20,
                mix=True, jobs=3, **kw):
        """Handshakes to host on every network x every version: per cell one
        tlsclient run of lab.n(per) handshakes, and (mix) every third cell
        also a curl, a python3 or an openssl s_client.  policies:
        {app version: policy path}.  kw: more lab.client() arguments (ca
        may also be {version: ca}).  The runs."""
        specs = []
        i = 0
        for net in networks:
            for version, policy in policies.items():
                cell_ca = ca.get(version) if isinstance(ca, dict) else ca
                base = dict(host=host, port=server.port, network=net,
                            version=version, policy=policy, ca=cell_ca)
                base.update(kw)
                specs.append(dict(base, kind="tlsclient", count=self.n(per)))
                if mix:
                    kind = ("curl", "python", "s_client")[i % 3]
                    specs.append(dict(base, kind=kind,
                                      count=1 if kind == "s_client" else 2))
                i += 1
        return self.clients(specs, jobs=jobs)

    def clients(self, specs, jobs=3):
        """lab.client(**spec) for every spec, jobs at a time; the runs in
        order."""
        ex = ThreadPoolExecutor(max_workers=jobs)
        try:
            futures = [ex.submit(self.client, **s) for s in specs]
            return [f.result() for f in futures]
        except BaseException:
            # Interrupted (or a client could not start): stop the others
            # now rather than after they finish.
            self.closing = True
            self.kill_runs()
            raise
        finally:
            ex.shutdown(wait=True, cancel_futures=True)

    def spawn(self, argv, name, netns=None, env=None, log=True):
        if netns:
            argv = ["ip", "netns", "exec", netns] + list(argv)
        out = open(os.path.join(self.tmp, name + ".log"), "ab") if log \
            else subprocess.DEVNULL
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                             stdout=out, stderr=out, start_new_session=True)
        if log:
            out.close()
        self._daemons.append(p)
        self.log("spawned %s (pid %d): %s", name, p.pid, " ".join(argv))
        return p

    def answer(self, host, cause, dimension, value, **facts):
        a = {"scenario": getattr(self.local, "scenario", self.name),
             "host": host, "cause": cause,
             "dimension": dimension, "value": value}
        a.update(facts)
        with self._lock:
            self.answers.append(a)
        return a

    def mark(self, name, t=None):
        self.marks[name] = time.time() if t is None else t
        return self.marks[name]

    # -- bookkeeping -----------------------------------------------------

    def _track(self, run):
        with self._lock:
            self._runs.add(run)

    def _untrack(self, run):
        with self._lock:
            self._runs.discard(run)
            self._finished.append(run)

    @property
    def runs(self):
        with self._lock:
            return list(self._finished)

    def ports(self):
        """The TCP ports this run listened on (servers, collector)."""
        with self._lock:
            out = [s.port for s in self._servers]
        if self.collector is not None and self.collector.port:
            out.append(self.collector.port)
        return out

    def _spool_pending(self):
        try:
            # batches and claimed batches; not the last-delivery stamp
            return [n for n in os.listdir(self.spool)
                    if not n.startswith(".") and not n.endswith(".torn")
                    and n != "last-delivery"]
        except FileNotFoundError:
            return []

    def stored(self):
        """(records, events incl. repeats, counted handshakes) stored."""
        return stored_totals(self.db)

    def wait_delivered(self, timeout=60, quiet=1.0):
        deadline = time.monotonic() + timeout
        with self._lock:
            running = list(self._runs)
        for r in running:
            r.wait()
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            now = self.stored()
            if now != last:
                last, since = now, time.monotonic()
            elif not self._spool_pending() and \
                    time.monotonic() - since >= quiet:
                return now
            time.sleep(0.1)
        raise LabError("not delivered after %ds: spool %r, stored %r"
                       % (timeout, self._spool_pending(), last))


class ExternalCollector:
    """A collector this lab did not start: used, never stopped."""

    def __init__(self, db, address, token_file):
        self.db = db
        self.address = address
        self.port = int(address.rsplit(":", 1)[1])
        self.token_file = os.path.abspath(token_file)

    def running(self):
        return False


def stored_totals(db):
    try:
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    except sqlite3.Error:
        return (0, 0, 0)
    try:
        rec, ev = con.execute("SELECT count(*), total(count) FROM record").fetchone()
        hs, = con.execute("SELECT total(successes + failures) FROM counter").fetchone()
        return (rec, int(ev), int(hs))
    except sqlite3.Error:
        return (0, 0, 0)
    finally:
        con.close()


# ---------------------------------------------------------------------------
# Scenarios

def scenario_names():
    return sorted(f[:-3] for f in os.listdir(SCENARIO_DIR)
                  if f.endswith(".py") and not f.startswith("_"))


def load_scenario(name):
    path = os.path.join(SCENARIO_DIR, name + ".py")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or not os.path.exists(path):
        raise LabError("no scenario %r (have: %s)"
                       % (name, ", ".join(scenario_names())))
    spec = importlib.util.spec_from_file_location("lab_scenario_" + name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def scenario_check(name):
    """check(t, stored, answer) of scenario name (see the module doc)."""
    fn = getattr(load_scenario(name), "check", None)
    if fn is None:
        raise LabError("scenario %s: no check()" % name)
    return fn


def run_scenario(name, db, verbose=False, scale=1.0, collector=None):
    """Runs scenario name into db (a fresh one, or the one of collector =
    (address, token file)); the summary dict (see summarize)."""
    mod = load_scenario(name)
    t0 = time.monotonic()
    with Lab(name, db, verbose=verbose, scale=scale,
             collector=collector) as lab:
        mod.run(lab)
        lab.wait_delivered()
        runs = lab.runs
        ports = lab.ports()
        answers = lab.answers
        marks = lab.marks
        t_start = lab.t_start
    wall = time.monotonic() - t0
    s = summarize(name, db, runs, answers, marks, t_start, wall)
    s["ports"] = ports
    return s


# ---------------------------------------------------------------------------
# The report: what the database holds

def summarize(name, db, runs, answers, marks, t_start, wall):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        def rows(sql):
            return [list(r) for r in con.execute(sql)]
        by = {}
        for dim in ("host", "network", "app_version", "clock", "peer"):
            by[dim] = {r[0]: {"successes": int(r[1]), "failures": int(r[2])}
                       for r in rows("SELECT %s, total(successes), "
                                     "total(failures) FROM counter GROUP BY 1 "
                                     "ORDER BY 1" % dim)}
        kinds = {r[0]: int(r[1]) for r in rows(
            "SELECT kind, total(count) FROM event GROUP BY 1 ORDER BY 1")}
        rec, ev, hs = stored_totals(db)
        counters = con.execute("SELECT count(*) FROM counter").fetchone()[0]
    finally:
        con.close()
    size = os.path.getsize(db)
    wal = os.path.getsize(db + "-wal") if os.path.exists(db + "-wal") else 0
    return {
        "scenario": name, "db": db, "db_bytes": size, "wal_bytes": wal,
        "wall_seconds": round(wall, 2),
        "processes": len(runs),
        "handshakes_run": sum(r.ok + r.failed for r in runs),
        "program_ok": sum(r.ok for r in runs),
        "program_failed": sum(r.failed for r in runs),
        "counted_handshakes": hs, "counter_rows": counters,
        "event_records": rec, "events": ev,
        "kinds": kinds, "by": by,
        "marks": {k: v - t_start for k, v in marks.items()},
        "answers": answers,
    }


def print_summary(s, out=sys.stdout):
    w = out.write
    w("scenario %s: %.1f s, %d client processes, %d handshakes run "
      "(program: %d ok, %d failed)\n" % (s["scenario"], s["wall_seconds"],
                                         s["processes"], s["handshakes_run"],
                                         s["program_ok"], s["program_failed"]))
    w("database %s: %d bytes%s; %d event records (%d events), %d counter "
      "rows (%d handshakes counted)\n" % (
          s["db"], s["db_bytes"],
          " (+ %d of WAL)" % s["wal_bytes"] if s["wal_bytes"] else "",
          s["event_records"], s["events"], s["counter_rows"],
          s["counted_handshakes"]))
    for dim in ("host", "network", "app_version", "clock", "peer"):
        w("by %s:\n" % dim)
        for v, c in s["by"][dim].items():
            w("  %-32s %7d ok %7d failed\n" % (v or "-", c["successes"],
                                               c["failures"]))
    w("event kinds: %s\n" % (", ".join("%s %d" % kv for kv in s["kinds"].items())
                             or "none"))
    for k, v in s["marks"].items():
        w("moment %s: %.2f s after the start\n" % (k, v))
    for a in s["answers"]:
        extra = {k: v for k, v in a.items()
                 if k not in ("scenario", "host", "cause", "dimension", "value")}
        w("known answer: %s -> %s (%s=%s)%s\n" % (
            a["host"], a["cause"], a["dimension"], a["value"],
            "  " + json.dumps(extra, sort_keys=True) if extra else ""))


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Runs one failure-lab scenario into a SQLite database.")
    p.add_argument("scenario", nargs="?", help="|".join(scenario_names()))
    p.add_argument("--db", help="the database to (re)create")
    p.add_argument("--build", help="build directory (default: $PINSHIM_LIB's, "
                   "else SRCDIR/build)")
    p.add_argument("--json", action="store_true", help="the summary as JSON")
    p.add_argument("--scale", type=float, default=1.0,
                   help="volume factor (default 1)")
    p.add_argument("--collector", metavar="HOST:PORT",
                   help="send to this running collector (which writes --db) "
                   "instead of starting one")
    p.add_argument("--token-file", help="with --collector: its token file")
    p.add_argument("--list", action="store_true", help="list the scenarios")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    if a.list:
        for n in scenario_names():
            doc = (load_scenario(n).__doc__ or "").strip().splitlines()
            line = doc[0] if doc else ""
            if line.startswith(n + ": "):
                line = line[len(n) + 2:]
            print("%-24s %s" % (n, line))
        return 0
    if not a.scenario or not a.db:
        p.error("SCENARIO and --db are required")
    if bool(a.collector) != bool(a.token_file):
        p.error("--collector and --token-file go together")

    def interrupted(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    try:
        configure(a.build)
        # With --json, stdout is the summary alone: whatever a scenario
        # prints goes to stderr.
        with contextlib.redirect_stdout(sys.stderr if a.json else sys.stdout):
            s = run_scenario(a.scenario, a.db, verbose=a.verbose,
                             scale=a.scale,
                             collector=(a.collector, a.token_file)
                             if a.collector else None)
    except LabError as e:
        print("lab: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lab: interrupted, cleaned up", file=sys.stderr)
        return 130
    if a.json:
        json.dump(s, sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
    else:
        print_summary(s)
    return 0


if __name__ == "__main__":
    # Scenarios "import lab": let them find this module, not a second copy
    # with its own LabError and state.
    sys.modules.setdefault("lab", sys.modules[__name__])
    sys.exit(main())
