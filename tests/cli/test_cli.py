#!/usr/bin/python3
"""Tests of the pinshim command, run against the built binary.

Usage: test_cli.py TEST_NAME   (meson runs one process per test; exit 0
pass, 1 fail, 77 skip).  Certificates are made with the openssl command in
a fresh temporary directory; every pin is cross-checked with

  openssl x509 -pubkey -noout | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64

Environment (set by tests/cli/meson.build):
  PINSHIM_CLI        the pinshim executable
  FAKE_PRELOAD       a do-nothing shared library to preload
  PINSHIM_LIB_BUILT  the real libpinshim.so of this build
  STATIC_EXE         a statically linked program ('' when not built)
  GNUTLS_EXE         a program whose DT_NEEDED names libgnutls.so.30
"""

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import time
import sys
import tempfile

PINSHIM = os.environ.get("PINSHIM_CLI", "")
FAKE_PRELOAD = os.environ.get("FAKE_PRELOAD", "")
SKIP = 77

PIN_A = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
PIN_B = "sha256/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB="
LINE_RE = re.compile(r"^(\d+) (sha256/[A-Za-z0-9+/]{43}=)  (.*)$")


class Skip(Exception):
    pass


def sh(cmd, **kw):
    """Runs a helper command (openssl); fails the test if it fails."""
    r = subprocess.run(cmd, capture_output=True, **kw)
    if r.returncode != 0:
        raise AssertionError("%r failed: %s" % (cmd, r.stderr.decode(errors="replace")))
    return r.stdout


def pinshim(*args, env=None, cwd=None):
    """Runs pinshim; returns (exit status, stdout, stderr) as text."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    r = subprocess.run([PINSHIM, *args], capture_output=True, env=full_env,
                       cwd=cwd, timeout=60)
    return (r.returncode, r.stdout.decode(errors="replace"),
            r.stderr.decode(errors="replace"))


def expect(cond, what, *context):
    if not cond:
        raise AssertionError(what + "".join("\n  " + str(c) for c in context))


# ---- certificates ----

def openssl_pin(cert, der=False):
    """The pin of cert computed by the openssl pipeline, without pinshim."""
    x509 = ["openssl", "x509", "-in", cert, "-pubkey", "-noout"]
    if der:
        x509[2:2] = ["-inform", "DER"]
    pub = sh(x509)
    spki = sh(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub)
    digest = sh(["openssl", "dgst", "-sha256", "-binary"], input=spki)
    b64 = sh(["base64"], input=digest).decode().strip()
    return "sha256/" + b64


def self_signed(d, name, keyopts, subj):
    key, cert = os.path.join(d, name + ".key"), os.path.join(d, name + ".pem")
    sh(["openssl", "req", "-x509", *keyopts, "-nodes", "-keyout", key,
        "-out", cert, "-subj", subj, "-days", "2",
        "-addext", "basicConstraints=critical,CA:TRUE"])
    return cert, key


def signed(d, name, keyopts, subj, ca, ca_key, serial, is_ca):
    key = os.path.join(d, name + ".key")
    csr = os.path.join(d, name + ".csr")
    cert = os.path.join(d, name + ".pem")
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:%s\n" % ("TRUE" if is_ca else "FALSE"))
        if not is_ca:
            f.write("subjectAltName=DNS:localhost\n")
    sh(["openssl", "req", "-new", *keyopts, "-nodes", "-keyout", key,
        "-out", csr, "-subj", subj])
    sh(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
        "-set_serial", str(serial), "-days", "2", "-out", cert,
        "-extfile", ext])
    return cert, key


EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
RSA = ["-newkey", "rsa:2048"]
ED25519 = ["-newkey", "ed25519"]


class Pki:
    """root (RSA) -> intermediate (ECDSA) -> leaf (ECDSA, CN=localhost)."""

    def __init__(self, d):
        self.dir = d
        self.root, self.root_key = self_signed(d, "root", RSA, "/CN=pinshim test root")
        self.inter, self.inter_key = signed(
            d, "inter", EC, "/O=pinshim/CN=pinshim test intermediate",
            self.root, self.root_key, 2, True)
        self.leaf, self.leaf_key = signed(
            d, "leaf", EC, "/CN=localhost", self.inter, self.inter_key, 3, False)

    def chain_file(self, *certs, extra=b""):
        path = os.path.join(self.dir, "chain%d.pem" % len(os.listdir(self.dir)))
        with open(path, "wb") as f:
            f.write(extra)
            for c in certs:
                with open(c, "rb") as g:
                    f.write(g.read())
        return path


def pin_lines(out):
    """[(position, pin, subject)] of pinshim pin's text output."""
    rows = []
    for line in out.splitlines():
        m = LINE_RE.match(line)
        expect(m is not None, "not a pin line: %r" % line, out)
        rows.append((int(m.group(1)), m.group(2), m.group(3)))
    return rows


# ---- pin ----

def pin_pem_chain_matches_openssl_pipeline(tmp):
    pki = Pki(tmp)
    ed, ed_key = self_signed(tmp, "ed", ED25519, "/CN=ed25519 key")
    with open(pki.leaf_key, "rb") as f:
        key_block = f.read()  # a private key block first: to be skipped
    chain = pki.chain_file(pki.leaf, pki.inter, pki.root, ed, extra=key_block)
    rc, out, err = pinshim("pin", chain)
    expect(rc == 0, "exit %d" % rc, err)
    rows = pin_lines(out)
    want = [openssl_pin(c) for c in (pki.leaf, pki.inter, pki.root, ed)]
    expect([r[0] for r in rows] == [0, 1, 2, 3], "positions", out)
    expect([r[1] for r in rows] == want, "pins differ from openssl's", out, want)
    expect(rows[0][2] == "CN=localhost", "leaf subject", out)
    expect(rows[1][2] == "CN=pinshim test intermediate,O=pinshim",
           "RFC 2253 subject, most specific first", out)


def pin_der_matches_openssl_pipeline(tmp):
    pki = Pki(tmp)
    der = os.path.join(tmp, "inter.der")
    sh(["openssl", "x509", "-in", pki.inter, "-outform", "DER", "-out", der])
    rc, out, err = pinshim("pin", der)
    expect(rc == 0, "exit %d" % rc, err)
    rows = pin_lines(out)
    expect(len(rows) == 1, "one certificate", out)
    expect(rows[0][:2] == (0, openssl_pin(der, der=True)), "pin", out)
    expect(rows[0][1] == openssl_pin(pki.inter), "DER and PEM agree", out)


def pin_json_lists_position_pin_subject_issuer(tmp):
    pki = Pki(tmp)
    chain = pki.chain_file(pki.leaf, pki.inter)
    rc, out, err = pinshim("pin", "--json", chain)
    expect(rc == 0, "exit %d" % rc, err)
    doc = json.loads(out)
    expect(doc["target"] == chain, "target", out)
    certs = doc["certificates"]
    expect([c["position"] for c in certs] == [0, 1], "positions", out)
    expect(certs[0]["pin"] == openssl_pin(pki.leaf), "leaf pin", out)
    expect(certs[1]["pin"] == openssl_pin(pki.inter), "intermediate pin", out)
    expect(certs[0]["subject"] == "CN=localhost", "subject", out)
    expect(certs[0]["issuer"] == "CN=pinshim test intermediate,O=pinshim",
           "issuer", out)
    expect(certs[1]["issuer"] == "CN=pinshim test root", "root issuer", out)
    expect("\\/" not in out, "slashes escaped in JSON", out)


def pin_escapes_control_characters_in_subject(tmp):
    cert, _ = self_signed(tmp, "evil", EC, "/CN=evil\x1b[2Jname\x07")
    rc, out, err = pinshim("pin", cert)
    expect(rc == 0, "exit %d" % rc, err)
    expect("\x1b" not in out and "\x07" not in out, "raw control bytes", repr(out))
    expect("evil\\1B[2Jname\\07" in out, "escaped as \\XX", repr(out))
    rc, out, err = pinshim("pin", "--json", cert)
    expect(rc == 0 and "\x1b" not in out, "raw control bytes in JSON", repr(out))


class Server:
    """openssl s_server on an ephemeral loopback port, one connection."""

    def __init__(self, *args):
        self.proc = subprocess.Popen(
            ["openssl", "s_server", "-accept", "127.0.0.1:0", "-naccept", "1",
             *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        self.port = None
        for raw in self.proc.stdout:
            m = re.match(rb"ACCEPT 127\.0\.0\.1:(\d+)", raw)
            if m:
                self.port = int(m.group(1))
                break
        expect(self.port is not None, "s_server did not start")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def pin_live_server_lists_leaf_and_intermediate(tmp):
    pki = Pki(tmp)
    with Server("-cert", pki.leaf, "-key", pki.leaf_key,
                "-cert_chain", pki.inter) as srv:
        rc, out, err = pinshim("pin", "127.0.0.1:%d" % srv.port)
    expect(rc == 0, "exit %d" % rc, err)
    rows = pin_lines(out)
    expect(len(rows) == 2, "the served chain has two certificates", out)
    expect(rows[0][:2] == (0, openssl_pin(pki.leaf)), "position 0: leaf", out)
    expect(rows[1][:2] == (1, openssl_pin(pki.inter)), "position 1: intermediate", out)


def pin_live_server_receives_host_as_sni(tmp):
    pki = Pki(tmp)
    other, other_key = self_signed(tmp, "other", EC, "/CN=no sni")
    # the server presents leaf only to a client that sent SNI localhost
    with Server("-cert", other, "-key", other_key, "-servername", "localhost",
                "-cert2", pki.leaf, "-key2", pki.leaf_key) as srv:
        rc, out, err = pinshim("pin", "--json", "localhost:%d" % srv.port)
    expect(rc == 0, "exit %d" % rc, err)
    doc = json.loads(out)
    expect(doc["certificates"][0]["pin"] == openssl_pin(pki.leaf),
           "the SNI certificate", out)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin_unreachable_host_exits_2(tmp):
    rc, out, err = pinshim("pin", "127.0.0.1:%d" % free_port())
    expect(rc == 2, "exit %d" % rc, err)
    expect(out == "", "nothing on stdout", out)
    expect(err.startswith("pinshim: cannot connect to 127.0.0.1 port"),
           "says what failed", err)
    rc, out, err = pinshim("pin", "no-such-host.invalid:443")
    expect(rc == 2 and "no-such-host.invalid" in err, "unknown host", rc, err)


def pin_bad_files_exit_2(tmp):
    pki = Pki(tmp)
    empty = os.path.join(tmp, "empty")
    open(empty, "w").close()
    garbage = os.path.join(tmp, "garbage")
    with open(garbage, "wb") as f:
        f.write(os.urandom(3000))
    keyonly = pki.leaf_key
    truncated = os.path.join(tmp, "truncated.pem")
    with open(pki.leaf) as f:
        text = f.read()
    with open(truncated, "w") as f:
        f.write(text[: len(text) // 2] + "\n-----END CERTIFICATE-----\n")
    cases = {
        os.path.join(tmp, "missing.pem"): "No such file or directory",
        empty: "no certificate in the file",
        garbage: "neither a PEM nor a DER certificate",
        keyonly: "no certificate in the file",
        truncated: "certificate 1:",
        tmp: "Is a directory",
    }
    for path, why in cases.items():
        rc, out, err = pinshim("pin", path)
        expect(rc == 2, "%s: exit %d" % (path, rc), err)
        expect(err.startswith("pinshim: " + path + ": ") and why in err,
               "%s: message" % path, err)
        expect(out == "", "nothing on stdout", out)


def pin_usage_errors_exit_2(tmp):
    for args in (["pin"], ["pin", "a", "b"], ["pin", "--bogus", "x"]):
        rc, out, err = pinshim(*args)
        expect(rc == 2 and "usage: pinshim pin" in err, "%r: exit %d" % (args, rc), err)


# ---- check ----

def write(tmp, name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def check_clean_policy_exits_0_silently(tmp):
    p = write(tmp, "ok.ini", "[policy]\nmode = enforce\n[host a.example]\n"
              "pin = %s\npin = %s\n" % (PIN_A, PIN_B))
    rc, out, err = pinshim("check", p)
    expect((rc, out, err) == (0, "", ""), "clean: exit 0, no output", rc, out, err)
    rc, out, err = pinshim("check", "--verbose", p)
    expect(rc == 0 and out == "" and "ok: 1 hosts, 2 pins" in err,
           "--verbose summary on stderr", rc, out, err)


def check_warns_on_single_pin_with_line(tmp):
    p = write(tmp, "one.ini", "[policy]\nmode = enforce\n\n; the api\n"
              "[host api.example]\npin = %s\n" % PIN_A)
    rc, out, err = pinshim("check", p)
    expect(rc == 1, "warnings only: exit %d" % rc, out, err)
    expect(out == "%s:5: warning: [host api.example] has only one pin: no "
           "backup pin, a key rollover will break this host\n" % p,
           "one finding with its line", out)


def check_errors_exit_2_with_every_line(tmp):
    p = write(tmp, "bad.ini",
              "[policy]\n"                              # 1
              "mode = block\n"                          # 2
              "[host a.example]\n"                      # 3
              "pin = sha256/AAAA\n"                     # 4
              "pin = %s\n"                              # 5
              "pin = %s\n"                              # 6
              "expires = tomorrow\n"                    # 7
              "colour = blue\n"                         # 8
              "[host a.example]\n"                      # 9
              % (PIN_A, PIN_B))
    rc, out, err = pinshim("check", p)
    expect(rc == 2, "errors: exit %d" % rc, out)
    lines = out.splitlines()
    want = [(2, "error", "unknown mode 'block'"),
            (4, "error", "malformed pin 'sha256/AAAA'"),
            (7, "error", "expires 'tomorrow': expected a date YYYY-MM-DD"),
            (8, "warning", "unknown key 'colour'"),
            (9, "error", "duplicate [host a.example] section (first at line 3)")]
    expect(len(lines) == len(want), "one line per finding", out)
    for line, (n, sev, msg) in zip(lines, want):
        prefix = "%s:%d: %s: " % (p, n, sev)
        expect(line.startswith(prefix) and msg in line,
               "expected %s... %s" % (prefix, msg), out)


def check_missing_policy_exits_2(tmp):
    p = os.path.join(tmp, "missing.ini")
    rc, out, err = pinshim("check", p)
    expect(rc == 2, "exit %d" % rc)
    expect(out == "%s: error: cannot open: No such file or directory\n" % p,
           "file-level finding has no line", out)


def check_refuses_what_is_not_a_regular_file(tmp):
    # A FIFO would block the reader forever, /dev/zero grow it without end.
    fifo = os.path.join(tmp, "policy.fifo")
    os.mkfifo(fifo)
    for p in (fifo, "/dev/zero", tmp):
        t0 = time.monotonic()
        rc, out, err = pinshim("check", p)
        expect(rc == 2, "exit %d for %s" % (rc, p), out, err)
        expect(out == "%s: error: not a regular file\n" % p, "finding", out)
        expect(time.monotonic() - t0 < 10, "took too long", p)


def check_chain_warns_on_pin_matching_no_certificate(tmp):
    pki = Pki(tmp)
    chain = pki.chain_file(pki.leaf, pki.inter)
    p = write(tmp, "chain.ini", "[host localhost]\n"
              "pin = %s\n"          # 2: the intermediate, in the chain
              "pin = %s\n"          # 3: in no certificate
              % (openssl_pin(pki.inter), PIN_A))
    rc, out, err = pinshim("check", p, "--chain", chain)
    expect(rc == 1, "exit %d" % rc, out, err)
    expect(out == "%s:3: warning: pin %s of localhost matches no certificate "
           "of %s\n" % (p, PIN_A, chain), "one warning, at line 3", out)
    good = write(tmp, "good.ini", "[host localhost]\npin = %s\npin = %s\n"
                 % (openssl_pin(pki.leaf), openssl_pin(pki.inter)))
    rc, out, err = pinshim("check", "--chain", chain, good)
    expect((rc, out) == (0, ""), "every pin in the chain: clean", rc, out, err)
    rc, out, err = pinshim("check", good, "--chain", os.path.join(tmp, "nope"))
    expect(rc == 2 and "nope" in err, "unreadable chain: exit %d" % rc, err)


def check_usage_errors_exit_2(tmp):
    for args in (["check"], ["check", "a", "b"], ["check", "--chain"]):
        rc, out, err = pinshim(*args)
        expect(rc == 2 and "usage: pinshim check" in err, "%r: exit %d" % (args, rc), err)


# ---- run ----

def fake_env(**extra):
    env = {"PINSHIM_LIBRARY": FAKE_PRELOAD, "LD_PRELOAD": "",
           "PINSHIM_POLICY": "", "PINSHIM_MODE": ""}
    env.update(extra)
    return env


def run_propagates_exit_status(tmp):
    for status in (0, 7, 255):
        rc, out, err = pinshim("run", "--", "sh", "-c", "exit %d" % status,
                               env=fake_env())
        expect(rc == status, "exit %d, want %d" % (rc, status), err)
    rc, out, err = pinshim("run", "--", "sh", "-c", "kill -TERM $$", env=fake_env())
    expect(rc == -15, "killed by SIGTERM like CMD: %d" % rc, err)


def run_puts_library_first_in_ld_preload(tmp):
    other = os.path.join(tmp, "libother.so")
    shutil.copy(FAKE_PRELOAD, other)
    lib = os.path.realpath(FAKE_PRELOAD)
    show = ["sh", "-c", 'printf %s "$LD_PRELOAD"']
    rc, out, err = pinshim("run", "--", *show, env=fake_env())
    expect((rc, out) == (0, lib), "alone", rc, out, err)
    rc, out, err = pinshim("run", "--", *show, env=fake_env(LD_PRELOAD=other))
    expect((rc, out) == (0, lib + ":" + other), "prepended", rc, out, err)
    asan = os.path.join(tmp, "libasan.so.8")
    shutil.copy(FAKE_PRELOAD, asan)
    rc, out, err = pinshim("run", "--", *show,
                           env=fake_env(LD_PRELOAD=other + " " + asan))
    expect((rc, out) == (0, asan + ":" + lib + ":" + other),
           "a sanitizer runtime stays first", rc, out, err)


def run_sets_policy_and_mode_for_the_command(tmp):
    p = write(tmp, "p.ini", "")
    show = ["sh", "-c", 'printf "%s|%s" "$PINSHIM_POLICY" "$PINSHIM_MODE"']
    rc, out, err = pinshim("run", "--policy", "p.ini", "--enforce", "--", *show,
                           env=fake_env(), cwd=tmp)
    expect((rc, out) == (0, os.path.realpath(p) + "|enforce"),
           "absolute policy, enforce", rc, out, err)
    rc, out, err = pinshim("run", "--policy=" + p, "--observe", *show, env=fake_env())
    expect((rc, out) == (0, p + "|observe"), "--policy=, observe, no --", rc, out, err)
    rc, out, err = pinshim("run", "--", *show, env=fake_env(PINSHIM_MODE="observe"))
    expect((rc, out) == (0, "|observe"), "no flag leaves PINSHIM_MODE", rc, out, err)
    rc, out, err = pinshim("run", "--observe", "--enforce", "--", "true", env=fake_env())
    expect(rc == 125 and "exclude each other" in err, "both modes", rc, err)
    rc, out, err = pinshim("run", "--policy", os.path.join(tmp, "nope.ini"),
                           "--", "true", env=fake_env())
    expect(rc == 125 and "nope.ini" in err, "missing policy file", rc, err)


def run_missing_command_exits_127(tmp):
    rc, out, err = pinshim("run", "--", "pinshim-no-such-command", env=fake_env())
    expect(rc == 127, "exit %d" % rc, err)
    expect("pinshim-no-such-command: command not found" in err, "message", err)
    rc, out, err = pinshim("run", "--", os.path.join(tmp, "nope"), env=fake_env())
    expect(rc == 127 and "No such file" in err, "path: exit %d" % rc, err)
    rc, out, err = pinshim("run", env=fake_env())
    expect(rc == 125 and "no command" in err, "no command: exit %d" % rc, err)


def run_not_executable_exits_126(tmp):
    p = write(tmp, "script", "#!/bin/sh\nexit 0\n")
    os.chmod(p, 0o644)
    rc, out, err = pinshim("run", "--", p, env=fake_env())
    expect(rc == 126, "exit %d" % rc, err)
    rc, out, err = pinshim("run", "--", "script", env=fake_env(PATH=tmp))
    expect(rc == 126, "found on PATH, not executable: exit %d" % rc, err)


def run_finds_library_next_to_executable(tmp):
    built = os.environ.get("PINSHIM_LIB_BUILT", "")
    if not os.path.exists(built):
        raise Skip("libpinshim.so not built")
    env = dict(fake_env())
    del env["PINSHIM_LIBRARY"]
    full = dict(os.environ)
    full.update(env)
    full.pop("PINSHIM_LIBRARY", None)
    r = subprocess.run([PINSHIM, "run", "--", "sh", "-c", 'printf %s "$LD_PRELOAD"'],
                       capture_output=True, env=full, timeout=60)
    out = r.stdout.decode()
    expect(r.returncode == 0, "exit %d" % r.returncode, r.stderr)
    expect(os.path.basename(out) == "libpinshim.so" and os.path.samefile(out, built),
           "the build's libpinshim.so", out, built)


def run_missing_library_exits_125(tmp):
    rc, out, err = pinshim("run", "--", "true",
                           env=fake_env(PINSHIM_LIBRARY=os.path.join(tmp, "x.so")))
    expect(rc == 125 and "PINSHIM_LIBRARY=" in err, "exit %d" % rc, err)


def run_warns_on_static_binary(tmp):
    exe = os.environ.get("STATIC_EXE", "")
    if not exe:
        raise Skip("no static test program in this build (sanitizers?)")
    rc, out, err = pinshim("run", "--", exe, env=fake_env())
    expect(rc == 0, "still runs it: exit %d" % rc, err)
    expect(err == "pinshim: %s is statically linked: the shim cannot reach it\n" % exe,
           "one pinshim: line", err)


def run_warns_on_gnutls_binary(tmp):
    exe = os.environ["GNUTLS_EXE"]
    rc, out, err = pinshim("run", "--", exe, env=fake_env())
    expect(rc == 0, "still runs it: exit %d" % rc, err)
    expect(err == "pinshim: %s uses GnuTLS, not OpenSSL: the shim cannot reach "
           "its connections\n" % exe, "one pinshim: line", err)


def run_warns_on_setuid_binary(tmp):
    if os.geteuid() != 0:
        raise Skip("needs root to give a file to another user")
    exe = os.path.join(tmp, "suid-true")
    shutil.copy("/bin/true", exe)
    os.chown(exe, 65534, 65534)
    os.chmod(exe, 0o755 | stat.S_ISUID)
    os.chmod(tmp, 0o755)
    rc, out, err = pinshim("run", "--", exe, env=fake_env())
    expect("is setuid/setgid: the loader drops LD_PRELOAD" in err, "warning", rc, err)


def run_openssl_program_gets_no_warning(tmp):
    rc, out, err = pinshim("run", "--", PINSHIM, "--version", env=fake_env())
    expect((rc, err) == (0, "") and out.startswith("pinshim "), "quiet", rc, out, err)


# ---- top level ----

def help_lists_commands_and_exits_0(tmp):
    rc, out, err = pinshim("--help")
    expect(rc == 0 and err == "", "exit %d" % rc, err)
    for cmd in ("pinshim run [--policy FILE] [--observe|--enforce] -- CMD",
                "pinshim pin [--json] TARGET", "pinshim check"):
        expect(cmd in out, "usage names " + cmd, out)
    for c in ("run", "pin", "check"):
        rc, out, err = pinshim(c, "--help")
        expect(rc == 0 and out.startswith("usage: pinshim " + c), c + " --help", out)


def unknown_command_prints_usage_and_exits_2(tmp):
    rc, out, err = pinshim("frobnicate")
    expect(rc == 2 and out == "", "exit %d" % rc)
    expect("unknown command 'frobnicate'" in err and "usage: pinshim" in err, "usage", err)
    rc, out, err = pinshim()
    expect(rc == 2 and "usage: pinshim" in err, "no command: exit %d" % rc, err)


def main():
    if len(sys.argv) != 2 or not callable(globals().get(sys.argv[1])):
        print("usage: test_cli.py TEST_NAME", file=sys.stderr)
        return 2
    test = globals()[sys.argv[1]]
    tmp = tempfile.mkdtemp(prefix="pinshim-cli-")
    try:
        test(tmp)
    except Skip as e:
        print("SKIP:", e)
        return SKIP
    except AssertionError as e:
        print("FAIL:", e)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
