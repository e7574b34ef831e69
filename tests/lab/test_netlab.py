"""tests/lab/netlab.py: real networks that the shim tells apart, and that
leave nothing behind.

  - clients under the shim on two lab networks (no PINSHIM_NETWORK) carry
    different derived network fingerprints: each the SHA-256 of its own
    gateway, subnet and resolver, as shim/context.c computes it;
  - a run leaves no namespace, /etc/netns directory, process, netfilter
    rule, link or open descriptor behind: after a normal exit (twice in a
    row), an exception, SIGINT and SIGTERM; a SIGKILLed run's namespaces
    are swept by the next run;
  - the collector relay reaches this namespace's loopback from a network;
  - without namespaces the lab falls back to PINSHIM_NETWORK labels and
    says so.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

import harness as H  # noqa: E402
import netlab  # noqa: E402

REAL, WHY = netlab.available()

CHILD = r"""
import sys, time
sys.path.insert(0, %(here)r)
import netlab
with netlab.NetLab(out=None) as lab:
    n = lab.add_network("victim")
    lab.add_router("gw").iptables("-t", "nat", "-A", "PREROUTING", "-p", "tcp",
                                  "--dport", "443", "-j", "REDIRECT",
                                  "--to-ports", "8443")
    n.spawn(["sleep", "600"])
    print(lab.run_id, " ".join(str(i) for i in lab.inodes.values()), flush=True)
    time.sleep(600)
"""


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def root_veths():
    """The veth links where this test runs (the lab makes none here)."""
    r = subprocess.run([netlab.IP, "-o", "link", "show", "type", "veth"],
                       capture_output=True, text=True, check=True)
    return sorted(l.split(":")[1].strip() for l in r.stdout.splitlines())


def root_rules():
    """Netfilter rules here naming a lab run (the lab makes none here)."""
    r = subprocess.run([netlab.IPTABLES + "-save"], capture_output=True,
                       text=True)
    return [l for l in r.stdout.splitlines() if netlab.PREFIX in l]


@unittest.skipUnless(REAL, "no network namespaces here: %s" % WHY)
class Networks(H.ShimTestCase):

    def test_networks_get_distinct_derived_fingerprints(self):
        policy = self.policy(H.Host("pinned.test", pins=[H.BOGUS, H.BOGUS2]))
        seen = {}
        with netlab.NetLab(out=None) as lab:
            nets = [lab.add_network("alpha"), lab.add_network("beta")]
            srv = lab.server(self.pki.chain("leaf"), self.pki.key("leaf"))
            for net in nets:
                for kind in ("tlsclient:connect", "curl"):
                    argv, stdin = H.client_command(
                        kind, "pinned.test", srv.port, ca=self.pki.root,
                        connect_ip=srv.address)
                    env = self.shim.env(policy=policy)
                    self.assertNotIn("PINSHIM_NETWORK", env)
                    self.shim.clear_events()
                    argv, env = net.command(argv, env)
                    r = H.run(argv, env, stdin=stdin, kind=kind,
                              events_path=self.shim.events_path)
                    self.assertTrue(H.client_succeeded(kind, r), r.describe())
                    ev = self.assertOneEvent(r, kind="pin_mismatch",
                                             decision="would_block")
                    self.assertEqual(ev["peer"], srv.address, r.describe())
                    seen.setdefault(net.name, []).append(ev["network"])
            peers = {c.peer[0] for c in srv.connections()}
        self.assertEqual(peers, {n.address for n in nets})
        fps = {}
        for net in nets:
            for got in seen[net.name]:
                self.assertEqual(got["gateway"], net.gateway)
                self.assertEqual(got["subnet"], net.subnet)
                self.assertEqual(got["local_address"], net.address)
                self.assertEqual(got["resolvers"], net.resolvers)
                self.assertEqual(got["fingerprint"], netlab.fingerprint(
                    net.gateway, net.subnet, net.resolvers))
                self.assertEqual(got["label"], "net-" + got["fingerprint"][:8])
                fps.setdefault(net.name, set()).add(got["fingerprint"])
        self.assertEqual(len(fps["alpha"]), 1)
        self.assertEqual(len(fps["beta"]), 1)
        self.assertNotEqual(fps["alpha"], fps["beta"])

    def test_relay_reaches_this_namespace_from_a_network(self):
        with socket.socket() as ls:
            ls.bind(("127.0.0.1", 0))
            ls.listen(4)
            port = ls.getsockname()[1]

            def echo():
                c, _ = ls.accept()
                with c:
                    c.sendall(c.recv(100).upper())
            t = threading.Thread(target=echo, daemon=True)
            t.start()
            with netlab.NetLab(out=None) as lab:
                net = lab.add_network("relayed")
                lab.relay(port)
                r = net.run([H.PYTHON, "-c", (
                    "import socket\n"
                    "s = socket.create_connection(('127.0.0.1', %d), 10)\n"
                    "s.sendall(b'hello'); print(s.recv(100).decode())" % port)],
                    timeout=30)
            t.join(10)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "HELLO"), r.stderr)


@unittest.skipUnless(REAL, "no network namespaces here: %s" % WHY)
class Cleanup(unittest.TestCase):

    def build(self, lab):
        """A bit of everything that must go away."""
        gw = lab.add_router("gw")
        gw.iptables("-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport",
                    "443", "-j", "REDIRECT", "--to-ports", "8443")
        net = lab.add_network("inside", via=gw)
        lab.add_network("outside")
        pki = H.pki()
        srv = lab.server(pki.chain("leaf"), pki.key("leaf"))
        lab.expose(srv)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            lab.relay(s.getsockname()[1])
        p = net.spawn(["sleep", "600"])
        self.assertTrue(netlab.wait_for(lambda: netlab.processes_in(
            set(lab.inodes.values())), 10))
        return p

    def assertGone(self, run, inodes):
        self.assertTrue(netlab.wait_for(
            lambda: not netlab.processes_in(inodes), 10),
            "processes left in the lab's namespaces: %r"
            % netlab.processes_in(inodes))
        self.assertEqual(netlab.lab_namespaces(run), [])
        self.assertFalse([d for d in os.listdir(netlab.ETC_NETNS)
                          if run in d] if os.path.isdir(netlab.ETC_NETNS) else [])
        self.assertFalse(os.path.exists(os.path.join(netlab.LOCK_DIR,
                                                     run + ".lock")))
        self.assertFalse([l for l in root_rules() if run in l])

    def test_normal_exit_leaves_nothing_twice_in_a_row(self):
        fds, veths = open_fds(), root_veths()
        for _ in range(2):
            with netlab.NetLab(out=None) as lab:
                p = self.build(lab)
                run, inodes = lab.run_id, set(lab.inodes.values())
                self.assertEqual(len(netlab.lab_namespaces(run)), 4)
            self.assertEqual(lab.leftovers(), [])
            self.assertIsNotNone(p.poll())
            self.assertGone(run, inodes)
            self.assertEqual(root_veths(), veths)
            self.assertEqual(root_rules(), [])
            self.assertTrue(netlab.wait_for(lambda: open_fds() <= fds, 10),
                            "descriptors left open: %d > %d" % (open_fds(), fds))

    def test_exception_cleans_up(self):
        with self.assertRaises(RuntimeError):
            with netlab.NetLab(out=None) as lab:
                self.build(lab)
                run, inodes = lab.run_id, set(lab.inodes.values())
                raise RuntimeError("boom")
        self.assertGone(run, inodes)

    def child(self):
        p = subprocess.Popen([H.PYTHON, "-c", CHILD % {"here": HERE}],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        line = p.stdout.readline().split()
        self.assertTrue(line, "child did not start")
        return p, line[0], {int(i) for i in line[1:]}

    def test_sigint_and_sigterm_clean_up(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            p, run, inodes = self.child()
            self.assertTrue(netlab.lab_namespaces(run))
            p.send_signal(sig)
            p.wait(30)
            p.stdout.close()
            self.assertGone(run, inodes)

    def test_a_killed_runs_namespaces_are_swept_by_the_next(self):
        p, run, inodes = self.child()
        p.kill()
        p.wait(30)
        p.stdout.close()
        self.assertEqual(len(netlab.lab_namespaces(run)), 3)
        with netlab.NetLab(out=None) as lab:
            self.assertEqual(netlab.lab_namespaces(run), [])
            self.assertNotEqual(lab.run_id, run)
        self.assertGone(run, inodes)

    def test_parallel_runs_do_not_collide(self):
        with netlab.NetLab(out=None) as a, netlab.NetLab(out=None) as b:
            na, nb = a.add_network("same"), b.add_network("same")
            self.assertNotEqual(na.ns, nb.ns)
            self.assertEqual(na.expected_fingerprint, nb.expected_fingerprint)
            # a sweep by a third run spares both live runs
            netlab.sweep_stale()
            self.assertEqual(len(netlab.lab_namespaces(a.run_id)), 2)
            self.assertEqual(len(netlab.lab_namespaces(b.run_id)), 2)


class Fallback(H.ShimTestCase):

    def test_labels_when_namespaces_are_not_there(self):
        import io
        out = io.StringIO()
        with netlab.NetLab(real=False, out=out) as lab:
            net = lab.add_network("corp-wifi")
            self.assertFalse(lab.real)
            self.assertIn("NO NETWORK NAMESPACES", out.getvalue())
            self.assertEqual(net.client_args(),
                             {"netns": None, "network": "corp-wifi"})
            srv = lab.server(self.pki.chain("leaf"), self.pki.key("leaf"))
            self.assertTrue(srv.address.startswith("127."))
            policy = self.policy(H.Host("pinned.test", pins=[H.BOGUS]))
            argv, _ = H.client_command("tlsclient:connect", "pinned.test",
                                       lab.expose(srv), ca=self.pki.root,
                                       connect_ip=srv.address)
            argv, env = net.command(argv, self.shim.env(policy=policy))
            r = H.run(argv, env, kind="tlsclient:connect",
                      events_path=self.shim.events_path)
        ev = self.assertOneEvent(r, kind="pin_mismatch")
        self.assertEqual(ev["network"]["label"], "corp-wifi")
        self.assertEqual(lab.leftovers(), [])


if __name__ == "__main__":
    H.main()
