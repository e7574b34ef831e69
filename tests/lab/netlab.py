"""Real networks for the lab: network namespaces, links, resolvers, NAT.

Why: the shim derives a network's fingerprint from the default gateway, the
local subnet and the resolvers it sees (shim/context.c).  A scenario that
separates failures by network (interception) is only real when its clients
sit on networks that differ in exactly those things.  So every lab network
is a network namespace with its own subnet, gateway and resolv.conf, and
its clients run inside it with `ip netns exec`.

One run's topology (every namespace belongs to the run; the interfaces,
routes and firewall of the namespace this process started in are never
touched):

    home ───────────────┐
    cafe ───────────────┼── wan    servers: 198.51.100.X/32 on wan's lo
    corp-wifi ── corp-gw ┘         (routers: forwarding, NAT, a proxy)

    network N   subnet 10.77.N.0/24, the client 10.77.N.2 on eth0, gateway
                10.77.N.1 (the link's other end, in wan or in a router),
                /etc/netns/NS/resolv.conf: "nameserver 10.77.N.53"
    router R    uplink 10.78.R.0/24 (router .2 on "uplink", wan .1)

The collector runs where this process runs, on 127.0.0.1:PORT.  relay(PORT)
listens on 127.0.0.1:PORT inside every network and forwards to it (this
process holds sockets in both namespaces), so one collector address works
on every network and no route back to the host is needed.

Servers (the harness's TLSServer, or lab.py's inside in_wan()) run in this
process: the listening socket is made while the calling thread is inside
wan; setns(2) on a network namespace moves the calling thread only.
expose() adds a DNAT rule in wan so that servers on ephemeral ports answer
on ADDRESS:443, as real backends do.  for_lab(lab) is the NetLab of a
tests/lab/lab.py run, shared by its scenarios.

Names: namespaces are "plab-RUN-NAME", RUN six random hex digits, so runs
in parallel never collide.  A run holds an flock on /run/pinshim-lab/RUN.lock
while it lives; sweep_stale() deletes the namespaces of runs whose lock is
free (killed runs).  close() (also the context manager's exit, atexit, and
SIGTERM/SIGHUP, which are turned into SystemExit) stops the processes
started in the namespaces, closes the relays and servers, and deletes the
namespaces (their links and netfilter rules die with them) and their
/etc/netns directories.

Without root / CAP_NET_ADMIN the lab falls back to labels: every "network"
is this namespace with PINSHIM_NETWORK=NAME, servers listen on 127.0.77.X,
and the fallback is announced loudly on stderr (NetLab.real is False).
PINSHIM_LAB_NETNS=0 asks for the fallback (for_lab).
"""

import atexit
import contextlib
import ctypes
import errno
import fcntl
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

from tlsserver import TLSServer  # noqa: E402

IP = shutil.which("ip") or "/usr/sbin/ip"
IPTABLES = shutil.which("iptables") or "/usr/sbin/iptables"
PREFIX = "plab-"
NETNS_DIR = "/run/netns"
ETC_NETNS = "/etc/netns"
LOCK_DIR = "/run/pinshim-lab"
CLONE_NEWNET = 0x40000000
WAN_SERVERS = "198.51.100.%d"
FALLBACK_SERVERS = "127.0.77.%d"
STOP_WAIT = 5

_libc = ctypes.CDLL(None, use_errno=True)


class NetLabError(Exception):
    pass


def _ip(*args, check=True):
    r = subprocess.run([IP] + list(args), capture_output=True, text=True,
                       timeout=30)
    if check and r.returncode != 0:
        raise NetLabError("ip %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: %s" % os.strerror(e))


@contextlib.contextmanager
def inside(ns):
    """The calling thread in network namespace ns (None: stays put).  Only
    this thread moves; sockets created meanwhile stay in ns for good.  Start
    no thread in here: it would inherit the namespace."""
    if ns is None:
        yield
        return
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(os.path.join(NETNS_DIR, ns), os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)   # failing here leaves the thread lost: let it raise
    finally:
        os.close(own)


def available():
    """(True, "") when namespaces may be made here, else (False, why).
    NetLab() finds out for sure by making its first one."""
    if os.geteuid() != 0:
        return False, "not root"
    if not os.path.exists(IP):
        return False, "iproute2's ip not found"
    return True, ""


def fingerprint(gateway, subnet, resolvers):
    """The network fingerprint the shim derives (shim/context.c)."""
    text = "gateway=%s\nsubnet=%s\n" % (gateway, subnet)
    text += "".join("resolver=%s\n" % r for r in resolvers[:4])
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------------------
# Stale runs

def _run_of(ns):
    """The run id of a lab namespace name, or None."""
    if not ns.startswith(PREFIX):
        return None
    rest = ns[len(PREFIX):]
    run = rest.split("-", 1)[0]
    return run if len(run) == 6 else None


def _run_alive(run):
    path = os.path.join(LOCK_DIR, run + ".lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    finally:
        os.close(fd)
    return False


def _hold_lock(path):
    """An fd holding an flock on path.  A sweep may unlink a lock file it
    found free between our open and our flock: then the lock would be on a
    file nobody can find, so check that path is still ours, else retry."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def lab_namespaces(run=None):
    """Lab namespaces present now (of one run, or of every run)."""
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if _run_of(n) and
                  (run is None or _run_of(n) == run))


def _kill_pids_in(ns):
    r = _ip("netns", "pids", ns, check=False)
    for pid in r.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def _delete_namespace(ns):
    _kill_pids_in(ns)
    _ip("netns", "del", ns, check=False)
    shutil.rmtree(os.path.join(ETC_NETNS, ns), ignore_errors=True)


def _remove_free_lock(path):
    """Unlinks a lock file nobody holds, holding it meanwhile."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.unlink(path)
    except OSError:
        pass
    finally:
        os.close(fd)


def sweep_stale():
    """Deletes the namespaces left by runs that died (SIGKILL, power cut);
    the names it removed."""
    swept = []
    for ns in lab_namespaces():
        run = _run_of(ns)
        if not _run_alive(run):
            _delete_namespace(ns)
            swept.append(ns)
    for name in os.listdir(LOCK_DIR) if os.path.isdir(LOCK_DIR) else ():
        if name.endswith(".lock"):
            _remove_free_lock(os.path.join(LOCK_DIR, name))
    for ns in os.listdir(ETC_NETNS) if os.path.isdir(ETC_NETNS) else ():
        if _run_of(ns) and not _run_alive(_run_of(ns)):
            shutil.rmtree(os.path.join(ETC_NETNS, ns), ignore_errors=True)
    return swept


# ---------------------------------------------------------------------------
# Collector relay

class Relay:
    """Listens on 127.0.0.1:port inside ns and pipes every connection to
    127.0.0.1:port where this process was started."""

    def __init__(self, ns, port, target=("127.0.0.1", None)):
        self.ns = ns
        self.target = (target[0], target[1] or port)
        with inside(ns):
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind(("127.0.0.1", port))
            self._sock.listen(64)
        self._lock = threading.Lock()
        self._open = set()
        self._closed = False
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, daemon=True,
                                        name="netlab-relay-%s" % ns)
        self._thread.start()

    def _accept(self):
        while True:
            try:
                down, _ = self._sock.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(self.target, timeout=10)
            except OSError:
                down.close()
                continue
            up.settimeout(None)
            with self._lock:
                if self._closed:
                    down.close()
                    up.close()
                    return
                self._open.update((down, up))
                self.connections += 1
            for a, b in ((down, up), (up, down)):
                threading.Thread(target=self._pump, args=(a, b),
                                 daemon=True, name="netlab-pump").start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
        self._forget(src, dst)

    def _forget(self, src, dst):
        # The second pump of a pair to finish closes both sockets.
        with self._lock:
            if src in self._open and dst in self._open:
                self._open.discard(src)
                return
            self._open.discard(src)
            self._open.discard(dst)
        src.close()
        dst.close()

    def close(self):
        with self._lock:
            self._closed = True
            socks = list(self._open)
            self._open.clear()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self._thread.join(STOP_WAIT)


# ---------------------------------------------------------------------------
# Networks

class Network:
    """One client network.  ns is None in the label fallback."""

    def __init__(self, lab, name, index, ns, via):
        self.lab = lab
        self.name = name
        self.index = index
        self.ns = ns
        self.via = via            # the Router in front, or None (wan)
        self.subnet = "10.77.%d.0/24" % index
        self.gateway = "10.77.%d.1" % index
        self.address = "10.77.%d.2" % index
        self.resolvers = ["10.77.%d.53" % index]
        # the link's end at the gateway (netfilter rules match on it)
        self.gateway_iface = ("n%d-%s" % (index, name))[:15]

    @property
    def expected_fingerprint(self):
        """What the shim derives here (None in the fallback: the host's)."""
        if self.ns is None:
            return None
        return fingerprint(self.gateway, self.subnet, self.resolvers)

    def command(self, argv, env):
        """(argv, env) running argv on this network.  LD_PRELOAD moves onto
        the command itself, so that `ip` is not preloaded."""
        env = dict(env)
        if self.ns is None:
            env.setdefault("PINSHIM_NETWORK", self.name)
            return list(argv), env
        prefix = [IP, "netns", "exec", self.ns]
        pre = env.pop("LD_PRELOAD", None)
        if pre:
            prefix += ["env", "LD_PRELOAD=" + pre]
        return prefix + list(argv), env

    def client_args(self):
        """lab.client() arguments that put a client on this network: its
        namespace (the shim derives the network), or in the fallback only
        the PINSHIM_NETWORK label."""
        if self.ns is None:
            return {"netns": None, "network": self.name}
        return {"netns": self.ns, "network": None}

    @property
    def label(self):
        """The network label events carry: derived "net-" + 8 hex digits of
        the fingerprint, or the fallback's PINSHIM_NETWORK."""
        fp = self.expected_fingerprint
        return "net-" + fp[:8] if fp else self.name

    def run(self, argv, env=None, stdin=None, timeout=60):
        """subprocess.run on this network (text, output captured)."""
        argv, env = self.command(argv, env if env is not None else os.environ)
        return subprocess.run(argv, env=env, input=stdin, capture_output=True,
                              text=True, timeout=timeout)

    def spawn(self, argv, env=None, **kw):
        """A process on this network, stopped at close()."""
        argv, env = self.command(argv, env if env is not None else os.environ)
        return self.lab._track(subprocess.Popen(argv, env=env, **kw))

    def __repr__(self):
        return "<Network %s %s gw %s ns %s>" % (self.name, self.subnet,
                                                self.gateway, self.ns)


class Router(Network):
    """A namespace between client networks and wan: forwards, and can hold
    netfilter rules and processes (an intercepting proxy)."""

    def __init__(self, lab, name, index, ns):
        super().__init__(lab, name, index, ns, None)
        self.subnet = "10.78.%d.0/24" % index
        self.gateway = "10.78.%d.1" % index
        self.address = "10.78.%d.2" % index
        self.resolvers = []
        self.rules = []

    def iptables(self, *args):
        """iptables ARGS inside the router (see _iptables)."""
        if self.ns is None:
            raise NetLabError("router %s: no namespace (label fallback)"
                              % self.name)
        _iptables(self.ns, self.lab.tag, args)
        self.rules.append(args)

    def nat_connections(self, chain="PREROUTING"):
        """Connections that matched this run's rules in the nat table's
        chain: only a connection's first packet traverses nat, so a rule's
        packet counter counts connections."""
        r = subprocess.run([IP, "netns", "exec", self.ns, IPTABLES, "-t", "nat",
                            "-L", chain, "-v", "-x", "-n"], capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0:
            raise NetLabError("router %s: iptables -L: %s"
                              % (self.name, r.stderr.strip()))
        return sum(int(l.split()[0]) for l in r.stdout.splitlines()
                   if self.lab.tag in l and l.split()[0].isdigit())


def _iptables(ns, tag, args):
    """iptables ARGS inside ns, tagged with a comment naming the run (so a
    rule leaked anywhere would be recognisable)."""
    argv = [IPTABLES] + list(args) + ["-m", "comment", "--comment", tag]
    r = subprocess.run([IP, "netns", "exec", ns] + argv,
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise NetLabError("ns %s: %s: %s" % (ns, " ".join(argv),
                                            r.stderr.strip()))


def _locked(method):
    def locked(self, *args, **kw):
        with self._lock:
            return method(self, *args, **kw)
    locked.__name__ = method.__name__
    locked.__doc__ = method.__doc__
    return locked


class NetLab:
    """The networks of one lab run.  NetLab(real=None): namespaces when they
    can be made, else the label fallback; real=False forces the fallback."""

    def __init__(self, real=None, out=sys.stderr):
        self.out = out
        self.run_id = secrets.token_hex(3)
        self.tag = PREFIX + self.run_id
        self.networks = {}
        self.routers = {}
        self.servers = []
        self.relays = []
        self.procs = []
        self.hosts = {}
        self.inodes = {}          # namespace name -> nsfs inode
        self._relay_ports = []
        self._next_server = 10
        self._lock_fd = None
        self._closed = False
        # the scenarios of a mixed run build on one NetLab from threads
        self._lock = threading.RLock()
        self.fallback_reason = ""
        if real is None:
            real, self.fallback_reason = available()
        elif not real:
            self.fallback_reason = "asked for"
        self.real = real
        atexit.register(self.close)
        self._install_signals()
        if self.real:
            try:
                self._start_real()
            except (NetLabError, OSError) as e:
                # No CAP_NET_ADMIN (a container), no netns support: labels.
                self._remove_namespaces()
                self.real = False
                self.fallback_reason = str(e)
        if not self.real:
            self._say("!" * 72)
            self._say("!! NO NETWORK NAMESPACES (%s): networks are only "
                      "PINSHIM_NETWORK labels" % self.fallback_reason)
            self._say("!! every client shares this host's network; the "
                      "derived network fingerprint does NOT differ")
            self._say("!" * 72)

    def _say(self, text):
        if self.out:
            print("netlab: " + text, file=self.out, flush=True)

    # -- life cycle ---------------------------------------------------------

    def _install_signals(self):
        # SIGINT already raises KeyboardInterrupt; SIGTERM/SIGHUP would kill
        # the process without unwinding, so they become SystemExit here.
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) == signal.SIG_DFL:
                signal.signal(sig, _exit_on_signal)

    def _start_real(self):
        os.makedirs(LOCK_DIR, exist_ok=True)
        swept = sweep_stale()
        if swept:
            self._say("swept %d namespaces of dead runs: %s"
                      % (len(swept), " ".join(swept)))
        self._lock_fd = _hold_lock(os.path.join(LOCK_DIR, self.run_id + ".lock"))
        self.wan = self._namespace("wan")
        # wan answers for every lab subnet it routes (the gateways) and for
        # the servers' addresses; it forwards between routers' networks.
        _ip("-n", self.wan, "link", "set", "lo", "up")
        self._sysctl(self.wan, "net.ipv4.ip_forward", "1")

    def _namespace(self, name):
        ns = "%s-%s" % (self.tag, name)
        if len(ns) > 60:
            raise NetLabError("namespace name too long: %s" % ns)
        _ip("netns", "add", ns)
        self.inodes[ns] = os.stat(os.path.join(NETNS_DIR, ns)).st_ino
        return ns

    def _sysctl(self, ns, key, value):
        r = subprocess.run([IP, "netns", "exec", ns, "sysctl", "-qw",
                            "%s=%s" % (key, value)], capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0:
            raise NetLabError("ns %s: sysctl %s: %s" % (ns, key, r.stderr.strip()))

    def _track(self, proc):
        self.procs.append(proc)
        return proc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Idempotent; safe from atexit and from a signal's unwinding."""
        if self._closed:
            return
        self._closed = True
        with _deferred_sigint():
            self._stop_procs()
            for r in self.relays:
                r.close()
            for s in self.servers:
                s.stop(timeout=STOP_WAIT)
            self._remove_namespaces()
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)

    def _remove_namespaces(self):
        for ns in list(self.inodes):
            _delete_namespace(ns)
        if self._lock_fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(LOCK_DIR, self.run_id + ".lock"))
            os.close(self._lock_fd)
            self._lock_fd = None

    def _stop_procs(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + STOP_WAIT
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def leftovers(self):
        """What of this run is still there: namespaces, /etc/netns dirs,
        processes in its namespaces, its lock file.  [] after close()."""
        out = ["namespace " + n for n in lab_namespaces(self.run_id)]
        out += ["etc " + n for n in (os.listdir(ETC_NETNS)
                                     if os.path.isdir(ETC_NETNS) else ())
                if _run_of(n) == self.run_id]
        if os.path.exists(os.path.join(LOCK_DIR, self.run_id + ".lock")):
            out.append("lock " + self.run_id)
        out += ["process %d" % pid for pid in
                processes_in(set(self.inodes.values()))]
        out += ["process %d (spawned)" % p.pid for p in self.procs
                if p.poll() is None]
        return out

    # -- building ------------------------------------------------------------

    @_locked
    def add_router(self, name):
        """A router namespace linked to wan (the gateway of the networks
        added with via=it)."""
        index = len(self.routers) + 1
        if not self.real:
            r = Router(self, name, index, None)
            self.routers[name] = r
            return r
        r = Router(self, name, index, self._namespace(name))
        _ip("-n", r.ns, "link", "set", "lo", "up")
        self._link(r.ns, "uplink", self.wan, ("r%d-%s" % (index, name))[:15],
                   r.address, r.gateway, 24)
        _ip("-n", r.ns, "route", "add", "default", "via", r.gateway)
        self._sysctl(r.ns, "net.ipv4.ip_forward", "1")
        self.routers[name] = r
        return r

    @_locked
    def network(self, name, via=None):
        """The network name, added (add_network) if there is none yet."""
        n = self.networks.get(name)
        if n is None:
            return self.add_network(name, via=via)
        if n.via is not via:
            raise NetLabError("network %s exists with another gateway" % name)
        return n

    @_locked
    def router(self, name):
        """The router name, added (add_router) if there is none yet."""
        return self.routers.get(name) or self.add_router(name)

    @_locked
    def add_network(self, name, via=None):
        """A client network; its gateway is in via (a Router) or in wan."""
        if name in self.networks:
            raise NetLabError("network %s exists" % name)
        index = len(self.networks) + 1
        if not self.real:
            n = Network(self, name, index, None, via)
            self.networks[name] = n
            return n
        n = Network(self, name, index, self._namespace(name), via)
        gw_ns = via.ns if via else self.wan
        _ip("-n", n.ns, "link", "set", "lo", "up")
        self._link(n.ns, "eth0", gw_ns, n.gateway_iface, n.address,
                   n.gateway, 24)
        _ip("-n", n.ns, "route", "add", "default", "via", n.gateway)
        if via:
            # wan reaches the network through its router
            _ip("-n", self.wan, "route", "add", n.subnet, "via", via.address)
        self._write_etc(n)
        for port in self._relay_ports:
            self.relays.append(Relay(n.ns, port))
        self.networks[name] = n
        return n

    def _link(self, ns_a, if_a, ns_b, if_b, addr_a, addr_b, plen):
        _ip("-n", ns_a, "link", "add", if_a, "type", "veth", "peer", "name",
            if_b, "netns", ns_b)
        _ip("-n", ns_a, "addr", "add", "%s/%d" % (addr_a, plen), "dev", if_a)
        _ip("-n", ns_b, "addr", "add", "%s/%d" % (addr_b, plen), "dev", if_b)
        _ip("-n", ns_a, "link", "set", if_a, "up")
        _ip("-n", ns_b, "link", "set", if_b, "up")

    def _write_etc(self, n):
        """resolv.conf and hosts, which `ip netns exec` bind-mounts over
        /etc's for processes of the network."""
        d = os.path.join(ETC_NETNS, n.ns)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "resolv.conf"), "w") as f:
            f.write("# pinshim lab network %s\n" % n.name)
            f.write("search %s.lab.test\n" % n.name)
            for r in n.resolvers:
                f.write("nameserver %s\n" % r)
        with open(os.path.join(d, "hosts"), "w") as f:
            f.write("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n")
            for host, addrs in sorted(self.hosts.items()):
                for a in addrs:
                    f.write("%s\t%s\n" % (a, host))

    @_locked
    def resolve(self, host, addrs):
        """host resolves to addrs on every network (its hosts file)."""
        self.hosts[host] = list(addrs)
        if self.real:
            for n in self.networks.values():
                self._write_etc(n)

    @_locked
    def server_address(self):
        """A fresh address for a server: on wan's loopback (real), or a
        loopback address of this host (fallback)."""
        x = self._next_server
        self._next_server += 1
        if not self.real:
            return FALLBACK_SERVERS % x
        addr = WAN_SERVERS % x
        _ip("-n", self.wan, "addr", "add", addr + "/32", "dev", "lo")
        return addr

    def server(self, chain, key, address=None, **kw):
        """A started TLSServer (tests/lib/tlsserver.py) listening in wan
        on address (a fresh server_address() when None)."""
        address = address or self.server_address()
        with inside(self.wan if self.real else None):
            srv = TLSServer(chain, key, address=address, **kw)
        self.servers.append(srv)
        return srv.start()

    def in_wan(self):
        """A context in which the calling thread is inside wan (nothing in
        the fallback): servers made in it listen there."""
        return inside(self.wan if self.real else None)

    def expose(self, server, port=443):
        """Makes server (listening in wan on its own ephemeral port) answer
        on server.address:port too, by a DNAT rule in wan, so that several
        backends share one port as real ones do.  The port clients use:
        port, or server.port in the fallback (no NAT there)."""
        if not self.real:
            return server.port
        _iptables(self.wan, self.tag, [
            "-t", "nat", "-A", "PREROUTING", "-d", server.address, "-p", "tcp",
            "--dport", str(port), "-j", "DNAT", "--to-destination",
            "%s:%d" % (server.address, server.port)])
        return port

    @_locked
    def relay(self, port):
        """127.0.0.1:port inside every network (now and later) reaches
        127.0.0.1:port here: the collector."""
        self._relay_ports.append(port)
        if self.real:
            for n in self.networks.values():
                self.relays.append(Relay(n.ns, port))

    def describe(self, names=None):
        """One line per network (of names, or all): what makes it
        distinct."""
        lines = []
        for n in self.networks.values():
            if names is not None and n.name not in names:
                continue
            if self.real:
                lines.append("%-12s ns=%s subnet=%s gateway=%s resolvers=%s "
                             "fingerprint=%s%s" % (
                                 n.name, n.ns, n.subnet, n.gateway,
                                 ",".join(n.resolvers),
                                 n.expected_fingerprint[:16],
                                 " via " + n.via.name if n.via else ""))
            else:
                lines.append("%-12s label only (PINSHIM_NETWORK=%s)"
                             % (n.name, n.name))
        return lines


def listening(pid, port):
    """Whether process pid's network namespace has a TCP socket listening
    on port (read from /proc/PID/net/tcp, which shows pid's namespace)."""
    for name in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, name)) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local, state = fields[1], fields[3]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        return True
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    return False


def wait_for(predicate, timeout, step=0.05):
    """Polls predicate until it is true (True) or timeout passes (False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def wait_listening(proc, port, timeout=15):
    """Waits until proc (a Popen) listens on port; raises if it exits or
    the time runs out."""
    deadline = time.monotonic() + timeout
    while not listening(proc.pid, port):
        if proc.poll() is not None:
            raise NetLabError("pid %d exited (%s) before listening on %d"
                              % (proc.pid, proc.returncode, port))
        if time.monotonic() > deadline:
            raise NetLabError("pid %d: not listening on %d after %ds"
                              % (proc.pid, port, timeout))
        time.sleep(0.05)


def for_lab(lab):
    """The NetLab of a tests/lab/lab.py Lab, made on first use and shared
    by the scenarios of one run (mixed): closed at the lab's clean-up, with
    a relay to the lab's collector on every network."""
    with _for_lab_lock:
        net = getattr(lab, "_netlab", None)
        if net is None:
            net = NetLab(real=False if os.environ.get("PINSHIM_LAB_NETNS")
                         == "0" else None)
            lab._netlab = net
            lab.on_cleanup(net.close)
            net.relay(lab.collector.port)
        return net


_for_lab_lock = threading.Lock()


def processes_in(inodes):
    """Pids of processes (or threads) whose network namespace is one of
    inodes."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            tasks = os.listdir("/proc/%s/task" % pid)
        except OSError:
            continue
        for tid in tasks:
            try:
                if os.stat("/proc/%s/task/%s/ns/net" % (pid, tid)).st_ino in inodes:
                    found.append(int(pid))
                    break
            except OSError:
                continue
    return found


def _exit_on_signal(signum, frame):
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _deferred_sigint():
    """Clean-up that a second Ctrl-C does not cut short: SIGINT is noted and
    re-raised afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got = []
    old = signal.signal(signal.SIGINT, lambda s, f: got.append(s))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
    if got and old not in (signal.SIG_IGN, signal.SIG_DFL, None):
        raise KeyboardInterrupt
