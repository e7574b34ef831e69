"""Bad input to the collector: garbage, truncated frames, an over-long
length, a wrong or missing token, no hello, absurd field sizes, a sender
too slow inside a frame or idle too long.  Each is answered with an Error
frame (where one can be sent) and a closed connection, logged in one line,
counted; nothing of it is stored; the collector keeps serving others."""

import socket
import struct
import time
import unittest

from clib import CollectorCase, raw_connect, read_all, wire


class Reject(CollectorCase):

    args = ("--frame-timeout", "2", "--idle-timeout", "3")

    def refused(self, data, contains, hello=True, token=None):
        """Sends data on a fresh connection (after a hello) and checks the
        collector's answer, that it still serves, and that only the good
        sender's event was stored."""
        s = self.sender(token=token, hello=hello)
        try:
            s.send_raw(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        msg = self.assertRejected(s, contains)
        ev = self.assertServing()
        self.served = getattr(self, "served", []) + [ev["id"].hex()]
        self.assertEqual(sorted(f["id"] for f in self.c.failures()),
                         sorted(self.served))
        return msg

    def logged_once(self, text):
        self.wait_log(text)
        lines = [line for line in self.c.log().splitlines() if text in line]
        self.assertEqual(len(lines), 1, self.c.log())
        self.assertTrue(lines[0].startswith("pinshim-collector: 127.0.0.1:"),
                        lines[0])

    # -- framing -------------------------------------------------------------

    def test_garbage_is_refused(self):
        self.refused(wire.prefixed(b"\xff" * 100), "not a valid protobuf")
        self.logged_once("not a valid protobuf")

    def test_http_request_is_refused_by_its_length(self):
        self.refused(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "exceeds the limit",
                     hello=False)

    def test_over_long_length_is_refused_before_reading(self):
        # no body follows: the answer must come from the length alone
        msg = self.refused(struct.pack(">I", 0xFFFFFFFF), "exceeds the limit")
        self.assertIn("4294967295", msg)

    def test_truncated_frame_is_refused(self):
        s = self.sender()
        frame = wire.frame("batch", {"id": wire.new_id(),
                                     "events": [wire.make_event()]})
        s.send_raw(frame[:len(frame) // 2])
        s.sock.shutdown(socket.SHUT_WR)
        self.assertRejected(s, "closed inside a frame")
        self.assertServing()
        self.assertEqual(len(self.c.failures()), 1)

    def test_frame_without_body_is_refused(self):
        self.refused(wire.prefixed(b""), "no known body")

    # -- the conversation ----------------------------------------------------

    def test_wrong_token_is_refused_and_logged(self):
        s = self.sender(token=b"not-the-token", hello=False)
        with self.assertRaises(wire.ProtocolError) as e:
            s.hello()
        self.assertEqual(str(e.exception), "authentication failed")
        self.assertServing()
        self.logged_once("authentication failed")
        self.assertGreaterEqual(
            self.c.wait_stats("auth_failures", 1)["auth_failures"], 1)

    def test_missing_token_is_refused(self):
        s = wire.Sender(self.c.address)
        self.addCleanup(s.close)
        s.send_raw(wire.frame("hello", {"protocol": 1, "sender": "x"}))
        self.assertRejected(s, "authentication failed")
        self.assertServing()

    def test_batch_before_hello_is_refused_and_not_stored(self):
        # (small enough for a frame before the hello: a counter)
        frame = wire.frame("batch", {"id": wire.new_id(),
                                     "counters": [wire.make_counter()]})
        self.refused(frame, "expected a hello first", hello=False)

    def test_second_hello_is_refused(self):
        self.refused(wire.frame("hello", {"protocol": 1, "token": self.token}),
                     "unexpected hello frame")

    def test_unknown_protocol_version_is_refused(self):
        s = self.sender(hello=False)
        with self.assertRaises(wire.ProtocolError) as e:
            s.hello(protocol=2)
        self.assertIn("protocol 2 not supported", str(e.exception))

    def test_bad_batch_after_good_one_stores_only_the_good_one(self):
        s = self.sender()
        good = wire.make_event(host="good.test")
        self.assertEqual(s.batch([good])["stored"], 1)
        bad = wire.make_event(host="bad.test", stack=[{"module": "m"}] * 65)
        s.send_batch([wire.make_event(host="bad2.test"), bad])
        self.assertRejected(s, "event 1: stack of 65 frames (limit 64)")
        self.assertEqual(self.stored_hosts(), ["good.test"])

    def test_error_comes_after_the_acks_of_earlier_batches(self):
        s = self.sender()
        good = [[wire.make_event(host="g%d.test" % i)] for i in range(3)]
        ids = [s.send_batch(b) for b in good]
        s.send_raw(wire.prefixed(b"\xff" * 10))
        for bid in ids:                 # every earlier batch acked first
            self.assertEqual(s.expect("ack")["batch_id"], bid)
        self.assertRejected(s, "not a valid protobuf")
        self.assertEqual(self.stored_hosts(), ["g0.test", "g1.test",
                                               "g2.test"])

    # -- absurd sizes inside the frame cap -----------------------------------

    def batch(self, *events, counters=()):
        return wire.frame("batch", {"id": wire.new_id(), "events": list(events),
                                    "counters": list(counters)})

    def test_stack_of_100000_frames_is_refused(self):
        ev = wire.make_event(stack=[{"module": "libx.so", "offset": i}
                                    for i in range(100000)])
        self.refused(self.batch(ev), "stack of 100000 frames (limit 64)")

    def test_one_megabyte_subject_is_refused(self):
        ev = wire.make_event()
        ev["served_chain"][0]["subject"] = "CN=" + "a" * (1 << 20)
        self.refused(self.batch(ev), "a string field over 4096 bytes")

    def test_one_megabyte_host_is_refused(self):
        ev = wire.make_event(host="h" * (1 << 20))
        self.refused(self.batch(ev), "event 0: a string field over 4096")

    def test_millions_of_empty_submessages_are_refused(self):
        # 2 bytes each on the wire, far more once decoded: refused by the
        # decoding bound or by the stack's, never decoded without bound
        ev = wire.make_event(stack=[wire.Raw(b"")] * 2500000)
        msg = self.refused(self.batch(ev), "")
        self.assertRegex(msg, "decodes to more than|stack of 2500000 frames")

    def test_twenty_thousand_small_records_are_taken(self):
        now = int(time.time() * 1e6)
        evs = [{"id": wire.new_id(), "host": "small.test", "time_us": now,
                "kind": "pin_mismatch", "decision": "blocked"}
               for _ in range(15000)]
        cs = [wire.make_counter() for _ in range(5000)]
        ack = self.send(evs, cs)
        self.assertEqual(ack["stored"], 20000)

    def test_too_many_records_are_refused(self):
        evs = [{"id": wire.new_id()} for _ in range(20001)]
        self.refused(self.batch(*evs), "batch of 20001 records (limit 20000)")

    def test_short_id_is_refused(self):
        self.refused(self.batch(wire.make_event(id=b"short")),
                     "event 0: id of 5 bytes")

    def test_part_that_is_not_protobuf_is_refused(self):
        ev = wire.make_event(platform=wire.Raw(b"\xff\xff\xff"))
        self.refused(self.batch(ev), "event 0: platform is not a valid")

    def test_der_of_another_certificate_is_refused(self):
        ev = wire.make_event()
        ev["served_chain"][1]["der"] = wire.make_cert(1, "other", "x")["der"]
        self.refused(self.batch(ev), "certificate 1: DER does not hash")

    def test_der_that_is_not_a_certificate_is_refused(self):
        ev = wire.make_event()
        ev["served_chain"][1] = wire.make_cert(1, "x", "y", der=b"not one")
        self.refused(self.batch(ev), "certificate 1: DER is not an X.509 "
                     "certificate")

    def test_absurd_counter_is_refused(self):
        c = wire.make_counter(successes=1 << 50)
        self.refused(self.batch(counters=[c]), "counter 0: a count over")

    # -- values out of range (the hardening issue, item 7) -------------------

    def test_unknown_kind_and_decision_are_refused(self):
        self.refused(self.batch(wire.make_event(kind=99)),
                     "event 0: unknown kind 99")
        self.refused(self.batch(wire.make_event(decision=77)),
                     "event 0: unknown decision 77")

    def test_times_outside_2000_to_2100_are_refused(self):
        for t in (-290308 * 365 * 86400 * 1000000, 294247 * 10 ** 13,
                  946684799 * 1000000):
            self.refused(self.batch(wire.make_event(time_us=t,
                                                    last_time_us=t)),
                         "event 0: time outside 2000-2100")
        ev = wire.make_event()
        ev["last_time_us"] = ev["time_us"] - 1
        self.refused(self.batch(ev), "its last time before it")
        # a client clock 400 days off is a clock, not garbage: stored
        ev = wire.make_event(time_us=int((time.time() + 400 * 86400) * 1e6))
        ev["last_time_us"] = ev["time_us"]
        self.assertEqual(self.send([ev])["stored"], 1)

    def test_counter_hours_outside_the_window_are_refused(self):
        self.refused(self.batch(counters=[wire.make_counter(hour=1)]),
                     "counter 0: hour 1 outside 2000-2100")
        self.refused(self.batch(counters=[wire.make_counter(
            hour=1 << 40)]), "outside 2000-2100")

    def test_claimed_certificate_dates_beyond_x509_are_refused(self):
        ev = wire.make_event()
        ev["served_chain"][0] = dict(ev["served_chain"][0], der=b"",
                                     not_after=1 << 60)
        self.refused(self.batch(ev), "certificate 0: validity outside the "
                     "years 1900-9999")

    def test_strings_that_are_not_utf8_are_refused(self):
        self.refused(self.batch(wire.make_event(host=b"bad\xff.test")),
                     "event 0: a string field over")
        self.refused(self.batch(wire.make_event(message=b"\xed\xa0\x80")),
                     "event 0: a string field over")
        ok = wire.make_event(message="caf\u00e9 \u2603 \U0001f600")
        self.assertEqual(self.send([ok])["stored"], 1)

    def test_eleven_certificates_are_refused(self):
        ev = wire.make_event(built_chain=[wire.make_cert(i, "c%d" % i, "x")
                                          for i in range(11)])
        self.refused(self.batch(ev), "chain of 11 certificates (limit 10)")

    # -- slow senders ----------------------------------------------------------

    def test_sender_trickling_a_frame_is_cut_while_others_are_served(self):
        slow = self.sender()
        frame = self.batch(wire.make_event(host="slow.test"))
        slow.send_raw(frame[:10])
        served = []
        for i in range(3):              # meanwhile others get their acks
            served.append(self.assertServing())
            slow.send_raw(frame[10 + i:11 + i])
        self.assertRejected(slow, "timed out inside a frame")
        self.assertNotIn("slow.test", self.stored_hosts())
        self.assertEqual(len(self.c.failures()), 3)
        self.assertEqual(self.c.wait_stats("timeouts", 1)["timeouts"], 1)

    def test_idle_sender_is_closed(self):
        s = self.sender()
        self.assertRejected(s, "idle too long")

    def test_connection_without_hello_is_closed(self):
        sock = raw_connect(self.c.address)
        self.addCleanup(sock.close)
        data = read_all(sock)
        self.assertIn(b"no hello in time", data)
        self.assertServing()

    def test_silent_connect_and_close_is_not_an_error(self):
        sock = raw_connect(self.c.address)
        sock.close()
        self.assertServing()
        time.sleep(0.2)
        self.assertNotIn("closed", self.c.log())


class Limits(CollectorCase):

    args = ("--max-connections", "2")

    def test_connections_over_the_limit_are_refused(self):
        # only authenticated senders count: the third is refused at its
        # hello, and told to try again later
        a, b = self.sender(), self.sender()
        c = self.sender(hello=False)
        with self.assertRaises(wire.ProtocolError) as e:
            c.hello()
        self.assertEqual(str(e.exception), "too many connections")
        self.assertEqual(a.batch([wire.make_event()])["stored"], 1)
        b.close()
        deadline = time.monotonic() + 20
        while True:                     # b's slot frees once it is noticed
            try:
                d = self.sender()
                break
            except wire.ProtocolError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.assertEqual(d.batch([wire.make_event()])["stored"], 1)


if __name__ == "__main__":
    unittest.main()
