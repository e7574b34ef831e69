"""What an event says about where a failure happened, filled from the real
process: real clients (tlsclient, curl, /usr/bin/python3) under the shim,
against a server whose leaf key rotated away from the pin (observe: one
would_block event each), their PINSHIM_EVENTS_FILE lines checked against this
machine, the client's executable and the network as the kernel reports it.

Every expected value is found independently of the shim: /etc/os-release,
os.uname(), /etc/machine-id, `readelf -n`, `openssl x509 -serial`,
/proc/net/route, /etc/resolv.conf."""

import hashlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness as H  # noqa: E402
from harness import BOGUS, Host  # noqa: E402

HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEX_BUILD_ID = re.compile(r"^[0-9a-f]{16,80}$")
SECRET = "s3cret-proxy-pw"


def os_release():
    out = {}
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    k, sep, v = line.strip().partition("=")
                    if sep:
                        out[k] = v.strip().strip('"').strip("'")
            break
    return out


def machine_id():
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            with open(path, "rb") as f:
                text = f.read().strip()
        except OSError:
            continue
        if text:
            return text
    return None


def build_id(path):
    """The GNU build-id of an ELF file, as readelf prints it."""
    out = subprocess.run(["readelf", "-n", path], capture_output=True,
                         text=True, check=True).stdout
    m = re.search(r"Build ID:\s*([0-9a-f]+)", out)
    return m.group(1) if m else ""


def default_gateway():
    """The IPv4 default route's gateway from /proc/net/route ("" if none)."""
    best = None
    with open("/proc/net/route") as f:
        next(f)
        for line in f:
            p = line.split()
            dest, gw, flags, metric, mask = (int(p[1], 16), int(p[2], 16),
                                             int(p[3], 16), int(p[6]),
                                             int(p[7], 16))
            if dest or mask or not flags & 1:
                continue
            if best is None or metric < best[0]:
                addr = socket.inet_ntoa(gw.to_bytes(4, "little")) \
                    if flags & 2 else ""
                best = (metric, addr)
    return best[1] if best else None


def nameservers():
    out = []
    try:
        with open("/etc/resolv.conf") as f:
            for line in f:
                p = line.split()
                if len(p) >= 2 and p[0] == "nameserver":
                    out.append(p[1])
    except OSError:
        pass
    return out[:4]


PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
              "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY")


def proxy_names(extra=None):
    """The proxy variables a client run by the harness has set."""
    env = H.base_env()
    env.update(extra or {})
    return sorted(k for k in PROXY_VARS if env.get(k))


def openssl_serial(pem):
    out = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", pem],
                         capture_output=True, text=True, check=True).stdout
    return out.strip().split("=", 1)[1]


class Content(H.ShimTestCase):

    def setUp(self):
        super().setUp()
        self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS]),
                    mode="observe")

    def event(self, kind="tlsclient:connect", env=None):
        """One would_block event from kind against the rotated-key server,
        and the events file's raw text."""
        srv = self.server("rotated", "1.3")
        r = self.run_client(kind, srv, tls="1.3", env_extra=env)
        self.assertSucceeded(r)
        ev = self.assertOneEvent(r, kind="pin_mismatch",
                                 decision="would_block", host="pinned.test")
        with open(self.shim.events_path) as f:
            raw = f.read()
        return ev, raw, r

    def frame_modules(self, ev):
        return [f["module"] for f in ev["stack"]]

    # -- platform ---------------------------------------------------------

    def test_platform_is_this_machine(self):
        ev, _, r = self.event()
        p = ev["platform"]
        rel = os_release()
        self.assertEqual(p["os_id"], rel.get("ID", ""), r.describe())
        self.assertEqual(p["os_version"], rel.get("VERSION_ID", ""))
        self.assertEqual(p["os_name"], rel.get("PRETTY_NAME", ""))
        self.assertEqual(p["kernel"], os.uname().release)
        self.assertEqual(p["arch"], os.uname().machine)
        self.assertEqual(p["hostname"], socket.gethostname())
        # the client's libssl is the system one, as Python's is
        self.assertEqual(p["libssl_version"], ssl.OPENSSL_VERSION)

    def test_host_id_is_the_hashed_machine_id(self):
        ev, raw, _ = self.event()
        mid = machine_id()
        if mid is None:
            self.assertEqual(ev["platform"]["host_id"], "")
            return
        self.assertRegex(ev["platform"]["host_id"], HEX64)
        self.assertEqual(ev["platform"]["host_id"],
                         hashlib.sha256(b"pinshim:" + mid).hexdigest())
        self.assertNotIn(mid.decode(), raw, "the machine-id itself leaked")

    # -- process ----------------------------------------------------------

    def test_process_is_the_client_with_its_build_id(self):
        ev, _, _ = self.event()
        exe = os.path.realpath(H.TLSCLIENT)
        p = ev["process"]
        self.assertEqual(p["exe"], exe)
        self.assertEqual(ev["exe"], exe)
        self.assertEqual(p["argv0"], H.TLSCLIENT)
        self.assertRegex(p["build_id"], HEX_BUILD_ID)
        if shutil.which("readelf"):
            self.assertEqual(p["build_id"], build_id(exe))
        self.assertIsInstance(p["pid"], int)
        self.assertEqual(p["pid"], ev["pid"])

    def test_app_version_is_derived_from_the_build_id(self):
        ev, _, _ = self.event()
        p = ev["process"]
        self.assertEqual(p["app_version_source"], "build-id")
        self.assertEqual(p["app_version"], "tlsclient@" + p["build_id"][:12])

    def test_app_version_comes_from_the_environment(self):
        ev, _, _ = self.event(env={"PINSHIM_APP_VERSION": "4.2.0-test"})
        self.assertEqual(ev["process"]["app_version"], "4.2.0-test")
        self.assertEqual(ev["process"]["app_version_source"], "env")

    def test_python_process_is_the_interpreter(self):
        ev, _, _ = self.event("python")
        self.assertEqual(ev["process"]["exe"], os.path.realpath(H.PYTHON))
        self.assertEqual(ev["process"]["build_id"],
                         build_id(os.path.realpath(H.PYTHON)))

    # -- network ----------------------------------------------------------

    def test_network_is_the_one_the_kernel_reports(self):
        ev, _, _ = self.event()
        n = ev["network"]
        self.assertRegex(n["fingerprint"], HEX64)
        self.assertEqual(n["label"], "net-" + n["fingerprint"][:8])
        self.assertEqual(n["resolvers"], nameservers())
        gw = default_gateway()
        if gw is not None:
            self.assertEqual(n["gateway"], gw)
            self.assertRegex(n["subnet"], r"^[0-9a-f.:]+/\d+$")
            self.assertNotEqual(n["local_address"], "")
        # the documented formula, from the event's own fields
        text = "gateway=%s\nsubnet=%s\n" % (n["gateway"], n["subnet"])
        text += "".join("resolver=%s\n" % r for r in n["resolvers"])
        self.assertEqual(n["fingerprint"],
                         hashlib.sha256(text.encode()).hexdigest())

    def test_network_label_comes_from_the_environment(self):
        plain, _, _ = self.event()
        ev, _, _ = self.event(env={"PINSHIM_NETWORK": "corp-wifi"})
        self.assertEqual(ev["network"]["label"], "corp-wifi")
        self.assertEqual(ev["network"]["fingerprint"],
                         plain["network"]["fingerprint"])

    def test_proxy_variables_are_named_never_their_values(self):
        env = {"https_proxy": "http://user:%s@127.0.0.1:9/" % SECRET,
               "NO_PROXY": "localhost"}
        ev, raw, _ = self.event(env=env)
        self.assertEqual(sorted(ev["network"]["proxy_vars"]),
                         proxy_names(env))
        self.assertIn("https_proxy", ev["network"]["proxy_vars"])
        self.assertNotIn(SECRET, raw)

    def test_only_the_proxy_variables_set_are_named(self):
        ev, _, _ = self.event()
        self.assertEqual(sorted(ev["network"]["proxy_vars"]), proxy_names())

    # -- chains and coalescing fields ---------------------------------------

    def test_chain_serials_are_the_certificates(self):
        ev, _, _ = self.event()
        served = ev["served_chain"]
        self.assertEqual(served[0]["serial"],
                         openssl_serial(self.pki.cert("rotated")))
        self.assertEqual(served[1]["serial"],
                         openssl_serial(self.pki.cert("int1")))
        self.assertEqual(ev["served_total"], len(served))
        self.assertEqual(ev["built_chain"][-1]["serial"],
                         openssl_serial(self.pki.cert("root")))

    def test_single_failure_is_a_first_record_with_count_one(self):
        ev, _, _ = self.event()
        self.assertEqual(ev["count"], 1)
        self.assertIsNone(ev["repeat_of"])
        self.assertEqual(ev["matched"], "none")
        self.assertEqual(ev["last_time"], ev["time"])

    # -- the stack ----------------------------------------------------------

    def assertFrames(self, ev):
        self.assertTrue(ev["stack"], "no stack frames")
        self.assertLessEqual(len(ev["stack"]), 48)
        for f in ev["stack"]:
            self.assertTrue(f["module"], f)
            self.assertIsInstance(f["offset"], int)
            self.assertNotIn("libpinshim", f["module"],
                             "the shim's own frames must be left out")

    def frame(self, ev, needle):
        for f in ev["stack"]:
            if needle in os.path.basename(f["module"]):
                return f
        self.fail("no stack frame in a module named *%s*: %s"
                  % (needle, self.frame_modules(ev)))

    def test_tlsclient_stack_names_tlsclient_under_libssl(self):
        ev, _, _ = self.event()
        self.assertFrames(ev)
        f = self.frame(ev, "tlsclient")
        self.assertEqual(f["module"], os.path.realpath(H.TLSCLIENT))
        self.assertEqual(f["build_id"], ev["process"]["build_id"])
        # innermost first: libssl's frames come before its caller's
        mods = self.frame_modules(ev)
        first_ssl = next(i for i, m in enumerate(mods) if "libssl" in m)
        self.assertLess(first_ssl, mods.index(f["module"]))
        libssl = self.frame(ev, "libssl")
        if shutil.which("readelf"):
            self.assertEqual(libssl["build_id"], build_id(libssl["module"]))
        # symbols where the module exports one (libssl's inner frames and
        # tlsclient's static functions have none; libc's start has)
        named = [x for x in ev["stack"] if x["symbol"]]
        self.assertTrue(named, ev["stack"])
        for x in named:
            self.assertGreater(x["symbol_offset"], 0, x)

    def test_curl_stack_names_libcurl(self):
        if H.ASAN:
            self.skipTest(H.CURL_ASAN_SKIP)
        ev, _, _ = self.event("curl")
        self.assertFrames(ev)
        f = self.frame(ev, "libcurl")
        self.assertRegex(f["build_id"], HEX_BUILD_ID)
        if shutil.which("readelf"):
            self.assertEqual(f["build_id"], build_id(f["module"]))

    def test_python_stack_names_the_ssl_module(self):
        ev, _, _ = self.event("python")
        self.assertFrames(ev)
        f = self.frame(ev, "_ssl")
        self.assertRegex(f["build_id"], HEX_BUILD_ID)


if __name__ == "__main__":
    H.main()
