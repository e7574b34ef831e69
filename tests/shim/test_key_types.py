"""RSA, ECDSA and Ed25519 leaves: each passes with its own pin and is blocked
with a wrong one, TLS 1.2 and 1.3, with several clients."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness as H  # noqa: E402
from harness import BOGUS, TLS_VERSIONS, Host, add_matrix  # noqa

KEYS = ("leaf", "ecdsa", "ed25519")
CLIENTS = ("curl", "python", "s_client", "tlsclient:connect")
# A wrong pin: another key type's key.
WRONG = {"leaf": "ecdsa", "ecdsa": "ed25519", "ed25519": "leaf"}


class KeyTypes(H.ShimTestCase):
    pass


def _own_pin(self, chain, kind, tls):
    self.policy(Host("pinned.test", pins=[self.P[chain], BOGUS], mode="enforce"))
    srv = self.server(chain, tls)
    probe = H.Probe(srv)
    r = self.run_client(kind, srv, tls=tls)
    self.assertSucceeded(r)
    self.assertNoEvents(r)
    self.assertGreater(probe.app_bytes, 0)


def _wrong_pin(self, chain, kind, tls):
    self.policy(Host("pinned.test", pins=[self.P[WRONG[chain]], BOGUS], mode="enforce"))
    srv = self.server(chain, tls)
    probe = H.Probe(srv)
    r = self.run_client(kind, srv, tls=tls)
    ev = self.assertBlocked(r, probe)
    self.assertEqual(ev["served_chain"][0]["pin"], self.P[chain])
    self.assertEqual(ev["served_chain"][0]["sha256"], self.pki.cert_sha256(chain))


NAMES = {"leaf": "rsa", "ecdsa": "ecdsa", "ed25519": "ed25519"}
add_matrix(KeyTypes, "%s_leaf_passes_with_its_own_pin_%s_tls%s",
           [(NAMES[c], k, v) for c in KEYS for k in CLIENTS for v in TLS_VERSIONS],
           lambda self, n, k, v: _own_pin(self, {b: a for a, b in NAMES.items()}[n], k, v))
add_matrix(KeyTypes, "%s_leaf_blocked_with_a_wrong_pin_%s_tls%s",
           [(NAMES[c], k, v) for c in KEYS for k in CLIENTS for v in TLS_VERSIONS],
           lambda self, n, k, v: _wrong_pin(self, {b: a for a, b in NAMES.items()}[n], k, v))


if __name__ == "__main__":
    H.main()
