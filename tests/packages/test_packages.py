#!/usr/bin/python3
"""The Debian packages: built, installed, used, purged, nothing left.

Usage: test_packages.py   (exit 0 pass, 1 fail, 77 skip).

Builds the .debs with scripts/package.sh (which fails on a lintian error),
then installs them with dpkg -i into a copy-on-write view of this machine:
a private mount namespace with an overlay over / (its upper layer on a
tmpfs), entered with chroot.  The machine's own dpkg database, /etc and /usr
are never touched, and the overlay's upper layer is the exact list of what
installing and purging changed: after the purge only dpkg's own records, the
system user (Debian leaves users behind) and the test's scratch files may be
there.

Inside, the installed binaries do real work: `pinshim run` pins a local TLS
server (allowed with the right pin, blocked with a wrong one), a failure in
observe mode reaches the installed pinshim-collector and the installed
pinshim-view reports it, and systemd-analyze verifies both units.

Environment (tests/packages/meson.build): PINSHIM_SRCDIR, PINSHIM_PKI.
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))

import harness as H  # noqa: E402
import namespace  # noqa: E402
from tlsserver import TLSServer  # noqa: E402

SRCDIR = os.environ.get("PINSHIM_SRCDIR") or os.path.dirname(os.path.dirname(HERE))
SKIP = 77
PACKAGES = ("pinshim", "pinshim-collector", "pinshim-view")
UNITS = ("pinshim-collector.service", "pinshim-view.service")
SCRATCH = "/tmp/pinshim-pkgtest"        # inside the chroot
# What may stay in the overlay's upper layer after the purge.
ALLOWED_LEFT = ("/var/lib/dpkg/", "/var/log/", "/var/cache/debconf/",
                "/var/cache/ldconfig/", "/etc/passwd", "/etc/group",
                "/etc/shadow", "/etc/gshadow", "/etc/subuid", "/etc/subgid",
                "/etc/.pwd.lock", "/tmp/", "/root/", "/run/", "/dev/",
                "/proc/", "/sys/", "/etc/ld.so.cache")


class Skip(Exception):
    pass


def expect(cond, what, *context):
    if not cond:
        raise AssertionError(what + "".join("\n  " + str(c) for c in context))


def skip_reason():
    return namespace.problem(
        "dpkg -i into an overlay of / in a mount namespace",
        tools=("dpkg-buildpackage", "lintian", "chroot", "systemd-analyze",
               "setpriv", "curl"))


def packages_in(out):
    """The .debs to install (the -dbgsym ones hold only debug symbols)."""
    return sorted(f for f in os.listdir(out)
                  if f.endswith(".deb") and "-dbgsym_" not in f)


def build(out):
    t0 = time.monotonic()
    r = subprocess.run(["bash", os.path.join(SRCDIR, "scripts", "package.sh"),
                        out], capture_output=True, text=True, timeout=1200)
    expect(r.returncode == 0, "scripts/package.sh: exit %d" % r.returncode,
           r.stdout[-3000:], r.stderr[-3000:])
    debs = packages_in(out)
    names = sorted(d.split("_")[0] for d in debs)
    expect(names == sorted(PACKAGES), "packages built: %r" % debs)
    print("built %s in %.0f s" % (", ".join(debs), time.monotonic() - t0))
    return debs


# ---- the copy-on-write machine ----

class Machine:
    """This machine's / as an overlay, changes in a tmpfs upper layer."""

    def __init__(self, tmp):
        layer = os.path.join(tmp, "layer")
        os.mkdir(layer)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2g", "tmpfs",
                        layer], check=True)
        self.upper = os.path.join(layer, "up")
        work = os.path.join(layer, "work")
        self.root = os.path.join(tmp, "root")
        for d in (self.upper, work, self.root):
            os.mkdir(d)
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        "lowerdir=/,upperdir=%s,workdir=%s" % (self.upper, work),
                        self.root], check=True)
        subprocess.run(["mount", "-t", "proc", "proc", self.path("/proc")],
                       check=True)
        for d in ("/dev", "/sys"):
            subprocess.run(["mount", "--rbind", d, self.path(d)], check=True)
        os.makedirs(self.path(SCRATCH), exist_ok=True)

    def path(self, p):
        return os.path.join(self.root, p.lstrip("/"))

    def run(self, *argv, env=None, timeout=120, stdin=None):
        e = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C",
             "HOME": "/root", "DEBIAN_FRONTEND": "noninteractive"}
        e.update(env or {})
        r = subprocess.run(["chroot", self.root, *argv], capture_output=True,
                           text=True, env=e, timeout=timeout, input=stdin)
        return r

    def must(self, *argv, **kw):
        r = self.run(*argv, **kw)
        expect(r.returncode == 0, "%s: exit %d" % (" ".join(argv), r.returncode),
               r.stdout[-3000:], r.stderr[-3000:])
        return r

    def left(self):
        """What the upper layer holds: (path, what) for every entry that is
        not a directory the machine already had."""
        out = []
        for dirpath, dirs, files in os.walk(self.upper):
            for name in dirs + files:
                full = os.path.join(dirpath, name)
                rel = "/" + os.path.relpath(full, self.upper)
                st = os.lstat(full)
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    out.append((rel, "removed from the machine"))
                elif stat.S_ISDIR(st.st_mode):
                    if not os.path.isdir(rel) or os.path.islink(rel):
                        out.append((rel, "directory created"))
                else:
                    out.append((rel, "file created or changed"))
        return out


# ---- the checks ----

def install(m, debs, out):
    for d in debs:
        shutil.copy(os.path.join(out, d), m.path(SCRATCH))
    preload_before = read_or_none(m.path("/etc/ld.so.preload"))
    m.must("dpkg", "-i", *[os.path.join(SCRATCH, d) for d in debs])
    for p in PACKAGES:
        r = m.must("dpkg-query", "-W", "-f", "${Status}", p)
        expect(r.stdout == "install ok installed", "%s: %s" % (p, r.stdout))
    expect(read_or_none(m.path("/etc/ld.so.preload")) == preload_before,
           "installing changed /etc/ld.so.preload")
    r = m.must("dpkg-query", "-W", "-f", "${Conffiles}", "pinshim")
    expect("/etc/pinshim/policy.ini" in r.stdout,
           "the example policy is not a conffile", r.stdout)
    m.must("getent", "passwd", "pinshim")


def read_or_none(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def check_cli(m):
    m.must("pinshim", "check", "/etc/pinshim/policy.ini")
    r = m.must("pinshim", "status", "--json")
    st = json.loads(r.stdout)
    lib = st["library"]["path"]
    expect(lib.startswith("/usr/lib/") and lib.endswith("/pinshim/libpinshim.so"),
           "status: library %r" % lib, r.stdout)
    expect(st["library"]["exists"] and st["library"]["core_exists"],
           "status: the installed library or its core is missing", r.stdout)
    expect(not st["enabled"], "status: enabled right after installing",
           r.stdout)
    r = m.must("pinshim", "run", "--", "cat", "/proc/self/maps")
    expect(lib in r.stdout, "pinshim run did not preload %s" % lib,
           r.stdout[-2000:])
    r = m.must("pinshim-collector", "--help")
    expect("usage: pinshim-collector" in r.stdout + r.stderr, r.stdout)
    r = m.must("pinshim-view", "--help")
    expect("usage: pinshim-view" in r.stdout + r.stderr, r.stdout)


def write_in(m, name, text):
    with open(m.path(os.path.join(SCRATCH, name)), "w") as f:
        f.write(text)
    return os.path.join(SCRATCH, name)


def curl(m, policy, port, env=None):
    argv, _ = H.client_command("curl", "pinned.test", port,
                               ca=os.path.join(SCRATCH, "root.pem"))
    e = {"PINSHIM_SPOOL": os.path.join(SCRATCH, "spool")}
    e.update(env or {})
    return m.run("pinshim", "run", "--policy", policy, "--", *argv, env=e)


def policy(pins, mode, collector=None):
    return H.policy_text([H.Host("pinned.test", pins=pins)], mode=mode,
                         version="pkgtest-1",
                         keys={"collector": collector} if collector else None)


def check_pinning(m, pki, srv):
    shutil.copy(pki.root, m.path(os.path.join(SCRATCH, "root.pem")))
    good = write_in(m, "good.ini", policy([pki.pin("leaf"), H.BOGUS], "enforce"))
    r = curl(m, good, srv.port)
    expect(r.returncode == 0 and "pong" in r.stdout,
           "right pin: curl exit %d" % r.returncode, r.stdout, r.stderr)
    bad = write_in(m, "bad.ini", policy([H.BOGUS, H.BOGUS2], "enforce"))
    r = curl(m, bad, srv.port)
    expect(r.returncode != 0 and "pong" not in r.stdout,
           "wrong pin, enforce: curl exit %d" % r.returncode, r.stdout, r.stderr)
    expect("pinshim:" in r.stderr, "wrong pin: no pinshim line", r.stderr)


def start_collector(m):
    db = os.path.join(SCRATCH, "pinshim.db")
    p = subprocess.Popen(["chroot", m.root, "/usr/bin/pinshim-collector",
                          "--listen", "127.0.0.1:0", "--db", db],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    from collector import first_line
    line = first_line(p, 30)
    expect(line.startswith("listening on "), "collector: %r" % line)
    return p, db, line.split()[-1]


def check_telemetry(m, pki, srv):
    proc, db, address = start_collector(m)
    try:
        obs = write_in(m, "observe.ini",
                       policy([H.BOGUS, H.BOGUS2], "observe", collector=address))
        r = curl(m, obs, srv.port)
        expect(r.returncode == 0 and "pong" in r.stdout,
               "wrong pin, observe: curl exit %d" % r.returncode, r.stderr)
        deadline = time.monotonic() + 20
        got = []
        while time.monotonic() < deadline and not got:
            v = m.must("pinshim-view", "--db", db, "failures", "--json",
                       "--host", "pinned.test")
            got = json.loads(v.stdout)
            time.sleep(0.3)
        expect(got, "the observed mismatch never reached the collector")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def check_units(m):
    units = ["/lib/systemd/system/" + u for u in UNITS]
    for u in units:
        expect(os.path.exists(m.path(u)), "%s not installed" % u)
    r = m.run("systemd-analyze", "verify", *units)
    expect(r.returncode == 0 and not r.stderr.strip(),
           "systemd-analyze verify: exit %d" % r.returncode, r.stdout, r.stderr)
    for u in units:
        r = m.must("systemd-analyze", "security", "--offline=yes",
                   "--no-pager", u)
        print(r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "")


def run_service_once(m):
    """What systemd does when the collector's service first starts: the
    StateDirectory, owned by the service's user, and the database in it."""
    m.must("install", "-d", "-o", "pinshim", "-g", "pinshim", "-m", "0750",
           "/var/lib/pinshim-collector")
    m.must("setpriv", "--reuid", "pinshim", "--regid", "pinshim",
           "--clear-groups", "sh", "-c",
           "pinshim-collector --listen 127.0.0.1:0 "
           "--db /var/lib/pinshim-collector/pinshim.db & pid=$!; "
           "sleep 0.5; kill $pid; wait $pid || true")
    expect(os.path.exists(m.path("/var/lib/pinshim-collector/pinshim.db")),
           "the collector, as its service user, made no database")


def purge(m):
    m.must("dpkg", "--purge", *reversed(PACKAGES))
    shutil.rmtree(m.path(SCRATCH))
    left = [(p, w) for p, w in m.left()
            if not any(p == a.rstrip("/") or p.startswith(a)
                       for a in ALLOWED_LEFT)]
    expect(not left, "left after the purge:",
           *["%s (%s)" % pw for pw in left])
    print("after the purge: %d entries in the overlay, all dpkg's records, "
          "the system user and scratch" % len(m.left()))


def inside(out, tmp):
    debs = packages_in(out)
    m = Machine(tmp)
    install(m, debs, out)
    check_cli(m)
    pki = H.pki()
    with TLSServer(pki.chain("leaf"), pki.key("leaf")) as srv:
        check_pinning(m, pki, srv)
        check_telemetry(m, pki, srv)
    check_units(m)
    run_service_once(m)
    purge(m)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--inside":
        try:
            inside(sys.argv[2], sys.argv[3])
        except AssertionError as e:
            print("FAIL: %s" % e)
            sys.exit(1)
        print("ok")
        return
    why = skip_reason()
    if why:
        print("SKIP: %s" % why)
        sys.exit(SKIP)
    tmp = tempfile.mkdtemp(prefix="pinshim-packages-")
    try:
        out = os.path.join(tmp, "dist")
        os.mkdir(out)
        try:
            build(out)
        except AssertionError as e:
            print("FAIL: %s" % e)
            sys.exit(1)
        sys.exit(namespace.run_inside([sys.executable, os.path.abspath(__file__),
                                       "--inside", out, tmp], timeout=600))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
