"""The whole way: real clients (tests/tlsclient) under the shim against real
TLS servers on loopback, a real pinshim-collector, then pinshim-view.  A
server rotates its key (rollover), a proxy's chain on one network
(interception): diagnose must name both from what the shims sent."""

import json
import os
import shutil
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import harness as H  # noqa: E402
from collector import Collector  # noqa: E402
from tlsserver import TLSServer  # noqa: E402

TOKEN = "viewer-real-token"


class RealClients(unittest.TestCase):

    def setUp(self):
        H.require_shim(self)
        self.pki = H.pki()
        self.tmp = tempfile.mkdtemp(prefix="pinshim-viewer-real-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.c = Collector(self.tmp, token=TOKEN)
        self.c.start()
        self.addCleanup(self.c.stop)
        self.spool = os.path.join(self.tmp, "spool")
        os.mkdir(self.spool, 0o700)
        self.runs = 0

    def server(self, name):
        s = TLSServer(self.pki.chain(name), self.pki.key(name))
        s.start()
        self.addCleanup(s.stop)
        return s

    def policy(self, hosts):
        text = H.policy_text([H.Host(h, pins=p) for h, p in hosts.items()],
                             mode="observe", version="viewer-1",
                             keys=self.c.policy_keys())
        path = os.path.join(self.tmp, "policy.ini")
        with open(path, "w") as f:
            f.write(text)
        return path

    def clients(self, host, server, network, count, ca=None, ok=True):
        env = H.base_env()
        env["LD_PRELOAD"] = H.preload_value(True)
        env.update(PINSHIM_POLICY=self.policy_path, PINSHIM_NETWORK=network,
                   PINSHIM_APP_VERSION="app 1.0", PINSHIM_SPOOL=self.spool,
                   PINSHIM_COLLECTOR=self.c.address)
        if H.ASAN:
            env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=0"
        argv, _ = H.client_command("tlsclient:connect", host, server.port,
                                   ca=ca or self.pki.root, count=count)
        r = H.run(argv, env, kind="tlsclient:connect")
        # observe mode: every handshake goes through
        self.assertTrue(H.client_succeeded("tlsclient:connect", r),
                        r.describe())
        self.runs += count

    def delivered(self, handshakes):
        """Waits until the collector counted every handshake."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r = self.c.view("summary", "--json", check=False)
            if r.returncode == 0 and json.loads(r.stdout)["handshakes"] \
                    >= handshakes:
                return
            time.sleep(0.2)
        self.fail("the collector counted fewer than %d handshakes:\n%s"
                  % (handshakes, self.c.log()[-2000:]))

    def test_rollover_and_interception_from_real_handshakes(self):
        leaf_pin = self.pki.pin("leaf")
        self.policy_path = self.policy({
            "pinned.test": [leaf_pin, H.bogus_pin("backup")],
            "other.test": [leaf_pin, H.bogus_pin("backup2")]})
        leaf = self.server("leaf")
        for net in ("office", "home"):
            self.clients("pinned.test", leaf, net, 4)
            self.clients("other.test", leaf, net, 4)
        rotated = self.server("rotated")
        for net in ("office", "home"):
            self.clients("pinned.test", rotated, net, 3)
        mitm = self.server("mitm_leaf")
        self.clients("other.test", mitm, "corp", 5,
                     ca=self.pki.bundle_both)
        self.delivered(self.runs)

        ds = {d["host"]: d for d in json.loads(
            self.c.view("diagnose", "--json").stdout)["diagnoses"]}
        self.assertEqual(set(ds), {"pinned.test", "other.test"})
        roll = ds["pinned.test"]
        self.assertEqual((roll["cause"], roll["dimension"], roll["value"]),
                         ("rollover", "leaf_key", self.pki.pin("rotated")))
        self.assertEqual((roll["failed"], roll["total"], roll["rest_failed"],
                          roll["rest_total"]), (6, 6, 0, 8))
        self.assertIn("add pin %s" % self.pki.pin("rotated"), roll["fix"])
        self.assertEqual(roll["chains"][0]["certs"][0]["pin"],
                         self.pki.pin("rotated"))
        self.assertTrue(roll["chains"][1]["certs"][0]["pinned"])

        mi = ds["other.test"]
        self.assertEqual((mi["cause"], mi["dimension"], mi["value"]),
                         ("interception", "network", "corp"))
        self.assertEqual((mi["failed"], mi["total"], mi["rest_failed"],
                          mi["rest_total"]), (5, 5, 0, 8))
        self.assertIn("network corp intercepts TLS to other.test", mi["fix"])

        # the other reports over the same database
        s = json.loads(self.c.view("summary", "--json").stdout)
        self.assertEqual((s["handshakes"], s["failures"]), (self.runs, 11))
        r = json.loads(self.c.view("rollout", "--json").stdout)["rollout"]
        self.assertEqual({h["host"]: h["would_block"] for h in r},
                         {"pinned.test": 6, "other.test": 5})
        h = json.loads(self.c.view("chain", "pinned.test", "--json").stdout)
        self.assertEqual([c["certs"][0]["pin"] for c in h["chains"]],
                         [leaf_pin, self.pki.pin("rotated")])


if __name__ == "__main__":
    unittest.main()
