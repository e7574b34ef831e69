"""What the shim says on stderr (PINSHIM_LOG) and in the error queue.
Default: nothing for a matched or unpinned handshake.  info: one `pinshim:`
line per failure listing the served chain's pins and the expected pins."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness as H  # noqa: E402
from harness import BOGUS, TLS_VERSIONS, Host, add_matrix  # noqa


class Logging(H.ShimTestCase):

    def mismatch(self, mode="enforce"):
        self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode=mode))
        return self.server("rotated", "1.3")

    def info_line(self, r):
        lines = r.pinshim_stderr_lines
        self.assertEqual(len(lines), 1, r.describe())
        line = lines[0]
        for pin in (self.P["rotated"], self.P["int1"], self.P["leaf"], BOGUS):
            self.assertIn(pin, line, r.describe())
        self.assertIn("pinned.test", line)
        return line

    def test_info_blocked_one_line_with_served_and_expected_pins(self):
        for kind in ("tlsclient:connect", "curl", "python"):
            with self.subTest(kind=kind):
                r = self.run_client(kind, self.mismatch(), log="info")
                self.assertFailedTLS(r)
                self.assertIn("block", self.info_line(r))

    def test_info_would_block_one_line_with_served_and_expected_pins(self):
        r = self.run_client("tlsclient:connect", self.mismatch("observe"), log="info")
        self.assertSucceeded(r)
        self.assertIn("would_block", self.info_line(r))

    def test_info_lines_in_threads_never_mix(self):
        srv = self.mismatch()
        r = self.run_client("tlsclient:threads", srv, log="info", threads=8, count=5)
        lines = [l for l in r.stderr.splitlines() if l]
        self.assertEqual(len(lines), 40, r.describe())
        for l in lines:
            self.assertTrue(l.startswith("pinshim: "), l)
            self.assertIn(self.P["rotated"], l)

    def test_log_off_blocked_prints_nothing(self):
        r = self.run_client("tlsclient:connect", self.mismatch(), log="off")
        self.assertFailedTLS(r)
        self.assertEqual(r.stderr, "", r.describe())
        # The reason still reaches the program.
        self.assertIn("pinshim", r.stdout)

    def test_default_log_prints_nothing_for_matched_and_unpinned(self):
        self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode="enforce"))
        for kind in ("tlsclient:connect", "python", "curl", "curl-k"):
            for host in ("pinned.test", "unpinned.test"):
                with self.subTest(kind=kind, host=host):
                    r = self.run_client(kind, self.server("leaf", "1.3"), host=host)
                    self.assertSucceeded(r)
                    self.assertEqual(r.stderr, "", r.describe())

    def test_info_prints_nothing_for_matched_and_unpinned(self):
        self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode="enforce"))
        for host in ("pinned.test", "unpinned.test"):
            r = self.run_client("tlsclient:connect", self.server("leaf", "1.3"),
                                host=host, log="info")
            self.assertSucceeded(r)
            self.assertEqual(r.stderr, "", r.describe())

    def test_unknown_log_level_is_one_line_not_a_crash(self):
        r = self.run_client("tlsclient:connect", self.mismatch(), log="loud")
        self.assertFailedTLS(r)
        self.assertLessEqual(len(r.pinshim_stderr_lines), 2, r.describe())
        self.assertTrue(any("PINSHIM_LOG" in l for l in r.pinshim_stderr_lines),
                        r.describe())

    def test_bad_pinshim_mode_is_reported_once(self):
        r = self.run_client("tlsclient:connect", self.mismatch(), mode="sometimes",
                            count=3)
        lines = [l for l in r.pinshim_stderr_lines if "PINSHIM_MODE" in l]
        self.assertEqual(len(lines), 1, r.describe())


def _reason(self, kind, tls):
    self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS], mode="enforce"))
    r = self.run_client(kind, self.server("rotated", tls), tls=tls)
    self.assertFailedTLS(r)
    if kind.startswith("curl"):
        # curl prints the reason string of the first error, not its data.
        self.assertIn("pinshim", r.stderr, r.describe())
    else:
        self.assertPinshimReason(r)


add_matrix(Logging, "blocked_%s_shows_a_pinshim_reason_tls%s",
           [(k, v) for k in ("s_client", "s_client-noverify", "tlsclient:connect",
                             "tlsclient:bio", "curl", "curl-k")
            for v in TLS_VERSIONS], _reason)


if __name__ == "__main__":
    H.main()
