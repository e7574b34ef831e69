"""mixed: every other scenario at once, each on its own host.

Plus background success traffic to the healthy hosts.

Runs run(lab) of each scenario in tests/lab/scenarios (rollover,
intermediate_change, client_specific, clock_skew, expired, trust_store,
healthy, and interception / backend_inconsistency when present) in
parallel threads against one collector, at a reduced volume (lab.scale
0.5 unless the caller chose another), while healthy.lab.test and
healthy-api.lab.test get traffic on every network and version until the
others are done.

Known answer: the union of the scenarios' answers, one per host
(rollover.lab.test rollover, intermediate.lab.test intermediate_change,
client.lab.test client_specific, clock.lab.test clock_skew,
expired.lab.test expired, trust.lab.test trust_store, the healthy hosts
none, and those of the network scenarios).  Each must still be provable
from the shared database alone: check() runs every scenario's check() on
it.
"""

import threading
import traceback

SKIP = ("mixed",)


def scenarios():
    import lab
    return [n for n in lab.scenario_names() if n not in SKIP]


def run(lab):
    import lab as L
    if lab.scale == 1.0:
        lab.scale = 0.5
    mods = {n: L.load_scenario(n) for n in scenarios()}
    errors = []
    done = threading.Event()

    def one(name):
        lab.local.scenario = name
        try:
            mods[name].run(lab)
        except BaseException as e:
            if not lab.closing:
                errors.append((name, e, traceback.format_exc()))

    def background(calls):
        lab.local.scenario = "healthy"
        try:
            while not done.is_set():
                for c in calls:
                    lab.traffic(**dict(c, per=8, mix=False, jobs=1))
        except L.LabError:
            if not lab.closing:
                raise

    threads = [threading.Thread(target=one, args=(n,), name="lab-" + n)
               for n in mods if n != "healthy"]
    try:
        for t in threads:
            t.start()
        lab.local.scenario = "healthy"
        calls = mods["healthy"].setup(lab, per=lab.n(20) / lab.scale)
        bg = threading.Thread(target=background, args=(calls,),
                              name="lab-background")
        threads.append(bg)
        bg.start()
        for c in calls:
            lab.traffic(**c)
        for t in threads[:-1]:
            t.join()
        done.set()
        bg.join()
    except BaseException:
        # Interrupted: the scenarios' threads must be over before the lab
        # cleans up, or one could set up a namespace or a server after it.
        lab.closing = True
        done.set()
        lab.kill_runs()
        for t in threads:
            if t.is_alive() or t.ident is not None:
                t.join(60)
        raise
    if errors:
        name, e, tb = errors[0]
        raise L.LabError("mixed: scenario %s failed: %s\n%s" % (name, e, tb))


def check(t, stored, a):
    """Runs the check() of the scenario that produced answer a."""
    import lab
    lab.scenario_check(a["scenario"])(t, stored, a)
