"""Shared by the collector tests: a test case with a real pinshim-collector
(tests/lib/collector.py) and senders speaking the protocol by hand
(tests/lib/wire.py)."""

import os
import shutil
import socket
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import wire  # noqa: E402
from collector import Collector, CollectorError  # noqa: E402,F401

TOKEN = b"collector-test-token"
ASAN = os.environ.get("PINSHIM_ASAN") == "1"


class CollectorCase(unittest.TestCase):
    """One collector per test, with a token, started (unless start is
    False) with args."""

    token = TOKEN
    args = ()
    start = True

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pinshim-collector-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.c = Collector(self.tmp, token=self.token, args=self.args)
        self.addCleanup(self._stop)
        if self.start:
            self.c.start()

    def _stop(self):
        if self.c.running():
            self.c.stop()
        # sanitizer reports do not always end the process: read them
        for bad in ("runtime error:", "AddressSanitizer", "LeakSanitizer",
                    "ThreadSanitizer"):
            self.assertNotIn(bad, self.c.log(), self.c.log()[-4000:])

    def sender(self, token=None, name="test[1]@host", hello=True):
        s = wire.Sender(self.c.address, token=token or self.token, name=name)
        self.addCleanup(s.close)
        if hello:
            s.hello()
        return s

    def send(self, events=(), counters=()):
        """One batch on a fresh connection; its ack."""
        with wire.Sender(self.c.address, token=self.token) as s:
            s.hello()
            return s.batch(events, counters)

    def assertServing(self):
        """The collector still takes a batch from a well-behaved sender."""
        ev = wire.make_event(host="still-serving.test")
        ack = self.send([ev])
        self.assertEqual(ack["stored"], 1)
        return ev

    def assertRejected(self, s, contains=""):
        """s's connection was closed by the collector, after an Error frame
        whose message contains `contains`."""
        msg = s.closed_by_peer()
        self.assertIn(contains, msg, "error frame: %r\nlog:\n%s"
                      % (msg, self.c.log()))
        return msg

    def stored_hosts(self):
        return sorted(f["host"] for f in self.c.failures())

    def wait_log(self, text, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.c.log():
                return
            time.sleep(0.05)
        self.fail("%r not logged; log:\n%s" % (text, self.c.log()))


def raw_connect(address):
    host, port = address.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=30)
    return s


def read_all(sock, timeout=30):
    """Everything the peer sends until it closes."""
    sock.settimeout(timeout)
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return out
        if not chunk:
            return out
        out += chunk


def hexid(b):
    return b.hex()
