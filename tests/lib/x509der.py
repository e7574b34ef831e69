"""Real X.509 certificates, in DER, for tests that speak the collector's
protocol by hand: the collector derives every field of a certificate from
its DER (the subject, issuer, serial, validity and SPKI pin; what a sender
claims beside a DER is not read), so a test's certificates must be
certificates.

Built with a few lines of DER here rather than the openssl command (fast:
the viewer's crafted fleets make hundreds).  The key is an Ed25519 public
key made from a name (same name, same key, same pin: a reissued
certificate); the signature is filler, since nothing verifies it on this
path.  The fields a test compares are computed as OpenSSL prints them
(RFC 2253 names, the serial's hex, Unix seconds)."""

import base64
import hashlib

_ED25519 = "1.3.101.112"
_CN = "2.5.4.3"


def _len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def _tlv(tag, content):
    return bytes([tag]) + _len(len(content)) + content


def _seq(*parts):
    return _tlv(0x30, b"".join(parts))


def _int(n):
    b = n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big")
    return _tlv(0x02, b)


def _oid(dotted):
    nums = [int(x) for x in dotted.split(".")]
    out = bytes([40 * nums[0] + nums[1]])
    for n in nums[2:]:
        chunk = [n & 0x7F]
        n >>= 7
        while n:
            chunk.append(0x80 | (n & 0x7F))
            n >>= 7
        out += bytes(reversed(chunk))
    return _tlv(0x06, out)


def _name(cn):
    atv = _seq(_oid(_CN), _tlv(0x0C, cn.encode()))
    return _seq(_tlv(0x31, atv))


def _time(t):
    import time as _t
    tm = _t.gmtime(t)
    if 1950 <= tm.tm_year < 2050:
        return _tlv(0x17, _t.strftime("%y%m%d%H%M%SZ", tm).encode())
    return _tlv(0x18, _t.strftime("%Y%m%d%H%M%SZ", tm).encode())


def spki(key_name):
    """The SubjectPublicKeyInfo of the key named key_name."""
    key = hashlib.sha256(b"pinshim test key:" + key_name.encode()).digest()
    return _seq(_seq(_oid(_ED25519)), _tlv(0x03, b"\x00" + key))


def pin_of_key(key_name):
    """The SPKI pin ("sha256/...") of the key named key_name."""
    return "sha256/" + base64.b64encode(
        hashlib.sha256(spki(key_name)).digest()).decode()


def rfc2253(cn):
    """CN=... as OpenSSL prints it with XN_FLAG_RFC2253."""
    out = ""
    for i, ch in enumerate(cn):
        if ch in ',+"\\<>;' or (i == 0 and ch in "# ") or \
                (i == len(cn) - 1 and ch == " "):
            out += "\\" + ch
        elif ord(ch) < 0x20 or ord(ch) == 0x7F or ord(ch) > 0x7F:
            out += "".join("\\%02X" % b for b in ch.encode())
        else:
            out += ch
    return "CN=" + out


def der(subject_cn, issuer_cn, key_name, serial, not_before, not_after):
    """One certificate's DER."""
    tbs = _seq(_tlv(0xA0, _int(2)), _int(serial), _seq(_oid(_ED25519)),
               _name(issuer_cn), _seq(_time(not_before), _time(not_after)),
               _name(subject_cn), spki(key_name))
    sig = hashlib.sha512(tbs).digest()
    return _seq(tbs, _seq(_oid(_ED25519)), _tlv(0x03, b"\x00" + sig))


def cert(position, subject_cn, issuer_cn, key_name=None, not_before=1700000000,
         not_after=1900000000, serial=None):
    """A Cert dict (tests/lib/wire.py) with a real DER and the fields the
    collector derives from it."""
    key_name = key_name if key_name is not None else subject_cn
    if serial is None:
        serial = int.from_bytes(hashlib.sha1(
            ("%s|%s|%s|%d|%d" % (subject_cn, issuer_cn, key_name, not_before,
                                 not_after)).encode()).digest()[:8], "big")
    d = der(subject_cn, issuer_cn, key_name, serial, not_before, not_after)
    return {
        "position": position,
        "subject": rfc2253(subject_cn),
        "issuer": rfc2253(issuer_cn),
        "serial": serial.to_bytes((serial.bit_length() + 7) // 8 or 1,
                                  "big").hex().upper(),
        "not_before": not_before,
        "not_after": not_after,
        "pin": pin_of_key(key_name),
        "sha256": hashlib.sha256(d).digest(),
        "der": d,
    }
