"""A process that never handshakes is untouched by the shim: no thread, no
file, no output, even when its policy is broken (the policy is read on the
first handshake, never in a constructor)."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness as H  # noqa: E402
from harness import BOGUS, Host  # noqa

# Reports the process's own threads and open files after a moment (a thread
# started lazily or by a timer would show up by then).
INTROSPECT = r"""
import json, os, ssl, sys, time
if sys.argv[1] == "ssl":
    ctx = ssl.create_default_context()
elif sys.argv[1] == "ssl_socket":
    import socket
    ctx = ssl.create_default_context()
    s = socket.socket()
    t = ctx.wrap_socket(s, server_hostname="pinned.test", do_handshake_on_connect=False)
time.sleep(0.3)
fds = {}
for fd in os.listdir("/proc/self/fd"):
    try:
        fds[fd] = os.readlink("/proc/self/fd/" + fd)
    except OSError:
        pass
def kind(target):  # pipe:[46006] -> pipe: (inode numbers differ per run)
    return target.split("[")[0]
print(json.dumps({"threads": sorted(os.listdir("/proc/self/task")),
                  "fds": sorted("%s %s" % (fd, kind(v)) for fd, v in fds.items()
                                if not v.startswith("/proc/"))}))
"""


class Inert(H.ShimTestCase):

    def env_under_shim(self, policy_case="valid", shim=True):
        if policy_case == "valid":
            self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS],
                             mode="enforce"))
            policy = True
        else:
            policy = os.path.join(self.tmp, "missing", "policy.ini")
        return self.shim.env(policy=policy, shim=shim, log="debug",
                             mode="enforce")

    def run_cmd(self, argv, env):
        self.shim.clear_events()
        return H.run(argv, env, events_path=self.shim.events_path)

    def assertInert(self, r):
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(r.stderr, "", r.describe())
        self.assertFalse(os.path.exists(self.shim.events_path), r.describe())
        self.assertEqual(sorted(os.listdir(self.tmp)),
                         sorted(f for f in ("policy.ini",)
                                if os.path.exists(os.path.join(self.tmp, f))),
                         "the shim created files")

    def test_bin_true_is_untouched(self):
        for case in ("valid", "broken"):
            with self.subTest(policy=case):
                self.assertInert(self.run_cmd(["/bin/true"], self.env_under_shim(case)))

    def test_python_creating_a_context_is_untouched(self):
        for case in ("valid", "broken"):
            with self.subTest(policy=case):
                r = self.run_cmd([H.PYTHON, "-c", "import ssl; ssl.create_default_context()"],
                                 self.env_under_shim(case))
                self.assertInert(r)

    def test_curl_and_openssl_version_are_untouched(self):
        for argv in (["curl", "--version"], ["openssl", "version"]):
            with self.subTest(argv=argv[0]):
                if H.ASAN and argv[0] == "curl":
                    self.skipTest(H.CURL_ASAN_SKIP)
                self.assertInert(self.run_cmd(argv, self.env_under_shim("broken")))

    def test_no_thread_and_no_fd_in_a_python_that_never_handshakes(self):
        for what in ("nothing", "ssl", "ssl_socket"):
            with self.subTest(what=what):
                argv = [H.PYTHON, "-c", INTROSPECT, what]
                base = self.run_cmd(argv, self.env_under_shim("valid", shim=False))
                r = self.run_cmd(argv, self.env_under_shim("valid"))
                self.assertInert(r)
                self.assertEqual(base.returncode, 0, base.describe())
                b = json.loads(base.stdout)
                s = json.loads(r.stdout)
                self.assertEqual(len(s["threads"]), 1, r.describe())
                self.assertEqual(len(s["threads"]), len(b["threads"]))
                self.assertEqual(s["fds"], b["fds"], r.describe())

    def test_no_output_when_a_handshake_to_an_unpinned_host_succeeds(self):
        self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode="enforce"))
        for kind in ("tlsclient:connect", "python", "curl"):
            with self.subTest(kind=kind):
                r = self.run_client(kind, self.server("leaf", "1.3"), host="unpinned.test")
                self.assertSucceeded(r)
                self.assertEqual(r.stderr, "", r.describe())
                self.assertFalse(os.path.exists(self.shim.events_path))

    def test_no_output_and_no_file_when_a_pinned_handshake_succeeds(self):
        self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode="enforce"))
        for kind in ("tlsclient:connect", "python", "curl"):
            with self.subTest(kind=kind):
                r = self.run_client(kind, self.server("leaf", "1.3"))
                self.assertSucceeded(r)
                self.assertEqual(r.stderr, "", r.describe())
                self.assertFalse(os.path.exists(self.shim.events_path))

    def test_server_side_handshakes_are_not_checked(self):
        # A preloaded python TLS *server* on a pinned name with mismatching
        # pins in enforce: its handshakes are not the shim's business.
        self.policy(Host("pinned.test", pins=[BOGUS], mode="enforce"))
        server = r"""
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(1)
print(ls.getsockname()[1], flush=True)
c, _ = ls.accept()
t = ctx.wrap_socket(c, server_side=True)
t.sendall(t.recv(100).replace(b"ping", b"pong"))
t.close()
"""
        import subprocess
        env = self.shim.env(policy=True)
        p = subprocess.Popen([H.PYTHON, "-c", server, self.pki.chain("leaf"),
                              self.pki.key("leaf")], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            port = int(p.stdout.readline())
            r = self.run_client("tlsclient:connect", port, shim=False, events=False)
            self.assertSucceeded(r)
            out, err = p.communicate(timeout=20)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(err, "")
        self.assertFalse(os.path.exists(self.shim.events_path))


if __name__ == "__main__":
    H.main()
