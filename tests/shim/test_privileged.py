"""Machine-wide preload and privileged processes.

In a private mount namespace, /etc is an overlay of the real one (so the
machine's own /etc is never touched) holding a preload list (/etc/ld.so.preload
naming the shim) and a machine policy (/etc/pinshim/policy.ini: enforce, pins
that do not match the server).  Then:

- a setuid-root copy of our C client, run by an unprivileged user with a
  hostile PINSHIM_* environment (observe mode, the user's own policy that
  would let it through, a spool, an events file, debug logging and a
  collector of the user's), is blocked by the machine policy, creates and
  writes nothing the caller named, prints nothing the caller asked for, and
  spools into the machine policy's spool;
- unprivileged processes in the same namespace are enforced by the machine
  policy too (the preload list reaches them without LD_PRELOAD), and their
  own PINSHIM_* still works for them."""

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness as H  # noqa: E402
from harness import BOGUS, Host  # noqa: E402
import namespace  # noqa: E402

NOBODY = 65534

# Runs inside the namespace: ROOT is the test's directory.  One client per
# line of CLIENTS ("name argv..."), its stdout, stderr and status in
# ROOT/out/name.{out,err,rc}.
NAMESPACE = r"""
set -eu
mkdir -p "$ROOT/ovl/up" "$ROOT/ovl/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$ROOT/ovl/up,workdir=$ROOT/ovl/work" /etc
mkdir -p /etc/pinshim
cp "$ROOT/machine-policy.ini" /etc/pinshim/policy.ini
echo "$ROOT/lib/libpinshim.so" > /etc/ld.so.preload
while read -r name user rest; do
	[ -n "$name" ] || continue
	set +e
	if [ "$user" = root ]; then
		sh -c "$rest" > "$ROOT/out/$name.out" 2> "$ROOT/out/$name.err"
	else
		setpriv --reuid=$user --regid=$user --clear-groups sh -c "$rest" \
			> "$ROOT/out/$name.out" 2> "$ROOT/out/$name.err"
	fi
	echo $? > "$ROOT/out/$name.rc"
	set -e
done < "$ROOT/clients"
"""


def can_run():
    if H.ASAN:
        return ("a sanitizer runtime cannot be preloaded machine-wide into "
                "setuid programs (the plain build runs this)")
    return namespace.problem("a mount namespace, a setuid-root client",
                             tools=("setpriv",))


class MachineWide(H.ShimTestCase):

    @classmethod
    def setUpClass(cls):
        why = can_run()
        if why:
            raise unittest.SkipTest(why)
        super().setUpClass()

    def setUp(self):
        super().setUp()
        # Everything the unprivileged user must reach: 0755 all the way.
        self.root = tempfile.mkdtemp(prefix="pinshim-machine-")
        self.addCleanup(shutil.rmtree, self.root, True)
        os.chmod(self.root, 0o755)
        for d in ("lib", "bin", "out", "user"):
            os.mkdir(os.path.join(self.root, d), 0o755)
        os.chown(os.path.join(self.root, "user"), NOBODY, NOBODY)
        lib = os.path.dirname(H.LIB)
        for f in ("libpinshim.so", "libpinshim-core.so"):
            shutil.copy(os.path.join(lib, f), os.path.join(self.root, "lib", f))
        self.client = os.path.join(self.root, "bin", "tlsclient")
        self.suid = os.path.join(self.root, "bin", "tlsclient-suid")
        for f in (self.client, self.suid):
            shutil.copy(H.TLSCLIENT, f)
            os.chmod(f, 0o755)
        os.chmod(self.suid, 0o4755)            # owned by root: setuid root
        self.ca = os.path.join(self.root, "root.pem")
        shutil.copy(self.pki.cert("root"), self.ca)
        self.srv = self.server("leaf", "1.3")
        # A collector address of the user's: it must never be contacted.
        self.user_collector = socket.socket()
        self.user_collector.bind(("127.0.0.1", 0))
        self.user_collector.listen(8)
        self.user_collector.setblocking(False)
        self.addCleanup(self.user_collector.close)

    def machine_policy(self):
        text = H.policy_text([Host("pinned.test", pins=[self.P["rotated"], BOGUS],
                                   mode="enforce")], mode="enforce",
                             version="machine-1")
        # unreachable collector: failures must be spooled, to the machine's
        # spool only
        text = text.replace("[policy]\n", "[policy]\ncollector = 127.0.0.1:9\n"
                            "spool = %s/machine-spool\nlog = error\n" % self.root, 1)
        with open(os.path.join(self.root, "machine-policy.ini"), "w") as f:
            f.write(text)

    def user_policy(self):
        """What the caller would like: observe, the server's own pin."""
        path = os.path.join(self.root, "user", "policy.ini")
        with open(path, "w") as f:
            f.write(H.policy_text([Host("pinned.test", pins=[self.P["leaf"], BOGUS],
                                        mode="observe")], mode="observe"))
        os.chmod(path, 0o644)
        return path

    def hostile_env(self, tag):
        u = os.path.join(self.root, "user")
        return ("PINSHIM_MODE=observe PINSHIM_POLICY=%s PINSHIM_FAIL=open "
                "PINSHIM_SPOOL=%s/spool-%s PINSHIM_EVENTS_FILE=%s/events-%s "
                "PINSHIM_LOG=debug PINSHIM_COLLECTOR=127.0.0.1:%d "
                "PINSHIM_NETWORK=user-chosen PINSHIM_APP_VERSION=user-chosen"
                % (self.user_policy(), u, tag, u, tag,
                   self.user_collector.getsockname()[1]))

    def client_cmd(self, exe):
        return ("%s --host pinned.test --port %d --ca %s --mode connect --tls 1.3"
                % (exe, self.srv.port, self.ca))

    def run_namespace(self, clients):
        self.machine_policy()
        with open(os.path.join(self.root, "clients"), "w") as f:
            for name, user, cmd in clients:
                f.write("%s %s %s\n" % (name, user, cmd))
        env = dict(H.base_env(), ROOT=self.root)
        env.pop("LD_PRELOAD", None)
        r = subprocess.run(namespace.UNSHARE + ["sh", "-c", NAMESPACE], env=env,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = {}
        for name, _, _ in clients:
            p = os.path.join(self.root, "out", name)
            with open(p + ".out") as o, open(p + ".err") as e, open(p + ".rc") as c:
                out[name] = (int(c.read()), o.read(), e.read())
        return out

    def assertNothingOfTheUsers(self, tag):
        u = os.path.join(self.root, "user")
        for f in ("spool-" + tag, "events-" + tag):
            self.assertFalse(os.path.exists(os.path.join(u, f)),
                             "%s was created at the caller's request" % f)
        try:
            c, _ = self.user_collector.accept()
            c.close()
            self.fail("the caller's collector was contacted")
        except BlockingIOError:
            pass

    def test_setuid_client_with_hostile_environment_obeys_the_machine_policy(self):
        probe = H.Probe(self.srv)
        out = self.run_namespace([
            ("suid", str(NOBODY), "env %s %s" % (self.hostile_env("suid"),
                                                 self.client_cmd(self.suid)))])
        rc, stdout, stderr = out["suid"]
        self.assertEqual(rc, 1, (stdout, stderr))
        self.assertIn("fail: ", stdout)
        self.assertIn("pinshim", stdout)          # the reason, from OpenSSL
        self.assertNotIn("pinshim:", stderr)      # debug output not given
        self.assertNoAppBytes(probe)
        self.assertNothingOfTheUsers("suid")
        # what it could not deliver went to the machine's spool, as root
        spool = os.path.join(self.root, "machine-spool")
        st = os.lstat(spool)
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (0, 0o700))
        self.assertTrue(os.listdir(spool), "nothing spooled")

    def test_unprivileged_processes_are_enforced_and_keep_their_own_settings(self):
        u = os.path.join(self.root, "user")
        out = self.run_namespace([
            ("plain", str(NOBODY), self.client_cmd(self.client)),
            ("own", str(NOBODY), "env PINSHIM_MODE=observe PINSHIM_EVENTS_FILE="
             "%s/events-own %s" % (u, self.client_cmd(self.client))),
            ("root", "root", self.client_cmd(self.client))])
        rc, stdout, stderr = out["plain"]
        self.assertEqual(rc, 1, (stdout, stderr))        # blocked by /etc
        self.assertIn("pinshim", stdout)
        rc, stdout, stderr = out["own"]
        self.assertEqual(rc, 0, (stdout, stderr))        # its observe mode
        events = H.read_events(os.path.join(u, "events-own"))
        self.assertEqual([(e["kind"], e["decision"], e["policy_version"])
                          for e in events],
                         [("pin_mismatch", "would_block", "machine-1")])
        rc, stdout, stderr = out["root"]
        self.assertEqual(rc, 1, (stdout, stderr))


if __name__ == "__main__":
    H.main()
