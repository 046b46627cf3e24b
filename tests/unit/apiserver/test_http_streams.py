"""Pure parts of the streaming subresources: option parsing, channel messages, SPDY framing."""

from __future__ import annotations

import json
import struct
import zlib

import pytest
from multidict import MultiDict

from apiserver.http import spdy
from apiserver.http.podlogs import LogOptions
from apiserver.http.portforward import parse_ports
from apiserver.http.routing import request_info
from apiserver.http.streaming import V4, V5, ExecOptions, client_message, exit_status
from kubelite.api.errors import BadRequest


def test_connect_subresources_are_authorized_as_create_even_for_a_get() -> None:
    for sub in ("exec", "attach", "portforward"):
        for method in ("GET", "POST"):
            info = request_info(method, f"/api/v1/namespaces/ns/pods/p/{sub}", {})
            assert (info.verb, info.resource, info.subresource, info.name) == ("create", "pods", sub, "p")
    assert request_info("GET", "/api/v1/namespaces/ns/pods/p/log", {}).verb == "get"


def test_log_options() -> None:
    options = LogOptions.parse({"container": "c", "follow": "true", "tailLines": "3", "limitBytes": "10",
                                "sinceTime": "2026-01-02T03:04:05Z", "timestamps": "1"})
    request = options.request("ns", "p")
    assert (request.container, request.follow, request.tail_lines, request.limit_bytes, request.timestamps,
            request.since_time) == ("c", True, 3, 10, True, "2026-01-02T03:04:05Z")
    assert not LogOptions.parse({}).request("ns", "p").HasField("tail_lines")
    for bad, message in (({"tailLines": "-1"}, "tailLines"), ({"tailLines": "x"}, "tailLines"),
                         ({"sinceSeconds": "0"}, "sinceSeconds"), ({"limitBytes": "0"}, "limitBytes"),
                         ({"follow": "maybe"}, "follow"), ({"sinceTime": "soon"}, "sinceTime"),
                         ({"sinceSeconds": "5", "sinceTime": "2026-01-02T03:04:05Z"}, "at most one"),
                         ({"stream": "Stdout"}, "stream"), ({"bogus": "1"}, "bogus")):
        with pytest.raises(BadRequest, match=message):
            LogOptions.parse(bad)


def test_exec_options() -> None:
    query = MultiDict([("command", "sh"), ("command", "-c"), ("command", "echo hi"), ("stdout", "true"),
                       ("stdin", "1"), ("tty", "true"), ("container", "main")])
    options = ExecOptions.parse(query)
    assert options.command == ("sh", "-c", "echo hi") and options.tty and options.stdin and not options.stderr
    with pytest.raises(BadRequest, match="command"):
        ExecOptions.parse(MultiDict([("stdout", "true")]))
    with pytest.raises(BadRequest, match="at least 1 of stdin, stdout, stderr"):
        ExecOptions.parse(MultiDict([("command", "ls")]))
    with pytest.raises(BadRequest, match="tty and stderr"):
        ExecOptions.parse(MultiDict([("command", "ls"), ("tty", "true"), ("stderr", "true")]))


def test_channel_messages() -> None:
    assert client_message(b"\x00hello", V5).stdin == b"hello"  # type: ignore[union-attr]
    assert client_message(b"\x00", V5) is None
    resize = client_message(b"\x04" + json.dumps({"Width": 80, "Height": 24}).encode(), V4)
    assert resize is not None and (resize.width, resize.height) == (80, 24)
    assert client_message(b"\x04not json", V4) is None
    closed = client_message(b"\xff\x00", V5)
    assert closed is not None and closed.close_stdin
    assert client_message(b"\xff\x00", V4) is None  # v4 has no close-stream message
    assert exit_status(0, ("true",)) == {"metadata": {}, "status": "Success"}
    failed = exit_status(3, ("sh", "-c", "exit 3"))
    assert failed["reason"] == "NonZeroExitCode"
    assert failed["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]


def test_ports() -> None:
    assert parse_ports(MultiDict([("ports", "80,8080"), ("ports", "9")])) == [80, 8080, 9]
    for bad in ([], [("ports", "http")], [("ports", "0")], [("ports", "70000")]):
        with pytest.raises(BadRequest, match="ports"):
            parse_ports(MultiDict(bad))


def test_spdy_dictionary_is_the_one_of_the_spec() -> None:
    assert len(spdy.DICTIONARY) == 1423 and zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2


def _client_syn_stream(compressor: zlib._Compress, stream_id: int, headers: dict[str, list[str]]) -> bytes:
    block = compressor.compress(spdy.encode_headers(headers)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    payload = struct.pack(">IIBB", stream_id, 0, 0, 0) + block
    return struct.pack(">HHI", 0x8003, spdy.SYN_STREAM, len(payload)) + payload


def test_spdy_frames_round_trip() -> None:
    client = zlib.compressobj(9, zlib.DEFLATED, 15, zdict=spdy.DICTIONARY)
    framer = spdy.Framer()
    wire = (_client_syn_stream(client, 1, {"streamtype": ["error"], "port": ["80"], "requestid": ["0"]})
            + _client_syn_stream(client, 3, {"streamtype": ["data"], "port": ["80"], "requestid": ["0"]})
            + spdy.Framer.data(3, b"GET /", fin=True) + spdy.Framer().ping(7))
    frames = []
    for at in range(0, len(wire), 5):  # arbitrary message boundaries, as a WebSocket tunnel gives them
        frames += framer.feed(wire[at:at + 5])
    assert frames[0] == spdy.SynStream(1, {"streamtype": ["error"], "port": ["80"], "requestid": ["0"]}, False)
    assert frames[1].stream_id == 3  # type: ignore[union-attr]
    assert frames[2] == spdy.Data(3, b"GET /", True)
    assert frames[3] == spdy.Ping(7)
    reply = framer.syn_reply(1)
    assert struct.unpack(">HHI", reply[:8])[:2] == (0x8003, spdy.SYN_REPLY)
    inflate = zlib.decompressobj(zdict=spdy.DICTIONARY)
    assert spdy.decode_headers(inflate.decompress(reply[12:])) == {}
    with pytest.raises(spdy.SpdyError):
        spdy.Framer().feed(struct.pack(">HHI", 0x8002, spdy.PING, 4) + b"\x00\x00\x00\x01")


def test_attach_options_take_no_command() -> None:
    options = ExecOptions.parse(MultiDict([("stdout", "true"), ("container", "c")]), attach=True)
    assert options.command == () and options.stdout
    with pytest.raises(BadRequest, match="attach takes no command"):
        ExecOptions.parse(MultiDict([("stdout", "true"), ("command", "ls")]), attach=True)
