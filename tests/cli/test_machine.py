#!/usr/bin/python3
"""Tests of pinshim enable, disable and status: the shim machine-wide.

Usage: test_machine.py TEST_NAME   (exit 0 pass, 1 fail, 77 skip).

Each test re-runs itself in a private mount namespace (unshare --mount) with
/etc an overlay of the real one, so enable and disable write a real
/etc/ld.so.preload and /etc/pinshim/policy.ini that only the test's
processes see; the machine's own /etc is never touched.  Programs started
inside the namespace load what the overlay's preload list names, which is
how the tests see that enable and disable take effect.

Environment (set by tests/cli/meson.build): PINSHIM_CLI, PINSHIM_LIB_BUILT.
"""

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "lib"))
import namespace  # noqa: E402

PINSHIM = os.environ.get("PINSHIM_CLI", "")
LIB = os.environ.get("PINSHIM_LIB_BUILT", "")
FAKE_PRELOAD = os.environ.get("FAKE_PRELOAD", "")
PRELOAD = "/etc/ld.so.preload"
MACHINE_POLICY = "/etc/pinshim/policy.ini"
SKIP = 77

PIN_A = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
PIN_B = "sha256/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB="
GOOD_POLICY = ("[policy]\nmode = enforce\nversion = fleet-7\n"
               "[host a.example]\npin = %s\npin = %s\n"
               "[host b.example]\npin = %s\npin = %s\n"
               "[host c.example]\nmode = observe\npin = %s\n"
               % (PIN_A, PIN_B, PIN_A, PIN_B, PIN_A))


class Skip(Exception):
    pass


def expect(cond, what, *context):
    if not cond:
        raise AssertionError(what + "".join("\n  " + str(c) for c in context))


def clean_env(**extra):
    """This environment without PINSHIM_* and LD_PRELOAD, plus extra."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PINSHIM_") and k != "LD_PRELOAD"}
    env["PINSHIM_LIBRARY"] = LIB
    env.update(extra)
    return env


def pinshim(*args, **env):
    r = subprocess.run([PINSHIM, *args], capture_output=True, timeout=60,
                       env=clean_env(**env))
    return (r.returncode, r.stdout.decode(errors="replace"),
            r.stderr.decode(errors="replace"))


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def read(path):
    with open(path) as f:
        return f.read()


def maps_of_new_process():
    """/proc/self/maps of a program started now, without LD_PRELOAD."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PINSHIM_") and k != "LD_PRELOAD"}
    return subprocess.run(["cat", "/proc/self/maps"], capture_output=True,
                          env=env, check=True).stdout.decode()


def lib_path():
    return os.path.realpath(LIB)


def nothing_changed(what):
    expect(not os.path.exists(PRELOAD), what + ": the preload list was created")
    expect(not os.path.exists(MACHINE_POLICY),
           what + ": the policy was installed")


# ---- enable ----

def enable_refuses_a_library_that_cannot_load(tmp):
    bogus = write(os.path.join(tmp, "libpinshim.so"), "not an ELF file\n")
    policy = write(os.path.join(tmp, "p.ini"), GOOD_POLICY)
    rc, out, err = pinshim("enable", "--policy", policy, PINSHIM_LIBRARY=bogus)
    expect(rc == 1, "bogus library: exit %d" % rc, out, err)
    expect("refused" in err and bogus in err, "bogus library: why", err)
    nothing_changed("bogus library")
    # the front library alone, without its core beside it
    lonely = os.path.join(tmp, "lonely")
    os.mkdir(lonely)
    shutil.copy(LIB, os.path.join(lonely, "libpinshim.so"))
    rc, out, err = pinshim("enable", "--policy", policy,
                           PINSHIM_LIBRARY=os.path.join(lonely, "libpinshim.so"))
    expect(rc == 1 and "refused" in err and "libpinshim-core.so" in err,
           "library without its core: exit %d" % rc, out, err)
    nothing_changed("library without its core")


def enable_refuses_a_policy_with_errors(tmp):
    bad = write(os.path.join(tmp, "bad.ini"),
                "[policy]\nmode = enforce\n[host a.example]\npin = nonsense\n")
    rc, out, err = pinshim("enable", "--policy", bad)
    expect(rc == 1, "policy with errors: exit %d" % rc, out, err)
    expect("%s:4: error" % bad in err and "refused" in err,
           "the error with its line", err)
    nothing_changed("policy with errors")
    rc, out, err = pinshim("enable")
    expect(rc == 1 and "no policy at %s" % MACHINE_POLICY in err,
           "no policy at all: exit %d" % rc, err)
    nothing_changed("no policy")
    rc, out, err = pinshim("enable", "--frob")
    expect(rc == 2 and "usage" in err, "usage error: exit %d" % rc, err)


def enable_keeps_other_lines_and_mode_and_is_idempotent(tmp):
    # another preload library of the admin's, a harmless one that exists
    original = "%s\n# a comment of the admin\n\n" % FAKE_PRELOAD
    write(PRELOAD, original, 0o600)
    policy = write(os.path.join(tmp, "p.ini"), GOOD_POLICY)
    rc, out, err = pinshim("enable", "--policy", policy)
    # the policy's lint warnings (c.example has one pin), nothing else
    expect(rc == 0 and all(": warning: " in l for l in err.splitlines()),
           "enable: exit %d" % rc, out, err)
    expect("c.example] has only one pin" in err, "lint warning shown", err)
    text = read(PRELOAD)
    expect(text.startswith(original) and text.count(lib_path()) == 1,
           "other lines kept, ours added once", text)
    expect(stat.S_IMODE(os.stat(PRELOAD).st_mode) == 0o600, "mode kept")
    expect(read(MACHINE_POLICY) == GOOD_POLICY, "policy installed")
    expect(stat.S_IMODE(os.stat(MACHINE_POLICY).st_mode) == 0o644,
           "policy readable by every process")
    rc, out, err = pinshim("enable")
    expect(rc == 0 and "already enabled" in out, "enable twice", out, err)
    expect(read(PRELOAD) == text, "enable twice changes nothing", read(PRELOAD))
    rc, out, err = pinshim("disable")
    expect(rc == 0, "disable: exit %d" % rc, out, err)
    expect(read(PRELOAD) == original, "disable restores the admin's list",
           read(PRELOAD))
    rc, out, err = pinshim("disable")
    expect(rc == 0 and "not enabled" in out, "disable twice", out, err)


def enable_replaces_an_older_pinshim_entry(tmp):
    write(PRELOAD, "/opt/old/libpinshim.so\n/usr/lib/other.so\n")
    rc, out, err = pinshim("enable", "--policy",
                           write(os.path.join(tmp, "p.ini"), GOOD_POLICY))
    expect(rc == 0, "enable: exit %d" % rc, out, err)
    lines = read(PRELOAD).split()
    expect("/opt/old/libpinshim.so" not in lines and lib_path() in lines and
           "/usr/lib/other.so" in lines, "old entry replaced", lines)


def enable_takes_effect_and_disable_removes_what_it_created(tmp):
    expect(lib_path() not in maps_of_new_process(), "loaded before enable")
    rc, out, err = pinshim("enable", "--policy",
                           write(os.path.join(tmp, "p.ini"), GOOD_POLICY))
    expect(rc == 0, "enable: exit %d" % rc, out, err)
    expect(read(PRELOAD) == lib_path() + "\n", "a new list", read(PRELOAD))
    maps = maps_of_new_process()
    expect(lib_path() in maps, "a new process does not load the shim", maps)
    rc, out, err = pinshim("disable")
    expect(rc == 0, "disable: exit %d" % rc, out, err)
    expect(not os.path.exists(PRELOAD), "the list enable created is left")
    expect(not os.path.exists("/etc/pinshim/preload-created"), "marker left")
    expect(lib_path() not in maps_of_new_process(), "loaded after disable")
    expect(os.path.exists(MACHINE_POLICY), "disable keeps the policy")


# ---- status ----

def status_json(**env):
    rc, out, err = pinshim("status", "--json", **env)
    try:
        return rc, json.loads(out), err
    except ValueError:
        raise AssertionError("status --json is not JSON: %r %r" % (out, err))


def spool_with(tmp):
    spool = os.path.join(tmp, "spool")
    os.mkdir(spool, 0o700)
    write(os.path.join(spool, "1-a.batch"), "x" * 100)
    write(os.path.join(spool, "2-b.batch"), "y" * 23)
    write(os.path.join(spool, "0-c.batch.torn"), "z")
    write(os.path.join(spool, "last-delivery"), "1796256000\n")
    return spool


def status_reports_the_machine_setup(tmp):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    spool = spool_with(tmp)
    policy = GOOD_POLICY.replace(
        "[policy]\n", "[policy]\ncollector = 127.0.0.1:%d\nspool = %s\n"
        % (listener.getsockname()[1], spool), 1)
    rc, out, err = pinshim("enable", "--policy",
                           write(os.path.join(tmp, "p.ini"), policy))
    expect(rc == 0, "enable: exit %d" % rc, out, err)
    rc, j, err = status_json()
    expect(rc == 0 and j["problems"] == [], "status: exit %d" % rc, j, err)
    expect(j["enabled"] is True and j["preload_entry"] == lib_path() and
           j["ld_preload"] is None, "enabled through the list", j)
    lib = j["library"]
    expect(lib["path"] == lib_path() and lib["exists"] and lib["core_exists"]
           and lib["version"], "library", lib)
    pol = j["policy"]
    expect(pol["path"] == MACHINE_POLICY and pol["loaded"] and
           pol["version"] == "fleet-7", "policy", pol)
    expect(pol["hosts"] == {"enforce": 2, "observe": 1, "refused": 0}, "hosts by mode", pol)
    expect(pol["errors"] == 0 and pol["warnings"] == 1 and
           len(pol["lint"]) == 1,
           "one lint warning (a single pin)", pol)
    expect(j["collector"]["answers"] is True, "collector", j["collector"])
    sp = j["spool"]
    expect(sp["path"] == spool and sp["exists"] and sp["batches"] == 2 and
           sp["bytes"] == 123 and sp["torn"] == 1, "spool", sp)
    expect(j["last_delivery"] == "2026-12-03T00:00:00Z", "last delivery", j)
    rc, out, err = pinshim("status")
    expect(rc == 0 and "enabled:        yes" in out and "fleet-7" in out and
           "2 enforce, 1 observe, 0 refused" in out and "2 batch(es)" in out,
           "text status", out, err)
    listener.close()
    rc, j, err = status_json()
    expect(rc == 1 and j["collector"]["answers"] is False and
           any("collector" in p for p in j["problems"]),
           "a collector that stopped answering is a problem", j)


def status_names_every_problem(tmp):
    rc, j, err = status_json()
    expect(rc == 1 and j["enabled"] is False and
           j["policy"]["loaded"] is False and
           any("policy is not loaded" in p for p in j["problems"]),
           "nothing set up", j)
    # a preload list naming a library that is gone: ld.so only warns, and
    # every process runs unpinned; status must say so
    os.makedirs("/etc/pinshim", exist_ok=True)
    write(MACHINE_POLICY, GOOD_POLICY)
    write(PRELOAD, "/opt/gone/libpinshim.so\n")
    rc, j, err = status_json()
    expect(rc == 1 and j["enabled"] is True and
           j["library"]["exists"] is False and
           any("/opt/gone/libpinshim.so is missing" in p for p in j["problems"]),
           "missing library", j)
    # this process's own LD_PRELOAD is reported apart from the list
    os.unlink(PRELOAD)
    rc, j, err = status_json(LD_PRELOAD="/x/other.so:" + lib_path())
    expect(j["enabled"] is False and j["ld_preload"] == lib_path(),
           "LD_PRELOAD entry", j)
    # a section refused for its error: the rest is in force, status says
    # which host is not checked
    write(MACHINE_POLICY, GOOD_POLICY + "[host d.example]\npin = bad\n")
    rc, j, err = status_json()
    expect(rc == 1 and j["policy"]["loaded"] is True and
           j["policy"]["hosts"] == {"enforce": 2, "observe": 1,
                                    "refused": 1} and
           any("[host d.example] not in force: malformed pin" in p
               for p in j["problems"]), "refused section", j)
    rc, out, err = pinshim("status", "--bogus")
    expect(rc == 2 and "usage" in err, "usage error: exit %d" % rc, err)


# ---- running in a namespace ----

# The tests whose enable must first see /bin/true run under the library.
PRELOADS_TRUE = {"enable_refuses_a_library_that_cannot_load",
                 "enable_refuses_a_policy_with_errors",
                 "enable_keeps_other_lines_and_mode_and_is_idempotent",
                 "enable_replaces_an_older_pinshim_entry",
                 "enable_takes_effect_and_disable_removes_what_it_created",
                 "status_reports_the_machine_setup"}


def can_run(name):
    if not PINSHIM or not LIB:
        return "PINSHIM_CLI and PINSHIM_LIB_BUILT are not set"
    if os.environ.get("PINSHIM_ASAN") == "1" and name in PRELOADS_TRUE:
        return ("a sanitized library cannot load into the uninstrumented "
                "/bin/true that enable tries it on, without the ASan runtime "
                "preloaded first (the plain build runs this)")
    return namespace.problem("a mount namespace with an overlay over /etc")


def overlay_etc(tmp):
    up, work = os.path.join(tmp, "up"), os.path.join(tmp, "work")
    os.mkdir(up)
    os.mkdir(work)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    "lowerdir=/etc,upperdir=%s,workdir=%s" % (up, work),
                    "/etc"], check=True)
    for f in (PRELOAD, MACHINE_POLICY, "/etc/pinshim/preload-created"):
        if os.path.exists(f):
            os.unlink(f)


def inside(name, tmp):
    """The test body, in the namespace."""
    overlay_etc(tmp)
    work = os.path.join(tmp, "t")
    os.mkdir(work)
    globals()[name](work)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--inside":
        try:
            inside(sys.argv[2], sys.argv[3])
        except AssertionError as e:
            print("FAIL:", e)
            return 1
        return 0
    if len(sys.argv) != 2 or not callable(globals().get(sys.argv[1])):
        print("usage: test_machine.py TEST_NAME", file=sys.stderr)
        return 2
    why = can_run(sys.argv[1])
    if why:
        print("SKIP:", why)
        return SKIP
    tmp = tempfile.mkdtemp(prefix="pinshim-machine-cli-")
    try:
        rc = namespace.run_inside([sys.executable, os.path.abspath(__file__),
                                   "--inside", sys.argv[1], tmp], timeout=120)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS" if rc == 0 else "FAIL")
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
