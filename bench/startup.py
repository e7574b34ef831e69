#!/usr/bin/env python3
"""What a preloaded libpinshim.so costs a process that never handshakes.

    /usr/bin/python3 bench/startup.py [--build build] [--rounds 7] [--execs 1000]

Machine-wide, the shim is loaded into every process.  Two figures, each as a
ratio against an empty preload library (bench/empty.c, built with the
benchmarks), so the loader's own cost of any preload cancels out:

- instructions (callgrind, repeatable on a busy machine) executed by
  /bin/true, and by a python3 that creates an SSL context but never
  handshakes (libssl is there, the shim's core must stay unloaded);
- wall time of N execs of /bin/true from one shell, the preload applying to
  every exec, interleaved round by round with the empty library so that
  drift hits both alike; the median of the per-round ratios.

Ratios are empty / pinshim: 1.0 means the shim costs nothing more than any
preload library; the target is at least 0.95.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAMS = {
    "/bin/true": ["/bin/true"],
    "python3 ssl context": ["/usr/bin/python3", "-S", "-c",
                            "import ssl; ssl.create_default_context()"],
}


def instructions(argv, preload):
    """Instructions callgrind counts for argv with preload (None: none)."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, LD_PRELOAD=preload or "")
        out = subprocess.run(["valgrind", "--tool=callgrind",
                              "--callgrind-out-file=" + os.path.join(d, "cg")]
                             + argv, env=env, capture_output=True, text=True)
    m = re.search(r"Collected : (\d+)", out.stderr)
    if out.returncode != 0 or m is None:
        sys.exit("bench: callgrind failed on %s:\n%s" % (argv, out.stderr[-2000:]))
    return int(m.group(1))


def exec_loop(n, preload):
    """Seconds for n execs of /bin/true from one shell, all preloaded."""
    script = 'i=0; while [ "$i" -lt %d ]; do /bin/true; i=$((i+1)); done' % n
    env = dict(os.environ, LD_PRELOAD=preload)
    t0 = time.perf_counter()
    subprocess.run(["/bin/sh", "-c", script], env=env, check=True)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--execs", type=int, default=1000)
    args = ap.parse_args()
    lib = os.path.join(args.build, "shim", "libpinshim.so")
    empty = os.path.join(args.build, "bench", "libpinshim-bench-empty.so")
    for f in (lib, empty):
        if not os.path.exists(f):
            sys.exit("bench: %s not built (ninja -C %s)" % (f, args.build))

    print("instructions (callgrind)")
    for name, argv in PROGRAMS.items():
        none, e, p = (instructions(argv, x) for x in (None, empty, lib))
        print("  %-20s none %9d  empty preload %9d  libpinshim %9d  "
              "ratio empty/pinshim %.3f" % (name, none, e, p, e / p))

    ratios, te, tp = [], [], []
    for r in range(args.rounds):
        order = [(empty, te), (lib, tp)]
        if r % 2:
            order.reverse()
        for preload, into in order:
            into.append(exec_loop(args.execs, preload))
        ratios.append(te[-1] / tp[-1])
    print("wall, %d execs of /bin/true, %d rounds interleaved" %
          (args.execs, args.rounds))
    print("  empty preload median %.3f s  libpinshim median %.3f s  "
          "ratio empty/pinshim median %.3f (min %.3f, max %.3f)" %
          (statistics.median(te), statistics.median(tp),
           statistics.median(ratios), min(ratios), max(ratios)))


if __name__ == "__main__":
    main()
