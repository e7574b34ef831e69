"""Test harness for pinshim: PKI, policies, clients run under the shim, events.

The harness process itself is never preloaded.  Every client runs as a child
process; "under the shim" means with LD_PRELOAD=libpinshim.so and the
PINSHIM_* environment.

Environment (set by tests/meson.build; sensible fallbacks for running a test
file by hand from the source tree):
  PINSHIM_LIB      full path of libpinshim.so
  PINSHIM_CLI      the pinshim executable (may be absent)
  TLSCLIENT        the tlsclient test program
  PINSHIM_SRCDIR   the source tree
  PINSHIM_PKI      a directory already holding the test PKI (else generated)
  PINSHIM_ASAN     "1" when the shim is built with AddressSanitizer
"""

import base64
import hashlib
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from tlsserver import TLSServer  # noqa: E402

PYTHON = "/usr/bin/python3"
SRCDIR = os.environ.get("PINSHIM_SRCDIR") or os.path.dirname(os.path.dirname(HERE))


def _default_build_path(*parts):
    return os.path.join(SRCDIR, "build-t", *parts)


LIB = os.environ.get("PINSHIM_LIB") or _default_build_path("shim", "libpinshim.so")
TLSCLIENT = os.environ.get("TLSCLIENT") or _default_build_path("tests", "tlsclient")
CLI = os.environ.get("PINSHIM_CLI") or ""
ASAN = os.environ.get("PINSHIM_ASAN") == "1"
MKPKI = os.path.join(SRCDIR, "tests", "pki", "mkpki")
CLIENT_TIMEOUT = 60

EVENT_KINDS = ("pin_mismatch", "untrusted_issuer", "expired", "not_yet_valid",
               "hostname_mismatch", "other_verify_error", "policy_error")
DECISIONS = ("blocked", "would_block", "allowed")


def bogus_pin(label):
    """A well-formed pin that matches no certificate."""
    digest = hashlib.sha256(b"pinshim-bogus-" + label.encode()).digest()
    return "sha256/" + base64.b64encode(digest).decode()


# Ways to resume, (TLS version, server issues tickets): 1.2 with tickets,
# 1.2 with session ids only, 1.3 (tickets are the only way).
RESUMPTION_VARIANTS = {
    "tls1_2_ticket": ("1.2", True),
    "tls1_2_session_id": ("1.2", False),
    "tls1_3_ticket": ("1.3", True),
}

BOGUS = bogus_pin("1")
BOGUS2 = bogus_pin("2")


# ---------------------------------------------------------------------------
# PKI

class PKI:
    """The test PKI written by tests/pki/mkpki (see that script)."""

    LEAVES = ("leaf", "rotated", "leaf_via_int2", "mitm_leaf", "ecdsa",
              "ed25519", "expired", "notyet")

    def __init__(self, directory):
        self.dir = directory
        with open(os.path.join(directory, "pins.json")) as f:
            self.pins = json.load(f)
        self.root = self.cert("root")
        self.mitm_root = self.cert("mitm_root")
        self.bundle_both = os.path.join(directory, "bundle_both.pem")

    def cert(self, name):
        return os.path.join(self.dir, name + ".pem")

    def key(self, name):
        return os.path.join(self.dir, name + ".key.pem")

    def chain(self, name):
        return os.path.join(self.dir, name + ".chain.pem")

    def pin(self, name):
        return self.pins[name]

    def der(self, name):
        with open(self.cert(name)) as f:
            return ssl.PEM_cert_to_DER_cert(f.read())

    def cert_sha256(self, name):
        """Hex SHA-256 of the certificate's DER (the events' "sha256")."""
        return hashlib.sha256(self.der(name)).hexdigest()


_pki = None


def pki():
    """The PKI: PINSHIM_PKI when it holds one, else generated once per
    process into a temporary directory (removed at exit)."""
    global _pki
    if _pki is not None:
        return _pki
    d = os.environ.get("PINSHIM_PKI")
    if not d or not os.path.exists(os.path.join(d, "pins.json")):
        d = tempfile.mkdtemp(prefix="pinshim-pki-")
        import atexit
        atexit.register(shutil.rmtree, d, True)
        subprocess.run([MKPKI, d], check=True, timeout=120)
    _pki = PKI(d)
    return _pki


# ---------------------------------------------------------------------------
# Policies

class Host:
    """One [host NAME] section."""

    def __init__(self, name, pins=(), include_subdomains=None, mode=None,
                 expires=None, extra=()):
        self.name = name
        self.pins = list(pins)
        self.include_subdomains = include_subdomains
        self.mode = mode
        self.expires = expires
        self.extra = list(extra)   # raw "key = value" lines

    def ini(self):
        lines = ["[host %s]" % self.name]
        lines += ["pin = %s" % p for p in self.pins]
        if self.include_subdomains is not None:
            lines.append("include-subdomains = %s"
                         % ("yes" if self.include_subdomains else "no"))
        if self.mode:
            lines.append("mode = %s" % self.mode)
        if self.expires:
            lines.append("expires = %s" % self.expires)
        lines += self.extra
        return "\n".join(lines) + "\n"


def policy_text(hosts=(), mode="observe", version="test-1", keys=None):
    """A policy: [policy] with version, mode and keys (a dict of more
    [policy] keys, such as Collector.policy_keys()), then the hosts."""
    out = ["; written by tests/lib/harness.py", "[policy]"]
    out += ["%s = %s" % kv for kv in (keys or {}).items()]
    if version is not None:
        out.append("version = %s" % version)
    if mode is not None:
        out.append("mode = %s" % mode)
    text = "\n".join(out) + "\n"
    for h in hosts:
        text += "\n" + h.ini()
    return text


# ---------------------------------------------------------------------------
# Running programs

class Result:
    """A finished client run."""

    def __init__(self, kind, argv, proc, events, elapsed):
        self.kind = kind
        self.argv = argv
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.events = events
        self.elapsed = elapsed

    @property
    def pinshim_stderr_lines(self):
        return [l for l in self.stderr.splitlines() if l.startswith("pinshim:")]

    def lines(self):
        """tlsclient's per-connection lines: [(tag, ok, text)]."""
        out = []
        for line in self.stdout.splitlines():
            m = re.match(r"^(?:(child|parent|prefork) )?(ok reused=\d.*|fail: .*)$", line)
            if m:
                out.append((m.group(1) or "", m.group(2).startswith("ok"),
                            m.group(2)))
        return out

    def reused(self):
        """tlsclient: the reused=N value of every successful connection."""
        return [int(re.search(r"reused=(\d)", t).group(1))
                for _, ok, t in self.lines() if ok]

    def sessions(self):
        """tlsclient: the session id (hex) of every successful connection."""
        return [re.search(r"session=(\S+)", t).group(1)
                for _, ok, t in self.lines() if ok]

    def stats(self):
        """tlsclient resume mode: its context's SSL_CTX_sess_* counters."""
        m = re.search(r"^stats (.*)$", self.stdout, re.M)
        return dict((k, int(v)) for k, v in
                    (kv.split("=") for kv in m.group(1).split())) if m else None

    def describe(self):
        return ("%s: exit %s\n  argv: %s\n  stdout: %s\n  stderr: %s\n"
                "  events: %s" % (self.kind, self.returncode,
                                  " ".join(self.argv), self.stdout[-3000:],
                                  self.stderr[-3000:],
                                  json.dumps(self.events)[-3000:]))

    def __repr__(self):
        return "<Result %s>" % self.describe()


def asan_runtime():
    out = subprocess.run(["gcc", "-print-file-name=libasan.so"],
                         capture_output=True, text=True).stdout.strip()
    return os.path.realpath(out) if out and os.path.isabs(out) else None


_asan_rt = None


def preload_value(shim=True):
    """LD_PRELOAD for a client: the shim, after the ASan runtime in an ASan
    build.  With shim=False: only what the ASan build needs (baseline)."""
    global _asan_rt
    parts = []
    if ASAN:
        if _asan_rt is None:
            _asan_rt = asan_runtime()
        if _asan_rt:
            parts.append(_asan_rt)
    if shim:
        parts.append(LIB)
    return ":".join(parts)


def base_env():
    """The environment without any PINSHIM_* or preload variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PINSHIM_") and k not in ("LD_PRELOAD",
                                                         "SSLKEYLOGFILE")}
    env["LC_ALL"] = "C"
    env.pop("SSL_CERT_FILE", None)
    env.pop("SSL_CERT_DIR", None)
    env.pop("CURL_CA_BUNDLE", None)
    return env


def read_events(path):
    """Every JSON line of an events file ([] when it does not exist)."""
    if not path or not os.path.exists(path):
        return []
    events = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                events.append(json.loads(line))
            except ValueError as e:
                raise AssertionError("%s:%d: not JSON (%s): %r"
                                     % (path, n, e, line))
    return events


class Shim:
    """A temporary directory with a policy and an events file, and the
    environment that runs a program under the shim with them."""

    def __init__(self, directory):
        self.dir = directory
        self.policy_path = os.path.join(directory, "policy.ini")
        self.events_path = os.path.join(directory, "events.jsonl")

    def write_policy(self, hosts=(), mode="observe", version="test-1",
                     text=None):
        with open(self.policy_path, "w") as f:
            f.write(text if text is not None else
                    policy_text(hosts, mode=mode, version=version))
        return self.policy_path

    def env(self, policy=True, mode=None, fail=None, log=None, events=True,
            shim=True, extra=None):
        """policy: True for self.policy_path, a path, or None (unset).
        mode/fail/log: PINSHIM_MODE / PINSHIM_FAIL / PINSHIM_LOG, or None.
        shim=False: the same variables without the preload (baseline)."""
        env = base_env()
        pre = preload_value(shim)
        if pre:
            env["LD_PRELOAD"] = pre
        if ASAN:
            env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=0"
            env["UBSAN_OPTIONS"] = "print_stacktrace=1"
        if policy is True:
            env["PINSHIM_POLICY"] = self.policy_path
        elif policy:
            env["PINSHIM_POLICY"] = policy
        if mode:
            env["PINSHIM_MODE"] = mode
        if fail:
            env["PINSHIM_FAIL"] = fail
        if log:
            env["PINSHIM_LOG"] = log
        if events:
            env["PINSHIM_EVENTS_FILE"] = self.events_path
        if extra:
            env.update(extra)
        return env

    def events(self):
        return read_events(self.events_path)

    def clear_events(self):
        try:
            os.unlink(self.events_path)
        except FileNotFoundError:
            pass


# -- clients -------------------------------------------------------------

# Client kinds:
#   curl, curl-k                 curl (verifying / -k)
#   python, python-noverify      /usr/bin/python3 ssl
#   s_client, s_client-noverify  openssl s_client
#   tlsclient:<mode>             tests/tlsclient
PY_CLIENT = r"""
import socket, ssl, sys
host, port, ca, verify, tls = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1", sys.argv[5]
if verify:
    ctx = ssl.create_default_context(cafile=ca or None)
else:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if ca:
        ctx.load_verify_locations(ca)
if tls:
    v = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[tls]
    ctx.minimum_version = v
    ctx.maximum_version = v
try:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        with ctx.wrap_socket(s, server_hostname=host) as t:
            t.sendall(b"ping\n")
            data = b""
            while True:
                d = t.recv(4096)
                if not d:
                    break
                data += d
            print("ok", data.decode().strip(), t.version(),
                  "verify_mode=%d" % int(ctx.verify_mode),
                  "check_hostname=%d" % ctx.check_hostname)
except ssl.SSLCertVerificationError as e:
    print("SSLError: verify", e.verify_code, e.verify_message, "|", e)
    sys.exit(1)
except ssl.SSLError as e:
    print("SSLError:", e.library, e.reason, "|", e)
    sys.exit(1)
except Exception as e:
    print("Error:", type(e).__name__, e)
    sys.exit(3)
"""

TLS_VERSIONS = ("1.2", "1.3")

# Debian 12's curl hangs in setlocale() at startup whenever the ASan runtime
# is preloaded, with or without the shim: no curl in the ASan build.
CURL_ASAN_SKIP = "curl deadlocks under a preloaded ASan runtime (not the shim)"


def client_command(kind, host, port, ca=None, tls=None, connect_ip="127.0.0.1",
                   threads=None, count=None, extra=()):
    """(argv, stdin) for a client of the given kind."""
    if kind in ("curl", "curl-k"):
        argv = ["curl", "-sS", "--max-time", "30", "--resolve",
                "%s:%d:%s" % (host, port, connect_ip)]
        if kind == "curl-k":
            argv.append("-k")
        if ca:
            argv += ["--cacert", ca]
        else:
            argv += ["--cacert", os.devnull]
        if tls == "1.2":
            argv += ["--tlsv1.2", "--tls-max", "1.2"]
        elif tls == "1.3":
            argv += ["--tlsv1.3", "--tls-max", "1.3"]
        argv.append("https://%s:%d/" % (host, port))
        return argv + list(extra), None
    if kind in ("python", "python-noverify"):
        return [PYTHON, "-c", PY_CLIENT, host, str(port), ca or "",
                "1" if kind == "python" else "0", tls or ""] + list(extra), None
    if kind in ("s_client", "s_client-noverify"):
        argv = ["openssl", "s_client", "-connect", "%s:%d" % (connect_ip, port),
                "-servername", host, "-quiet"]
        if kind == "s_client":
            argv += ["-verify", "9", "-verify_return_error",
                     "-verify_hostname", host]
        if ca:
            argv += ["-CAfile", ca]
        else:
            argv += ["-no-CAfile", "-no-CApath", "-no-CAstore"]
        if tls == "1.2":
            argv.append("-tls1_2")
        elif tls == "1.3":
            argv.append("-tls1_3")
        return argv + list(extra), "ping\n"
    if kind.startswith("tlsclient:"):
        mode = kind.split(":", 1)[1]
        argv = [TLSCLIENT, "--host", host, "--port", str(port),
                "--connect-ip", connect_ip, "--mode", mode]
        if ca:
            argv += ["--ca", ca]
        if tls:
            argv += ["--tls", tls]
        if threads:
            argv += ["--threads", str(threads)]
        if count:
            argv += ["--count", str(count)]
        return argv + list(extra), None
    raise ValueError("unknown client kind %r" % kind)


def client_verifies(kind):
    """Whether the client itself rejects a chain it cannot verify."""
    return kind not in ("curl-k", "python-noverify", "s_client-noverify",
                        "tlsclient:verify_none", "tlsclient:accept_cb")


def client_succeeded(kind, r):
    """Did the client complete its exchange?"""
    if kind.startswith("curl"):
        return r.returncode == 0 and r.stdout == "pong\n"
    if kind.startswith("python"):
        return r.returncode == 0 and r.stdout.startswith("ok pong ")
    if kind.startswith("s_client"):
        return r.returncode == 0 and "pong" in r.stdout
    lines = r.lines()
    return r.returncode == 0 and lines != [] and all(ok for _, ok, _ in lines)


def client_failed_like_tls(kind, r):
    """Did the client fail the way a TLS failure looks to it (not a crash,
    not a timeout)?"""
    if r.returncode is None or r.returncode < 0:
        return False   # killed by a signal
    if kind.startswith("curl"):
        return r.returncode in (35, 60)
    if kind.startswith("python"):
        return r.returncode == 1 and r.stdout.startswith("SSLError:")
    if kind.startswith("s_client"):
        return r.returncode != 0 and "pong" not in r.stdout
    return r.returncode == 1 and "fail: " in r.stdout


def descendants(pid):
    """The pids of pid's children, grandchildren... (from /proc)."""
    kids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def kill_tree(pid):
    """SIGKILL to pid and everything it started (a forked child stuck in a
    lock must not outlive the test, nor the suite)."""
    for p in [pid] + descendants(pid):
        try:
            os.kill(p, 9)
        except OSError:
            pass


def run(argv, env, stdin=None, timeout=CLIENT_TIMEOUT, kind="cmd",
        events_path=None):
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, env=env, text=True,
                            stdin=subprocess.PIPE if stdin is not None
                            else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        out, err = proc.communicate()
        proc.returncode = None
        err += "\n[harness: timed out after %ss]" % timeout
    proc.stdout, proc.stderr = out, err
    return Result(kind, argv, proc, read_events(events_path),
                  time.monotonic() - t0)


def require_shim(testcase=None):
    if not os.path.exists(LIB):
        raise unittest.SkipTest("libpinshim.so not built (%s)" % LIB)


# ---------------------------------------------------------------------------
# unittest base

class ServerPool:
    """TLS servers, one per (chain, TLS version, tickets), started lazily."""

    def __init__(self, pki_):
        self.pki = pki_
        self.servers = {}

    def get(self, chain="leaf", tls=None, tickets=True):
        key = (chain, tls, tickets)
        srv = self.servers.get(key)
        if srv is None:
            srv = TLSServer(self.pki.chain(chain), self.pki.key(chain),
                            min_version=tls, max_version=tls,
                            tickets=tickets).start()
            self.servers[key] = srv
        return srv

    def stop(self):
        for srv in self.servers.values():
            srv.stop()
        self.servers = {}


class Probe:
    """Remembers how many connections a server had, to look at new ones."""

    def __init__(self, server):
        self.server = server
        self.start = len(server.connections(settle=True))

    def connections(self):
        return self.server.connections(settle=True)[self.start:]

    @property
    def app_bytes(self):
        return sum(len(c.received) for c in self.connections())

    @property
    def handshakes(self):
        return sum(1 for c in self.connections() if c.handshake_ok)


class ShimTestCase(unittest.TestCase):
    """Base for tests that run clients under the shim."""

    needs_shim = True
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if cls.needs_shim:
            require_shim()
        cls.pki = pki()
        cls.P = cls.pki.pins
        cls.pool = ServerPool(cls.pki)

    @classmethod
    def tearDownClass(cls):
        cls.pool.stop()

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="pinshim-test-")
        self.tmp = self._tmp.name
        self.shim = Shim(self.tmp)

    def tearDown(self):
        self._tmp.cleanup()

    # -- running ---------------------------------------------------------

    def server(self, chain="leaf", tls=None, tickets=True):
        return self.pool.get(chain, tls, tickets)

    def run_client(self, kind, server, host="pinned.test", ca="root",
                   tls=None, shim=True, policy=True, mode=None, fail=None,
                   log=None, events=True, env_extra=None, threads=None,
                   count=None, extra=(), timeout=CLIENT_TIMEOUT):
        """Runs a client of kind against server (a TLSServer or a port).
        ca: a PKI name ("root", "bundle_both", "mitm_root"), a path, or None.
        The shim's events file is cleared first; the result carries the
        events the run wrote."""
        if ASAN and kind.startswith("curl"):
            self.skipTest(CURL_ASAN_SKIP)
        port = server if isinstance(server, int) else server.port
        if ca in ("root", "mitm_root"):
            ca_path = self.pki.cert(ca)
        elif ca == "bundle_both":
            ca_path = self.pki.bundle_both
        else:
            ca_path = ca
        argv, stdin = client_command(kind, host, port, ca=ca_path, tls=tls,
                                     threads=threads, count=count,
                                     extra=extra)
        env = self.shim.env(policy=policy, mode=mode, fail=fail, log=log,
                            events=events, shim=shim, extra=env_extra)
        self.shim.clear_events()
        return run(argv, env, stdin=stdin, timeout=timeout, kind=kind,
                   events_path=self.shim.events_path if events else None)

    def policy(self, *hosts, mode="observe", version="test-1"):
        return self.shim.write_policy(hosts, mode=mode, version=version)

    # -- assertions -------------------------------------------------------

    def assertSucceeded(self, r, msg=""):
        if not client_succeeded(r.kind, r):
            self.fail("client should have succeeded %s\n%s" % (msg, r.describe()))

    def assertFailedTLS(self, r, msg=""):
        if not client_failed_like_tls(r.kind, r):
            self.fail("client should have failed with a TLS error %s\n%s"
                      % (msg, r.describe()))

    def assertNoEvents(self, r):
        self.assertEqual(r.events, [], "expected no event\n" + r.describe())

    def assertOneEvent(self, r, kind=None, decision=None, host=None, **fields):
        """Exactly one event (policy errors aside); checks the given fields
        and returns it."""
        evs = [e for e in r.events if e.get("kind") != "policy_error"]
        self.assertEqual(len(evs), 1, "expected exactly one event\n" + r.describe())
        return self.assertEvent(evs[0], r, kind=kind, decision=decision,
                                host=host, **fields)

    def assertEvent(self, ev, r=None, kind=None, decision=None, host=None,
                    **fields):
        ctx = "\n" + (r.describe() if r else json.dumps(ev))
        if kind is not None:
            self.assertEqual(ev.get("kind"), kind, "event kind" + ctx)
        if decision is not None:
            self.assertEqual(ev.get("decision"), decision, "event decision" + ctx)
        if host is not None:
            self.assertEqual(ev.get("host"), host, "event host" + ctx)
        for k, v in fields.items():
            self.assertEqual(ev.get(k), v, "event field %s" % k + ctx)
        return ev

    def assertNoAppBytes(self, probe, r=None):
        conns = probe.connections()
        got = [c.received for c in conns if c.received]
        self.assertEqual(got, [], "application bytes reached the server: %r\n%s"
                         % (conns, r.describe() if r else ""))
        self.assertEqual(probe.handshakes, 0,
                         "a handshake completed on the server: %r\n%s"
                         % (conns, r.describe() if r else ""))

    def assertBlocked(self, r, probe, host="pinned.test", kind="pin_mismatch"):
        """The whole picture of an enforced pin failure."""
        self.assertFailedTLS(r)
        self.assertNoAppBytes(probe, r)
        return self.assertOneEvent(r, kind=kind, decision="blocked", host=host)

    def assertQuietStderr(self, r):
        self.assertEqual(r.pinshim_stderr_lines, [],
                         "the shim wrote to stderr\n" + r.describe())

    def assertPinshimReason(self, r, host="pinned.test"):
        """A pinshim reason naming host in the client's error output."""
        text = r.stdout + r.stderr
        lines = [l for l in text.splitlines()
                 if "pinshim" in l.lower() and host in l]
        self.assertTrue(lines, "no pinshim reason naming %s in the client's "
                        "error output\n%s" % (host, r.describe()))


def add_matrix(cls, template, params, body):
    """Adds one test method per parameter tuple: name = template % params
    (non-identifier characters replaced by "_"); body(self, *params)."""
    for p in params:
        if not isinstance(p, tuple):
            p = (p,)
        name = "test_" + re.sub(r"[^0-9A-Za-z_]", "_", template % p)

        def method(self, _p=p):
            body(self, *_p)
        method.__name__ = name
        method.__doc__ = None
        assert not hasattr(cls, name), name
        setattr(cls, name, method)


TLSCLIENT_HANDSHAKE_MODES = (
    "connect", "nonblock", "do_handshake", "implicit", "implicit_ex",
    "implicit_read", "implicit_read_ex", "implicit_peek", "implicit_peek_ex",
    "bio", "cert_cb", "accept_cb", "threads", "fork", "resume")
VERIFYING_CLIENTS = ("curl", "python", "s_client") + tuple(
    "tlsclient:" + m for m in ("connect", "nonblock", "do_handshake",
                               "implicit", "implicit_ex", "implicit_read",
                               "implicit_read_ex", "implicit_peek",
                               "implicit_peek_ex", "bio", "cert_cb"))
NONVERIFYING_CLIENTS = ("curl-k", "python-noverify", "s_client-noverify",
                        "tlsclient:verify_none", "tlsclient:accept_cb")
ALL_CLIENTS = VERIFYING_CLIENTS + NONVERIFYING_CLIENTS


def main():
    unittest.main(verbosity=2)
