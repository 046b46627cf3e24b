"""Key layout, stored-value codec and continue tokens."""

from __future__ import annotations

import pytest

from apiserver import storage
from apiserver.etcd import KeyValue, prefix_end
from kubelite.api.errors import BadRequest


def test_key_layout() -> None:
    assert storage.object_key("pods", "default", "web") == "/registry/pods/default/web"
    assert storage.object_key("nodes", "", "n1") == "/registry/nodes/n1"
    assert storage.list_prefix("pods", "default") == "/registry/pods/default/"
    assert storage.list_prefix("pods") == "/registry/pods/"
    assert storage.split_key("pods", "/registry/pods/default/web") == ("default", "web")
    assert storage.split_key("nodes", "/registry/nodes/n1") == ("", "n1")
    with pytest.raises(ValueError):
        storage.split_key("pods", "/registry/nodes/n1")


def test_prefix_end_selects_exactly_the_prefix() -> None:
    assert prefix_end(b"/registry/pods/") == b"/registry/pods0"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"\xff\xff") == b"\x00"


def test_resource_version_is_the_mod_revision_not_the_stored_bytes() -> None:
    obj = {"kind": "Pod", "metadata": {"name": "p", "resourceVersion": "999"}}
    raw = storage.encode_value(obj)
    assert b"resourceVersion" not in raw
    assert obj["metadata"]["resourceVersion"] == "999", "encoding does not mutate the caller's object"
    decoded = storage.decode_value(raw, 42)
    assert decoded["metadata"]["resourceVersion"] == "42"
    stored = storage.from_kv("pods", KeyValue("/registry/pods/ns1/p", raw, 40, 42, 3))
    assert (stored.namespace, stored.name, stored.rv) == ("ns1", "p", 42)
    assert b'"resourceVersion":"42"' in stored.raw
    with pytest.raises(ValueError):
        storage.decode_value(b"[1, 2]", 1)


def test_node_name_is_extracted_for_the_index() -> None:
    raw = storage.encode_value({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"nodeName": "n1"}})
    assert storage.from_kv("pods", KeyValue("/registry/pods/d/p", raw, 1, 1, 1)).node_name == "n1"


def test_continue_token_round_trip_and_rejects_garbage() -> None:
    token = storage.ContinueToken(17, "default/web-3")
    assert storage.ContinueToken.decode(token.encode()) == token
    for bad in ("", "garbage", "e30", storage.ContinueToken(17, "/etc/passwd").encode(),
                storage.ContinueToken(0, "x").encode()):
        with pytest.raises(BadRequest):
            storage.ContinueToken.decode(bad)


def test_parse_resource_version() -> None:
    assert storage.parse_resource_version("12") == 12
    for bad in ("-1", "abc", "1.5", ""):
        with pytest.raises(BadRequest):
            storage.parse_resource_version(bad)
