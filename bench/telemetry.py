#!/usr/bin/env python3
"""What telemetry costs the program: the failure path, and a bad collector.

    /usr/bin/python3 bench/telemetry.py [--build build] [--rounds 5] [--count 300]
                                        [--callgrind 100]

Runs bench/handshake (N sequential full handshakes against `openssl s_server`
on loopback) under the shim in observe mode, round after round in turn:

  match       pins match: the success path (counted, no event)
  mismatch    no pin matches: every handshake builds and queues an event
              (coalesced after the first), delivered to a real collector
  blackhole   as mismatch, but the collector accepts and never reads
  refused     as mismatch, but nothing listens at the collector's address

and reports the median rate of each and its ratio to `match`.  The failure
path's own cost is measured without wall-clock noise as the instructions the
client's main thread (the handshake path; the sender thread excluded)
executes per handshake more than on the success path (callgrind), converted
to microseconds with the instruction rate measured on the same machine.
"""
import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import handshake as hs  # noqa: E402


class Blackhole:
    """Accepts connections and never reads from them."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.held = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            self.held.append(conn)

    def close(self):
        self.sock.close()
        for c in self.held:
            c.close()


def start_collector(args, tmp):
    db = os.path.join(tmp, "bench.db")
    proc = subprocess.Popen([args.collector, "--listen", "127.0.0.1:0", "--db", db],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    m = re.search(r"listening on (\S+)", line)
    if not m:
        proc.kill()
        sys.exit("bench: collector did not start: %r" % line)
    return proc, m.group(1)


def main_thread_instructions(args, port, pki, env, count):
    with tempfile.TemporaryDirectory(prefix="callgrind-") as out:
        cmd = ["valgrind", "--tool=callgrind", "--separate-threads=yes",
               "--callgrind-out-file=" + os.path.join(out, "cg.out"),
               args.client, "pinned.test", str(port),
               os.path.join(pki, "root.pem"), str(count)]
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            sys.exit("bench: callgrind failed: %s" % res.stderr[-400:])
        main = [f for f in os.listdir(out) if f.endswith("-01")]
        if not main:
            sys.exit("bench: no callgrind output for the main thread: %s" % os.listdir(out))
        for line in open(os.path.join(out, main[0])):
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    sys.exit("bench: no callgrind total")


def run(args):
    with tempfile.TemporaryDirectory(prefix="pinshim-bench-") as pki:
        subprocess.run([os.path.join(hs.ROOT, "tests", "pki", "mkpki"), pki],
                       check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(pki, "pins.json")) as f:
            pins = json.load(f)
        match = os.path.join(pki, "match.ini")
        mismatch = os.path.join(pki, "mismatch.ini")
        hs.write_policy(match, (pins["leaf"], pins["root"]), "observe")
        hs.write_policy(mismatch, (pins["rotated"], pins["mitm_root"]), "observe")
        port = hs.free_port()
        server = hs.start_server(pki, "leaf", port)
        collector, caddr = start_collector(args, pki)
        hole = Blackhole()
        refused = "127.0.0.1:%d" % hs.free_port()
        spool = os.path.join(pki, "spool")
        configs = {
            "match": (match, caddr),
            "mismatch": (mismatch, caddr),
            "blackhole": (mismatch, hole.address),
            "refused": (mismatch, refused),
        }

        def env_of(policy, coll):
            env = dict(os.environ, LD_PRELOAD=args.lib, PINSHIM_POLICY=policy,
                       PINSHIM_COLLECTOR=coll, PINSHIM_SPOOL=spool)
            env.pop("PINSHIM_EVENTS_FILE", None)
            return env

        rates = {k: [] for k in configs}
        try:
            for _ in range(args.rounds):
                for name, (policy, coll) in configs.items():
                    rates[name].append(hs.run_client(args, port, pki, env_of(policy, coll))[0])
            instr = {}
            if args.callgrind:
                # Two run lengths per configuration: the slope is the cost of
                # one more handshake, without the one-time set-up (loading
                # libunwind, reading the policy, starting the sender).
                n1, n2 = args.callgrind, 3 * args.callgrind
                for name in ("match", "mismatch"):
                    policy, coll = configs[name]
                    a = main_thread_instructions(args, port, pki, env_of(policy, coll), n1)
                    b = main_thread_instructions(args, port, pki, env_of(policy, coll), n2)
                    instr[name] = (b - a) / (n2 - n1)
                    instr[name + "_setup"] = a - n1 * instr[name]
                # instructions per microsecond on this machine, without valgrind
                instr["plain"] = main_thread_instructions(
                    args, port, pki, dict(os.environ), n1) / n1
        finally:
            server.kill()
            collector.terminate()
            collector.wait()
            hole.close()
    base = statistics.median(rates["match"])
    report = {name: {"rate": round(statistics.median(r), 1),
                     "ratio": round(statistics.median(r) / base, 4)}
              for name, r in rates.items()}
    if instr:
        per_hs = instr["mismatch"] - instr["match"]
        # The client's instructions per handshake times its handshakes per
        # second: this machine's instruction rate for this code.
        ipus = instr["plain"] * statistics.median(rates["match"]) / 1e6
        report["failure_path"] = {
            "instructions_per_event": round(per_hs),
            "instructions_per_us": round(ipus, 1),
            "us_per_event": round(per_hs / ipus, 2),
            "setup_instructions_match": round(instr["match_setup"]),
            "setup_instructions_mismatch": round(instr["mismatch_setup"]),
        }
    return report


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(hs.ROOT, "build"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--callgrind", type=int, default=100, metavar="N")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    args.lib = os.path.join(args.build, "shim", "libpinshim.so")
    args.client = os.path.join(args.build, "bench", "handshake")
    args.collector = os.path.join(args.build, "collector", "pinshim-collector")
    for p in (args.lib, args.client, args.collector):
        if not os.path.exists(p):
            sys.exit("bench: %s missing: build first (ninja -C %s)" % (p, args.build))
    report = run(args)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print("%-10s %10s %8s" % ("config", "hs/s", "ratio"))
    for name in ("match", "mismatch", "blackhole", "refused"):
        print("%-10s %10.1f %8.4f" % (name, report[name]["rate"], report[name]["ratio"]))
    if "failure_path" in report:
        fp = report["failure_path"]
        print("\nfailure path: %d instructions per event on the handshake thread, "
              "%.1f instructions/us here: %.2f us per event"
              % (fp["instructions_per_event"], fp["instructions_per_us"], fp["us_per_event"]))
        print("one-time set-up on the handshake thread: %d instructions (pins match), "
              "%d (first failure: libunwind, sender start)"
              % (fp["setup_instructions_match"], fp["setup_instructions_mismatch"]))


if __name__ == "__main__":
    main()
