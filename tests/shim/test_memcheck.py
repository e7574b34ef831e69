"""The shim under valgrind memcheck, inside tlsclient: no invalid access, no
use of uninitialised memory, no definite leak, on the paths that matter:
blocked, observed, matched with resumption, unpinned in threads, fork."""

import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness as H  # noqa: E402
from harness import BOGUS, Host, add_matrix  # noqa

# libunwind (the failure path's stack capture) probes addresses by writing
# them to a pipe: suppressed, see the file.
SUPPRESSIONS = os.path.join(H.SRCDIR, "tests", "telemetry", "libunwind.supp")
VALGRIND = ["valgrind", "-q", "--trace-children=yes", "--leak-check=full",
            "--errors-for-leak-kinds=definite", "--error-exitcode=99",
            "--suppressions=" + SUPPRESSIONS]

# name: (host, tlsclient mode, extra args, PINSHIM_LOG, expect success)
CASES = {
    "enforce_blocked": ("pinned.test", "connect", [], "info", False),
    "observe_would_block": ("pinned2.test", "nonblock", [], "info", True),
    "matched_resumed": ("other.test", "resume", [], None, True),
    "unpinned_threads": ("unpinned.test", "threads", ["--threads", "3", "--count", "2"],
                         None, True),
    "blocked_in_forked_child": ("pinned.test", "fork", ["--prefork"], None, False),
    "blocked_in_implicit_peek": ("pinned.test", "implicit_peek", [], None, False),
    "blocked_verify_none_bio": ("pinned.test", "bio", ["--verify-none"], None, False),
}


@unittest.skipIf(H.ASAN or not shutil.which("valgrind"),
                 "valgrind not usable (ASan build or not installed)")
class Memcheck(H.ShimTestCase):
    pass


def _memcheck(self, case):
    host, mode, extra, log, ok = CASES[case]
    self.policy(Host("pinned.test", pins=[self.P["rotated"], BOGUS], mode="enforce"),
                Host("pinned2.test", pins=[self.P["rotated"], BOGUS], mode="observe"),
                Host("other.test", pins=[self.P["leaf"], BOGUS], mode="enforce"))
    srv = self.server("leaf", "1.3")
    argv, _ = H.client_command("tlsclient:" + mode, host, srv.port,
                               ca=self.pki.root, extra=extra)
    r = H.run(VALGRIND + argv, self.shim.env(log=log), kind="tlsclient:" + mode,
              events_path=self.shim.events_path, timeout=240)
    self.assertNotEqual(r.returncode, 99, "valgrind found errors\n" + r.describe())
    self.assertEqual(r.returncode, 0 if ok else 1, r.describe())
    self.assertNotIn("==", "".join(l for l in r.stderr.splitlines(True)
                                   if not l.startswith("pinshim:")), r.describe())


add_matrix(Memcheck, "memcheck_clean_%s", list(CASES), _memcheck)


if __name__ == "__main__":
    H.main()
