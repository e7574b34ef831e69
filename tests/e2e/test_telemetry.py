"""End to end: real clients under the shim → the real collector → SQLite →
`pinshim-view failures --json`.  curl and python3 against a server whose
key rotated away from the pins, in observe and in enforce mode: every field
the issue names must be filled from the real process, including a stack
frame that names the library which opened the connection."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness as H  # noqa: E402
from harness import BOGUS, Host  # noqa: E402
from collector import Collector  # noqa: E402

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
HEX = re.compile(r"^[0-9a-f]+$")

# Which module of each client's stack opens the TLS connection.
CALLER_MODULE = {"curl": "libcurl", "python": "_ssl", "tlsclient:connect": "tlsclient"}


def os_release_id():
    with open("/etc/os-release") as f:
        for line in f:
            if line.startswith("ID="):
                return line.split("=", 1)[1].strip().strip('"')
    return ""


class EndToEnd(H.ShimTestCase):

    def setUp(self):
        super().setUp()
        self.token = os.path.join(self.tmp, "token")
        with open(self.token, "w") as f:
            f.write("e2e-shared-secret\n")
        self.collector = Collector(self.tmp, token=self.token).start()
        self.addCleanup(self.collector.stop)

    def write_policy(self, mode, token=None):
        keys = self.collector.policy_keys()
        keys["token"] = token or self.token
        self.shim.write_policy(text=H.policy_text(
            [Host("pinned.test", pins=[self.P["leaf"], BOGUS])],
            mode=mode, version="e2e-7", keys=keys))

    def wait_failures(self, n, **filters):
        deadline = time.time() + 20
        got = []
        while time.time() < deadline:
            got = self.collector.failures(**filters)
            if sum(f["count"] for f in got) >= n:
                return got
            time.sleep(0.2)
        self.fail("expected %d failures in the collector, got %r" % (n, got))

    def run_one(self, kind, mode, env_extra=None):
        self.write_policy(mode)
        srv = self.server("rotated", "1.3")
        extra = {"PINSHIM_SPOOL": os.path.join(self.tmp, "spool")}
        extra.update(env_extra or {})
        r = self.run_client(kind, srv, tls="1.3", events=False, env_extra=extra)
        return r, srv

    def check_event(self, ev, kind, srv, decision, mode):
        ctx = repr(ev)
        self.assertRegex(ev["id"], r"^[0-9a-f]{32}$")
        self.assertEqual(ev["id"][12], "7", "UUIDv7 layout " + ctx)
        for k in ("time", "received"):
            self.assertRegex(ev[k], RFC3339, k + " " + ctx)
        self.assertEqual(ev["host"], "pinned.test")
        self.assertEqual(ev["port"], srv.port)
        self.assertEqual(ev["peer"], "127.0.0.1")
        self.assertEqual(ev["kind"], "pin_mismatch")
        self.assertEqual(ev["decision"], decision)
        self.assertEqual(ev["mode"], mode)
        self.assertEqual(ev["count"], 1)
        self.assertEqual(ev["policy_version"], "e2e-7")
        self.assertEqual(ev["expected_pins"], [self.P["leaf"], BOGUS])
        self.assertEqual([c["pin"] for c in ev["served_chain"]],
                         [self.P["rotated"], self.P["int1"]], ctx)
        leaf = ev["served_chain"][0]
        self.assertEqual(leaf["position"], 0)
        self.assertIn("CN=", leaf["subject"])
        self.assertIn("CN=", leaf["issuer"])
        self.assertEqual(ev["served_chain"][1]["subject"], leaf["issuer"])
        self.assertTrue(ev["built_chain"], "built chain " + ctx)
        self.assertEqual(ev["built_chain"][-1]["pin"], self.P["root"])
        # platform, process, network, stack: from the real process
        self.assertEqual(ev["platform"]["os"].split()[0], os_release_id(), ctx)
        self.assertEqual(ev["platform"]["kernel"], os.uname().release)
        self.assertRegex(ev["platform"]["host_id"], r"^[0-9a-f]{64}$")
        self.assertTrue(ev["platform"]["libssl_version"].startswith("OpenSSL 3"))
        self.assertTrue(ev["process"]["exe"], ctx)
        self.assertRegex(ev["process"]["build_id"], HEX)
        self.assertTrue(ev["app_version"], ctx)
        self.assertTrue(ev["network"], ctx)
        self.assertRegex(ev["network_fingerprint"], r"^[0-9a-f]{64}$")
        self.assertTrue(ev["sender"].startswith("127.0.0.1:"), ctx)
        modules = [f["module"] for f in ev["stack"]]
        self.assertTrue(any(CALLER_MODULE[kind] in m for m in modules),
                        "no %s frame in %s" % (CALLER_MODULE[kind], modules))
        self.assertTrue(all(isinstance(f["offset"], int) for f in ev["stack"]))

    def both_modes(self, kind):
        for mode, decision in (("observe", "would_block"), ("enforce", "blocked")):
            with self.subTest(mode=mode):
                before = len(self.collector.failures())
                r, srv = self.run_one(kind, mode, {
                    "PINSHIM_APP_VERSION": "e2e-app 1.%s" % mode,
                    "PINSHIM_NETWORK": "lab-net"})
                if mode == "observe":
                    self.assertSucceeded(r)
                else:
                    self.assertFailedTLS(r)
                evs = self.wait_failures(before + 1)
                ev = [e for e in evs if e["mode"] == mode][0]
                self.check_event(ev, kind, srv, decision, mode)
                self.assertEqual(ev["app_version"], "e2e-app 1.%s" % mode)
                self.assertEqual(ev["network"], "lab-net")

    def test_curl(self):
        self.both_modes("curl")

    def test_python3(self):
        self.both_modes("python")

    def test_tlsclient(self):
        self.both_modes("tlsclient:connect")

    def test_derived_version_and_network_without_labels(self):
        r, srv = self.run_one("python", "observe")
        self.assertSucceeded(r)
        ev = self.wait_failures(1)[0]
        self.assertTrue(ev["app_version"].startswith("python3"), ev["app_version"])
        self.assertRegex(ev["network"], r"^net-[0-9a-f]{8}$")
        self.assertEqual(ev["network"][4:], ev["network_fingerprint"][:8])

    def test_wrong_token_is_refused_and_events_stay_spooled(self):
        wrong = os.path.join(self.tmp, "wrong-token")
        with open(wrong, "w") as f:
            f.write("not-the-secret\n")
        self.write_policy("observe", token=wrong)
        srv = self.server("rotated", "1.3")
        spool = os.path.join(self.tmp, "spool")
        r = self.run_client("python", srv, tls="1.3", events=False,
                            env_extra={"PINSHIM_SPOOL": spool})
        self.assertSucceeded(r)
        self.assertEqual(self.collector.failures(), [])
        self.assertTrue(os.listdir(spool), "the unaccepted event is spooled")


if __name__ == "__main__":
    H.main()
