"""Private mount namespaces for tests that change what /etc or / holds.

    why = problem("a setuid-root client", tools=("setpriv",))
    if why: skip(why)
    rc = run_inside([sys.executable, __file__, "--inside", ...], timeout=120)

Whatever the process run_inside starts mounts is seen by it and its
children only, and disappears with them: the machine's own /etc and / are
never touched.
"""

import os
import shutil
import subprocess

UNSHARE = ["unshare", "--mount", "--propagation", "private"]


def problem(needs_root_for, tools=()):
    """Why such a test cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (%s)" % needs_root_for
    for tool in ("unshare",) + tuple(tools):
        if shutil.which(tool) is None:
            return "%s not installed (scripts/deps.sh installs it)" % tool
    r = subprocess.run(UNSHARE + ["true"], capture_output=True)
    if r.returncode != 0:
        return "cannot create a mount namespace: %s" % r.stderr.decode().strip()
    return None


def run_inside(argv, timeout):
    """argv's exit status, run in a new private mount namespace."""
    return subprocess.run(UNSHARE + list(argv), timeout=timeout).returncode
