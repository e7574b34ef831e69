"""The collector protocol (proto/pinshim.proto, proto/wire.h) by hand, for
tests: a minimal protobuf encoder/decoder driven by a table of the .proto's
field numbers, length-prefixed framing, and a Sender that speaks Hello →
Welcome, Batch → Ack.  Built by hand on purpose: bad-input tests craft
frames no protobuf library would produce (raw fields, wrong lengths,
absurd sizes).

    s = Sender(collector.address, token=b"secret")
    s.hello()                                   # → {"protocol": 1, ...}
    ev = make_event(host="api.test")
    ack = s.batch([ev])                         # → {"batch_id": ..., "stored": 1}
"""

import os
import socket
import struct
import time

# ---------------------------------------------------------------------------
# The schema: message → [(number, name, type, repeated)].  Types: varint
# kinds (uint32 uint64 int32 int64 bool enum), string, bytes, or the name
# of another message.

S, R = False, True

SCHEMA = {
    "Cert": [(1, "position", "uint32", S), (2, "subject", "string", S),
             (3, "issuer", "string", S), (4, "serial", "string", S),
             (5, "not_before", "int64", S), (6, "not_after", "int64", S),
             (7, "pin", "string", S), (8, "sha256", "bytes", S),
             (9, "der", "bytes", S)],
    "Platform": [(1, "os_id", "string", S), (2, "os_version", "string", S),
                 (3, "os_name", "string", S), (4, "kernel", "string", S),
                 (5, "arch", "string", S), (6, "libssl_version", "string", S),
                 (7, "host_id", "string", S), (8, "hostname", "string", S)],
    "Process": [(1, "exe", "string", S), (2, "build_id", "string", S),
                (3, "app_version", "string", S),
                (4, "app_version_source", "string", S),
                (5, "pid", "uint32", S), (6, "argv0", "string", S)],
    "Network": [(1, "label", "string", S), (2, "fingerprint", "string", S),
                (3, "gateway", "string", S), (4, "subnet", "string", S),
                (5, "resolvers", "string", R), (6, "proxy_vars", "string", R),
                (7, "local_address", "string", S)],
    "StackFrame": [(1, "module", "string", S), (2, "build_id", "string", S),
                   (3, "offset", "uint64", S), (4, "symbol", "string", S),
                   (5, "symbol_offset", "uint64", S)],
    "Event": [(1, "id", "bytes", S), (2, "time_us", "int64", S),
              (3, "kind", "enum", S), (4, "decision", "enum", S),
              (5, "host", "string", S), (6, "port", "uint32", S),
              (7, "peer", "string", S), (8, "policy_version", "string", S),
              (9, "mode", "enum", S), (10, "expected_pins", "string", R),
              (11, "pinned", "bool", S), (12, "matched", "enum", S),
              (13, "pin_expired", "bool", S), (14, "verify_error", "int32", S),
              (15, "verify_error_text", "string", S),
              (16, "tls_version", "string", S), (17, "message", "string", S),
              (18, "served_chain", "Cert", R), (19, "served_total", "uint32", S),
              (20, "built_chain", "Cert", R), (21, "built_total", "uint32", S),
              (22, "platform", "Platform", S), (23, "process", "Process", S),
              (24, "network", "Network", S), (25, "stack", "StackFrame", R),
              (26, "count", "uint32", S), (27, "last_time_us", "int64", S),
              (28, "repeat_of", "bytes", S)],
    "Counter": [(1, "id", "bytes", S), (2, "hour", "int64", S),
                (3, "host", "string", S), (4, "port", "uint32", S),
                (5, "peer", "string", S), (6, "network", "string", S),
                (7, "network_fingerprint", "string", S),
                (8, "app_version", "string", S),
                (9, "libssl_version", "string", S), (10, "os", "string", S),
                (11, "chain_fingerprint", "bytes", S),
                (12, "successes", "uint64", S), (13, "failures", "uint64", S),
                (14, "host_id", "string", S), (15, "resumed", "uint64", S),
                (16, "resumed_failed", "uint64", S)],
    "ChainSeen": [(1, "fingerprint", "bytes", S), (2, "host", "string", S),
                  (3, "certs", "Cert", R), (4, "total", "uint32", S)],
    "Hello": [(1, "protocol", "uint32", S), (2, "token", "bytes", S),
              (3, "sender", "string", S)],
    "Welcome": [(1, "protocol", "uint32", S), (2, "max_frame", "uint32", S)],
    "Batch": [(1, "id", "bytes", S), (2, "events", "Event", R),
              (3, "counters", "Counter", R), (4, "chains", "ChainSeen", R)],
    "Ack": [(1, "batch_id", "bytes", S), (2, "stored", "uint32", S),
            (3, "duplicates", "uint32", S)],
    "Error": [(1, "message", "string", S), (2, "transient", "bool", S)],
    "Frame": [(1, "hello", "Hello", S), (2, "welcome", "Welcome", S),
              (3, "batch", "Batch", S), (4, "ack", "Ack", S),
              (5, "error", "Error", S)],
}

KINDS = {"pin_mismatch": 1, "untrusted_issuer": 2, "expired": 3,
         "not_yet_valid": 4, "hostname_mismatch": 5,
         "other_verify_error": 6, "policy_error": 7}
DECISIONS = {"blocked": 1, "would_block": 2, "allowed": 3}
MODES = {"observe": 1, "enforce": 2}
MATCHED = {"none": 0, "served": 1, "built": 2}
ENUMS = {"kind": KINDS, "decision": DECISIONS, "mode": MODES,
         "matched": MATCHED}

MAX_FRAME = 8 << 20
VARINT_TYPES = ("uint32", "uint64", "int32", "int64", "bool", "enum")


class Raw:
    """Bytes put on the wire as they are, in place of a field's encoding
    (the tag and length are still written for length-delimited fields)."""

    def __init__(self, data):
        self.data = data


# ---------------------------------------------------------------------------
# Encoding

def varint(n):
    if n < 0:
        n += 1 << 64                 # int32/int64: ten bytes, two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(number, wiretype):
    return varint(number << 3 | wiretype)


def field_varint(number, value):
    return tag(number, 0) + varint(int(value))


def field_bytes(number, data):
    return tag(number, 2) + varint(len(data)) + data


def _scalar(name, typ, value):
    if typ == "enum" and isinstance(value, str):
        value = ENUMS[name][value]
    return value


def encode(msg, obj):
    """obj (a dict by field name) as the protobuf encoding of message msg."""
    out = bytearray()
    for number, name, typ, repeated in SCHEMA[msg]:
        if name not in obj or obj[name] is None:
            continue
        values = obj[name] if repeated else [obj[name]]
        for v in values:
            if isinstance(v, Raw):
                out += field_bytes(number, v.data)
            elif typ in VARINT_TYPES:
                out += field_varint(number, _scalar(name, typ, v))
            elif typ == "string":
                out += field_bytes(number, v.encode() if isinstance(v, str) else v)
            elif typ == "bytes":
                out += field_bytes(number, bytes(v))
            else:
                out += field_bytes(number, encode(typ, v))
    return bytes(out)


def frame(body_name, body):
    """A Frame with one body, length-prefixed, ready to send."""
    data = encode("Frame", {body_name: body})
    return struct.pack(">I", len(data)) + data


def prefixed(data):
    return struct.pack(">I", len(data)) + data


# ---------------------------------------------------------------------------
# Decoding (what the collector sends: Welcome, Ack, Error)

def _read_varint(data, i):
    n = shift = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def decode(msg, data):
    fields = {number: (name, typ, repeated)
              for number, name, typ, repeated in SCHEMA[msg]}
    obj = {}
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        number, wiretype = key >> 3, key & 7
        if wiretype == 0:
            value, i = _read_varint(data, i)
        elif wiretype == 2:
            n, i = _read_varint(data, i)
            value, i = data[i:i + n], i + n
        elif wiretype == 1:
            value, i = data[i:i + 8], i + 8
        elif wiretype == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wiretype)
        if number not in fields:
            continue
        name, typ, repeated = fields[number]
        if typ == "string":
            value = value.decode()
        elif typ in SCHEMA:
            value = decode(typ, value)
        if repeated:
            obj.setdefault(name, []).append(value)
        else:
            obj[name] = value
    return obj


# ---------------------------------------------------------------------------
# Records

_last_ms = 0
_seq = 0


def new_id():
    """A UUIDv7: 48 bits of Unix milliseconds, version 7, then random."""
    global _last_ms, _seq
    ms = int(time.time() * 1000)
    rnd = bytearray(os.urandom(10))
    b = struct.pack(">Q", ms)[2:] + bytes(rnd)
    b = bytearray(b)
    b[6] = 0x70 | (b[6] & 0x0F)
    b[8] = 0x80 | (b[8] & 0x3F)
    return bytes(b)


def make_cert(position, name, issuer, der=None):
    """A certificate with a real DER (tests/lib/x509der.py): the collector
    derives its fields from the DER.  der: other bytes instead (a test of
    what the collector refuses)."""
    import hashlib
    import x509der
    c = x509der.cert(position, name, issuer)
    if der is not None:
        c["der"] = der
        c["sha256"] = hashlib.sha256(der).digest()
    return c


def make_event(**over):
    """A complete, plausible Event dict; keyword arguments override fields."""
    now = int(time.time() * 1_000_000)
    served = [make_cert(0, "api.test", "Test Int"),
              make_cert(1, "Test Int", "Test Root")]
    ev = {
        "id": new_id(),
        "time_us": now,
        "kind": "pin_mismatch",
        "decision": "would_block",
        "host": "api.test",
        "port": 443,
        "peer": "192.0.2.10",
        "policy_version": "2026-11-22.1",
        "mode": "observe",
        "expected_pins": ["sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                          "sha256/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB="],
        "pinned": True,
        "matched": "none",
        "pin_expired": False,
        "verify_error": 0,
        "verify_error_text": "ok",
        "tls_version": "TLSv1.3",
        "message": "pin mismatch",
        "served_chain": served,
        "served_total": 2,
        "built_chain": served + [make_cert(2, "Test Root", "Test Root")],
        "built_total": 3,
        "platform": {"os_id": "debian", "os_version": "12",
                     "os_name": "Debian GNU/Linux 12 (bookworm)",
                     "kernel": "6.1.0-test", "arch": "x86_64",
                     "libssl_version": "OpenSSL 3.0.11 19 Sep 2023",
                     "host_id": "ab" * 32, "hostname": "client1"},
        "process": {"exe": "/usr/bin/curl", "build_id": "cd" * 20,
                    "app_version": "8.1.2", "app_version_source": "env",
                    "pid": 4242, "argv0": "curl"},
        "network": {"label": "office", "fingerprint": "ef" * 32,
                    "gateway": "192.0.2.1", "subnet": "192.0.2.0/24",
                    "resolvers": ["192.0.2.53"], "proxy_vars": ["https_proxy"],
                    "local_address": "192.0.2.77"},
        "stack": [{"module": "/usr/lib/x86_64-linux-gnu/libssl.so.3",
                   "build_id": "01" * 20, "offset": 0x1234,
                   "symbol": "SSL_connect", "symbol_offset": 0x10},
                  {"module": "/usr/lib/x86_64-linux-gnu/libcurl.so.4",
                   "build_id": "02" * 20, "offset": 0x5678,
                   "symbol": "curl_easy_perform", "symbol_offset": 0x20}],
        "count": 1,
        "last_time_us": now,
    }
    ev.update(over)
    return ev


def make_counter(**over):
    c = {"id": new_id(), "hour": int(time.time()) // 3600 * 3600,
         "host": "api.test", "port": 443, "peer": "192.0.2.10",
         "network": "office", "network_fingerprint": "ef" * 32,
         "app_version": "8.1.2", "libssl_version": "OpenSSL 3.0.11",
         "os": "debian 12", "chain_fingerprint": b"\x01" * 32,
         "successes": 10, "failures": 1, "host_id": "ab" * 32}
    c.update(over)
    return c


# ---------------------------------------------------------------------------
# A sender

class ProtocolError(Exception):
    pass


class Sender:
    """One connection to a collector, speaking the protocol by hand."""

    def __init__(self, address, token=None, name="wire.py[0]@test",
                 timeout=30):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host.strip("[]"), int(port)),
                                             timeout=timeout)
        self.token = token
        self.name = name

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_frame(self):
        """The next frame as {"welcome"|"ack"|"error": {...}}, or None when
        the collector closed the connection."""
        hdr = self._recv_exact(4)
        if hdr is None:
            return None
        (n,) = struct.unpack(">I", hdr)
        if n > MAX_FRAME:
            raise ProtocolError("frame of %d bytes" % n)
        body = self._recv_exact(n)
        if body is None:
            raise ProtocolError("closed inside a frame")
        return decode("Frame", body)

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            buf += chunk
        return buf

    def hello(self, token=None, protocol=1):
        """Sends the Hello and returns the Welcome body; raises
        ProtocolError with the collector's message on an Error."""
        tok = token if token is not None else self.token
        body = {"protocol": protocol, "sender": self.name}
        if tok is not None:
            body["token"] = tok
        self.send_raw(frame("hello", body))
        return self.expect("welcome")

    def expect(self, what):
        f = self.read_frame()
        if f is None:
            raise ProtocolError("connection closed")
        if "error" in f:
            raise ProtocolError(f["error"].get("message", ""))
        if what not in f:
            raise ProtocolError("expected %s, got %r" % (what, f))
        return f[what]

    def send_batch(self, events=(), counters=(), batch_id=None, chains=()):
        batch_id = batch_id or new_id()
        self.send_raw(frame("batch", {"id": batch_id, "events": list(events),
                                      "counters": list(counters),
                                      "chains": list(chains)}))
        return batch_id

    def batch(self, events=(), counters=(), batch_id=None, chains=()):
        """Sends one batch and waits for its Ack (a dict with batch_id,
        stored, duplicates; zero fields filled in).  chains: ChainSeen
        dicts (not counted in the Ack)."""
        bid = self.send_batch(events, counters, batch_id, chains)
        ack = self.expect("ack")
        if ack.get("batch_id") != bid:
            raise ProtocolError("ack for another batch")
        ack.setdefault("stored", 0)
        ack.setdefault("duplicates", 0)
        return ack

    def closed_by_peer(self, timeout=30):
        """Waits until the collector closes the connection; returns the
        message of the Error frame it sent first, or "" when none came."""
        self.sock.settimeout(timeout)
        msg = ""
        while True:
            try:
                f = self.read_frame()
            except ProtocolError:
                return msg
            except (ConnectionResetError, BrokenPipeError):
                return msg
            if f is None:
                return msg
            if "error" in f:
                msg = f["error"].get("message", "")
