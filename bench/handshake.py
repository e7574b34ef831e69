#!/usr/bin/env python3
"""Handshake throughput with and without libpinshim.so, interleaved in one run.

    /usr/bin/python3 bench/handshake.py [--build build] [--rounds 7] [--count 300]

Starts `openssl s_server` on loopback with a chain from the test PKI (RSA and
ECDSA leaves), then runs bench/handshake (N sequential full handshakes)
without the shim, with the shim in observe and in enforce mode (pins
matching), round after round in turn, so drift on a shared machine hits every
configuration alike.  Reports the median rate of each and its ratio to the
run without the shim, and the shim's added peak RSS.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(pki, leaf, port):
    cmd = ["openssl", "s_server", "-quiet", "-accept", "127.0.0.1:%d" % port,
           "-cert", os.path.join(pki, leaf + ".pem"),
           "-key", os.path.join(pki, leaf + ".key.pem"),
           "-cert_chain", os.path.join(pki, "int1.pem"), "-naccept", "1000000"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("bench: openssl s_server did not start")


def write_policy(path, pins, mode):
    with open(path, "w") as f:
        f.write("[policy]\nversion = bench\nmode = %s\n\n"
                "[host pinned.test]\npin = %s\npin = %s\n" % (mode, *pins))


def run_client(args, port, pki, env):
    out = subprocess.run([args.client, "pinned.test", str(port),
                          os.path.join(pki, "root.pem"), str(args.count)],
                         env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit("bench: client failed: %s" % out.stderr.strip())
    fields = dict(kv.split("=") for kv in out.stdout.split())
    return float(fields["rate"]), int(fields["maxrss_kb"])


def client_instructions(args, port, pki, env):
    """Instructions the client executes (callgrind): repeatable on a busy
    machine, where wall-clock rates drift by several percent."""
    with tempfile.NamedTemporaryFile(prefix="callgrind-") as out:
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out.name,
               args.client, "pinned.test", str(port),
               os.path.join(pki, "root.pem"), str(args.callgrind)]
        # valgrind applies LD_PRELOAD to the client; its own tools ignore it.
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            sys.exit("bench: callgrind run failed: %s" % res.stderr[-500:])
        for line in open(out.name):
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    sys.exit("bench: no callgrind total")


def bench_leaf(args, pki, leaf, pins):
    port = free_port()
    server = start_server(pki, leaf, port)
    configs = {"without": None, "observe": "observe", "enforce": "enforce"}
    rates = {k: [] for k in configs}
    rss = {k: [] for k in configs}
    try:
        for name, mode in configs.items():
            if mode:
                write_policy(os.path.join(pki, mode + ".ini"), pins, mode)
        for _ in range(args.rounds):
            for name, mode in configs.items():
                env = dict(os.environ)
                if mode:
                    env["LD_PRELOAD"] = args.lib
                    env["PINSHIM_POLICY"] = os.path.join(pki, mode + ".ini")
                rate, kb = run_client(args, port, pki, env)
                rates[name].append(rate)
                rss[name].append(kb)
        instr = {}
        if args.callgrind:
            for name, mode in configs.items():
                env = dict(os.environ)
                if mode:
                    env["LD_PRELOAD"] = args.lib
                    env["PINSHIM_POLICY"] = os.path.join(pki, mode + ".ini")
                instr[name] = client_instructions(args, port, pki, env)
    finally:
        server.kill()
        server.wait()
    base = statistics.median(rates["without"])
    base_rss = statistics.median(rss["without"])
    result = {}
    for name in configs:
        med = statistics.median(rates[name])
        result[name] = {"rate": round(med, 1), "ratio": round(med / base, 4),
                        "rss_kb": statistics.median(rss[name]),
                        "rss_added_kb": statistics.median(rss[name]) - base_rss}
        if instr:
            result[name]["instructions"] = instr[name]
            result[name]["instr_ratio"] = round(instr[name] / instr["without"], 4)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--callgrind", type=int, default=0, metavar="N",
                    help="also count the client's instructions over N handshakes")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    args.lib = os.path.join(args.build, "shim", "libpinshim.so")
    args.client = os.path.join(args.build, "bench", "handshake")
    for p in (args.lib, args.client):
        if not os.path.exists(p):
            sys.exit("bench: %s missing: build first (ninja -C %s)" % (p, args.build))
    with tempfile.TemporaryDirectory(prefix="pinshim-bench-") as pki:
        subprocess.run([os.path.join(ROOT, "tests", "pki", "mkpki"), pki],
                       check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(pki, "pins.json")) as f:
            pinmap = json.load(f)
        report = {}
        for leaf in ("leaf", "ecdsa"):
            report[leaf] = bench_leaf(args, pki, leaf,
                                      (pinmap[leaf], pinmap["root"]))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print("%-6s %-8s %10s %8s %10s %14s" % ("leaf", "shim", "hs/s", "ratio",
                                            "peak RSS KB", "RSS added KB"))
    for leaf, res in report.items():
        for name, r in res.items():
            print("%-6s %-8s %10.1f %8.4f %10d %14d" % (
                leaf, name, r["rate"], r["ratio"], r["rss_kb"], r["rss_added_kb"]))
    if args.callgrind:
        print("\nclient instructions over %d handshakes (callgrind)" % args.callgrind)
        for leaf, res in report.items():
            for name, r in res.items():
                print("%-6s %-8s %14d  x%.4f" % (leaf, name, r["instructions"],
                                                r["instr_ratio"]))


if __name__ == "__main__":
    main()
