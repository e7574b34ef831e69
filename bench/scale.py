#!/usr/bin/env python3
"""The viewer at fleet scale: ingest, database size, diagnose and the web
overview over millions of generated handshakes, and whether the diagnoses
find the injected causes.

    /usr/bin/python3 bench/scale.py [--build build] [--handshakes 10000000]
        [--seed 1] [--senders 4] [--hosts 2000] [--networks 200]
        [--versions 200] [--days 1] [--per-cause 3] [--rounds 3]
        [--no-dry-run] [--keep DIR] [--reuse DIR] [--json FILE]

1. bench/gen --dry-run: the generator alone (simulating and packing, nothing
   sent): handshakes/s.
2. A real pinshim-collector (--token-file) on a fresh SQLite database in a
   temporary directory; bench/gen sends the same fleet through the real
   protocol (--truth writes the ground truth): handshakes/s, events/s and
   counters/s acknowledged, the collector's ingest rate; then the
   collector stops (SIGTERM: it commits and closes) and the database's
   size is taken (file + WAL).
3. pinshim-view --db DB diagnose --json, summary and summary --json,
   --rounds times each (the first run reads a cold page cache only if the
   OS dropped it; all times are printed): targets diagnose <= 1 s.
4. pinshim-view --db DB serve --listen 127.0.0.1:PORT, then GET / (the
   overview) --rounds times: target <= 200 ms.
5. The diagnoses against the truth: per cause, precision and recall of the
   top diagnosis of each host; designated healthy hosts accused; hosts
   whose injected cause produced no failure in this run (too few
   handshakes) are listed apart and left out of recall.

A command the viewer does not have yet is skipped with a message.  A small
run (--handshakes 100000) takes seconds.  --keep DIR keeps the database
(DIR/scale.db) and the truth (DIR/truth.json); --reuse DIR times the viewer
over them again without generating anything.
"""
import argparse
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What each cause's separating dimension may be called by the viewer.
DIMENSIONS = {
    "rollover": {"chain", "served_chain", "leaf", "leaf_key", "time", "key"},
    "intermediate_change": {"chain", "served_chain", "intermediate", "issuer",
                            "time"},
    "expired": {"time", "chain", "served_chain", "validity", "everywhere", ""},
    "interception": {"network", "network_fingerprint", "issuer"},
    "backend_inconsistency": {"peer", "peer_address", "address", "backend"},
    "client_specific": {"app_version", "version", "pinset"},
    "trust_store": {"app_version", "version", "libssl_version", "os"},
    "clock_skew": {"clock", "clock_offset", "client_clock", "offset"},
}


CONFIDENT = 0.5      # the second scoring counts only diagnoses this sure
LIST_MAX = 15        # lines of each kind of miss printed


def kv_line(text):
    """The last "k=v k=v" line of a program's output, as a dict."""
    for line in reversed(text.strip().splitlines()):
        pairs = dict(p.split("=", 1) for p in line.split() if "=" in p)
        if "handshakes" in pairs:
            return {k: float(v) if re.fullmatch(r"[-0-9.e+]+", v) else v
                    for k, v in pairs.items()}
    sys.exit("scale: no result line in:\n" + text[-2000:])


def gen_args(a):
    return ["--seed", str(a.seed), "--handshakes", str(a.handshakes),
            "--hosts", str(a.hosts), "--networks", str(a.networks),
            "--versions", str(a.versions), "--days", str(a.days),
            "--per-cause", str(a.per_cause), "--senders", str(a.senders),
            "--now", str(a.now), "--quiet"]


def run_gen(a, extra, timeout=7200):
    cmd = [a.gen] + gen_args(a) + extra
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        sys.exit("scale: %s: exit %d\n%s" % (" ".join(cmd), r.returncode,
                                             r.stderr[-2000:]))
    res = kv_line(r.stdout)
    res["wall_s"] = time.monotonic() - t0
    return res


class Collector:
    def __init__(self, a, tmp):
        self.db = os.path.join(tmp, "scale.db")
        self.token = os.path.join(tmp, "token")
        with open(self.token, "w") as f:
            f.write("scale-bench-token\n")
        self.log = open(os.path.join(tmp, "collector.log"), "wb")
        self.proc = subprocess.Popen(
            [a.collector, "--listen", "127.0.0.1:0", "--db", self.db,
             "--token-file", self.token],
            stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL,
            text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (\S+)", line)
        if not m:
            self.proc.kill()
            sys.exit("scale: collector did not start: %r" % line)
        self.address = m.group(1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(300)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


def db_figures(db):
    size = sum(os.path.getsize(db + s) for s in ("", "-wal")
               if os.path.exists(db + s))
    fig = {"db_bytes": size}
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        for table in ("record", "failure", "counter", "chain", "cert",
                      "host_hour", "failure_hour"):
            try:
                fig[table + "_rows"] = con.execute(
                    "SELECT count(*) FROM %s" % table).fetchone()[0]
            except sqlite3.Error:
                pass
        row = con.execute("SELECT sum(successes), sum(failures) FROM counter"
                          ).fetchone()
        fig["counted_successes"], fig["counted_failures"] = row
        fig["event_failures"] = con.execute(
            "SELECT sum(CASE WHEN count = 0 THEN 1 ELSE count END) FROM record"
        ).fetchone()[0]
    finally:
        con.close()
    return fig


def has_command(view, name):
    r = subprocess.run([view, "--help"], capture_output=True, text=True)
    return re.search(r"^\s+%s\b" % name, r.stdout + r.stderr, re.M) is not None


def timed(cmd, rounds, timeout=600):
    """Runs cmd rounds times: (times, last CompletedProcess)."""
    times, r = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        times.append(time.perf_counter() - t0)
        if r.returncode != 0:
            break
    return times, r


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_overview(a, db, rounds):
    port = free_port()
    url = "http://127.0.0.1:%d/" % port
    proc = subprocess.Popen([a.view, "--db", db, "serve", "--listen",
                             "127.0.0.1:%d" % port],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "favicon-probe", timeout=2)
            except urllib.error.HTTPError:
                break              # it answers (404 is fine)
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    return {"error": "serve did not start: %s" %
                            proc.stderr.read().decode(errors="replace")[-500:]}
                time.sleep(0.1)
                continue
            break
        times, status, size = [], None, 0
        for _ in range(rounds):
            t0 = time.perf_counter()
            with urllib.request.urlopen(url, timeout=120) as resp:
                body = resp.read()
                status = resp.status
            times.append(time.perf_counter() - t0)
            size = len(body)
        return {"times_s": times, "status": status, "bytes": size}
    except urllib.error.HTTPError as e:
        return {"error": "GET / answered %d" % e.code}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---- the diagnoses against the truth ----------------------------------------

def top_per_host(diagnoses):
    top = {}
    for d in diagnoses:
        h = d.get("host")
        if h is None:
            continue
        if h not in top or d.get("confidence", 0) > top[h].get("confidence", 0):
            top[h] = d
    return top


def value_ok(truth, diag):
    """Whether the diagnosis's value names one of the truth's values (for
    the dimensions where a value is a name: network, peer, version)."""
    vals = truth.get("values") or [truth.get("value")]
    v = str(diag.get("value", ""))
    if truth["dimension"] in ("network", "peer", "app_version"):
        return any(x and (x == v or x in v) for x in vals)
    return None


def compare(truth, diagnoses, min_confidence=0.0):
    """Precision and recall of the top diagnosis of each host, counting only
    diagnoses with at least min_confidence."""
    hosts = truth["hosts"]
    healthy = set(truth.get("healthy", []))
    top = top_per_host([d for d in diagnoses
                        if (d.get("confidence") or 0) >= min_confidence])
    causes = sorted({t["cause"] for t in hosts.values()})
    absent = sorted(h for h, t in hosts.items() if t["handshakes"]["failed"] == 0)
    per = {}
    for c in causes:
        tp = fn = fp = 0
        for h, t in hosts.items():
            if t["cause"] != c or h in absent:
                continue
            if top.get(h, {}).get("cause") == c:
                tp += 1
            else:
                fn += 1
        for h, d in top.items():
            if d.get("cause") == c and hosts.get(h, {}).get("cause") != c:
                fp += 1
        per[c] = {"tp": tp, "fn": fn, "fp": fp,
                  "precision": tp / (tp + fp) if tp + fp else None,
                  "recall": tp / (tp + fn) if tp + fn else None}
    other = sorted({d.get("cause") for d in top.values()} - set(causes) - {None})
    for c in other:
        per[c] = {"tp": 0, "fn": 0,
                  "fp": sum(1 for h, d in top.items() if d.get("cause") == c
                            and c != "unknown"),
                  "precision": None, "recall": None}
    dims = {"right": 0, "wrong": [], "value_right": 0, "value_wrong": []}
    for h, t in hosts.items():
        d = top.get(h)
        if d is None or d.get("cause") != t["cause"]:
            continue
        dim = str(d.get("dimension", ""))
        if dim in DIMENSIONS.get(t["cause"], {t["dimension"]}):
            dims["right"] += 1
        else:
            dims["wrong"].append("%s (%s): %s" % (h, t["cause"], dim))
        ok = value_ok(t, d)
        if ok is True:
            dims["value_right"] += 1
        elif ok is False:
            dims["value_wrong"].append("%s: %s=%s, truth %s" % (
                h, dim, d.get("value"), t.get("values")))
    missed = ["%s: %s, diagnosed %s" % (h, t["cause"],
                                        top.get(h, {}).get("cause", "nothing"))
              for h, t in sorted(hosts.items())
              if h not in absent and top.get(h, {}).get("cause") != t["cause"]]
    false = ["%s: %s (%s)" % (h, d.get("cause"),
                              "healthy" if h in healthy else
                              "noise" if h in truth.get("noise_hosts", []) else
                              "cause " + hosts[h]["cause"] if h in hosts else "?")
             for h, d in sorted(top.items())
             if d.get("cause") not in (None, "unknown")
             and hosts.get(h, {}).get("cause") != d.get("cause")]
    tp = sum(p["tp"] for p in per.values())
    fp = sum(p["fp"] for p in per.values())
    fn = sum(p["fn"] for p in per.values())
    return {
        "per_cause": per,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "healthy_accused": sorted(h for h in healthy if h in top),
        "unknown": sum(1 for d in top.values() if d.get("cause") == "unknown"),
        "diagnosed_hosts": len(top),
        "diagnoses": len(diagnoses),
        "no_failures_in_run": absent,
        "dimension": dims,
        "missed": missed,
        "false": false,
    }


# ---- report -------------------------------------------------------------------

def fmt_times(ts):
    return ", ".join("%.3f" % t for t in ts)


def pct(x):
    return "-" if x is None else "%.0f%%" % (100 * x)


def report(res):
    p = print
    p("machine: %d cpus, load average %s before, %s after" % (
        os.cpu_count(), res["load_before"], res["load_after"]))
    if "dry" in res:
        d = res["dry"]
        p("generator alone: %d handshakes in %.2f s = %.0f handshakes/s; "
          "cpu %.2f s = %.0f handshakes per cpu-second; fleet built in "
          "%.2f s" % (d["handshakes"], d["seconds"], d["handshakes_per_s"],
                      d["gen_cpu_s"], d["handshakes"] / max(d["gen_cpu_s"], 1e-3),
                      d["build_s"]))
    g = res.get("gen")
    if g is not None:
        p("sent: %d handshakes (%d failed) from %d clients to %d hosts: "
          "%d events (covering %d failures), %d counters, %d chains, "
          "%.1f MB" % (g["handshakes"], g["failures"], g["clients"],
                       g["hosts"], g["events"], g["event_failures"],
                       g["counters"], g["chains"], g["bytes"] / 1e6))
        p("ingest: %.2f s from the senders' start to the last ack: "
          "%.0f handshakes/s, %.0f events/s, %.0f counters/s, "
          "%.0f records/s (gen cpu %.2f s)" % (
              g["seconds"], g["handshakes_per_s"], g["events_per_s"],
              g["counters_per_s"], g["records_per_s"], g["gen_cpu_s"]))
    db = res["db"]
    p("database: %.1f MB; %s" % (db["db_bytes"] / 1e6, ", ".join(
        "%s %d" % (k[:-5], v) for k, v in db.items() if k.endswith("_rows"))))
    p("stored handshakes: %s counted (%s successes + %s failures), "
      "%s failures in event records" % (
          (db["counted_successes"] or 0) + (db["counted_failures"] or 0),
          db["counted_successes"], db["counted_failures"], db["event_failures"]))
    for name in ("diagnose", "summary", "summary_json"):
        q = res.get(name)
        if q is None:
            continue
        if "skipped" in q:
            p("%s: skipped (%s)" % (name, q["skipped"]))
        elif "error" in q:
            p("%s: FAILED: %s" % (name, q["error"]))
        else:
            p("%s: %s s (best %.3f s)%s" % (
                name, fmt_times(q["times_s"]), min(q["times_s"]),
                "; target <= 1 s: %s" % ("met" if min(q["times_s"]) <= 1
                                         else "MISSED")
                if name == "diagnose" else ""))
    w = res.get("overview")
    if w is not None:
        if "skipped" in w:
            p("web overview: skipped (%s)" % w["skipped"])
        elif "error" in w:
            p("web overview: FAILED: %s" % w["error"])
        else:
            ms = [t * 1000 for t in w["times_s"]]
            p("web overview: GET / %s ms (%d bytes); best %.0f ms; target "
              "<= 200 ms: %s" % (", ".join("%.0f" % m for m in ms), w["bytes"],
                                 min(ms), "met" if min(ms) <= 200 else "MISSED"))
    for key, what in (("accuracy", "every diagnosis"),
                      ("accuracy_confident",
                       "diagnoses with confidence >= %.1f" % CONFIDENT)):
        if res.get(key) is not None:
            report_accuracy(res[key], what)


def report_accuracy(c, what):
    p = print
    p("accuracy, top diagnosis per host (%s): precision %s, recall %s; "
      "%d hosts diagnosed (%d unknown), %d diagnoses" % (
          what, pct(c["precision"]), pct(c["recall"]), c["diagnosed_hosts"],
          c["unknown"], c["diagnoses"]))
    p("  %-22s %4s %4s %4s %9s %7s" % ("cause", "tp", "fn", "fp", "precision",
                                        "recall"))
    for cause, x in sorted(c["per_cause"].items()):
        p("  %-22s %4d %4d %4d %9s %7s" % (cause, x["tp"], x["fn"], x["fp"],
                                            pct(x["precision"]),
                                            pct(x["recall"])))
    d = c["dimension"]
    p("  dimension right on %d of the right causes; value right %d, wrong %d"
      % (d["right"], d["value_right"], len(d["value_wrong"])))
    p("  healthy hosts accused: %s" % (", ".join(c["healthy_accused"]) or "none"))
    if c["no_failures_in_run"]:
        p("  injected but no failure in this run (left out): %s" %
          ", ".join(c["no_failures_in_run"]))
    for tag, lines in (("missed ", c["missed"]), ("false  ", c["false"]),
                       ("dim    ", d["wrong"]), ("value  ", d["value_wrong"])):
        for line in lines[:LIST_MAX]:
            p("  %s %s" % (tag, line))
        if len(lines) > LIST_MAX:
            p("  %s ... and %d more" % (tag, len(lines) - LIST_MAX))


def generate(a, res, work, truth_path):
    """Steps 1 and 2: the generator alone, then through a collector; the
    database's path."""
    if not a.no_dry_run:
        print("scale: generator alone (--dry-run) ...", file=sys.stderr)
        res["dry"] = run_gen(a, ["--dry-run"])
    coll = Collector(a, work)
    try:
        print("scale: %d handshakes to the collector ..." % a.handshakes,
              file=sys.stderr)
        res["gen"] = run_gen(a, ["--collector", coll.address, "--token-file",
                                 coll.token, "--truth", truth_path])
    finally:
        coll.stop()
    return coll.db


def view(a, res, db, truth, work):
    """Steps 3 to 5: the viewer's reports and page, timed and checked."""
    for name, args in (("diagnose", ["diagnose", "--json"]),
                       ("summary", ["summary"]),
                       ("summary_json", ["summary", "--json"])):
        cmd = args[0]
        if not has_command(a.view, cmd):
            res[name] = {"skipped": "pinshim-view has no %s yet" % cmd}
            continue
        times, r = timed([a.view, "--db", db] + args, a.rounds)
        if r.returncode != 0:
            res[name] = {"error": "exit %d: %s" % (r.returncode,
                                                   r.stderr.strip()[-500:])}
            continue
        res[name] = {"times_s": times}
        if name == "diagnose":
            try:
                diagnoses = json.loads(r.stdout)["diagnoses"]
            except (ValueError, KeyError) as e:
                res[name] = {"error": "not the documented JSON: %s" % e}
                continue
            res["accuracy"] = compare(truth, diagnoses)
            res["accuracy_confident"] = compare(truth, diagnoses,
                                                CONFIDENT)
            with open(os.path.join(work, "diagnose.json"), "w") as f:
                f.write(r.stdout)
    if has_command(a.view, "serve"):
        res["overview"] = time_overview(a, db, a.rounds)
    else:
        res["overview"] = {"skipped": "pinshim-view has no serve yet"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--handshakes", type=int, default=10000000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--senders", type=int, default=4)
    ap.add_argument("--hosts", type=int, default=2000)
    ap.add_argument("--networks", type=int, default=200)
    ap.add_argument("--versions", type=int, default=200)
    ap.add_argument("--days", type=float, default=1)
    ap.add_argument("--per-cause", type=int, default=3)
    ap.add_argument("--now", type=int, default=int(time.time()))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-dry-run", action="store_true")
    ap.add_argument("--keep", help="keep the database and truth in DIR")
    ap.add_argument("--reuse", help="time the viewer over DIR from --keep")
    ap.add_argument("--json", help="also write the figures to FILE")
    a = ap.parse_args()
    a.gen = os.path.join(a.build, "bench", "gen")
    a.collector = os.path.join(a.build, "collector", "pinshim-collector")
    a.view = os.path.join(a.build, "viewer", "pinshim-view")
    for b in (a.gen, a.collector, a.view):
        if not os.access(b, os.X_OK):
            sys.exit("scale: %s is missing: build with ninja -C %s" % (b, a.build))
    res = {"handshakes": a.handshakes, "seed": a.seed,
           "load_before": "%.1f" % os.getloadavg()[0]}
    if a.keep:
        os.makedirs(a.keep, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pinshim-scale-") as tmp:
        if a.reuse:
            db = os.path.join(a.reuse, "scale.db")
            truth_path = os.path.join(a.reuse, "truth.json")
            work = tmp
        else:
            work = a.keep or tmp
            truth_path = os.path.join(work, "truth.json")
            db = generate(a, res, work, truth_path)
        res["db"] = db_figures(db)
        with open(truth_path) as f:
            truth = json.load(f)
        view(a, res, db, truth, work)
    res["load_after"] = "%.1f" % os.getloadavg()[0]
    report(res)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
