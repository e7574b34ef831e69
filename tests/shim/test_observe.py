"""observe + pin mismatch: the connection proceeds unchanged and one
`would_block` event is recorded.  PINSHIM_MODE overrides every host's mode.
Pins past their `expires` day are only reported, even in enforce."""

import datetime
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness as H  # noqa: E402
from harness import ALL_CLIENTS, BOGUS, TLS_VERSIONS, Host, add_matrix  # noqa

SCENARIOS = {
    "rotated_leaf": ("rotated", "root", ("leaf",)),
    "intermediate_change": ("leaf_via_int2", "root", ("int1",)),
    "interception": ("mitm_leaf", "bundle_both", ("leaf", "int1")),
}


def day(offset):
    return (datetime.datetime.now(datetime.timezone.utc).date()
            + datetime.timedelta(days=offset)).isoformat()


class ObserveLetsThrough(H.ShimTestCase):

    def mismatch_policy(self, host_mode=None, default="observe", expires=None):
        self.policy(Host("pinned.test", pins=[self.P["leaf"], BOGUS],
                         mode=host_mode, expires=expires), mode=default)

    def go(self, kind="tlsclient:connect", tls="1.3", **kw):
        srv = self.server("rotated", tls)
        probe = H.Probe(srv)
        return self.run_client(kind, srv, tls=tls, **kw), probe

    def assertLetThrough(self, r, probe, mode):
        self.assertSucceeded(r)
        self.assertEqual(probe.app_bytes > 0, True)
        return self.assertOneEvent(r, kind="pin_mismatch", decision="would_block",
                                   host="pinned.test", mode=mode,
                                   pin_matched=False)

    def test_observe_event_carries_mode_observe_and_the_chain(self):
        self.mismatch_policy()
        r, probe = self.go()
        ev = self.assertLetThrough(r, probe, "observe")
        self.assertEqual([c["pin"] for c in ev["served_chain"]],
                         [self.P["rotated"], self.P["int1"]])
        self.assertEqual(ev["expected_pins"], [self.P["leaf"], BOGUS])

    def test_observe_prints_nothing_with_default_log(self):
        self.mismatch_policy()
        r, probe = self.go()
        self.assertLetThrough(r, probe, "observe")
        self.assertEqual(r.stderr, "", r.describe())

    def test_pinshim_mode_enforce_overrides_host_mode_observe(self):
        self.mismatch_policy(host_mode="observe", default="observe")
        r, probe = self.go(mode="enforce")
        self.assertBlocked(r, probe)
        self.assertEqual(r.events[0]["mode"], "enforce")

    def test_pinshim_mode_observe_overrides_host_mode_enforce(self):
        self.mismatch_policy(host_mode="enforce", default="enforce")
        r, probe = self.go(mode="observe")
        self.assertLetThrough(r, probe, "observe")

    def test_host_mode_observe_wins_over_policy_default_enforce(self):
        self.mismatch_policy(host_mode="observe", default="enforce")
        r, probe = self.go()
        self.assertLetThrough(r, probe, "observe")

    def test_host_mode_enforce_wins_over_policy_default_observe(self):
        self.mismatch_policy(host_mode="enforce", default="observe")
        r, probe = self.go()
        self.assertBlocked(r, probe)

    def test_expired_pins_are_only_reported_even_in_enforce(self):
        self.mismatch_policy(host_mode="enforce", expires=day(-2))
        for tls in TLS_VERSIONS:
            r, probe = self.go(tls=tls)
            ev = self.assertLetThrough(r, probe, "enforce")
            self.assertIs(ev["pin_expired"], True)

    def test_expired_pins_are_only_reported_even_with_pinshim_mode_enforce(self):
        self.mismatch_policy(host_mode="enforce", expires=day(-2))
        r, probe = self.go(kind="curl", mode="enforce")
        ev = self.assertLetThrough(r, probe, "enforce")
        self.assertIs(ev["pin_expired"], True)

    def test_pins_expiring_in_the_future_are_enforced(self):
        self.mismatch_policy(host_mode="enforce", expires=day(30))
        r, probe = self.go()
        ev = self.assertBlocked(r, probe)
        self.assertIs(ev["pin_expired"], False)

    def test_pins_expiring_today_are_still_enforced(self):
        # "after this day the pins are only reported": today is not after.
        self.mismatch_policy(host_mode="enforce", expires=day(0))
        r, probe = self.go()
        self.assertBlocked(r, probe)

    def test_expired_pins_that_match_record_nothing(self):
        self.policy(Host("pinned.test", pins=[self.P["rotated"], BOGUS],
                         mode="enforce", expires=day(-2)))
        r, probe = self.go()
        self.assertSucceeded(r)
        self.assertNoEvents(r)


def _observe(self, scenario, kind, tls):
    chain, ca, names = SCENARIOS[scenario]
    self.policy(Host("pinned.test", pins=[self.P[n] for n in names] + [BOGUS],
                     mode="observe"))
    srv = self.server(chain, tls)
    probe = H.Probe(srv)
    r = self.run_client(kind, srv, ca=ca, tls=tls)
    self.assertSucceeded(r)
    self.assertGreater(probe.app_bytes, 0)
    ev = self.assertOneEvent(r, kind="pin_mismatch", decision="would_block",
                             host="pinned.test", mode="observe")
    self.assertEqual(ev["served_chain"][0]["pin"], self.P[chain])
    self.assertEqual(r.pinshim_stderr_lines, [], r.describe())


add_matrix(ObserveLetsThrough, "observe_lets_%s_through_%s_tls%s",
           [(s, k, v) for s in SCENARIOS for k in ALL_CLIENTS
            for v in TLS_VERSIONS], _observe)


if __name__ == "__main__":
    H.main()
