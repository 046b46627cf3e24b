"""The DNS wire format (RFC 1035) for the few things cluster DNS needs.

Why hand-written: a query is a 12-byte header and one question; answers are A
and SRV records with name compression unneeded. Parsing rejects anything
malformed with `FormatError` so a bad packet gets FORMERR, never a crash.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

TYPE_A = 1
TYPE_SRV = 33
TYPE_AAAA = 28
TYPE_ANY = 255
CLASS_IN = 1
RCODE_OK = 0
RCODE_FORMERR = 1
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3
RCODE_NOTIMP = 4
RCODE_REFUSED = 5


class FormatError(ValueError):
    """The packet is not a DNS query we can parse."""


@dataclass(frozen=True)
class Question:
    id: int
    flags: int
    name: str  # lower case, no trailing dot
    qtype: int
    qclass: int
    raw_question: bytes  # echoed back verbatim in the answer


@dataclass(frozen=True)
class Record:
    name: str
    rtype: int
    ttl: int
    data: bytes

    @staticmethod
    def a(name: str, ip: str, ttl: int) -> Record:
        return Record(name, TYPE_A, ttl, ipaddress.IPv4Address(ip).packed)

    @staticmethod
    def srv(name: str, priority: int, weight: int, port: int, target: str, ttl: int) -> Record:
        return Record(name, TYPE_SRV, ttl, struct.pack("!HHH", priority, weight, port) + encode_name(target))


def encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.strip(".").split("."):
        if label:
            raw = label.encode("ascii", "replace")[:63]
            out += bytes([len(raw)]) + raw
    return bytes(out + b"\x00")


def parse_query(packet: bytes) -> Question:
    if len(packet) < 12:
        raise FormatError("short header")
    ident, flags, qdcount, _an, _ns, _ar = struct.unpack("!HHHHHH", packet[:12])
    if flags & 0x8000:
        raise FormatError("not a query")
    if qdcount != 1:
        raise FormatError("exactly one question is supported")
    labels: list[str] = []
    pos = 12
    while True:
        if pos >= len(packet):
            raise FormatError("truncated name")
        length = packet[pos]
        pos += 1
        if length == 0:
            break
        if length & 0xC0:
            raise FormatError("compressed question name")
        labels.append(packet[pos:pos + length].decode("ascii", "replace").lower())
        pos += length
        if pos > len(packet) or len(labels) > 127:
            raise FormatError("bad name")
    if pos + 4 > len(packet):
        raise FormatError("truncated question")
    qtype, qclass = struct.unpack("!HH", packet[pos:pos + 4])
    return Question(ident, flags, ".".join(labels), qtype, qclass, packet[12:pos + 4])


def build_response(q: Question | None, rcode: int, answers: list[Record], ident: int = 0,
                   authoritative: bool = True) -> bytes:
    """A response echoing the question; RD copied, RA not set (we never recurse)."""
    ident = q.id if q is not None else ident
    rd = (q.flags & 0x0100) if q is not None else 0
    flags = 0x8000 | rd | (0x0400 if authoritative else 0) | (rcode & 0xF)
    header = struct.pack("!HHHHHH", ident, flags, 1 if q is not None else 0, len(answers), 0, 0)
    body = bytearray(q.raw_question if q is not None else b"")
    for r in answers:
        body += encode_name(r.name) + struct.pack("!HHIH", r.rtype, CLASS_IN, r.ttl, len(r.data)) + r.data
    return header + bytes(body)


def error_id(packet: bytes) -> int:
    return int(struct.unpack("!H", packet[:2])[0]) if len(packet) >= 2 else 0


def truncated(reply: bytes, question_len: int) -> bytes:
    """The reply with its answers dropped and TC set, so the client retries over TCP."""
    ident, flags, qd, _an, _ns, _ar = struct.unpack("!HHHHHH", reply[:12])
    return struct.pack("!HHHHHH", ident, flags | 0x0200, qd, 0, 0, 0) + reply[12:12 + question_len]
