"""SPDY/3.1 framing, as much as a port-forward server needs: parse frames, write replies and data.

Why by hand: `kubectl port-forward` (1.31+) speaks SPDY/3.1 tunnelled through a WebSocket
(subprotocol `SPDY/3.1+portforward.k8s.io`), and no maintained Python SPDY library exists.
Only the server side of what kubectl sends is needed: SYN_STREAM (a new stream with headers),
DATA (with FIN for a half-close), RST_STREAM, PING (echoed) and GOAWAY; it answers with
SYN_REPLY, DATA and RST_STREAM. Flow control (WINDOW_UPDATE) is not enforced by kubectl's
SPDY library, so it is read and ignored.

Wire format (SPDY/3 draft): control frames start with a 1 bit, the version (3) and the type;
data frames with a 0 bit and the stream id; then 8 bits of flags and a 24-bit length.
Header blocks (`count`, then length-prefixed names and values, NUL between repeated values)
are zlib-compressed with a preset dictionary, one compression context per direction for the
whole connection.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
RST_PROTOCOL_ERROR, RST_CANCEL, RST_INTERNAL_ERROR = 1, 5, 6
MAX_DATA = 0xFFFFFF
MAX_FRAME = 16 * 1024 * 1024

_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
    "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
    "content-base", "content-encoding", "content-language", "content-length", "content-location", "content-md5",
    "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host", "if-match",
    "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
    "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer", "retry-after",
    "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
    "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie",
    "keep-alive", "origin",
)
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()
"""The SPDY/3 header-compression dictionary: length-prefixed common header words, then common values."""


class SpdyError(Exception):
    """The peer broke the protocol: the connection must end."""


@dataclass(frozen=True, slots=True)
class SynStream:
    stream_id: int
    headers: dict[str, list[str]]
    fin: bool


@dataclass(frozen=True, slots=True)
class Data:
    stream_id: int
    data: bytes
    fin: bool


@dataclass(frozen=True, slots=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True, slots=True)
class Ping:
    ping_id: int


@dataclass(frozen=True, slots=True)
class GoAway:
    last_stream_id: int


@dataclass(frozen=True, slots=True)
class Ignored:
    frame_type: int


Frame = SynStream | Data | RstStream | Ping | GoAway | Ignored


def decode_headers(block: bytes) -> dict[str, list[str]]:
    """An uncompressed header block: names lower-cased, repeated values split at NUL."""
    try:
        (count,), pos = struct.unpack_from(">I", block), 4
        headers: dict[str, list[str]] = {}
        for _ in range(count):
            (size,) = struct.unpack_from(">I", block, pos)
            name = block[pos + 4:pos + 4 + size].decode()
            pos += 4 + size
            (size,) = struct.unpack_from(">I", block, pos)
            value = block[pos + 4:pos + 4 + size].decode()
            pos += 4 + size
            headers.setdefault(name.lower(), []).extend(value.split("\x00"))
        return headers
    except (struct.error, UnicodeDecodeError) as exc:
        raise SpdyError(f"malformed SPDY header block: {exc}") from None


def encode_headers(headers: dict[str, list[str]]) -> bytes:
    out = [struct.pack(">I", len(headers))]
    for name, values in headers.items():
        raw_name, raw_value = name.lower().encode(), "\x00".join(values).encode()
        out += [struct.pack(">I", len(raw_name)), raw_name, struct.pack(">I", len(raw_value)), raw_value]
    return b"".join(out)


@dataclass
class Framer:
    """One SPDY connection's framing state: `feed` bytes from the peer, get whole frames back."""

    _buffer: bytearray = field(default_factory=bytearray)
    _inflate: zlib._Decompress = field(default_factory=lambda: zlib.decompressobj(zdict=DICTIONARY))
    _deflate: zlib._Compress = field(
        default_factory=lambda: zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, zdict=DICTIONARY))

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= 8:
            (length,) = struct.unpack_from(">I", self._buffer, 4)
            flags, length = length >> 24, length & 0xFFFFFF
            if len(self._buffer) < 8 + length:
                break
            head, payload = bytes(self._buffer[:8]), bytes(self._buffer[8:8 + length])
            del self._buffer[:8 + length]
            frames.append(self._frame(head, flags, payload))
        if len(self._buffer) > MAX_FRAME:
            raise SpdyError("SPDY frame too large")
        return frames

    def _frame(self, head: bytes, flags: int, payload: bytes) -> Frame:
        first, second = struct.unpack_from(">HH", head)
        if not first & 0x8000:  # a data frame: 31-bit stream id
            return Data(((first & 0x7FFF) << 16) | second, payload, bool(flags & FLAG_FIN))
        version, frame_type = first & 0x7FFF, second
        if version != VERSION:
            raise SpdyError(f"unsupported SPDY version {version}")
        if frame_type == SYN_STREAM:
            if len(payload) < 10:
                raise SpdyError("short SYN_STREAM")
            (stream_id,) = struct.unpack_from(">I", payload)
            block = self._inflate.decompress(payload[10:])
            return SynStream(stream_id & 0x7FFFFFFF, decode_headers(block), bool(flags & FLAG_FIN))
        if frame_type in (SYN_REPLY, HEADERS):
            self._inflate.decompress(payload[4:])  # keep the shared context in step
            return Ignored(frame_type)
        if frame_type == RST_STREAM and len(payload) >= 8:
            stream_id, status = struct.unpack_from(">II", payload)
            return RstStream(stream_id & 0x7FFFFFFF, status)
        if frame_type == PING and len(payload) >= 4:
            return Ping(struct.unpack_from(">I", payload)[0])
        if frame_type == GOAWAY and len(payload) >= 4:
            return GoAway(struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF)
        return Ignored(frame_type)

    @staticmethod
    def _control(frame_type: int, flags: int, payload: bytes) -> bytes:
        return struct.pack(">HHI", 0x8000 | VERSION, frame_type, (flags << 24) | len(payload)) + payload

    def syn_reply(self, stream_id: int, headers: dict[str, list[str]] | None = None, fin: bool = False) -> bytes:
        block = self._deflate.compress(encode_headers(headers or {})) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        return self._control(SYN_REPLY, FLAG_FIN if fin else 0, struct.pack(">I", stream_id) + block)

    @staticmethod
    def data(stream_id: int, payload: bytes, fin: bool = False) -> bytes:
        if len(payload) > MAX_DATA:
            raise ValueError("SPDY data frame too large")
        return struct.pack(">II", stream_id & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | len(payload)) + payload

    def rst_stream(self, stream_id: int, status: int = RST_CANCEL) -> bytes:
        return self._control(RST_STREAM, 0, struct.pack(">II", stream_id, status))

    def ping(self, ping_id: int) -> bytes:
        return self._control(PING, 0, struct.pack(">I", ping_id))

    def goaway(self, last_stream_id: int) -> bytes:
        return self._control(GOAWAY, 0, struct.pack(">II", last_stream_id, 0))
