#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_frame (corpus/frame/): frames built with
tests/lib/wire.py, good and bad.  Deterministic: run it again after the
protocol changes and commit what it writes.

    python3 tests/fuzz/mkseeds.py"""

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import wire  # noqa: E402

OUT = os.path.join(HERE, "corpus", "frame")
T = 1795435200 * 1000000


def ident(n):
    return bytes([0x01, 0x9a, 0, 0, 0, n & 0xff, 0x70, 0, 0x80]) + bytes(7)


def event(n, **over):
    ev = wire.make_event(id=ident(n), time_us=T + n, last_time_us=T + n)
    ev.update(over)
    return ev


def batch(*events, counters=(), chains=(), bid=200):
    return wire.frame("batch", {"id": ident(bid), "events": list(events),
                                "counters": list(counters),
                                "chains": list(chains)})


def chain_seen(n, **over):
    certs = [dict(c, der=b"") for c in event(n)["served_chain"]]
    cs = {"fingerprint": bytes([n]) * 32, "host": "api.test",
          "certs": certs, "total": len(certs)}
    cs.update(over)
    return cs


def seeds():
    yield "hello", wire.frame("hello", {"protocol": 1, "token": b"secret",
                                        "sender": "curl[1]@host"})
    yield "hello-v2", wire.frame("hello", {"protocol": 2})
    yield "welcome", wire.frame("welcome", {"protocol": 1, "max_frame": 8 << 20})
    yield "ack", wire.frame("ack", {"batch_id": ident(9), "stored": 3})
    yield "error", wire.frame("error", {"message": "bye"})
    yield "batch-one", batch(event(1))
    yield "batch-three", batch(event(1), event(2, host="b.test"),
                               event(3, kind="expired", decision="blocked"))
    yield "batch-repeat", batch(event(4), event(5, repeat_of=ident(4), count=9))
    yield "batch-counters", batch(counters=[
        wire.make_counter(id=ident(6), hour=1795435200),
        wire.make_counter(id=ident(7), hour=1795435200, network="home")])
    yield "batch-chains", batch(event(30), counters=[
        wire.make_counter(id=ident(31), hour=1795435200,
                          chain_fingerprint=bytes([32]) * 32)],
        chains=[chain_seen(32), chain_seen(33, host="")])
    yield "batch-chain-no-certs", batch(chains=[chain_seen(34, certs=[])])
    yield "batch-chain-short-fp", batch(chains=[
        chain_seen(35, fingerprint=b"\x01" * 31)])
    yield "batch-chain-11", batch(chains=[
        chain_seen(36, certs=event(36)["served_chain"] * 6)])
    yield "batch-chain-bad-cert", batch(chains=[
        chain_seen(37, certs=[wire.Raw(b"\xff\x01")])])
    yield "batch-bare", batch({"id": ident(8)})
    yield "batch-empty", batch()
    yield "batch-unknown-enums", batch(event(10, kind=99, mode=7, matched=5))
    bad_der = event(11)
    bad_der["served_chain"][0]["der"] = b"not it"
    yield "batch-der-mismatch", batch(bad_der)
    yield "batch-stack-65", batch(event(12, stack=[{"module": "m"}] * 65))
    yield "batch-long-host", batch(event(13, host="h" * 4097))
    yield "batch-empty-parts", batch(event(14, platform=wire.Raw(b""),
                                           stack=[wire.Raw(b"")]))
    yield "batch-bad-part", batch(event(15, network=wire.Raw(b"\xff\x01")))
    twice = wire.encode("Event", event(16)) + wire.field_bytes(
        22, wire.encode("Platform", {"os_id": "other"}))
    yield "batch-part-twice", wire.prefixed(wire.field_bytes(
        3, wire.field_bytes(1, ident(201)) + wire.field_bytes(2, twice)))
    yield "empty", wire.prefixed(b"")
    yield "garbage", wire.prefixed(b"\xff" * 40)
    yield "overlong", struct.pack(">I", 0xFFFFFFFF) + b"x"
    full = batch(event(17))
    yield "truncated", full[:len(full) // 2]
    yield "short-prefix", b"\x00\x00"


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
